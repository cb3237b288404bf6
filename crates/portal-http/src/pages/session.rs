//! Login, the home page, logout, re-accepting a newer Provider Agreement
//! and changing the password: the pages of a session.

use super::*;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    username: String,
    /// The one message of a locked account, with its end.
    locked: Option<LockNotice>,
    not_activated: bool,
}

/// When a lock ends, as a person reads it: "in 24 hours" and the moment
/// itself in UTC (the server cannot know the reader's time zone; the
/// `<time>` element carries the exact instant for tools that can).
#[derive(Debug)]
struct LockNotice {
    remaining: String,
    until: String,
    rfc3339: String,
}

impl LockNotice {
    fn new(locked_until: time::OffsetDateTime, now: time::OffsetDateTime) -> Self {
        let utc = locked_until.to_offset(time::UtcOffset::UTC);
        Self {
            remaining: remaining(locked_until - now),
            until: format!(
                "{:02}:{:02} UTC on {} {} {}",
                utc.hour(),
                utc.minute(),
                utc.day(),
                utc.month(),
                utc.year()
            ),
            rfc3339: crate::problem::rfc3339(locked_until),
        }
    }
}

/// "24 hours", "2 hours", "45 minutes", "1 minute": whole hours from two
/// hours up, rounded to the nearest (a lock just set reads "24 hours"),
/// minutes below, rounded up so that the time given is never too early.
fn remaining(left: time::Duration) -> String {
    let seconds = left.whole_seconds().max(0);
    let (count, unit) = if seconds >= 2 * 3600 {
        ((seconds + 1800) / 3600, "hour")
    } else {
        ((seconds + 59) / 60, "minute")
    };
    let count = count.max(1);
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

pub(super) fn login_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    username: &str,
    error: Option<&ApiError>,
) -> Response {
    use portal_domain::ports::Clock;
    let locked = match error {
        Some(ApiError::AccountLocked { locked_until }) => Some(LockNotice::new(
            *locked_until,
            portal_domain::system::SystemClock.now(),
        )),
        _ => None,
    };
    let page = LoginPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Login",
        // A locked account gets its own single message, not the API's too.
        errors: error
            .filter(|_| locked.is_none())
            .map(ApiError::detail)
            .into_iter()
            .collect(),
        username: username.to_owned(),
        locked,
        not_activated: matches!(error, Some(ApiError::AccountNotActivated)),
    };
    html(state, csrf, status, page.render())
}

pub(super) async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match csrf_for_page(&state, &headers) {
        Ok(csrf) => login_view(&state, &csrf, StatusCode::OK, "", None),
        Err(e) => e.into_response(),
    }
}

/// A form post: every field optional, checked by the handler.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

crate::redact::debug_redacting!(LoginForm { username } redacting { csrf, password });

pub(super) async fn login_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let username = form.username.clone().unwrap_or_default();
    let (Some(name), Some(raw)) = (
        non_empty(form.username.as_ref()),
        form.password.as_deref().filter(|p| !p.is_empty()),
    ) else {
        let mut errors = InvalidInput::default();
        if non_empty(form.username.as_ref()).is_none() {
            errors.push("username", "is required");
        }
        errors.push("password", "is required");
        let error = ApiError::InvalidInput(errors);
        return login_view(&state, &csrf, error.status(), &username, Some(&error));
    };
    // Room in the hash pool first, as the API's login takes it.
    let admission = match state.hash_pool.admit().await {
        Ok(admission) => admission,
        Err(overloaded) => {
            let error = crate::api::refuse_overloaded(&state, overloaded);
            return error_page(&state, &csrf, &error);
        }
    };
    let result = match crate::api::run_login(&state, admission, name, raw, ctx).await {
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
        Err(LoginError::SecondStepRequired(challenge)) => {
            state
                .metrics
                .login(portal_domain::codes::ErrorCode::MfaRequired.as_str());
            second_step_page(&state, &csrf, &challenge)
        }
        Err(e) => {
            if matches!(e, LoginError::AccountLocked { .. }) {
                state.metrics.lockout();
            }
            let error = ApiError::from(e);
            state.metrics.login(error.code());
            match error {
                ApiError::InvalidCredentials
                | ApiError::AccountLocked { .. }
                | ApiError::AccountNotActivated
                | ApiError::AccountDisabled
                | ApiError::ProviderInactive => {
                    login_view(&state, &csrf, error.status(), &username, Some(&error))
                }
                other => error_page(&state, &csrf, &other),
            }
        }
    }
}

