//! Second factors on the pages (SPEC §4a): the login's second step, and
//! setting up, confirming and removing the authenticator app from the
//! home page. The QR code is inline SVG: no script, no image request.

use super::*;
use portal_domain::service::{IssuedChallenge, MfaLoginError};

#[derive(Template)]
#[template(path = "mfa_login.html")]
struct MfaLoginPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    challenge_id: String,
    /// The account has a passkey (or, on a retry, passkeys are available):
    /// the "Use a passkey" button and its script.
    offer_passkey: bool,
}

#[derive(Template)]
#[template(path = "mfa_setup.html")]
struct MfaSetupPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "mfa_codes.html")]
struct MfaCodesPage {
    frame: Frame,
    title: &'static str,
    codes: Vec<String>,
}

/// The second step's form, for the challenge a right password got.
pub(super) fn mfa_login_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    challenge: &str,
    offer_passkey: bool,
    error: Option<&ApiError>,
) -> Response {
    let page = MfaLoginPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Enter your code",
        errors: error.map(ApiError::detail).into_iter().collect(),
        challenge_id: challenge.to_owned(),
        offer_passkey,
    };
    html(state, csrf, status, page.render())
}

/// The answer of a right password on an account with a second factor.
pub(super) fn second_step_page(
    state: &AppState,
    csrf: &str,
    challenge: &IssuedChallenge,
) -> Response {
    let offer_passkey = state.portal.passkeys_available()
        && challenge
            .methods
            .contains(&portal_domain::second_factor::MfaMethod::Passkey);
    mfa_login_view(
        state,
        csrf,
        StatusCode::OK,
        challenge.id.expose(),
        offer_passkey,
        None,
    )
}

#[derive(Deserialize)]
pub struct MfaLoginForm {
    csrf: Option<String>,
    challenge_id: Option<String>,
    code: Option<String>,
}

crate::redact::debug_redacting!(MfaLoginForm {} redacting { csrf, challenge_id, code });

pub(super) async fn mfa_login_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<MfaLoginForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let challenge = form.challenge_id.clone().unwrap_or_default();
    let code = form.code.clone().unwrap_or_default();
    let result = match crate::api::run_mfa_login(
        &state,
        &challenge,
        crate::api::SecondStepText::Code(&code),
        ctx,
    )
    .await
    {
        Ok(result) => result,
        Err(error) => return error_page(&state, &csrf, &error),
    };
    match result {
        Ok(session) => {
            state.metrics.login("success");
            crate::api::end_replaced_session(&state, &headers).await;
            let mut response = see_other("/");
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&state, session.token.expose()),
            );
            if let Err(e) = renew_csrf(&state, &mut response) {
                return e.into_response();
            }
            response
        }
        Err(e) => {
            if matches!(e, MfaLoginError::AccountLocked { .. }) {
                state.metrics.lockout();
            }
            let error = ApiError::from(e);
            state.metrics.login(error.code());
            match error {
                // Another try on the same challenge.
                ApiError::InvalidLoginCode => {
                    let offer_passkey = state.portal.passkeys_available();
                    mfa_login_view(
                        &state,
                        &csrf,
                        error.status(),
                        &challenge,
                        offer_passkey,
                        Some(&error),
                    )
                }
                ApiError::AccountLocked { .. }
                | ApiError::AccountDisabled
                | ApiError::ProviderInactive => {
                    login_view(&state, &csrf, error.status(), "", Some(&error))
                }
                other => error_page(&state, &csrf, &other),
            }
        }
    }
}

/// The QR code of `uri` as inline SVG markup.
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // Inline in HTML: without the XML declaration.
    Ok(svg
        .find("<svg")
        .map_or(svg.as_str(), |start| &svg[start..])
        .replacen("<svg ", "<svg role=\"img\" aria-hidden=\"true\" ", 1))
}

