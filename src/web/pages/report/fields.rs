//! The report form as data: every field of `schemas/report.v1.schema.json`,
//! grouped in the order the seed procedures ask the questions (what
//! happened, when you became aware, which systems or sub-processor, which
//! data, how many people). Each field is named by its JSON pointer, so a
//! posted form becomes the report body, and the intake's errors (which
//! name pointers) land next to the field they are about.
//!
//! What a report may list any number of (the parties informed, the figures
//! per client) is a [`Group`] of rows, named `/notified_parties/0/name`,
//! `/affected/per_client/0/client_id`: as many rows as the form posts, and
//! one more for its "Add" button, which works without JavaScript.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::service::reporting::Affectable;
use crate::validation::FieldError;

/// How a field is entered and what JSON it becomes.
#[derive(Clone, Copy)]
pub enum Kind {
    Text,
    Paragraph,
    /// An RFC 3339 UTC time; `2026-11-22 07:30` is read as UTC too.
    Time,
    /// One item per line: a list of strings, sent even when empty if `always`.
    Lines {
        always: bool,
    },
    /// Separated by commas or spaces: a list of codes (countries, ids).
    Codes,
    Number,
    /// A checkbox: `true`, or `false` when `always` (else absent).
    Flag {
        always: bool,
    },
    /// One of the options (a select), absent when none is chosen.
    Choice(&'static [Opt]),
    /// Any of the options (checkboxes): a list, sent even when empty if `always`.
    Choices {
        options: &'static [Opt],
        always: bool,
    },
    /// Any of the options, or "not yet known" (the value `not_yet_known`).
    Categories(&'static [Opt]),
    /// The systems of the agreements (checkboxes), filled in per request.
    Systems,
    /// One of the agreements' sub-processors (a select), filled in per request.
    Subprocessor,
}

/// One option of a taxonomy: its value, label and short help.
#[derive(Clone, Copy)]
pub struct Opt(pub &'static str, pub &'static str, pub &'static str);

#[derive(Clone, Copy)]
pub struct Field {
    pub pointer: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

pub struct Section {
    pub title: &'static str,
    pub help: &'static str,
    pub fields: &'static [Field],
    /// Shown after the fields.
    pub groups: &'static [&'static Group],
}

const fn f(pointer: &'static str, label: &'static str, help: &'static str, kind: Kind) -> Field {
    Field {
        pointer,
        label,
        help,
        kind,
    }
}

const PRECISION: &[Opt] = &[
    Opt("exact", "Exact", "established"),
    Opt("estimated", "Estimated", "a best estimate"),
    Opt("day", "Day only", "only the day is known"),
    Opt("undetermined", "Undetermined", "not known"),
];

const CATEGORY: &[Opt] = &[
    Opt(
        "unauthorised_access",
        "Unauthorised access",
        "someone without authorisation accessed the data",
    ),
    Opt(
        "unauthorised_disclosure",
        "Unauthorised disclosure",
        "data disclosed to parties not entitled to it",
    ),
    Opt("misdelivery", "Misdelivery", "sent to the wrong recipient"),
    Opt("publication", "Publication", "made public by mistake"),
    Opt("loss", "Loss", "a device, file or medium was lost"),
    Opt("theft", "Theft", "a device, file or medium was stolen"),
    Opt("destruction", "Destruction", "data destroyed"),
    Opt(
        "alteration",
        "Alteration",
        "data changed without authorisation",
    ),
    Opt(
        "unavailability",
        "Unavailability",
        "data temporarily not accessible",
    ),
    Opt(
        "ransomware",
        "Ransomware",
        "data encrypted or taken by an attacker for ransom",
    ),
    Opt("other", "Other", "describe it in the summary"),
];

const ORIGIN: &[Opt] = &[
    Opt(
        "internal",
        "Internal",
        "our staff, systems or configuration",
    ),
    Opt(
        "external",
        "External",
        "an outside party, including a sub-processor's attacker",
    ),
    Opt("unknown", "Unknown", "not established yet"),
];

const YES_NO_UNKNOWN: &[Opt] = &[
    Opt(
        "yes",
        "Yes",
        "an attack on or failure of network and information systems",
    ),
    Opt("no", "No", ""),
    Opt("unknown", "Unknown", ""),
];

const SUBJECTS: &[Opt] = &[
    Opt("employees", "Employees", ""),
    Opt("job_applicants", "Job applicants", ""),
    Opt("customers", "Customers", ""),
    Opt("users", "Users", ""),
    Opt("pupils", "Pupils", ""),
    Opt("students", "Students", ""),
    Opt("parents", "Parents", ""),
    Opt("children", "Children", ""),
    Opt("patients", "Patients", ""),
    Opt("members", "Members", ""),
    Opt("citizens", "Citizens", ""),
    Opt("suppliers", "Suppliers", ""),
    Opt("other", "Other", "say who in the description"),
];

const DATA: &[Opt] = &[
    Opt(
        "identification",
        "Identification",
        "names, customer numbers",
    ),
    Opt("contact", "Contact details", "addresses, email, phone"),
    Opt("demographic", "Demographic", "age, gender"),
    Opt("education", "Education", "enrolments, results"),
    Opt("employment", "Employment", "position, salary"),
    Opt(
        "online_identifiers",
        "Online identifiers",
        "IP addresses, cookies",
    ),
    Opt("location", "Location", ""),
    Opt("behavioural", "Behavioural", "usage, preferences"),
    Opt("communications_content", "Content of communications", ""),
    Opt("credentials", "Credentials", "passwords, tokens"),
    Opt("financial", "Financial", "bank or card data"),
    Opt(
        "national_identifier",
        "National identifier",
        "citizen service number, passport number",
    ),
    Opt("social_welfare", "Social welfare", ""),
    Opt("official_documents", "Official documents", "copies of ID"),
    Opt(
        "racial_ethnic_origin",
        "Racial or ethnic origin",
        "special category",
    ),
    Opt(
        "political_opinions",
        "Political opinions",
        "special category",
    ),
    Opt("religious_beliefs", "Religious beliefs", "special category"),
    Opt(
        "trade_union_membership",
        "Trade union membership",
        "special category",
    ),
    Opt("genetic", "Genetic data", "special category"),
    Opt("biometric", "Biometric data", "special category"),
    Opt("health", "Health", "special category"),
    Opt(
        "sex_life_orientation",
        "Sex life or orientation",
        "special category",
    ),
    Opt(
        "criminal_convictions",
        "Criminal convictions",
        "Art. 10 data",
    ),
];

const COUNT_PRECISION: &[Opt] = &[
    Opt("exact", "Exact", "the number is known"),
    Opt("approximate", "Approximate", "an estimate"),
    Opt(
        "upper_bound",
        "Upper bound",
        "at most this many; may be far fewer",
    ),
];

const PROTECTION: &[Opt] = &[
    Opt(
        "encrypted_key_safe",
        "Encrypted, key safe",
        "unintelligible to whoever got it",
    ),
    Opt(
        "encrypted_key_compromised",
        "Encrypted, key compromised",
        "",
    ),
    Opt(
        "encrypted_key_status_unknown",
        "Encrypted, key status unknown",
        "",
    ),
    Opt("hashed", "Hashed", ""),
    Opt("pseudonymised", "Pseudonymised", ""),
    Opt("none", "None", "in clear"),
    Opt("unknown", "Unknown", ""),
];

const CONSEQUENCES: &[Opt] = &[
    Opt("identity_theft", "Identity theft", ""),
    Opt("fraud", "Fraud", ""),
    Opt("financial_loss", "Financial loss", ""),
    Opt("phishing", "Phishing", ""),
    Opt("spam", "Spam", ""),
    Opt("discrimination", "Discrimination", ""),
    Opt("reputational_damage", "Reputational damage", ""),
    Opt("loss_of_confidentiality", "Loss of confidentiality", ""),
    Opt("loss_of_control", "Loss of control over their data", ""),
    Opt("physical_harm", "Physical harm", ""),
    Opt("psychological_harm", "Psychological harm", ""),
    Opt(
        "reidentification",
        "Re-identification",
        "of pseudonymised data",
    ),
    Opt("other", "Other", "describe them below"),
];

const EASE: &[Opt] = &[
    Opt("negligible", "Negligible", "ENISA EI 0.25"),
    Opt("limited", "Limited", "ENISA EI 0.5"),
    Opt("significant", "Significant", "ENISA EI 0.75"),
    Opt("maximum", "Maximum", "ENISA EI 1: identified directly"),
];

const AVAILABILITY: &[Opt] = &[
    Opt("not_affected", "Not affected", ""),
    Opt("degraded", "Degraded", ""),
    Opt("unavailable", "Unavailable", ""),
    Opt("restored", "Restored", ""),
];

const RESTORED: &[Opt] = &[
    Opt("yes", "Yes", ""),
    Opt("partially", "Partially", ""),
    Opt("no", "No", ""),
    Opt(
        "not_applicable",
        "Not applicable",
        "nothing was lost or altered",
    ),
    Opt("unknown", "Unknown", ""),
];

const PARTY: &[Opt] = &[
    Opt("police", "Police", ""),
    Opt("csirt", "CSIRT", ""),
    Opt("supervisory_authority", "Supervisory authority", ""),
    Opt("other_regulator", "Other regulator", ""),
    Opt("other", "Other", ""),
];

const CONTACTED: &[Opt] = &[
    Opt("contacted", "Contacted", ""),
    Opt("planned", "Planned", ""),
    Opt("not_contacted", "Not contacted", ""),
    Opt("not_yet_decided", "Not yet decided", ""),
];

const TIME_HELP: &str = "UTC, e.g. 2026-11-22 07:30 or 2026-11-22T07:30:00Z";

/// A list the form shows as rows, each of the same `fields` (whose
/// pointers are the row's own: `/name`). A group `keyed_by` a row field is
/// an object by that field's value (`affected.per_client`, by client id);
/// any other, a list in the order of its rows, rows left empty left out.
pub struct Group {
    pub pointer: &'static str,
    pub title: &'static str,
    pub help: &'static str,
    /// One row's legend, numbered: "Notified party 2".
    pub row: &'static str,
    /// The button that adds a row.
    pub add: &'static str,
    pub keyed_by: Option<&'static str>,
    /// A checkbox saying the list is empty on purpose (an empty list says
    /// something, an absent one nothing).
    pub none: Option<Field>,
    pub fields: &'static [Field],
}

const PARTIES: Group = Group {
    pointer: "/notified_parties",
    title: "Third parties informed",
    help: "Police, CSIRT, a supervisory or other authority you have informed; rows left empty are left out.",
    row: "Notified party",
    add: "Add another party",
    keyed_by: None,
    none: Some(f(
        "/notified_parties/none",
        "Nobody was informed",
        "no police, CSIRT or authority; leave this and the rows empty to say nothing about it",
        Kind::Flag { always: false },
    )),
    fields: &[
        f("/type", "Type", "", Kind::Choice(PARTY)),
        f("/name", "Name", "", Kind::Text),
        f("/country", "Country", "ISO code, e.g. NL", Kind::Text),
        f("/notified_at", "Informed at", TIME_HELP, Kind::Time),
        f("/reference", "Their reference", "case or report number", Kind::Text),
    ],
};

const PER_CLIENT: Group = Group {
    pointer: "/affected/per_client",
    title: "Figures per client",
    help: "Where you know them for one client (from its logs, per tenant), they replace the incident's figures above in that client's notice. The client must be affected through the systems, sub-processor or clients named above.",
    row: "Client figures",
    add: "Add another client",
    keyed_by: Some("/client_id"),
    none: None,
    fields: &[
        f("/client_id", "Client", "its id, e.g. formavenir", Kind::Text),
        f("/data_subjects/count/min", "People: at least", "", Kind::Number),
        f("/data_subjects/count/max", "People: at most", "", Kind::Number),
        f("/data_subjects/count/precision", "People: precision", "", Kind::Choice(COUNT_PRECISION)),
        f("/data_subjects/categories", "Categories of people", "", Kind::Choices { options: SUBJECTS, always: false }),
        f("/personal_data/records/min", "Records: at least", "", Kind::Number),
        f("/personal_data/records/max", "Records: at most", "", Kind::Number),
        f("/personal_data/records/precision", "Records: precision", "", Kind::Choice(COUNT_PRECISION)),
        f("/personal_data/categories", "Categories of personal data", "", Kind::Choices { options: DATA, always: false }),
        f("/countries", "Countries where they live", "ISO codes separated by commas, e.g. FR", Kind::Codes),
    ],
};

pub const SECTIONS: &[Section] = &[
    Section {
        title: "What happened",
        help: "In plain language: the client's DPO reads this.",
        fields: &[
            f("/summary", "Summary", "What happened, to which data, and what the current state is.", Kind::Paragraph),
            f("/category", "Kind of breach", "", Kind::Choice(CATEGORY)),
            f("/nature/confidentiality", "Confidentiality breached", "disclosed to or accessed by someone not entitled", Kind::Flag { always: true }),
            f("/nature/integrity", "Integrity breached", "data altered", Kind::Flag { always: true }),
            f("/nature/availability", "Availability breached", "data lost or not accessible", Kind::Flag { always: true }),
            f("/discovery", "How it was discovered", "a monitoring alert, a researcher's report, a sub-processor's notification, ...", Kind::Paragraph),
            f("/location", "Where it happened", "system, environment, site or sub-processor", Kind::Paragraph),
            f("/cause/origin", "Where the cause originated", "", Kind::Choice(ORIGIN)),
            f("/cause/malicious", "Caused intentionally", "an attack, theft or sabotage", Kind::Flag { always: true }),
            f("/cause/description", "The cause", "as far as known", Kind::Paragraph),
            f("/cause/cyber_incident", "A cyber incident", "", Kind::Choice(YES_NO_UNKNOWN)),
            f("/occurred/from", "Started", TIME_HELP, Kind::Time),
            f("/occurred/from_precision", "How precisely the start is known", "", Kind::Choice(PRECISION)),
            f("/occurred/to", "Ended", TIME_HELP, Kind::Time),
            f("/occurred/to_precision", "How precisely the end is known", "", Kind::Choice(PRECISION)),
            f("/occurred/ongoing", "Still ongoing", "", Kind::Flag { always: true }),
            f("/occurred/estimated", "The times are estimates", "", Kind::Flag { always: false }),
        ],
        groups: &[],
    },
    Section {
        title: "When you became aware",
        help: "Each client's deadline counts from the moment you were reasonably certain a breach occurred.",
        fields: &[
            f("/became_aware_at", "Became aware at", TIME_HELP, Kind::Time),
            f("/detected_at", "First signal at", "the alert or report before it was confirmed; UTC", Kind::Time),
            f("/delay_reason", "Reason for delay", "Only when a client's deadline has already passed.", Kind::Paragraph),
        ],
        groups: &[],
    },
    Section {
        title: "Which systems or sub-processor",
        help: "breachgate finds the affected clients from these; name at least one.",
        fields: &[
            f("/affected/systems", "Affected systems", "", Kind::Systems),
            f("/affected/subprocessor", "Sub-processor where it happened", "", Kind::Subprocessor),
            f("/affected/clients", "Further affected clients", "client ids, separated by commas", Kind::Codes),
        ],
        groups: &[],
    },
    Section {
        title: "Which data",
        help: "",
        fields: &[
            f("/personal_data/categories", "Categories of personal data", "", Kind::Categories(DATA)),
            f("/personal_data/records/min", "Records: at least", "leave the record counts empty to use each client's own estimate", Kind::Number),
            f("/personal_data/records/max", "Records: at most", "", Kind::Number),
            f("/personal_data/records/precision", "Records: precision", "", Kind::Choice(COUNT_PRECISION)),
            f("/personal_data/protection/state", "Protection", "how the data was protected when the breach happened", Kind::Choice(PROTECTION)),
            f("/personal_data/protection/description", "Protection method", "algorithm, key management, salt", Kind::Paragraph),
            f("/personal_data/unintelligible", "Unintelligible to whoever got it", "e.g. encrypted with a key that was not compromised", Kind::Flag { always: false }),
        ],
        groups: &[],
    },
    Section {
        title: "How many people",
        help: "",
        fields: &[
            f("/data_subjects/categories", "Categories of people", "", Kind::Categories(SUBJECTS)),
            f("/data_subjects/count/min", "People: at least", "leave the counts empty to use each client's own estimate", Kind::Number),
            f("/data_subjects/count/max", "People: at most", "", Kind::Number),
            f("/data_subjects/count/precision", "People: precision", "", Kind::Choice(COUNT_PRECISION)),
            f("/data_subjects/children", "Children's data concerned", "", Kind::Flag { always: false }),
            f("/data_subjects/vulnerable", "Vulnerable persons' data concerned", "", Kind::Flag { always: false }),
            f("/data_subjects/description", "Who they are", "the group concerned, and what \"other\" stands for", Kind::Paragraph),
            f("/data_subjects/countries", "Countries where they live", "ISO codes separated by commas, e.g. NL, BE", Kind::Codes),
        ],
        groups: &[&PER_CLIENT],
    },
    Section {
        title: "Consequences and measures",
        help: "",
        fields: &[
            f("/likely_consequences", "Likely consequences for the people", "none checked: none identified", Kind::Choices { options: CONSEQUENCES, always: true }),
            f("/likely_consequences_description", "The consequences in your words", "required when Other is checked", Kind::Paragraph),
            f("/measures/taken", "Measures taken", "one per line", Kind::Lines { always: true }),
            f("/measures/proposed", "Measures proposed", "one per line", Kind::Lines { always: true }),
            f("/measures/in_place", "Protection in place before the breach", "one per line", Kind::Lines { always: false }),
            f("/severity_inputs/ease_of_identification", "Ease of identification", "for the advisory ENISA severity", Kind::Choice(EASE)),
            f("/severity_inputs/dpc_adjustment", "Data-processing context adjustment", "-1, 0 or 1", Kind::Number),
        ],
        groups: &[],
    },
    Section {
        title: "Service, authorities and data subjects",
        help: "",
        fields: &[
            f("/service_impact/availability", "State of the service", "", Kind::Choice(AVAILABILITY)),
            f("/service_impact/data_restored", "Data restored", "", Kind::Choice(RESTORED)),
            f("/service_impact/expected_recovery_at", "Expected back at", TIME_HELP, Kind::Time),
            f("/data_subjects_contacted/status", "People contacted", "by anyone you know of (Art. 34)", Kind::Choice(CONTACTED)),
            f("/data_subjects_contacted/contacted_at", "Contacted at", TIME_HELP, Kind::Time),
            f("/data_subjects_contacted/channel", "Contacted how", "email, letter, in-app message, ...", Kind::Text),
            f("/data_subjects_contacted/count", "How many were contacted", "", Kind::Number),
        ],
        groups: &[&PARTIES],
    },
    Section {
        title: "Who reports",
        help: "",
        fields: &[
            f("/reporter/name", "Your name", "", Kind::Text),
            f("/reporter/email", "Your email address", "", Kind::Text),
            f("/reporter/role", "Your role", "e.g. Security officer", Kind::Text),
        ],
        groups: &[],
    },
];

fn fields() -> impl Iterator<Item = &'static Field> {
    SECTIONS.iter().flat_map(|s| s.fields.iter())
}

fn groups() -> impl Iterator<Item = &'static Group> {
    SECTIONS.iter().flat_map(|s| s.groups.iter().copied())
}

/// A field where the form shows it: alone, or in a row of a group.
struct Placed {
    field: &'static Field,
    /// Its input's name: the field's pointer, or the row's and the field's.
    pointer: String,
    /// What the error summary calls it.
    label: String,
}

impl Group {
    fn row_pointer(&self, row: usize, field: &Field) -> String {
        format!("{}/{row}{}", self.pointer, field.pointer)
    }

