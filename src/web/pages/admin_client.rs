//! One client's page for contract admins: its agreement, webhook endpoints
//! (add, enable or disable, rotate the secret, send a test delivery and see
//! its result), email recipients, and the agreement as TOML to download or
//! edit. Every change goes through [`crate::service::agreements`], so it is
//! checked as `contracts check` checks a file and refused in its words. A
//! generated secret is shown once, in the answer to the form that made it.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;

use super::admin::admin_error;
use crate::domain::{ClientId, WebhookId};
use crate::service::accounts::Session;
use crate::service::agreements::{self as admin, AdminError, Overlap, WebhookChange};
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, AdminSession};
use crate::web::templates::render;
use crate::web::{PageError, WebState};

/// What one answer shows beyond the client as stored.
#[derive(Default)]
struct Shown {
    /// A secret just generated, shown this once.
    secret: Option<Value>,
    /// A test delivery and its result.
    test: Option<Value>,
    /// Why a form was refused: each a message naming its field.
    errors: Vec<String>,
    /// Which form `errors` are about, and its input, kept.
    form: Option<&'static str>,
    kept: Option<Value>,
    status: Option<String>,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    webhook: Option<String>,
    test: Option<String>,
    status: Option<String>,
}

/// `GET /admin/clients/{id}`, with `?webhook=…&test=…` after a test delivery.
pub async fn show(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let id = client_id(&id)?;
    let mut shown = Shown {
        status: query.status,
        ..Shown::default()
    };
    if let (Some(webhook), Some(test_id)) = (query.webhook, query.test) {
        let webhook = webhook_id(&webhook)?;
        let test = admin::webhook_test(&state.app.services, &id, &webhook, &test_id)
            .await
            .map_err(admin_error)?;
        let reload = url::form_urlencoded::Serializer::new(format!("/admin/clients/{id}?"))
            .append_pair("webhook", webhook.as_str())
            .append_pair("test", &test_id)
            .finish();
        shown.test = Some(context! {
            webhook => webhook.as_str(),
            test_id => test.test_id,
            reload,
            done => test.finished_at.is_some(),
            outcome => test.outcome.map(|o| o.as_str()),
            status_code => test.status_code,
            duration_ms => test.duration_ms,
            detail => test.detail,
            finished_at => test.finished_at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        });
    }
    client_page(&state, &session, &id, shown).await
}

/// `GET /admin/clients/{id}/agreement.toml`: the agreement as its file.
pub async fn download_toml(
    State(state): State<WebState>,
    AdminSession(_): AdminSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = client_id(&id)?;
    let toml = admin::export_toml(&state.app.services, &id).map_err(admin_error)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/toml; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.toml\""),
            ),
        ],
        toml,
    )
        .into_response())
}

/// `POST /admin/clients/{id}/agreement`: the agreement replaced by the TOML posted.
pub async fn replace_agreement(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let id = client_id(&id)?;
    let text = posted.get("agreement").unwrap_or_default();
    let kept = context! { agreement => text };
    let agreement = match toml::from_str::<serde_json::Value>(text) {
        Ok(agreement) => agreement,
        Err(e) => {
            let errors = vec![format!("the agreement is not TOML: {}", e.message())];
            return refused(&state, &session, &id, "agreement", kept, errors).await;
        }
    };
    match admin::replace_client(&state.app.services, &session.caller, &id, agreement).await {
        Ok(changed) => {
            let shown = Shown {
                status: Some("The agreement was saved.".into()),
                secret: secrets_shown(&changed.secrets),
                ..Shown::default()
            };
            client_page(&state, &session, &id, shown).await
        }
        Err(e) => form_error(&state, &session, &id, "agreement", kept, e).await,
    }
}

/// `POST /admin/clients/{id}/webhooks`: adds an endpoint with a generated secret.
pub async fn add_webhook(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let id = client_id(&id)?;
    let webhook = posted.get("webhook_id").unwrap_or_default().trim();
    let url = posted.get("url").unwrap_or_default().trim();
    let local_testing = posted.get("local_testing") == Some("yes");
    let signatures: Vec<String> = posted
        .pairs()
        .filter(|(name, _)| name == "signatures")
        .map(|(_, value)| value)
        .collect();
    let kept = context! { webhook_id => webhook, url, local_testing, signatures };
    let endpoint = json!({
        "id": webhook,
        "url": url,
        "local_testing": local_testing,
        "signatures": signatures,
    });
    match admin::add_webhook(&state.app.services, &session.caller, &id, endpoint).await {
        Ok(changed) => {
            let shown = Shown {
                status: Some(format!("Endpoint {webhook} added.")),
                secret: secrets_shown(&changed.secrets),
                ..Shown::default()
            };
            client_page(&state, &session, &id, shown).await
        }
        Err(e) => form_error(&state, &session, &id, "webhook", kept, e).await,
    }
}

