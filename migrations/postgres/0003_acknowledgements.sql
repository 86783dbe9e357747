-- A client's acknowledgement of a notice: the proof that it was notified.
-- One per notice; repeating an acknowledgement keeps the first.

CREATE TABLE acknowledgements (
    notice_id        TEXT    PRIMARY KEY REFERENCES notices (id),
    client_id        TEXT    NOT NULL,
    token_id         TEXT    NOT NULL,
    acknowledged_by  TEXT    NOT NULL,
    note             TEXT,
    acknowledged_at  BIGINT  NOT NULL
);
