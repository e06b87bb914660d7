-- Login failure handling (GB/T 22239 身份鉴别): consecutive failures and the
-- time until which an account is locked.
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