    /// The rows `values` have: one past the highest posted, at least one.
    fn rows(&self, values: &Values) -> usize {
        let prefix = format!("{}/", self.pointer);
        values
            .keys()
            .filter_map(|name| name.strip_prefix(&prefix)?.split('/').next()?.parse().ok())
            .map(|row: usize| row + 1)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    fn placed(&self, row: usize) -> impl Iterator<Item = Placed> + '_ {
        self.fields.iter().map(move |field| Placed {
            field,
            pointer: self.row_pointer(row, field),
            label: format!("{} {}: {}", self.row, row + 1, field.label.to_lowercase()),
        })
    }

    /// The rows of `values` that make any fact, in order.
    fn filled(&self, values: &Values) -> Vec<usize> {
        (0..self.rows(values))
            .filter(|&row| {
                self.placed(row)
                    .any(|p| value_of(p.field, &p.pointer, values).is_some())
            })
            .collect()
    }

    /// The row of `values` whose key field holds `key`.
    fn keyed_row(&self, values: &Values, key: &str) -> Option<usize> {
        let keyed_by = self.keyed_by?;
        (0..self.rows(values)).find(|&row| {
            values
                .get(&format!("{}/{row}{keyed_by}", self.pointer))
                .and_then(|v| v.first())
                .is_some_and(|v| v.trim() == key)
        })
    }
}

/// Every field the form shows for `values`, a group's with its rows.
fn placed(values: &Values) -> Vec<Placed> {
    let alone = |field: &'static Field| Placed {
        field,
        pointer: field.pointer.to_owned(),
        label: field.label.to_owned(),
    };
    let rows = groups().flat_map(|group| (0..group.rows(values)).flat_map(|row| group.placed(row)));
    // The `none` boxes last: their facts are the group's to make (see
    // `to_report`), once its rows have made it a list.
    let nones = groups().filter_map(|group| group.none.as_ref());
    fields()
        .map(alone)
        .chain(rows)
        .chain(nones.map(alone))
        .collect()
}

