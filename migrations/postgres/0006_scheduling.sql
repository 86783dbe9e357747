-- The scheduler's memory: each deadline escalation and each update reminder
-- is on record once (the primary keys), so neither repeats after a restart
-- nor when several instances run the same job. The staff mail each one owes
-- is written in the same transaction, to the staff_mail outbox, and sent
-- from there: a crash between recording and sending loses no mail.

CREATE TABLE deadline_escalations (
    notice_id    TEXT    NOT NULL REFERENCES notices (id),
    -- 'held', a fraction of the window such as '50%', or 'passed'.
    threshold    TEXT    NOT NULL,
    escalated_at BIGINT  NOT NULL,
    -- NULL when a later threshold due in the same run was mailed instead.
    mail_id      TEXT,
    PRIMARY KEY (notice_id, threshold)
);

CREATE TABLE update_reminders (
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    client_id    TEXT    NOT NULL,
    -- The client's latest sent notice when the reminder was due: a newer
    -- notice starts the next interval.
    notice_id    TEXT    NOT NULL REFERENCES notices (id),
    reminded_at  BIGINT  NOT NULL,
    mail_id      TEXT    NOT NULL,
    PRIMARY KEY (incident_id, client_id, notice_id)
);

CREATE TABLE staff_mail (
    -- The order written (SQLite's rowid).
    seq          BIGSERIAL,
    id           TEXT    PRIMARY KEY,
    recipient    TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    -- A sender's claim, or after a failure the time of the next try.
    lease_until  BIGINT,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      BIGINT
);
-- Finds the unsent mail without reading the sent; they go out in seq order.
CREATE INDEX staff_mail_unsent ON staff_mail (lease_until) WHERE sent_at IS NULL;
