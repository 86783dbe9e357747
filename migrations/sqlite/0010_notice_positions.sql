-- A notice's `sequence` counts the notices its client was sent, so a held
-- notice and the notice that replaces it share one. The order of a client's
-- notices, held ones included, is kept as `position` (the old column, still
-- unique per client and incident); `sequence` is now read from the notice
-- itself, so the two can never disagree.

ALTER TABLE notices RENAME COLUMN sequence TO position;
ALTER TABLE notices ADD COLUMN sequence INTEGER
    AS (json_extract(CAST(body AS TEXT), '$.data.sequence'));