/// Adds an empty row to the group at `group` (what its "Add" button posts).
/// False when `group` names none, so nothing was added.
pub fn add_row(values: &mut Values, group: &str) -> bool {
    let Some(group) = groups().find(|g| g.pointer == group) else {
        return false;
    };
    let row = group.rows(values);
    values.insert(group.row_pointer(row, &group.fields[0]), Vec::new());
    true
}

/// The form's HTML id of the field at `pointer`.
pub fn field_id(pointer: &str) -> String {
    format!("f{}", pointer.replace('/', "-"))
}

/// Posted values by field pointer, as typed (kept to show the form again).
/// A field without any value, not even an empty one (which no form posts),
/// starts the row just added: it gets the focus when the form is shown.
pub type Values = HashMap<String, Vec<String>>;

/// The report body the posted `values` make: empty fields and rows are
/// left out. Refused, naming the row's field, a row of figures for no
/// client or for a client another row has.
pub fn to_report(values: &Values) -> Result<Value, Vec<FieldError>> {
    let placed = placed(values);
    let mut report = facts_of(placed.iter().map(|p| (p.field, p.pointer.as_str())), values);
    let mut errors = Vec::new();
    for group in groups() {
        // The group's rows, or (only its `none` box checked) an object to drop.
        let rows = match report.pointer_mut(group.pointer).map(Value::take) {
            Some(Value::Array(rows)) => rows,
            _ => Vec::new(),
        };
        let rows = rows
            .into_iter()
            .enumerate()
            .filter(|(_, row)| !row.is_null());
        let gathered = match group.keyed_by {
            None => Value::Array(rows.map(|(_, row)| row).collect()),
            Some(keyed_by) => {
                let mut by_key = Map::new();
                for (row, mut facts) in rows {
                    let key = facts
                        .as_object_mut()
                        .and_then(|facts| facts.remove(&keyed_by[1..]));
                    let at = format!("{}/{row}{keyed_by}", group.pointer);
                    match key {
                        Some(Value::String(key)) if by_key.contains_key(&key) => errors.push(
                            FieldError::new(at, format!("{key} has a row above already")),
                        ),
                        Some(Value::String(key)) => {
                            by_key.insert(key, facts);
                        }
                        _ => errors
                            .push(FieldError::new(at, "name the client these figures are for")),
                    }
                }
                Value::Object(by_key)
            }
        };
        let empty = match &gathered {
            Value::Array(items) => items.is_empty(),
            Value::Object(map) => map.is_empty(),
            _ => false,
        };
        let nobody = group
            .none
            .as_ref()
            .filter(|none| value_of(none, none.pointer, values).is_some());
        match (empty, nobody) {
            (true, None) => remove(&mut report, group.pointer),
            (true, Some(_)) => set(&mut report, group.pointer, Value::Array(Vec::new())),
            (false, Some(none)) => errors.push(FieldError::new(
                none.pointer,
                "rows are filled in below: uncheck this, or empty them",
            )),
            (false, None) => set(&mut report, group.pointer, gathered),
        }
    }
    if let Some(Value::Object(affected)) = report.get("affected") {
        if affected.is_empty() {
            remove(&mut report, "/affected");
        }
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(errors)
    }
}