/// One provider row of the home page.
#[derive(Debug)]
struct ProviderRow {
    provider_id: String,
    kind: String,
    name: String,
    zips: String,
    lines: String,
}

#[derive(Debug)]
struct PasskeyRow {
    id: i64,
    name: String,
    created_at: String,
    last_used_at: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    title: &'static str,
    username: String,
    note: Option<String>,
    /// While a newer agreement awaits: its version and text.
    agreement: Option<(String, String)>,
    /// `PORTAL_MFA_REQUIRED` and no factor yet: only enrolment is offered.
    mfa_enrolment_required: bool,
    has_totp: bool,
    recovery_codes_left: u32,
    /// `PORTAL_PUBLIC_URL`'s host is a domain name.
    passkeys_available: bool,
    passkeys: Vec<PasskeyRow>,
    providers: Vec<ProviderRow>,
    rules: Vec<RuleLine>,
    questions: Vec<(u8, &'static str)>,
}

pub(super) async fn home_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let factors = match state.portal.second_factors(&auth).await {
        Ok(factors) => factors,
        Err(f) => return error_page(&state, &csrf, &ApiError::from(f)),
    };
    let passkeys = match state.portal.passkeys(&auth).await {
        Ok(passkeys) => passkeys
            .iter()
            .map(|p| PasskeyRow {
                id: p.id.get(),
                name: p.name.as_str().to_owned(),
                created_at: crate::problem::rfc3339(p.created_at),
                last_used_at: p
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), crate::problem::rfc3339),
            })
            .collect(),
        Err(f) => return error_page(&state, &csrf, &ApiError::from(f)),
    };
    let (note, providers) = if auth.agreement_required {
        (Some(ApiError::AgreementRequired.detail()), Vec::new())
    } else if auth.mfa_enrolment_required {
        (Some(ApiError::MfaEnrolmentRequired.detail()), Vec::new())
    } else {
        match state.portal.visible_providers_of(&auth).await {
            Ok(providers) => (None, providers),
            Err(f) => return error_page(&state, &csrf, &ApiError::from(f)),
        }
    };
    let page = HomePage {
        frame: Frame::new(&state, csrf.clone()),
        title: "Home",
        username: auth.account.username.as_str().to_owned(),
        note,
        mfa_enrolment_required: auth.mfa_enrolment_required,
        has_totp: factors.totp,
        recovery_codes_left: factors.recovery_codes_left,
        passkeys_available: state.portal.passkeys_available(),
        passkeys,
        agreement: auth.agreement_required.then(|| {
            let agreement = &state.config.portal.agreement;
            (
                agreement.version.as_str().to_owned(),
                agreement.text.clone(),
            )
        }),
        providers: providers
            .into_iter()
            .map(|p| ProviderRow {
                provider_id: p.provider_id.as_str().to_owned(),
                kind: p.kind.as_str().to_owned(),
                name: p.name,
                zips: p
                    .zips
                    .iter()
                    .map(|z| z.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                lines: p
                    .lines_of_business
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        rules: password_rules(&state, PasswordUse::Replacement),
        questions: SECURITY_QUESTIONS.to_vec(),
    };
    html(&state, &csrf, StatusCode::OK, page.render())
}

/// The session of a page request: without a live one, the login page.
pub(super) async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<portal_domain::service::Authenticated, Box<Response>> {
    let Some((token, _)) = session_token(headers) else {
        return Err(Box::new(see_other("/login")));
    };
    match state.portal.authenticate(&token).await {
        Ok(auth) => Ok(auth),
        Err(portal_domain::service::AuthError::Fault(f)) => {
            Err(Box::new(error_page(state, csrf, &ApiError::from(f))))
        }
        Err(_) => Err(Box::new(see_other("/login"))),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

crate::redact::debug_redacting!(CsrfForm {} redacting { csrf });

pub(super) async fn logout_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    if let Some((token, _)) = session_token(&headers)
        && let Err(f) = state.portal.logout(&token, ctx).await
    {
        return error_page(&state, &csrf, &ApiError::from(f));
    }
    let mut response = see_other("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&state));
    if let Err(e) = renew_csrf(&state, &mut response) {
        return e.into_response();
    }
    response
}

/// Re-acceptance of a newer agreement, from the home page.
#[derive(Deserialize)]
pub struct CurrentAgreementForm {
    csrf: Option<String>,
    agreement_version: Option<String>,
    accepted: Option<String>,
}

crate::redact::debug_redacting!(CurrentAgreementForm { agreement_version, accepted } redacting { csrf });

pub(super) async fn current_agreement_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CurrentAgreementForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let version = form
        .agreement_version
        .as_deref()
        .and_then(|v| AgreementVersion::parse(v).ok());
    let ticked = form.accepted.as_deref().is_some_and(|v| !v.is_empty());
    let result = match version {
        Some(version) if ticked => state
            .portal
            .accept_current_agreement(&auth, &version, ctx)
            .await
            .map_err(ApiError::from),
        _ => Err(ApiError::AgreementNotAccepted),
    };
    match result {
        Ok(()) => see_other("/"),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => message_page(
            &state,
            &csrf,
            error.status(),
            Message {
                title: "Provider Agreement",
                message: error.detail(),
                alert: true,
                tips: Vec::new(),
                link: Some(("/", "Back")),
            },
        ),
    }
}

/// The password change form on the home page.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
}

crate::redact::debug_redacting!(PasswordForm {} redacting { csrf, current_password, new_password });

/// Self-service password change (SPEC §6): the same rules as
/// `POST /api/v1/me/password`; other sessions are revoked, this one kept.
pub(super) async fn password_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) if !auth.agreement_required && !auth.mfa_enrolment_required => auth,
        Ok(_) => return see_other("/"),
        Err(response) => return *response,
    };
    let parse = |raw: &Option<String>| {
        raw.as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|p| Password::parse(p).ok())
    };
    let result = match (parse(&form.current_password), parse(&form.new_password)) {
        (Some(current), Some(new)) => state
            .portal
            .change_password(&auth, &current, &new, ctx)
            .await
            .map_err(ApiError::from),
        (None, _) => Err(ApiError::InvalidCredentials),
        (Some(_), None) => Err(ApiError::InvalidInput(
            portal_domain::service::InvalidInput::single("new_password", "is required"),
        )),
    };
    let (status, message, alert) = match result {
        Ok(()) => (
            StatusCode::OK,
            "Your password was changed. Your other sessions were logged out, and we emailed you a notice.".to_owned(),
            false,
        ),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => return error_page(&state, &csrf, &error),
        Err(ApiError::PasswordPolicy(violations)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            std::iter::once(ApiError::PasswordPolicy(violations.clone()).detail())
                .chain(violations.as_slice().iter().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(" "),
            true,
        ),
        Err(error) => (error.status(), error.detail(), true),
    };
    message_page(
        &state,
        &csrf,
        status,
        Message {
            title: "Change password",
            message,
            alert,
            tips: Vec::new(),
            link: Some(("/", "Back")),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_lock_s_end_reads_in_hours_or_minutes_and_in_utc() {
        let now = datetime!(2026-12-06 14:30:00 UTC);
        let notice = LockNotice::new(
            now + time::Duration::hours(24),
            now + time::Duration::seconds(1),
        );
        assert_eq!(notice.remaining, "24 hours");
        assert_eq!(notice.until, "14:30 UTC on 7 December 2026");
        assert_eq!(notice.rfc3339, "2026-12-07T14:30:00Z");
        assert_eq!(remaining(time::Duration::minutes(90)), "90 minutes");
        assert_eq!(remaining(time::Duration::seconds(61)), "2 minutes");
        assert_eq!(remaining(time::Duration::seconds(10)), "1 minute");
        assert_eq!(remaining(time::Duration::seconds(-5)), "1 minute");
        assert_eq!(remaining(time::Duration::hours(3)), "3 hours");
    }
}
