//! Creating accounts from the admin pages: staff, admin or a client's DPO
//! (with its client id). The answer shows the one-time link that sets the
//! password, as `breachgate users create` prints it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Value};

use crate::domain::audit;
use crate::domain::{ClientId, Role};
use crate::service::accounts::{self, AccountError, Session};
use crate::store::StoreError;
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, AdminSession};
use crate::web::templates::render;
use crate::web::{PageError, WebState};

/// `GET /admin/accounts`
pub async fn show(AdminSession(session): AdminSession) -> Result<Html<String>, PageError> {
    page(&session, Value::from(()), None, None)
}

/// `POST /admin/accounts`: `role`, `email` and, for a client's DPO, `client_id`.
pub async fn submit(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let role_name = posted.get("role").unwrap_or_default();
    let email = posted.get("email").unwrap_or_default().trim();
    let client = posted.get("client_id").unwrap_or_default().trim();
    let kept = context! { role => role_name, email, client_id => client };
    let refuse = |message: String| -> Result<Response, PageError> {
        let html = page(&session, kept.clone(), Some(message), None)?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
    };
    let Some(role) = Role::parse(role_name) else {
        return refuse("Role: choose staff, admin or client".into());
    };
    let client_id = match client {
        "" => None,
        raw => match ClientId::parse(raw) {
            Ok(id) => Some(id),
            Err(_) => return refuse(format!("Client id: no client {raw:?}")),
        },
    };
    let app = &state.app;
    let created = accounts::create_user(
        app.services.store.as_ref(),
        &audit::token_actor(&session.caller),
        role,
        client_id,
        email,
        &app.config.accounts,
        app.services.clock.now(),
    )
    .await;
    match created {
        Ok(created) => {
            let link = format!(
                "{}{}",
                app.config.server.link_base(),
                accounts::setup_path(&created.setup_secret)
            );
            let done = context! { email => created.user.email, role => role.as_str(), link };
            Ok(page(&session, Value::from(()), None, Some(done))?.into_response())
        }
        Err(AccountError::Store(StoreError::UnknownClient(id))) => {
            refuse(format!("Client id: no client {id} in the agreements"))
        }
        Err(AccountError::Store(StoreError::AccountExists(email))) => {
            refuse(format!("Email: an account with the email {email} exists"))
        }
        Err(e @ AccountError::BadEmail(_)) => refuse(format!("Email: {e}")),
        Err(e @ (AccountError::ClientMissing | AccountError::ClientNotAllowed)) => {
            refuse(format!("Client id: {e}"))
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

fn page(
    session: &Session,
    kept: Value,
    error: Option<String>,
    created: Option<Value>,
) -> Result<Html<String>, PageError> {
    render(
        "admin_accounts.html",
        Some(session),
        context! { title => "Create an account", kept, error, created },
    )
}
