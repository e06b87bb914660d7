-- Login through the unified identity platform (统一身份认证平台, OpenID
-- Connect). An account of ours is linked to the platform's `sub` (never to a
-- name or a phone number); roles are never taken from the platform.
CREATE TABLE identity_links (
    -- The issuer.
    provider TEXT NOT NULL,
    sub TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, sub)
);
CREATE INDEX identity_links_user ON identity_links(user_id);

-- Logins begun (redirected to the platform) and not yet finished: the state,
-- nonce and PKCE verifier, sealed. Deleted when used or after 10 minutes.
CREATE TABLE oidc_pending (
    state TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- `jti` of the back-channel logout tokens accepted (replay protection).
CREATE TABLE oidc_logout_jti (
    jti TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);

-- The platform's session (`sid`) and subject of a session opened through it,
-- so that a back-channel logout can end it.
ALTER TABLE sessions ADD COLUMN idp_sid TEXT;
ALTER TABLE sessions ADD COLUMN idp_sub TEXT;
CREATE INDEX sessions_idp_sid ON sessions(idp_sid);
CREATE INDEX sessions_idp_sub ON sessions(idp_sub);
