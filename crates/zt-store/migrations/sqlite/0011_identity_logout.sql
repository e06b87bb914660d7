-- What logging out at the unified identity platform needs, kept with a
-- session opened through it:
-- * OpenID Connect: the ID token, the `id_token_hint` of RP-initiated
--   logout. It names the person (identity number, mobile), so it is stored
--   sealed like other personal information, bound to its session row.
-- * CAS: the SM3 of the service ticket the session was created from, which
--   a CAS single-logout request names (`samlp:SessionIndex`).
ALTER TABLE sessions ADD COLUMN idp_id_token TEXT;
ALTER TABLE sessions ADD COLUMN cas_ticket_sm3 TEXT;
CREATE INDEX sessions_cas_ticket ON sessions(cas_ticket_sm3);