/// A merge patch setting only `fields` from the posted `values`: what
/// supplying a held notice's missing facts sends as an update.
pub fn patch_of(fields: &[&'static Field], values: &Values) -> Value {
    facts_of(fields.iter().map(|f| (*f, f.pointer)), values)
}

/// The form's values showing `facts` (an incident's current report): what
/// the update form starts from.
pub fn values_from(facts: &Value) -> Values {
    let mut values = Values::new();
    let mut show = |field: &Field, pointer: String, value: Option<&Value>| {
        let shown = shown(field, value);
        if !shown.is_empty() {
            values.insert(pointer, shown);
        }
    };
    for field in fields() {
        show(
            field,
            field.pointer.to_owned(),
            facts.pointer(field.pointer),
        );
    }
    for group in groups() {
        let rows: Vec<(Option<&String>, &Value)> = match facts.pointer(group.pointer) {
            Some(Value::Array(rows)) => rows.iter().map(|row| (None, row)).collect(),
            Some(Value::Object(rows)) => rows.iter().map(|(key, row)| (Some(key), row)).collect(),
            _ => Vec::new(),
        };
        let said_none =
            matches!(facts.pointer(group.pointer), Some(Value::Array(list)) if list.is_empty());
        if let (Some(none), true) = (&group.none, said_none) {
            show(none, none.pointer.to_owned(), Some(&Value::Bool(true)));
        }
        for (row, (key, facts)) in rows.into_iter().enumerate() {
            for field in group.fields {
                let value = match (key, group.keyed_by) {
                    (Some(key), Some(keyed_by)) if keyed_by == field.pointer => {
                        Some(Value::from(key.as_str()))
                    }
                    _ => facts.pointer(field.pointer).cloned(),
                };
                show(field, group.row_pointer(row, field), value.as_ref());
            }
        }
    }
    values
}

/// How the form shows `value`, the fact of `field`.
fn shown(field: &Field, value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Number(number)) => vec![number.to_string()],
        Some(Value::Bool(true)) => vec!["yes".to_owned()],
        Some(Value::Array(items)) => {
            let items = items.iter().map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            match field.kind {
                Kind::Lines { .. } => vec![items.collect::<Vec<_>>().join("\n")],
                Kind::Codes => vec![items.collect::<Vec<_>>().join(", ")],
                _ => items.collect(),
            }
        }
        _ => Vec::new(),
    }
}

/// The merge patch an update sends when the form shown from `facts` (see
/// [`values_from`]) comes back as `posted`: just what changed on the form,
/// each set to its new value or, emptied, removed. What the form does not
/// show stays; a list (the parties) is sent whole, as a merge patch
/// replaces lists, and a client's figures only where they changed.
pub fn update_patch(facts: &Value, posted: &Values) -> Result<Value, Vec<FieldError>> {
    let shown = to_report(&values_from(facts))?;
    Ok(merge_patch(&shown, &to_report(posted)?))
}

fn remove(target: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = target.pointer_mut(parent) {
        map.remove(key);
    }
}

/// The JSON merge patch (RFC 7396) that turns `old` into `new`.
fn merge_patch(old: &Value, new: &Value) -> Value {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return new.clone();
    };
    let mut patch = Map::new();
    for (key, value) in new {
        match old.get(key) {
            Some(before) if before == value => {}
            Some(before) => {
                patch.insert(key.clone(), merge_patch(before, value));
            }
            None => {
                patch.insert(key.clone(), value.clone());
            }
        }
    }
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        patch.insert(key.clone(), Value::Null);
    }
    Value::Object(patch)
}

/// The facts the posted `values` make of each field at its pointer.
fn facts_of<'a>(fields: impl Iterator<Item = (&'a Field, &'a str)>, values: &Values) -> Value {
    let mut facts = Value::Object(Map::new());
    for (field, pointer) in fields {
        if let Some(value) = value_of(field, pointer, values) {
            set(&mut facts, pointer, value);
        }
    }
    facts
}

