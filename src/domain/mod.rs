//! Domain values that validate on construction: once one exists, it is valid.

mod acknowledgement;
mod ids;
mod taxonomy;

pub use acknowledgement::{AcknowledgementNote, NoteTooLong};
pub use ids::{ClientId, IdError, IncidentId, NoticeId, Slug, SubprocessorId, SystemId, WebhookId};
pub use taxonomy::{
    BreachCategory, Consequence, CountPrecision, DataCategory, EaseOfIdentification, Language,
    NoticeType, SubjectCategory, TransferSafeguard,
};
