//! `contracts check`: every problem in an agreements directory, each with its
//! file, line and field, and the loaded snapshot when there are none. The
//! admin API checks a client given as JSON with the same functions
//! ([`check_client`]), so a file and an API request are held to one rule.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Component, Path};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use url::Host;

use super::model::{ClientAgreement, SubprocessorsFile, SystemsFile, STORED_SECRET};
use super::source::SourceFile;
use super::Snapshot;
use crate::domain::address::metadata_or_link_local;
use crate::validation::{CompiledSchema, FieldError, CONTRACT_SCHEMA};

/// One thing wrong with the agreements, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    /// The field as a JSON pointer into the file (`/systems/0/id`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Which file of the agreements a finding belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    Systems,
    Subprocessors,
    Client(String),
}

impl Origin {
    fn file_name(&self) -> String {
        match self {
            Origin::Systems => SYSTEMS_FILE.to_owned(),
            Origin::Subprocessors => SUBPROCESSORS_FILE.to_owned(),
            Origin::Client(id) => format!("clients/{id}.toml"),
        }
    }
}

/// A problem found in the parsed agreements, before it is tied to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub origin: Origin,
    pub pointer: String,
    pub message: String,
}

const SYSTEMS_FILE: &str = "systems.toml";
const SUBPROCESSORS_FILE: &str = "subprocessors.toml";

/// The JSON Schemas for the three kinds of agreement file, compiled once.
pub struct ContractSchemas {
    client: CompiledSchema,
    systems: CompiledSchema,
    subprocessors: CompiledSchema,
}

impl ContractSchemas {
    /// The schemas built into the binary, compiled on first use.
    pub fn embedded() -> &'static Self {
        static SCHEMAS: OnceLock<ContractSchemas> = OnceLock::new();
        SCHEMAS.get_or_init(Self::compile)
    }

    fn compile() -> Self {
        let root: Value = serde_json::from_str(CONTRACT_SCHEMA).expect("embedded schema is JSON");
        let part = |name: &str| {
            let schema = json!({"$defs": root["$defs"], "$ref": format!("#/$defs/{name}")});
            CompiledSchema::compile(&schema).expect("embedded contract schema part compiles")
        };
        Self {
            client: CompiledSchema::compile(&root).expect("embedded contract schema compiles"),
            systems: part("systems_file"),
            subprocessors: part("subprocessors_file"),
        }
    }

    pub fn client(&self) -> &CompiledSchema {
        &self.client
    }

    /// What is wrong with a client agreement as JSON: its schema violations
    /// and any value that could not go into an email header.
    fn client_errors(&self, client: &Value) -> Vec<FieldError> {
        let mut errors = self.client.errors_at_fields(client);
        errors.extend(control_characters(client));
        errors
    }
}

/// Reads and checks every file under `dir`; profiles named by agreements are
/// read from `schemas_dir`.
pub fn check_dir(dir: &Path, schemas_dir: &Path) -> Result<Snapshot, Vec<Problem>> {
    let schemas = ContractSchemas::embedded();
    let mut problems = Vec::new();
    let mut sources: HashMap<Origin, SourceFile> = HashMap::new();

    let systems: Option<SystemsFile> = load(
        dir,
        SYSTEMS_FILE,
        &|file| schemas.systems.errors_at_fields(file),
        Origin::Systems,
        &mut sources,
        &mut problems,
    )
    .and_then(Result::ok);
    let subprocessors: Option<SubprocessorsFile> = load(
        dir,
        SUBPROCESSORS_FILE,
        &|file| schemas.subprocessors.errors_at_fields(file),
        Origin::Subprocessors,
        &mut sources,
        &mut problems,
    )
    .and_then(Result::ok);

    let mut clients = Vec::new();
    let mut unparsed = Vec::new();
    for stem in client_stems(dir, &mut problems) {
        let name = format!("clients/{stem}.toml");
        let origin = Origin::Client(stem.clone());
        let client = match load::<ClientAgreement>(
            dir,
            &name,
            &|file| schemas.client_errors(file),
            origin.clone(),
            &mut sources,
            &mut problems,
        ) {
            Some(Ok(client)) => Some(client),
            Some(Err(raw)) => {
                unparsed.push((origin, raw));
                None
            }
            None => None,
        };
        if let Some(client) = client {
            if client.id.as_str() != stem {
                problems.push(Problem {
                    line: sources
                        .get(&Origin::Client(stem.clone()))
                        .and_then(|s| s.line_of("/id")),
                    file: name,
                    field: "/id".into(),
                    message: format!(
                        "id {:?} must match the file name {stem:?}",
                        client.id.as_str()
                    ),
                });
            }
            clients.push(client);
        }
    }

    let mut snapshot = Snapshot {
        systems: systems.map(|f| f.system).unwrap_or_default(),
        subprocessors: subprocessors.map(|f| f.subprocessor).unwrap_or_default(),
        clients,
        profiles: BTreeMap::new(),
    };
    let findings = check_snapshot(&mut snapshot, &unparsed, schemas_dir);
    problems.extend(findings.into_iter().map(|finding| {
        let line = sources
            .get(&finding.origin)
            .and_then(|s| s.line_of(&finding.pointer));
        Problem {
            file: finding.origin.file_name(),
            line,
            field: finding.pointer,
            message: finding.message,
        }
    }));

    if problems.is_empty() {
        Ok(snapshot)
    } else {
        Err(problems)
    }
}