/// The JSON of `field`, posted at `pointer`, if it makes any.
fn value_of(field: &Field, pointer: &str, values: &Values) -> Option<Value> {
    let raw: Vec<&str> = values
        .get(pointer)
        .map(|v| {
            v.iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let first = raw.first().copied();
    match field.kind {
        Kind::Text | Kind::Paragraph | Kind::Choice(_) | Kind::Subprocessor => {
            first.map(Value::from)
        }
        Kind::Time => first.map(|t| Value::from(utc_time(t))),
        Kind::Number => first.map(|n| {
            n.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(n))
        }),
        Kind::Flag { always } => match first {
            Some(_) => Some(Value::Bool(true)),
            None => always.then_some(Value::Bool(false)),
        },
        Kind::Lines { always } => match first {
            Some(text) => Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Value::from)
                    .collect(),
            ),
            None => always.then(|| Value::Array(Vec::new())),
        },
        Kind::Codes => first.map(|text| {
            text.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(Value::from)
                .collect()
        }),
        Kind::Choices { always, .. } => {
            (always || !raw.is_empty()).then(|| raw.iter().map(|v| Value::from(*v)).collect())
        }
        Kind::Systems => (!raw.is_empty()).then(|| raw.iter().map(|v| Value::from(*v)).collect()),
        Kind::Categories(_) => {
            if raw.contains(&"not_yet_known") {
                Some(Value::from("not_yet_known"))
            } else {
                (!raw.is_empty()).then(|| raw.iter().map(|v| Value::from(*v)).collect())
            }
        }
    }
}

/// A time as typed, in RFC 3339 when it was typed as `YYYY-MM-DD HH:MM`
/// (what people write, and what a datetime-local input sends); anything
/// else as it is, for the schema to name.
fn utc_time(typed: &str) -> String {
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(typed, format).ok())
        .map(|t| t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| typed.to_owned())
}

/// Sets `value` at `pointer`, creating objects (and, for numeric segments,
/// arrays) on the way.
fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut here = target;
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let next_is_index = segments
            .get(i + 1)
            .is_some_and(|s| s.parse::<usize>().is_ok());
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        here = match (here, segment.parse::<usize>()) {
            (Value::Array(items), Ok(index)) => {
                while items.len() <= index {
                    items.push(Value::Null);
                }
                if last {
                    items[index] = value;
                    return;
                }
                if items[index].is_null() {
                    items[index] = fresh();
                }
                &mut items[index]
            }
            (Value::Object(map), _) => {
                if last {
                    map.insert((*segment).to_owned(), value);
                    return;
                }
                map.entry(*segment).or_insert_with(fresh)
            }
            _ => return,
        };
    }
}

/// A field as the template shows it.
#[derive(Serialize)]
pub struct FieldView {
    pub id: String,
    pub name: String,
    pub label: &'static str,
    pub help: &'static str,
    /// text, paragraph, time, lines, codes, number, flag, choice or choices.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<OptionView>,
    pub error: Option<String>,
    /// The ids of the help and error texts that describe the input.
    pub described_by: Option<String>,
    /// The first field of the row just added, for keyboard users to go on.
    pub autofocus: bool,
}

#[derive(Serialize)]
pub struct OptionView {
    pub id: String,
    pub value: String,
    pub label: String,
    pub help: String,
    pub chosen: bool,
}

#[derive(Serialize)]
pub struct SectionView {
    pub title: &'static str,
    pub help: &'static str,
    pub fields: Vec<FieldView>,
    pub groups: Vec<GroupView>,
}

/// A group as the template shows it: its rows, then its "Add" button,
/// which posts the group's pointer as `add_row`.
#[derive(Serialize)]
pub struct GroupView {
    pub id: String,
    pub pointer: &'static str,
    pub title: &'static str,
    pub help: &'static str,
    pub add: &'static str,
    pub none: Option<FieldView>,
    pub rows: Vec<RowView>,
}

#[derive(Serialize)]
pub struct RowView {
    pub legend: String,
    pub fields: Vec<FieldView>,
}

/// An error for the summary at the top of the form.
#[derive(Serialize)]
pub struct ErrorView {
    pub field_id: Option<String>,
    pub label: String,
    pub message: String,
}

/// The form field for the fact at report `path`: the field itself, the one
/// holding it, or, for a group (`/affected`), the group's first field. Of
/// the fields that stand alone: a row is the posted form's own.
pub fn field_at(path: &str) -> Option<&'static Field> {
    if path.is_empty() {
        return None;
    }
    fields()
        .filter(|f| path == f.pointer || path.starts_with(&format!("{}/", f.pointer)))
        .max_by_key(|f| f.pointer.len())
        .or_else(|| fields().find(|f| f.pointer.starts_with(&format!("{path}/"))))
}

/// Where on the form shown for `values` the report's `path` is: a row's
/// field for a fact in a group (the intake names a client's figures by the
/// client's id, a party by its place among the rows filled in), else as
/// [`field_at`].
fn locate<'p>(path: &str, values: &Values, placed: &'p [Placed]) -> Option<&'p Placed> {
    if path.is_empty() {
        return None;
    }
    let path = groups()
        .find_map(|group| {
            let rest = path.strip_prefix(group.pointer)?.strip_prefix('/')?;
            let (item, within) = rest.split_once('/').map_or((rest, ""), |(i, w)| (i, w));
            let row = match group.keyed_by {
                Some(keyed_by) => group
                    .keyed_row(values, item)
                    .map(|row| (row, if within.is_empty() { keyed_by } else { "" })),
                None => item
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| group.filled(values).get(i).copied())
                    .map(|row| (row, "")),
            };
            // A row's own error (the form's, on its key) names the row as posted.
            let (row, field) = row.or_else(|| item.parse().ok().map(|row| (row, "")))?;
            let within = if within.is_empty() {
                field.to_owned()
            } else {
                format!("/{within}")
            };
            Some(format!("{}/{row}{within}", group.pointer))
        })
        .unwrap_or_else(|| path.to_owned());
    placed
        .iter()
        .filter(|p| path == p.pointer || path.starts_with(&format!("{}/", p.pointer)))
        .max_by_key(|p| p.pointer.len())
        .or_else(|| {
            placed
                .iter()
                .find(|p| p.pointer.starts_with(&format!("{path}/")))
        })
}

