-- Reports being written on the New report form, saved without checks so
-- staff can stop at any point and they or a colleague can go on. The form's
-- fields are kept as posted (field pointer to the values typed, as JSON),
-- with the form's filing key, so filing a resumed draft twice files once.
-- A draft goes when it is filed or discarded. `revision` counts saves: a
-- save over another than the one it was loaded from is refused.
CREATE TABLE report_drafts (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    fields TEXT NOT NULL,
    filing_key TEXT NOT NULL,
    saved_by TEXT NOT NULL REFERENCES users (id),
    saved_at INTEGER NOT NULL
);

-- Each failed sign-in forgets those older than the rate-limit window.
CREATE INDEX failed_sign_ins_at ON failed_sign_ins (at);