fn client_stems(dir: &Path, problems: &mut Vec<Problem>) -> Vec<String> {
    let clients_dir = dir.join("clients");
    let entries = match std::fs::read_dir(&clients_dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem {
                file: "clients/".into(),
                line: None,
                field: String::new(),
                message: format!("cannot read the clients directory: {e}"),
            });
            return Vec::new();
        }
    };
    let mut stems: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    stems.sort();
    stems
}

/// Reads one file, checks it (`errors`: its schema and any rule of its kind)
/// and parses it; every problem is recorded. The parsed file comes back even
/// when it has problems, as long as it can be read, so that the checks across
/// files still run on it; a file that cannot be parsed comes back as JSON.
fn load<T: DeserializeOwned>(
    dir: &Path,
    name: &str,
    errors: &dyn Fn(&Value) -> Vec<FieldError>,
    origin: Origin,
    sources: &mut HashMap<Origin, SourceFile>,
    problems: &mut Vec<Problem>,
) -> Option<Result<T, Value>> {
    let problem = |line, field: &str, message: String| Problem {
        file: name.to_owned(),
        line,
        field: field.to_owned(),
        message,
    };
    let source = match SourceFile::read(&dir.join(name)) {
        Ok(source) => source,
        Err(e) => {
            problems.push(problem(None, "", format!("cannot read: {e}")));
            return None;
        }
    };
    let parsed = match source.to_json() {
        Ok(value) => value,
        Err((line, message)) => {
            problems.push(problem(line, "", format!("not valid TOML: {message}")));
            return None;
        }
    };
    let (result, errors) = parse_checked(parsed, errors);
    problems.extend(
        errors
            .into_iter()
            .map(|e| problem(source.line_of(&e.path), &e.path, e.message)),
    );
    sources.insert(origin, source);
    Some(result)
}

/// Checks one agreement document with `errors`, then parses it: the parsed
/// document (or, when it cannot be parsed, the JSON) and every problem.
fn parse_checked<T: DeserializeOwned>(
    document: Value,
    errors: &dyn Fn(&Value) -> Vec<FieldError>,
) -> (Result<T, Value>, Vec<FieldError>) {
    let mut problems = errors(&document);
    let result = match crate::validation::deserialize::<T>(&document) {
        Ok(parsed) => Ok(parsed),
        Err(e) => {
            if problems.is_empty() {
                problems.push(e);
            }
            Err(())
        }
    };
    let secrets = secret_values(&document);
    let problems = problems
        .into_iter()
        .map(|e| without_secrets(e, &secrets))
        .collect();
    (result.map_err(|()| document), problems)
}

/// An endpoint's `secret` field names where its secret is kept.
const SECRET_FIELD: &str = "secret";

