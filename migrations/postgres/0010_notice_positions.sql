-- A notice's `sequence` counts the notices its client was sent, so a held
-- notice and the notice that replaces it share one. The order of a client's
-- notices, held ones included, is kept as `position` (the old column, still
-- unique per client and incident); `sequence` is now read from the notice
-- itself, so the two can never disagree.
--
-- SQLite computes it on read (a virtual column); here it is a STORED
-- generated column. PostgreSQL wants an immutable expression, and
-- `convert_from` is only stable (it could depend on the server encoding),
-- so the body is decoded by a function declared immutable: a notice body is
-- UTF-8 JSON whatever the server's settings.

ALTER TABLE notices RENAME COLUMN sequence TO position;

CREATE FUNCTION notice_sequence(body BYTEA) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'sequence')::BIGINT;

ALTER TABLE notices ADD COLUMN sequence BIGINT
    GENERATED ALWAYS AS (notice_sequence(body)) STORED;