/// `POST /admin/clients/{id}/webhooks/{webhook_id}`: `action` is `enable`,
/// `disable`, `rotate` or `test`.
pub async fn webhook_action(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path((id, webhook)): Path<(String, String)>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let (id, webhook) = (client_id(&id)?, webhook_id(&webhook)?);
    let services = &state.app.services;
    let caller = &session.caller;
    let back = |query: &[(&str, &str)]| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        Ok(Redirect::to(&format!("/admin/clients/{id}?{query}")).into_response())
    };
    match posted.get("action") {
        Some(action @ ("enable" | "disable")) => {
            let enabled = action == "enable";
            let change = WebhookChange::from_json(json!({ "enabled": enabled }))
                .map_err(PageError::internal)?;
            admin::update_webhook(services, caller, &id, &webhook, change)
                .await
                .map_err(admin_error)?;
            let status = format!("Endpoint {webhook} {action}d.");
            back(&[("status", &status)])
        }
        Some("rotate") => {
            match admin::rotate_secret(services, caller, &id, &webhook, Overlap::default()).await {
                Ok(rotated) => {
                    let until = rotated
                        .previous_valid_until
                        .format("%Y-%m-%d %H:%M UTC")
                        .to_string();
                    let shown = Shown {
                        status: Some(format!("The secret of {webhook} was rotated.")),
                        secret: Some(context! {
                            webhook => webhook.as_str(),
                            secret => rotated.secret.expose(),
                            version => rotated.version,
                            previous_valid_until => until,
                        }),
                        ..Shown::default()
                    };
                    client_page(&state, &session, &id, shown).await
                }
                Err(e) => form_error(&state, &session, &id, "endpoints", Value::from(()), e).await,
            }
        }
        Some("test") => {
            let test_id = admin::queue_webhook_test(services, caller, &id, &webhook)
                .await
                .map_err(admin_error)?;
            back(&[("webhook", webhook.as_str()), ("test", &test_id)])
        }
        _ => Err(PageError::BadForm),
    }
}

/// `POST /admin/clients/{id}/email`: the recipients, one address a line.
pub async fn set_email(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let id = client_id(&id)?;
    let to = posted.get("to").unwrap_or_default();
    let cc = posted.get("cc").unwrap_or_default();
    let kept = context! { to, cc };
    let recipients = json!({ "to": lines(to), "cc": lines(cc) });
    match admin::set_email(&state.app.services, &session.caller, &id, recipients).await {
        Ok(_) => {
            let shown = Shown {
                status: Some("The email recipients were saved.".into()),
                ..Shown::default()
            };
            client_page(&state, &session, &id, shown).await
        }
        Err(e) => form_error(&state, &session, &id, "email", kept, e).await,
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

fn secrets_shown(secrets: &[admin::GeneratedSecret]) -> Option<Value> {
    secrets.first().map(|s| {
        context! {
            webhook => s.webhook_id.as_str(),
            secret => s.secret.expose(),
            version => 1,
            previous_valid_until => (),
        }
    })
}

/// The page again with `form`'s input kept and why it was refused, or the
/// error page for what no form can fix.
async fn form_error(
    state: &WebState,
    session: &Session,
    id: &ClientId,
    form: &'static str,
    kept: Value,
    e: AdminError,
) -> Result<Response, PageError> {
    let errors = match e {
        AdminError::Invalid(errors) => errors
            .into_iter()
            .map(|e| {
                if e.path.is_empty() {
                    e.message
                } else {
                    format!("{}: {}", e.path, e.message)
                }
            })
            .collect(),
        AdminError::ClientExists(_)
        | AdminError::WebhookExists { .. }
        | AdminError::SecretNotStored { .. } => vec![e.to_string()],
        other => return Err(admin_error(other)),
    };
    refused(state, session, id, form, kept, errors).await
}

async fn refused(
    state: &WebState,
    session: &Session,
    id: &ClientId,
    form: &'static str,
    kept: Value,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let shown = Shown {
        errors,
        form: Some(form),
        kept: Some(kept),
        ..Shown::default()
    };
    let page = client_page(state, session, id, shown).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn client_page(
    state: &WebState,
    session: &Session,
    id: &ClientId,
    shown: Shown,
) -> Result<Response, PageError> {
    let services = &state.app.services;
    let client = admin::client(services, id).map_err(admin_error)?;
    let webhooks: Vec<Value> = admin::webhooks(services, id)
        .await
        .map_err(admin_error)?
        .into_iter()
        .map(|w| {
            context! {
                id => w.endpoint.id.as_str(),
                url => w.endpoint.url,
                secret_from => w.endpoint.secret,
                local_testing => w.endpoint.local_testing,
                enabled => w.enabled,
                secret_version => w.secret_versions.iter().filter(|v| v.expires_at.is_none()).map(|v| v.version).max(),
            }
        })
        .collect();
    let email = client.delivery.email.as_ref();
    let toml = admin::export_toml(services, id).map_err(admin_error)?;
    let terms = &client.agreement;
    let html = render(
        "admin_client.html",
        Some(session),
        context! {
            title => format!("Client {}", client.name),
            id => id.as_str(),
            name => client.name,
            country => client.country,
            language => client.language.as_str(),
            time_zone => client.time_zone,
            agreement_id => terms.id,
            agreement_reference => terms.reference,
            notify_within_hours => terms.notify_within_hours,
            update_every_hours => terms.update_every_hours,
            notice_schema => terms.notice_schema,
            webhooks,
            email_to => email.map(|e| e.to.join("\n")).unwrap_or_default(),
            email_cc => email.map(|e| e.cc.join("\n")).unwrap_or_default(),
            toml,
            secret => shown.secret,
            test => shown.test,
            errors => shown.errors,
            form => shown.form,
            kept => shown.kept,
            status => shown.status,
        },
    )?;
    Ok(html.into_response())
}

/// An id that cannot exist is as unknown as any other.
fn client_id(raw: &str) -> Result<ClientId, PageError> {
    ClientId::parse(raw).map_err(|_| PageError::NotFound)
}

fn webhook_id(raw: &str) -> Result<WebhookId, PageError> {
    WebhookId::parse(raw).map_err(|_| PageError::NotFound)
}