/// What was sent as a `secret` and is not a reference (`env:NAME`,
/// `stored`): perhaps the secret itself.
fn secret_values(document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![document];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(fields) => {
                for (key, value) in fields {
                    match value.as_str() {
                        Some(text) if key == SECRET_FIELD => {
                            let reference = text == STORED_SECRET || text.starts_with("env:");
                            if !reference && !text.is_empty() {
                                found.push(text.to_owned());
                            }
                        }
                        _ => pending.push(value),
                    }
                }
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

/// An error that quotes no secret: one about a `secret` field says what is
/// expected without the value sent, and any other has such values masked.
fn without_secrets(error: FieldError, secrets: &[String]) -> FieldError {
    if error.path.rsplit('/').next() == Some(SECRET_FIELD) {
        return FieldError::new(
            error.path,
            "must be a reference to the secret (env:NAME or stored), never the secret itself",
        );
    }
    let mut message = error.message;
    for secret in secrets {
        let quoted = Value::String(secret.clone()).to_string();
        message = message
            .replace(quoted.trim_matches('"'), "***")
            .replace(secret.as_str(), "***");
    }
    FieldError::new(error.path, message)
}

/// Everything `contracts check` checks once the files are parsed: the agreed
/// profiles (read into `snapshot.profiles`), then the cross references,
/// including those of client files that could not be parsed (`unparsed`).
fn check_snapshot(
    snapshot: &mut Snapshot,
    unparsed: &[(Origin, Value)],
    schemas_dir: &Path,
) -> Vec<Finding> {
    let mut findings = read_profiles(snapshot, schemas_dir);
    findings.extend(cross_check(snapshot));
    findings.extend(unparsed_references(snapshot, unparsed));
    findings
}

/// Every string of a client agreement that holds a control character. Names,
/// addresses and references end up in email headers (the subject names the
/// client, the recipients are addresses), where a line break would add a
/// header or make the email undeliverable; none of the agreement's values is
/// free text that needs one, so every string is held to the rule.
fn control_characters(document: &Value) -> Vec<FieldError> {
    fn walk(value: &Value, pointer: String, out: &mut Vec<FieldError>) {
        match value {
            Value::String(text) if text.chars().any(char::is_control) => out.push(FieldError::new(
                pointer,
                "must not contain a line break or another control character: it goes into email headers",
            )),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{pointer}/{i}"), out);
                }
            }
            Value::Object(fields) => {
                for (key, field) in fields {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(field, format!("{pointer}/{key}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(document, String::new(), &mut out);
    out
}

/// Checks `client`, a client agreement as JSON in the shape of its TOML file,
/// as `contracts check` would check it as a file among the agreements of
/// `snapshot`: the contract schema, then the cross references. Returns the
/// parsed agreement and `snapshot` with it in place of the client of the
/// same id (profiles it names loaded from `schemas_dir`), or every problem
/// with its JSON pointer into `client`.
pub fn check_client(
    client: Value,
    mut snapshot: Snapshot,
    schemas_dir: &Path,
) -> Result<(ClientAgreement, Snapshot), Vec<FieldError>> {
    let schemas = ContractSchemas::embedded();
    let (parsed, mut errors) =
        parse_checked::<ClientAgreement>(client, &|c| schemas.client_errors(c));
    let (origin, unparsed) = match &parsed {
        Ok(agreement) => {
            match snapshot.clients.iter_mut().find(|c| c.id == agreement.id) {
                Some(existing) => *existing = agreement.clone(),
                None => snapshot.clients.push(agreement.clone()),
            }
            (Origin::Client(agreement.id.to_string()), Vec::new())
        }
        Err(raw) => {
            let origin = Origin::Client(raw["id"].as_str().unwrap_or_default().to_owned());
            (origin.clone(), vec![(origin, raw.clone())])
        }
    };
    errors.extend(
        check_snapshot(&mut snapshot, &unparsed, schemas_dir)
            .into_iter()
            .filter(|finding| finding.origin == origin)
            .map(|finding| FieldError::new(finding.pointer, finding.message)),
    );
    match parsed {
        Ok(agreement) if errors.is_empty() => Ok((agreement, snapshot)),
        _ => Err(errors),
    }
}

/// Loads every profile the agreements name into `snapshot.profiles`.
fn read_profiles(snapshot: &mut Snapshot, schemas_dir: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    for client in &snapshot.clients {
        let Some(name) = &client.agreement.notice_schema else {
            continue;
        };
        if snapshot.profiles.contains_key(name) {
            continue;
        }
        let finding = |message: String| Finding {
            origin: Origin::Client(client.id.to_string()),
            pointer: "/agreement/notice_schema".into(),
            message,
        };
        let text = match read_profile(schemas_dir, name) {
            Ok(text) => text,
            Err(message) => {
                findings.push(finding(message));
                continue;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(schema) => match CompiledSchema::compile(&schema) {
                Ok(_) => {
                    snapshot.profiles.insert(name.clone(), schema);
                }
                Err(message) => findings.push(finding(format!("{name:?}: {message}"))),
            },
            Err(e) => findings.push(finding(format!("{name:?} is not JSON: {e}"))),
        }
    }
    findings
}

/// Reads the profile `name` from inside `schemas_dir` and nowhere else: a
/// relative path of plain names, none of them a symbolic link below the
/// directory, ending in a regular file whose canonical path lies in the
/// directory's. An agreement names its profile, and the admin API takes
/// agreements, so a link or a `..` would let it have any file read.
fn read_profile(schemas_dir: &Path, name: &str) -> Result<String, String> {
    let outside = || format!("{name:?} must be a relative path inside the schemas directory");
    if Path::new(name)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(outside());
    }
    let unreadable = |e: std::io::Error| format!("cannot read notice schema {name:?}: {e}");
    // The directory itself may be a link (a deployment's choice); what is
    // below it may not.
    let root = schemas_dir.canonicalize().map_err(unreadable)?;
    let mut path = root.clone();
    for component in Path::new(name).components() {
        path.push(component);
        if std::fs::symlink_metadata(&path)
            .map_err(unreadable)?
            .file_type()
            .is_symlink()
        {
            let link = path.strip_prefix(&root).unwrap_or(&path);
            return Err(format!(
                "notice schema {name:?}: {} is a symbolic link; profiles must be files inside the schemas directory",
                link.display()
            ));
        }
    }
    if !path.is_file() {
        return Err(format!("notice schema {name:?} is not a regular file"));
    }
    if !path.canonicalize().map_err(unreadable)?.starts_with(&root) {
        return Err(outside());
    }
    std::fs::read_to_string(&path).map_err(unreadable)
}

/// Records a finding as `(origin, pointer, message)` in `findings`.
fn recorder(findings: &mut Vec<Finding>) -> impl FnMut(&Origin, String, String) + '_ {
    |origin: &Origin, pointer: String, message: String| {
        findings.push(Finding {
            origin: origin.clone(),
            pointer,
            message,
        })
    }
}

/// The checks that span files: references, duplicates and delivery settings.
/// Used for files and for agreements changed through the admin API alike.
pub fn cross_check(snapshot: &Snapshot) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = recorder(&mut findings);

    let known = Registered::of(snapshot, &mut push);
    for client in &snapshot.clients {
        let origin = Origin::Client(client.id.to_string());
        known.check_systems(
            &origin,
            client.systems.iter().map(|system| {
                let subprocessors = system.subprocessors.iter().map(|s| s.as_str()).collect();
                (system.id.as_str(), subprocessors)
            }),
            &mut push,
        );
        let mut webhook_ids = HashSet::new();
        for (i, webhook) in client.delivery.webhooks.iter().enumerate() {
            if !webhook_ids.insert(&webhook.id) {
                push(
                    &origin,
                    format!("/delivery/webhooks/{i}/id"),
                    format!("duplicate webhook id {:?}", webhook.id.as_str()),
                );
            }
            if let Err(message) = check_webhook_url(&webhook.url, webhook.local_testing) {
                push(&origin, format!("/delivery/webhooks/{i}/url"), message);
            }
        }
        let has_email = client
            .delivery
            .email
            .as_ref()
            .is_some_and(|e| !e.to.is_empty());
        if client.delivery.webhooks.is_empty() && !has_email {
            push(
                &origin,
                "/delivery".into(),
                "no webhook and no email recipient: notices could not be delivered".into(),
            );
        }
    }

    let mut client_ids = HashSet::new();
    for client in &snapshot.clients {
        if !client_ids.insert(&client.id) {
            push(
                &Origin::Client(client.id.to_string()),
                "/id".into(),
                format!("duplicate client id {:?}", client.id.as_str()),
            );
        }
    }
    drop(push);
    findings
}

/// The systems and sub-processors the agreements register (duplicates are
/// reported as they are found), with the systems each sub-processor is used in.
struct Registered<'a> {
    systems: HashSet<&'a str>,
    used_in: HashMap<&'a str, HashSet<&'a str>>,
}

impl<'a> Registered<'a> {
    fn of(snapshot: &'a Snapshot, push: &mut impl FnMut(&Origin, String, String)) -> Self {
        let mut systems = HashSet::new();
        for (i, system) in snapshot.systems.iter().enumerate() {
            if !systems.insert(system.id.as_str()) {
                push(
                    &Origin::Systems,
                    format!("/system/{i}/id"),
                    format!("duplicate system id {:?}", system.id.as_str()),
                );
            }
        }
        let mut used_in: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (i, sub) in snapshot.subprocessors.iter().enumerate() {
            if used_in
                .insert(
                    sub.id.as_str(),
                    sub.systems.iter().map(|s| s.as_str()).collect(),
                )
                .is_some()
            {
                push(
                    &Origin::Subprocessors,
                    format!("/subprocessor/{i}/id"),
                    format!("duplicate sub-processor id {:?}", sub.id.as_str()),
                );
            }
            for (j, system) in sub.systems.iter().enumerate() {
                if !systems.contains(system.as_str()) {
                    push(
                        &Origin::Subprocessors,
                        format!("/subprocessor/{i}/systems/{j}"),
                        format!("unknown system {:?}", system.as_str()),
                    );
                }
            }
        }
        Self { systems, used_in }
    }

    /// A client's systems, each with the sub-processors it authorised there:
    /// every system registered and listed once, every sub-processor
    /// registered and used in that system.
    fn check_systems<'c>(
        &self,
        origin: &Origin,
        systems: impl Iterator<Item = (&'c str, Vec<&'c str>)>,
        push: &mut impl FnMut(&Origin, String, String),
    ) {
        let mut seen = HashSet::new();
        for (i, (system, subprocessors)) in systems.enumerate() {
            if !self.systems.contains(system) {
                push(
                    origin,
                    format!("/systems/{i}/id"),
                    format!("unknown system {system:?}"),
                );
            }
            if !seen.insert(system) {
                push(
                    origin,
                    format!("/systems/{i}/id"),
                    format!("system {system:?} is listed twice"),
                );
            }
            for (j, sub) in subprocessors.into_iter().enumerate() {
                let pointer = format!("/systems/{i}/subprocessors/{j}");
                match self.used_in.get(sub) {
                    None => push(origin, pointer, format!("unknown sub-processor {sub:?}")),
                    Some(used) if !used.contains(system) => push(
                        origin,
                        pointer,
                        format!(
                            "sub-processor {sub:?} is not used in system {system:?} according to {SUBPROCESSORS_FILE}"
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}

/// The system and sub-processor references of client agreements that could
/// not be parsed, read from their JSON as far as it goes, so that a schema
/// error does not hide an unknown system of the same agreement.
fn unparsed_references(snapshot: &Snapshot, unparsed: &[(Origin, Value)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = recorder(&mut findings);
    // Duplicates among the registered ones were reported by `cross_check`.
    let known = Registered::of(snapshot, &mut |_: &Origin, _, _| {});
    for (origin, client) in unparsed {
        let systems = client["systems"].as_array().into_iter().flatten();
        known.check_systems(
            origin,
            systems.map(|system| {
                let subprocessors = system["subprocessors"].as_array().into_iter().flatten();
                (
                    system["id"].as_str().unwrap_or_default(),
                    subprocessors.filter_map(Value::as_str).collect(),
                )
            }),
            &mut push,
        );
    }
    drop(push);
    findings
}

fn check_webhook_url(raw: &str, local_testing: bool) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if local_testing => Ok(()),
        "http" => Err(
            "webhook URLs must use https (set local_testing = true for a local test receiver)"
                .into(),
        ),
        other => Err(format!(
            "unsupported scheme {other:?}: webhook URLs must use https"
        )),
    }?;
    let ip = match url.host() {
        None => return Err("webhook URL has no host".into()),
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(_)) => None,
    };
    // The delivery guard refuses these at every attempt (link-local unless
    // allow-listed); an agreement may not name them at all, so the mistake
    // shows where it is written. `local_testing` only permits plain http.
    if let Some(ip) = ip {
        if let Some(kind) = metadata_or_link_local(ip) {
            return Err(format!(
                "{ip} is a {kind} address, never a webhook target (not even with local_testing)"
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("webhook URL must not carry credentials; use the endpoint secret".into());
    }
    Ok(())
}
