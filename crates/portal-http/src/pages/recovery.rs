//! Forgot password and the reset link's form (SPEC §6).

use super::*;

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
}

pub(super) async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    let page = ForgotPage {
        frame: Frame::new(&state, csrf.clone()),
        title: "Forgot password?",
        errors: Vec::new(),
    };
    html(&state, &csrf, StatusCode::OK, page.render())
}

/// A username, for the forgot-password and resend forms.
#[derive(Deserialize)]
pub struct UsernameForm {
    pub(super) csrf: Option<String>,
    pub(super) username: Option<String>,
}

crate::redact::debug_redacting!(UsernameForm { username } redacting { csrf });

fn username_required(state: &AppState, csrf: &str) -> Response {
    let page = ForgotPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Forgot password?",
        errors: vec!["Username is required.".to_owned()],
    };
    html(state, csrf, StatusCode::UNPROCESSABLE_ENTITY, page.render())
}

pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<UsernameForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(username) = non_empty(form.username.as_ref()) else {
        return username_required(&state, &csrf);
    };
    // Answered before the look-up: the same path, and time, for every name.
    let portal = std::sync::Arc::clone(&state.portal);
    let username = username.to_owned();
    let started = state.background.run("password reset request", async move {
        portal.request_password_reset(&username, ctx).await
    });
    if started.is_err() {
        let overloaded = ApiError::Overloaded {
            retry_after_seconds: 1,
        };
        return error_page(&state, &csrf, &overloaded);
    }
    message_page(
        &state,
        &csrf,
        StatusCode::OK,
        Message {
            title: "Check your email",
            message: "If the account exists, we sent an email with a link to set a new password \
                      (or, if the account was never activated, a new activation link)."
                .to_owned(),
            alert: false,
            tips: MAIL_TIPS.to_vec(),
            link: Some(("/login", "Login")),
        },
    )
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    token: String,
    rules: Vec<RuleLine>,
}

/// The password rules in force, as shown before a password is chosen.
/// The password rules a page lists (SPEC §5): the seed's two first, then
/// each extra rule with its reason; `reused` only where a password is
/// replaced.
pub(super) fn password_rules(state: &AppState, used_for: PasswordUse) -> Vec<RuleLine> {
    state.config.portal.password_policy.rule_lines(used_for)
}

fn reset_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    token: &str,
    errors: Vec<String>,
) -> Response {
    let page = ResetPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Set a new password",
        errors,
        token: token.to_owned(),
        rules: password_rules(state, PasswordUse::Replacement),
    };
    html(state, csrf, status, page.render())
}

fn invalid_reset_link(state: &AppState, csrf: &str) -> Response {
    message_page(
        state,
        csrf,
        StatusCode::BAD_REQUEST,
        Message {
            title: "This link cannot be used",
            message: ApiError::InvalidToken.detail(),
            alert: true,
            tips: Vec::new(),
            link: Some(("/forgot-password", "Forgot password?")),
        },
    )
}

/// A link's token in the query string.
#[derive(Deserialize)]
pub struct TokenQuery {
    pub(super) token: Option<String>,
}

crate::redact::debug_redacting!(TokenQuery {} redacting { token });

pub(super) async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    // Nothing changes on GET: the token is only carried into the form.
    match non_empty(query.token.as_ref()) {
        Some(token) => reset_view(&state, &csrf, StatusCode::OK, token, Vec::new()),
        None => invalid_reset_link(&state, &csrf),
    }
}

/// The reset form.
#[derive(Deserialize)]
pub struct ResetForm {
    csrf: Option<String>,
    token: Option<String>,
    new_password: Option<String>,
}

crate::redact::debug_redacting!(ResetForm {} redacting { csrf, token, new_password });

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(token) = non_empty(form.token.as_ref()) else {
        return invalid_reset_link(&state, &csrf);
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let password = match form.new_password.as_deref() {
        None | Some("") => {
            return reset_view(
                &state,
                &csrf,
                status,
                token,
                vec!["New password is required.".to_owned()],
            );
        }
        Some(text) => match Password::parse(text) {
            Ok(password) => password,
            Err(e) => return reset_view(&state, &csrf, status, token, vec![e.to_string()]),
        },
    };
    match state.portal.confirm_password_reset(token, &password, ctx).await {
        Ok(()) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Password changed",
                message: "Your password was changed and your account is unlocked. Log in with the new password."
                    .to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid_reset_link(&state, &csrf),
            ApiError::PasswordPolicy(violations) => {
                let mut errors = vec![ApiError::PasswordPolicy(violations.clone()).detail()];
                errors.extend(violations.as_slice().iter().map(ToString::to_string));
                reset_view(&state, &csrf, status, token, errors)
            }
            other => error_page(&state, &csrf, &other),
        },
    }
}
