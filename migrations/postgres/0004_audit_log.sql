-- The audit log: who did what, append-only. Each row carries the hash of the
-- row before it (64 zeros for the first), so `breachgate audit verify` finds
-- an altered, inserted or deleted row. Nothing updates or deletes rows here.
-- Appends are serialised by an advisory lock the store takes (see
-- `store/postgres/audit.rs`), so instances appending at once keep one chain.

CREATE TABLE audit_log (
    seq        BIGINT  PRIMARY KEY,
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
