-- Notices at rest are compressed (zstd) against a dictionary per filing:
-- the raw content of the filing's first notice, stored once here. A notice
-- with no dictionary (stored before this migration) keeps its body as is.
-- The exact signed bytes are what decompression gives back.

CREATE TABLE notice_dictionaries (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  TEXT      NOT NULL REFERENCES incidents (id),
    content      BYTEA     NOT NULL
);

ALTER TABLE notices ADD COLUMN dictionary_id BIGINT REFERENCES notice_dictionaries (id);

-- A compressed body cannot be read as JSON, so `sequence` (generated from
-- the body since 0010) becomes a plain column, written with the notice and
-- backfilled here from the bodies, which are all still plain JSON.
ALTER TABLE notices ADD COLUMN stored_sequence BIGINT;
UPDATE notices SET stored_sequence = notice_sequence(body);
ALTER TABLE notices DROP COLUMN sequence;
DROP FUNCTION notice_sequence(BYTEA);
ALTER TABLE notices RENAME COLUMN stored_sequence TO sequence;
ALTER TABLE notices ALTER COLUMN sequence SET NOT NULL;
