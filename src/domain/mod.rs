//! The vocabulary every layer speaks: values that validate on construction
//! (once one exists, it is valid), the report and the canonical notice, the
//! statuses of incidents and deliveries, callers, audit entries, and which
//! network an address is in. Nothing here does I/O.

mod acknowledgement;
pub mod address;
pub mod audit;
mod caller;
mod delivery;
mod ids;
mod incident;
mod notice;
mod report;
mod taxonomy;

pub use acknowledgement::{AcknowledgementNote, NoteTooLong};
pub use audit::{AuditEntry, NewAuditEntry};
pub use caller::{Caller, Role};
pub use delivery::{endpoint_key, AttemptOutcome, Channel, DeliveryStatus, NextState};
pub use ids::{ClientId, IdError, IncidentId, NoticeId, Slug, SubprocessorId, SystemId, WebhookId};
pub use incident::{IncidentStatus, NoticeStatus, VersionAction};
pub use notice::{
    AssumedInput, Change, Controller, Notice, NoticeData, NoticeDeadline, NoticePersonalData,
    NoticeSubjects, ProcessorContact, ProcessorIdentity, Severity, SeverityLevel,
    SubprocessorDetails, SystemRef,
};
pub use report::{
    Affected, Cause, CauseOrigin, Estimate, Known, Measures, Nature, NotYetKnown, Occurred, Report,
    ReportedData, ReportedSubjects, Reporter, SeverityInputs,
};
pub use taxonomy::{
    BreachCategory, Consequence, CountPrecision, DataCategory, EaseOfIdentification, Language,
    NoticeType, SubjectCategory, TransferSafeguard,
};
