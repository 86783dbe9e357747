-- Times are unix milliseconds (UTC) so they compare as integers.

CREATE TABLE agreement_docs (
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('staff', 'admin', 'client')),
    client_id   TEXT,
    token_hash  BLOB    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE reference_counters (
    year  INTEGER PRIMARY KEY,
    last  INTEGER NOT NULL
);

CREATE TABLE incidents (
    id               TEXT    PRIMARY KEY,
    reference        TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL,
    became_aware_at  INTEGER NOT NULL,
    summary          TEXT    NOT NULL,
    report           TEXT    NOT NULL,
    reported_by      TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE notices (
    id           TEXT    PRIMARY KEY,
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    client_id    TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'held')),
    body         BLOB    NOT NULL,
    jws          TEXT,
    errors       TEXT    NOT NULL,
    notify_by    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
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
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX deliveries_by_notice ON deliveries (notice_id);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE idempotency_keys (
    token_id        TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    request_digest  TEXT    NOT NULL,
    status          INTEGER NOT NULL,
    response        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (token_id, key)
);
