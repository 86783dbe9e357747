-- People who sign in to the pages (machines keep their API tokens, 0001).
-- A user has no password until they follow their one-time setup link.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    client_id TEXT,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);

-- One-time links to set a password: only the SHA-256 of the link's secret
-- is stored; a link is spent once used.
CREATE TABLE password_setups (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

-- Signed-in sessions, found by the SHA-256 of the cookie's secret. A
-- session ends when revoked (sign-out) or past its idle or absolute
-- timeout, judged by the gateway on each request.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins, counted per account and per address over a window.
CREATE TABLE failed_sign_ins (
    at INTEGER NOT NULL,
    email TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX failed_sign_ins_email ON failed_sign_ins (email, at);
CREATE INDEX failed_sign_ins_address ON failed_sign_ins (address, at);
