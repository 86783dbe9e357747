-- Incidents have versions: the report is version 1, every update, closure
-- and retraction adds one. `incidents.report` holds the facts as of the
-- latest version; each version keeps the facts as they were then and what
-- staff sent to get there.

ALTER TABLE incidents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE notices ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE incident_versions (
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    version      BIGINT  NOT NULL,
    action       TEXT    NOT NULL CHECK (action IN ('report', 'update', 'close', 'retract')),
    facts        TEXT    NOT NULL,
    submitted    TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (incident_id, version)
);

INSERT INTO incident_versions (incident_id, version, action, facts, submitted, created_by, created_at)
SELECT id, 1, 'report', report, report, reported_by, created_at FROM incidents;
