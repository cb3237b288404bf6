//! Passkeys on the pages (SPEC §4a): renaming and removing one from the
//! home page (plain forms), and adding one, which needs the browser's
//! WebAuthn API: `static/passkeys.js` runs that ceremony against the JSON
//! API, and without scripts the form answers that it needs them.

use super::*;

const SCRIPT: &str = include_str!("../../static/passkeys.js");

/// `static/passkeys.js`: the one script, same origin (the CSP's
/// `default-src 'self'` allows it; no inline script anywhere).
pub(super) async fn passkeys_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A passkey's outcome on the message page, with a way back home.
fn passkey_message(state: &AppState, csrf: &str, result: Result<String, ApiError>) -> Response {
    factor_message(state, csrf, "Passkeys", result)
}

#[derive(Deserialize)]
pub struct PasskeyAddForm {
    csrf: Option<String>,
}

crate::redact::debug_redacting!(PasskeyAddForm {} redacting { csrf });

/// The add form posted without its script: nothing is verified or counted.
pub(super) async fn passkey_add_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<PasskeyAddForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    passkey_message(
        &state,
        &csrf,
        Ok("Adding a passkey needs JavaScript in your browser: turn it on and try again, or set up an authenticator app.".to_owned()),
    )
}

#[derive(Debug, Deserialize)]
pub struct PasskeyRenameForm {
    csrf: Option<String>,
    name: Option<String>,
}

pub(super) async fn passkey_rename_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    PageForm(form): PageForm<PasskeyRenameForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) if !auth.agreement_required => auth,
        Ok(_) => return see_other("/"),
        Err(response) => return *response,
    };
    let mut errors = InvalidInput::default();
    let result = match crate::api::passkey_name(&mut errors, &form.name) {
        None => Err(ApiError::InvalidInput(errors)),
        Some(name) => match crate::api::passkey_id(&id) {
            Ok(id) => state
                .portal
                .rename_passkey(&auth, id, &name)
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => see_other("/"),
        Err(error) => passkey_message(&state, &csrf, Err(error)),
    }
}

#[derive(Deserialize)]
pub struct PasskeyRemoveForm {
    csrf: Option<String>,
    current_password: Option<String>,
}

crate::redact::debug_redacting!(PasskeyRemoveForm {} redacting { csrf, current_password });

pub(super) async fn passkey_remove_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    PageForm(form): PageForm<PasskeyRemoveForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) if !auth.agreement_required => auth,
        Ok(_) => return see_other("/"),
        Err(response) => return *response,
    };
    let current = form
        .current_password
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| Password::parse(p).ok());
    let result = match (current, crate::api::passkey_id(&id)) {
        (Some(current), Ok(id)) => state
            .portal
            .remove_passkey(&auth, id, &current, ctx)
            .await
            .map(|()| "Your passkey was removed. We emailed you a notice.".to_owned())
            .map_err(ApiError::from),
        (None, _) => Err(ApiError::InvalidCredentials),
        (_, Err(e)) => Err(e),
    };
    passkey_message(&state, &csrf, result)
}