/// A form with the current password.
#[derive(Deserialize)]
pub struct CurrentPasswordForm {
    csrf: Option<String>,
    current_password: Option<String>,
}

crate::redact::debug_redacting!(CurrentPasswordForm {} redacting { csrf, current_password });

/// A setting's outcome on the message page, with a way back home.
fn settings_message(state: &AppState, csrf: &str, result: Result<String, ApiError>) -> Response {
    factor_message(state, csrf, "Authenticator app", result)
}

/// A second factor's outcome on the message page titled `title`, with a
/// way back home.
pub(super) fn factor_message(
    state: &AppState,
    csrf: &str,
    title: &'static str,
    result: Result<String, ApiError>,
) -> Response {
    let (status, message, alert) = match result {
        Ok(message) => (StatusCode::OK, message, false),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            return error_page(state, csrf, &error);
        }
        Err(error) => (error.status(), error.detail(), true),
    };
    message_page(
        state,
        csrf,
        status,
        Message {
            title,
            message,
            alert,
            tips: Vec::new(),
            link: Some(("/", "Back")),
        },
    )
}

/// The session of a page that enrols: a pending agreement comes first.
async fn enrolling_session(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<portal_domain::service::Authenticated, Box<Response>> {
    match page_session(state, headers, csrf).await {
        Ok(auth) if !auth.agreement_required => Ok(auth),
        Ok(_) => Err(Box::new(see_other("/"))),
        Err(response) => Err(response),
    }
}

pub(super) async fn totp_start_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CurrentPasswordForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match enrolling_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let Some(current) = form
        .current_password
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| Password::parse(p).ok())
    else {
        return settings_message(&state, &csrf, Err(ApiError::InvalidCredentials));
    };
    let enrolment = match state
        .portal
        .start_totp_enrolment(&auth, &current, ctx)
        .await
    {
        Ok(enrolment) => enrolment,
        Err(e) => return settings_message(&state, &csrf, Err(ApiError::from(e))),
    };
    let qr_svg = match qr_svg(&enrolment.otpauth_uri) {
        Ok(svg) => svg,
        Err(error) => return error_page(&state, &csrf, &error),
    };
    let page = MfaSetupPage {
        frame: Frame::new(&state, csrf.clone()),
        title: "Set up your authenticator app",
        errors: Vec::new(),
        secret: enrolment.secret.expose_base32(),
        qr_svg,
    };
    html(&state, &csrf, StatusCode::OK, page.render())
}

/// A form with a code.
#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    code: Option<String>,
}

crate::redact::debug_redacting!(CodeForm {} redacting { csrf, code });

pub(super) async fn totp_confirm_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match enrolling_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let code = form.code.clone().unwrap_or_default();
    match state.portal.confirm_totp(&auth, &code, ctx).await {
        Ok(codes) => {
            let page = MfaCodesPage {
                frame: Frame::new(&state, csrf.clone()),
                title: "Your recovery codes",
                codes: codes.iter().map(|c| c.expose_grouped()).collect(),
            };
            html(&state, &csrf, StatusCode::OK, page.render())
        }
        Err(e) => settings_message(&state, &csrf, Err(ApiError::from(e))),
    }
}

/// Removing the authenticator app: the current password and a code.
#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: Option<String>,
    current_password: Option<String>,
    code: Option<String>,
}

crate::redact::debug_redacting!(RemoveForm {} redacting { csrf, current_password, code });

pub(super) async fn totp_remove_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<RemoveForm>,
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
    let code = form.code.clone().unwrap_or_default();
    let result = match current {
        Some(current) => state
            .portal
            .remove_totp(&auth, &current, &code, ctx)
            .await
            .map(|()| {
                "Your authenticator app was removed, with its recovery codes. We emailed you a notice."
                    .to_owned()
            })
            .map_err(ApiError::from),
        None => Err(ApiError::InvalidCredentials),
    };
    settings_message(&state, &csrf, result)
}
