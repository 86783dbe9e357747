-- Times are unix milliseconds (UTC) so they compare as integers, as in the
-- SQLite schema: one set of row types reads both.

CREATE TABLE agreement_docs (
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('staff', 'admin', 'client')),
    client_id   TEXT,
    token_hash  BYTEA   NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE reference_counters (
    year  BIGINT PRIMARY KEY,
    last  BIGINT NOT NULL
);

CREATE TABLE incidents (
    id               TEXT    PRIMARY KEY,
    reference        TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL,
    became_aware_at  BIGINT  NOT NULL,
    summary          TEXT    NOT NULL,
    report           TEXT    NOT NULL,
    reported_by      TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE notices (
    id           TEXT    PRIMARY KEY,
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    client_id    TEXT    NOT NULL,
    sequence     BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'held')),
    body         BYTEA   NOT NULL,
    jws          TEXT,
    errors       TEXT    NOT NULL,
    notify_by    BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    UNIQUE (incident_id, client_id, sequence)
);
CREATE INDEX notices_by_client ON notices (client_id, created_at);

CREATE TABLE deliveries (
    id               TEXT    PRIMARY KEY,
    notice_id        TEXT    NOT NULL REFERENCES notices (id),
    client_id        TEXT    NOT NULL,
    channel          TEXT    NOT NULL CHECK (channel IN ('webhook', 'email')),
    target           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    lease_until      BIGINT,
    created_at       BIGINT  NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX deliveries_by_notice ON deliveries (notice_id);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE idempotency_keys (
    token_id        TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    request_digest  TEXT    NOT NULL,
    status          BIGINT  NOT NULL,
    response        TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (token_id, key)
);
