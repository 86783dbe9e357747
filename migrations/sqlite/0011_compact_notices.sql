-- Notices at rest are compressed (zstd) against a dictionary per filing:
-- the raw content of the filing's first notice, stored once here. A notice
-- with no dictionary (stored before this migration) keeps its body as is.
-- The exact signed bytes are what decompression gives back.

CREATE TABLE notice_dictionaries (
    id           INTEGER PRIMARY KEY,
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    content      BLOB    NOT NULL
);

ALTER TABLE notices ADD COLUMN dictionary_id INTEGER REFERENCES notice_dictionaries (id);

-- A compressed body cannot be read with json_extract, so `sequence` (the
-- notice's own `data.sequence`, virtual since 0010) becomes a stored
-- column, written with the notice and backfilled here from the bodies,
-- which are all still plain JSON.
ALTER TABLE notices ADD COLUMN stored_sequence INTEGER NOT NULL DEFAULT 0;
UPDATE notices SET stored_sequence = sequence;
ALTER TABLE notices DROP COLUMN sequence;
ALTER TABLE notices RENAME COLUMN stored_sequence TO sequence;