/// The form's sections with `values` kept and `errors` placed next to their
/// fields, and the summary of every error.
pub fn view(
    values: &Values,
    errors: &[FieldError],
    affectable: &Affectable,
) -> (Vec<SectionView>, Vec<ErrorView>) {
    let placed = placed(values);
    let mut by_field: HashMap<String, Vec<String>> = HashMap::new();
    let mut summary = Vec::new();
    for error in errors {
        let at = locate(&error.path, values, &placed);
        summary.push(ErrorView {
            field_id: at.map(|p| field_id(&p.pointer)),
            label: at.map_or_else(|| "Report".to_owned(), |p| p.label.clone()),
            message: error.message.clone(),
        });
        if let Some(at) = at {
            by_field
                .entry(at.pointer.clone())
                .or_default()
                .push(error.message.clone());
        }
    }
    let sections = SECTIONS
        .iter()
        .map(|section| SectionView {
            title: section.title,
            help: section.help,
            fields: section
                .fields
                .iter()
                .map(|field| field_view(field, field.pointer, values, &by_field, affectable))
                .collect(),
            groups: section
                .groups
                .iter()
                .map(|group| GroupView {
                    id: field_id(group.pointer),
                    pointer: group.pointer,
                    title: group.title,
                    help: group.help,
                    add: group.add,
                    none: group
                        .none
                        .as_ref()
                        .map(|none| field_view(none, none.pointer, values, &by_field, affectable)),
                    rows: (0..group.rows(values))
                        .map(|row| RowView {
                            legend: format!("{} {}", group.row, row + 1),
                            fields: group
                                .placed(row)
                                .map(|p| {
                                    field_view(p.field, &p.pointer, values, &by_field, affectable)
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    (sections, summary)
}

/// `fields` alone (the facts a held notice lacks), with `values` kept and
/// `errors` next to them.
pub fn field_views(
    fields: &[&'static Field],
    values: &Values,
    errors: &[FieldError],
    affectable: &Affectable,
) -> Vec<FieldView> {
    let mut by_field: HashMap<String, Vec<String>> = HashMap::new();
    for error in errors {
        if let Some(field) = field_at(&error.path) {
            by_field
                .entry(field.pointer.to_owned())
                .or_default()
                .push(error.message.clone());
        }
    }
    fields
        .iter()
        .map(|field| field_view(field, field.pointer, values, &by_field, affectable))
        .collect()
}

fn field_view(
    field: &'static Field,
    pointer: &str,
    values: &Values,
    errors: &HashMap<String, Vec<String>>,
    affectable: &Affectable,
) -> FieldView {
    let posted: &[String] = values.get(pointer).map_or(&[], Vec::as_slice);
    let id = field_id(pointer);
    let options = |opts: Vec<(String, String, String)>| -> Vec<OptionView> {
        opts.into_iter()
            .map(|(value, label, help)| OptionView {
                id: format!("{id}-{value}"),
                chosen: posted.contains(&value),
                value,
                label,
                help,
            })
            .collect()
    };
    let taxonomy = |opts: &[Opt]| -> Vec<(String, String, String)> {
        opts.iter()
            .map(|Opt(v, l, h)| ((*v).to_owned(), (*l).to_owned(), (*h).to_owned()))
            .collect()
    };
    let named = |items: &[(String, String)]| -> Vec<(String, String, String)> {
        items
            .iter()
            .map(|(id, name)| (id.clone(), format!("{name} ({id})"), String::new()))
            .collect()
    };
    let (kind, options) = match field.kind {
        Kind::Text => ("text", Vec::new()),
        Kind::Paragraph => ("paragraph", Vec::new()),
        Kind::Time => ("time", Vec::new()),
        Kind::Lines { .. } => ("lines", Vec::new()),
        Kind::Codes => ("codes", Vec::new()),
        Kind::Number => ("number", Vec::new()),
        Kind::Flag { .. } => ("flag", Vec::new()),
        Kind::Choice(opts) => ("choice", options(taxonomy(opts))),
        Kind::Choices { options: opts, .. } => ("choices", options(taxonomy(opts))),
        Kind::Categories(opts) => {
            let mut all = vec![(
                "not_yet_known".to_owned(),
                "Not yet known".to_owned(),
                "each client's notice then lists what it has in the affected systems".to_owned(),
            )];
            all.extend(taxonomy(opts));
            ("choices", options(all))
        }
        Kind::Systems => ("choices", options(named(&affectable.systems))),
        Kind::Subprocessor => ("choice", options(named(&affectable.subprocessors))),
    };
    let error = errors.get(pointer).map(|m| m.join("; "));
    let described_by = [
        (!field.help.is_empty()).then(|| format!("{id}-help")),
        error.is_some().then(|| format!("{id}-error")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    FieldView {
        name: pointer.to_owned(),
        autofocus: values.get(pointer).is_some_and(Vec::is_empty),
        label: field.label,
        help: field.help,
        kind,
        value: posted.first().cloned().unwrap_or_default(),
        options,
        error,
        described_by: (!described_by.is_empty()).then_some(described_by),
        id,
    }
}

/// The posted values of the report's fields (other inputs left out).
pub fn values_of(pairs: impl Iterator<Item = (String, String)>) -> Values {
    let mut values = Values::new();
    for (name, value) in pairs.filter(|(name, _)| name.starts_with('/')) {
        values.entry(name).or_default().push(value);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        values_of(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn posted_fields_become_the_report_body() {
        let report = to_report(&values(&[
            ("/summary", " A bucket was public. "),
            ("/became_aware_at", "2026-11-22 07:30"),
            ("/nature/confidentiality", "on"),
            ("/affected/systems", "lms"),
            ("/affected/systems", "crm"),
            ("/personal_data/categories", "contact"),
            ("/data_subjects/categories", "not_yet_known"),
            ("/data_subjects/categories", "pupils"),
            ("/data_subjects/countries", "NL, BE"),
            ("/measures/taken", "Closed it.\n\nRotated keys.\n"),
            ("/personal_data/records/min", "10"),
            ("/notified_parties/0/type", "police"),
            ("/notified_parties/0/name", "Politie"),
            ("/reporter/role", ""),
        ]))
        .unwrap();
        assert_eq!(report["summary"], "A bucket was public.");
        assert_eq!(report["became_aware_at"], "2026-11-22T07:30:00Z");
        assert_eq!(report["nature"]["confidentiality"], true);
        assert_eq!(report["nature"]["integrity"], false);
        assert_eq!(
            report["affected"]["systems"],
            serde_json::json!(["lms", "crm"])
        );
        assert_eq!(
            report["personal_data"]["categories"],
            serde_json::json!(["contact"])
        );
        assert_eq!(report["data_subjects"]["categories"], "not_yet_known");
        assert_eq!(
            report["data_subjects"]["countries"],
            serde_json::json!(["NL", "BE"])
        );
        assert_eq!(
            report["measures"]["taken"],
            serde_json::json!(["Closed it.", "Rotated keys."])
        );
        assert_eq!(report["personal_data"]["records"]["min"], 10);
        assert_eq!(
            report["notified_parties"],
            serde_json::json!([{"type": "police", "name": "Politie"}])
        );
        assert_eq!(report["likely_consequences"], serde_json::json!([]));
        assert!(
            report.get("reporter").is_none(),
            "empty fields are left out"
        );
        assert!(report["occurred"].get("estimated").is_none());
    }

    #[test]
    fn the_choices_are_the_domain_taxonomies() {
        use crate::domain::{
            BreachCategory, Consequence, CountPrecision, DataCategory, EaseOfIdentification,
            SubjectCategory,
        };
        fn values(opts: &[Opt]) -> Vec<&'static str> {
            opts.iter().map(|o| o.0).collect()
        }
        macro_rules! same {
            ($opts:expr, $enum:ty) => {
                assert_eq!(
                    values($opts),
                    <$enum>::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()
                );
            };
        }
        same!(DATA, DataCategory);
        same!(SUBJECTS, SubjectCategory);
        same!(CATEGORY, BreachCategory);
        same!(CONSEQUENCES, Consequence);
        same!(COUNT_PRECISION, CountPrecision);
        same!(EASE, EaseOfIdentification);
    }

    /// The report schema, read from the repository as the gateway reads it.
    fn report_schema() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.v1.schema.json");
        let text = std::fs::read_to_string(path).expect("the report schema is readable");
        serde_json::from_str(&text).expect("the report schema is JSON")
    }

    /// `node` with its `$ref` (to the schema's `$defs`) followed.
    fn resolved<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
        match node["$ref"].as_str() {
            Some(reference) => {
                let target = schema
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("{reference} resolves"));
                resolved(schema, target)
            }
            None => node,
        }
    }

    /// The alternatives of `node` (`oneOf`, `anyOf`, `allOf`) and itself.
    fn branches<'a>(schema: &'a Value, node: &'a Value) -> Vec<&'a Value> {
        let node = resolved(schema, node);
        let mut all = vec![node];
        for key in ["oneOf", "anyOf", "allOf"] {
            for branch in node[key].as_array().into_iter().flatten() {
                all.extend(branches(schema, branch));
            }
        }
        all
    }

    /// The schema of the value at report `pointer` (array indexes step into
    /// `items`), in every branch that has one.
    fn nodes_at<'a>(schema: &'a Value, pointer: &str) -> Vec<&'a Value> {
        let mut nodes = vec![schema];
        for segment in pointer.trim_start_matches('/').split('/') {
            nodes = nodes
                .into_iter()
                .flat_map(|n| branches(schema, n))
                .filter_map(|n| match segment.parse::<usize>() {
                    Ok(_) => n.get("items"),
                    Err(_) => n.get("properties").and_then(|p| p.get(segment)),
                })
                .collect();
        }
        nodes
    }

    /// Every string value the schema allows at `pointer`: its enums and
    /// string constants, in a list's items too.
    fn allowed_at(schema: &Value, pointer: &str) -> Vec<String> {
        let mut allowed = Vec::new();
        for node in nodes_at(schema, pointer) {
            for branch in branches(schema, node) {
                let items = branch.get("items").map(|i| branches(schema, i));
                for n in std::iter::once(branch).chain(items.into_iter().flatten()) {
                    let values = n["enum"].as_array().into_iter().flatten();
                    allowed.extend(values.chain(n.get("const")).filter_map(Value::as_str));
                }
            }
        }
        allowed.into_iter().map(str::to_owned).collect()
    }

    /// The values a field offers to choose from, if it is a taxonomy.
    fn offered(field: &Field) -> Option<Vec<String>> {
        let values = |opts: &[Opt]| opts.iter().map(|o| o.0.to_owned()).collect::<Vec<_>>();
        match field.kind {
            Kind::Choice(opts) | Kind::Choices { options: opts, .. } => Some(values(opts)),
            Kind::Categories(opts) => {
                Some([vec!["not_yet_known".to_owned()], values(opts)].concat())
            }
            _ => None,
        }
    }

    /// Every report pointer (lists at index 0) whose value the schema
    /// restricts to listed strings, but the per-client figures, which the
    /// incident page's CSV upload sets.
    fn restricted_pointers(schema: &Value, node: &Value, pointer: &str, found: &mut Vec<String>) {
        if pointer == "/affected/per_client" {
            return;
        }
        if !pointer.is_empty() && !allowed_at(schema, pointer).is_empty() {
            found.push(pointer.to_owned());
        }
        for branch in branches(schema, node) {
            for (name, property) in branch["properties"].as_object().into_iter().flatten() {
                restricted_pointers(schema, property, &format!("{pointer}/{name}"), found);
            }
            if let Some(items) = branch.get("items") {
                let items = resolved(schema, items);
                if items.get("properties").is_some() {
                    restricted_pointers(schema, items, &format!("{pointer}/0"), found);
                }
            }
        }
    }

    #[test]
    fn every_choice_offers_exactly_what_the_report_schema_allows() {
        let schema = report_schema();
        // A client's figures take the same choices as the incident's, checked
        // there; the schema names them under `additionalProperties`.
        let placed: Vec<Placed> = placed(&Values::new())
            .into_iter()
            .filter(|p| !p.pointer.starts_with(PER_CLIENT.pointer))
            .collect();
        for Placed { field, pointer, .. } in &placed {
            let Some(mut offered) = offered(field) else {
                continue;
            };
            let mut allowed = allowed_at(&schema, pointer);
            assert!(!allowed.is_empty(), "{} lists no values", field.pointer);
            let count = offered.len();
            offered.sort();
            offered.dedup();
            assert_eq!(
                offered.len(),
                count,
                "{} offers a value twice",
                field.pointer
            );
            allowed.sort();
            allowed.dedup();
            assert_eq!(
                offered, allowed,
                "{}: the form's values differ from the schema's",
                field.pointer
            );
        }
        let mut restricted = Vec::new();
        restricted_pointers(&schema, &schema, "", &mut restricted);
        for pointer in &restricted {
            assert!(
                placed
                    .iter()
                    .any(|p| &p.pointer == pointer && offered(p.field).is_some()),
                "{pointer} has listed values in the schema but no choice on the form"
            );
        }
        assert!(restricted.len() >= 15, "{restricted:?}");
    }

    #[test]
    fn errors_land_on_their_field_or_their_group() {
        let affectable = Affectable {
            systems: vec![],
            subprocessors: vec![],
        };
        let errors = [
            FieldError::new("/cause/origin", "is required"),
            FieldError::new("/affected", "name at least one"),
            FieldError::new("", "something about the whole report"),
        ];
        let (sections, summary) = view(&Values::new(), &errors, &affectable);
        let origin = sections
            .iter()
            .flat_map(|s| &s.fields)
            .find(|f| f.name == "/cause/origin")
            .unwrap();
        assert_eq!(origin.error.as_deref(), Some("is required"));
        let systems = sections
            .iter()
            .flat_map(|s| &s.fields)
            .find(|f| f.name == "/affected/systems")
            .unwrap();
        assert_eq!(systems.error.as_deref(), Some("name at least one"));
        assert_eq!(summary.len(), 3);
        assert_eq!(summary[2].field_id, None);
    }

    #[test]
    fn per_client_rows_become_figures_by_client() {
        let report = to_report(&values(&[
            ("/affected/per_client/0/client_id", "formavenir"),
            ("/affected/per_client/0/data_subjects/count/min", "120"),
            ("/affected/per_client/0/data_subjects/count/max", "120"),
            (
                "/affected/per_client/0/data_subjects/count/precision",
                "exact",
            ),
            ("/affected/per_client/0/personal_data/categories", "contact"),
            ("/affected/per_client/0/countries", "FR"),
            ("/affected/per_client/1/client_id", ""),
            ("/affected/per_client/2/client_id", "acme"),
            ("/affected/per_client/2/personal_data/records/min", "3"),
        ]))
        .unwrap();
        assert_eq!(
            report["affected"]["per_client"],
            serde_json::json!({
                "formavenir": {
                    "data_subjects": {"count": {"min": 120, "max": 120, "precision": "exact"}},
                    "personal_data": {"categories": ["contact"]},
                    "countries": ["FR"]
                },
                "acme": {"personal_data": {"records": {"min": 3}}}
            })
        );
        let empty = to_report(&values(&[("/affected/per_client/0/client_id", " ")])).unwrap();
        assert!(empty.get("affected").is_none(), "an empty row is left out");
    }

    #[test]
    fn a_row_of_figures_names_one_client_once() {
        let errors = to_report(&values(&[
            ("/affected/per_client/0/data_subjects/count/min", "1"),
            ("/affected/per_client/1/client_id", "acme"),
            ("/affected/per_client/2/client_id", "acme"),
        ]))
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/affected/per_client/0/client_id",
                "/affected/per_client/2/client_id"
            ]
        );
    }

    #[test]
    fn the_intake_s_errors_in_a_group_land_on_their_row() {
        let affectable = Affectable {
            systems: vec![],
            subprocessors: vec![],
        };
        let posted = values(&[
            ("/affected/per_client/0/client_id", "formavenir"),
            ("/affected/per_client/1/client_id", "acme"),
            ("/affected/per_client/1/data_subjects/count/min", "x"),
            ("/notified_parties/0/name", ""),
            ("/notified_parties/1/name", "Politie"),
        ]);
        let errors = [
            FieldError::new(
                "/affected/per_client/acme/data_subjects/count/min",
                "must be a number",
            ),
            FieldError::new(
                "/affected/per_client/formavenir",
                "not affected by this incident",
            ),
            // The parties filled in are a list without the empty row.
            FieldError::new("/notified_parties/0/type", "is required"),
            FieldError::new(
                "/affected/per_client/0/client_id",
                "name the client these figures are for",
            ),
        ];
        let (sections, summary) = view(&posted, &errors, &affectable);
        let ids: Vec<Option<&str>> = summary.iter().map(|e| e.field_id.as_deref()).collect();
        assert_eq!(
            ids,
            [
                Some("f-affected-per_client-1-data_subjects-count-min"),
                Some("f-affected-per_client-0-client_id"),
                Some("f-notified_parties-1-type"),
                Some("f-affected-per_client-0-client_id"),
            ]
        );
        assert_eq!(summary[0].label, "Client figures 2: people: at least");
        let row = sections
            .iter()
            .flat_map(|s| &s.groups)
            .find(|g| g.pointer == "/affected/per_client")
            .map(|g| &g.rows[1])
            .unwrap();
        let min = row
            .fields
            .iter()
            .find(|f| f.id.ends_with("count-min"))
            .unwrap();
        assert_eq!(min.value, "x", "the input is kept");
        assert_eq!(min.error.as_deref(), Some("must be a number"));
    }

    #[test]
    fn nobody_informed_is_an_empty_list_and_not_with_parties() {
        let nobody = values(&[
            ("/notified_parties/none", "yes"),
            ("/notified_parties/0/name", ""),
        ]);
        let report = to_report(&nobody).unwrap();
        assert_eq!(report["notified_parties"], serde_json::json!([]));
        assert_eq!(values_from(&report)["/notified_parties/none"], ["yes"]);
        assert!(to_report(&values(&[]))
            .unwrap()
            .get("notified_parties")
            .is_none());
        let both = values(&[
            ("/notified_parties/none", "yes"),
            ("/notified_parties/0/name", "NCSC"),
        ]);
        let errors = to_report(&both).unwrap_err();
        assert_eq!(errors[0].path, "/notified_parties/none");
        let (_, summary) = view(
            &both,
            &errors,
            &Affectable {
                systems: vec![],
                subprocessors: vec![],
            },
        );
        assert_eq!(
            summary[0].field_id.as_deref(),
            Some("f-notified_parties-none")
        );
    }

    #[test]
    fn add_row_adds_one_empty_row_to_its_group() {
        let mut posted = values(&[("/notified_parties/0/name", "Politie")]);
        assert!(add_row(&mut posted, "/notified_parties"));
        assert!(add_row(&mut posted, "/notified_parties"));
        assert!(!add_row(&mut posted, "/summary"));
        assert_eq!(PARTIES.rows(&posted), 3);
        assert_eq!(PER_CLIENT.rows(&posted), 1, "every group shows a row");
        assert_eq!(
            to_report(&posted).unwrap()["notified_parties"],
            serde_json::json!([{"name": "Politie"}])
        );
    }

    fn facts() -> Value {
        serde_json::json!({
            "summary": "A bucket was public.",
            "became_aware_at": "2026-11-22T07:30:00Z",
            "nature": {"confidentiality": true, "integrity": false, "availability": false},
            "occurred": {"from": "2026-11-21T22:00:00Z", "to": "2026-11-22T06:00:00Z", "ongoing": false},
            "affected": {"systems": ["lms"], "per_client": {"formavenir": {"data_subjects": {"count": {"min": 1, "max": 1, "precision": "exact"}}}}},
            "data_subjects": {"categories": "not_yet_known", "countries": ["NL", "BE"]},
            "personal_data": {"categories": ["contact"], "records": {"min": 10, "max": 40, "precision": "approximate"}},
            "likely_consequences": [],
            "measures": {"taken": ["Closed it.", "Rotated keys."], "proposed": []},
            "notified_parties": [
                {"type": "police", "name": "Politie"},
                {"type": "csirt", "name": "NCSC"},
                {"type": "other", "name": "Insurer"}
            ]
        })
    }

    #[test]
    fn the_update_form_shows_the_facts_and_sends_nothing_unchanged() {
        let facts = facts();
        let shown = values_from(&facts);
        assert_eq!(shown["/measures/taken"], ["Closed it.\nRotated keys."]);
        assert_eq!(shown["/data_subjects/countries"], ["NL, BE"]);
        assert_eq!(shown["/data_subjects/categories"], ["not_yet_known"]);
        assert_eq!(shown["/nature/confidentiality"], ["yes"]);
        assert!(!shown.contains_key("/nature/integrity"));
        assert_eq!(shown["/personal_data/records/min"], ["10"]);
        assert_eq!(update_patch(&facts, &shown).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn the_update_patch_carries_only_what_changed_on_the_form() {
        let facts = facts();
        let mut posted = values_from(&facts);
        posted.insert(
            "/summary".into(),
            vec!["The bucket was public for a day.".into()],
        );
        posted.insert("/personal_data/records/max".into(), vec!["60".into()]);
        posted.insert(
            "/measures/taken".into(),
            vec!["Closed it.\r\nRotated keys.\r\nTold staff.".into()],
        );
        // Emptied: withdrawn; a row of parties emptied: gone from the list.
        posted.remove("/occurred/to");
        posted.remove("/notified_parties/1/type");
        posted.remove("/notified_parties/1/name");
        let patch = update_patch(&facts, &posted).unwrap();
        assert_eq!(
            patch,
            serde_json::json!({
                "summary": "The bucket was public for a day.",
                "personal_data": {"records": {"max": 60}},
                "measures": {"taken": ["Closed it.", "Rotated keys.", "Told staff."]},
                "occurred": {"to": null},
                "notified_parties": [
                    {"type": "police", "name": "Politie"},
                    {"type": "other", "name": "Insurer"}
                ]
            })
        );
        let mut merged = facts.clone();
        json_patch::merge(&mut merged, &patch);
        assert_eq!(
            merged["affected"]["per_client"], facts["affected"]["per_client"],
            "a client's figures left as they were stay"
        );
    }

    #[test]
    fn the_update_form_shows_each_client_s_figures_and_sends_only_their_changes() {
        let facts = facts();
        let mut posted = values_from(&facts);
        assert_eq!(posted["/affected/per_client/0/client_id"], ["formavenir"]);
        assert_eq!(posted["/notified_parties/2/name"], ["Insurer"]);
        posted.insert(
            "/affected/per_client/0/data_subjects/count/max".into(),
            vec!["3".into()],
        );
        posted.insert(
            "/affected/per_client/1/client_id".into(),
            vec!["acme".into()],
        );
        posted.insert("/affected/per_client/1/countries".into(), vec!["BE".into()]);
        assert_eq!(
            update_patch(&facts, &posted).unwrap(),
            serde_json::json!({"affected": {"per_client": {
                "formavenir": {"data_subjects": {"count": {"max": 3}}},
                "acme": {"countries": ["BE"]}
            }}})
        );
    }
}
