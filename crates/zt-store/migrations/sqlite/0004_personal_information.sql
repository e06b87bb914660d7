-- Personal information at rest (GB/T 35273, GB/T 22239 数据保密性): from this
-- version users.id_number, users.mobile and cases.form hold SM4-GCM envelopes
-- (`zt1:<key id>:…`) made by the application with keys kept outside the
-- database; rows written before are sealed by `zhengtong db migrate`.
-- Equality lookups go through keyed HMAC-SM3 blind indexes.
ALTER TABLE users ADD COLUMN id_number_bidx TEXT;
ALTER TABLE users ADD COLUMN mobile_bidx TEXT;
CREATE INDEX users_id_number_bidx ON users(id_number_bidx);
CREATE INDEX users_mobile_bidx ON users(mobile_bidx);
