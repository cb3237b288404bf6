//! The activation link's page and the resend form (SPEC §3 step 5).

use super::*;

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    /// `Some`: the Activate form; `None`: the resend form.
    token: Option<String>,
}

pub(super) fn activate_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    token: Option<&str>,
    errors: Vec<String>,
) -> Response {
    let page = ActivatePage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Activate your account",
        errors,
        token: token.map(str::to_owned),
    };
    html(state, csrf, status, page.render())
}

pub(super) async fn activate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    // Nothing changes on GET: a mail scanner following the link activates nothing.
    match non_empty(query.token.as_ref()) {
        Some(token) => activate_view(&state, &csrf, StatusCode::OK, Some(token), Vec::new()),
        None => activate_view(
            &state,
            &csrf,
            StatusCode::BAD_REQUEST,
            None,
            vec![ApiError::InvalidToken.detail()],
        ),
    }
}

/// The Activate form.
#[derive(Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
    token: Option<String>,
}

crate::redact::debug_redacting!(TokenForm {} redacting { csrf, token });

pub(super) async fn activate_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let invalid = |state: &AppState| {
        activate_view(
            state,
            &csrf,
            StatusCode::BAD_REQUEST,
            None,
            vec![ApiError::InvalidToken.detail()],
        )
    };
    let Some(token) = non_empty(form.token.as_ref()) else {
        return invalid(&state);
    };
    match state.portal.activate(token, ctx).await {
        Ok(_) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Account activated",
                message: "Your account is active. You can now log in.".to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid(&state),
            other => error_page(&state, &csrf, &other),
        },
    }
}

pub(super) async fn resend_submit(
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
        return activate_view(
            &state,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            vec!["Username is required.".to_owned()],
        );
    };
    // Answered before the look-up: the same path, and time, for every name.
    let portal = std::sync::Arc::clone(&state.portal);
    let username = username.to_owned();
    let started = state.background.run("activation resend", async move {
        portal.resend_activation(&username, ctx).await
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
            message: "If the account is waiting for activation, we sent a new activation email."
                .to_owned(),
            alert: false,
            tips: MAIL_TIPS.to_vec(),
            link: Some(("/login", "Login")),
        },
    )
}
