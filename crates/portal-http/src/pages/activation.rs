//! The activation link's page and the resend form (SPEC §3 step 5).

use portal_domain::service::{LinkActivation, RequestContext};

use super::*;

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
}

pub(super) fn activate_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    errors: Vec<String>,
) -> Response {
    let page = ActivatePage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Get a new activation email",
        errors,
    };
    html(state, csrf, status, page.render())
}

/// The emailed **Activate Account** link: a live token activates the
/// account at once (SPEC §3 step 5; docs/SECURITY.md says why a mail
/// scanner activating it too is acceptable), the same link opened again
/// says the account is already active, and anything else offers the
/// resend form.
pub(super) async fn activate_page(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    activate_with(&state, &csrf, ctx, non_empty(query.token.as_ref())).await
}

/// Activates with `token` and answers the page that says what happened.
async fn activate_with(
    state: &AppState,
    csrf: &str,
    ctx: RequestContext,
    token: Option<&str>,
) -> Response {
    let invalid = |state: &AppState| {
        activate_view(
            state,
            csrf,
            StatusCode::BAD_REQUEST,
            vec![ApiError::InvalidToken.detail()],
        )
    };
    let Some(token) = token else {
        return invalid(state);
    };
    match state.portal.activate_link(token, ctx).await {
        Ok(LinkActivation::Activated) => message_page(
            state,
            csrf,
            StatusCode::OK,
            Message {
                title: "Account activated",
                message: "Your Provider Portal account is active. Log in with the username and \
                          password you chose."
                    .to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Ok(LinkActivation::AlreadyActive) => message_page(
            state,
            csrf,
            StatusCode::OK,
            Message {
                title: "This account is already active",
                message: "This account is already active: the link has done its work. Log in \
                          with the username and password you chose."
                    .to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid(state),
            other => error_page(state, csrf, &other),
        },
    }
}

/// The Activate form of the pages before the link activated by itself: a
/// page opened then and submitted now still works.
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
    activate_with(&state, &csrf, ctx, non_empty(form.token.as_ref())).await
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
