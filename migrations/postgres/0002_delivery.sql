-- Delivery state: every attempt, dead letters, disabled endpoints and alerts.

ALTER TABLE deliveries ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN last_error TEXT;
ALTER TABLE deliveries ADD COLUMN message_id TEXT;

CREATE TABLE delivery_attempts (
    delivery_id  TEXT    NOT NULL REFERENCES deliveries (id),
    attempt      BIGINT  NOT NULL,
    started_at   BIGINT  NOT NULL,
    duration_ms  BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL,
    status_code  BIGINT,
    detail       TEXT    NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE disabled_endpoints (
    client_id    TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    disabled_at  BIGINT  NOT NULL,
    reason       TEXT    NOT NULL,
    PRIMARY KEY (client_id, target)
);

CREATE TABLE alerts (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    client_id    TEXT,
    delivery_id  TEXT,
    message      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
