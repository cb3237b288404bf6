//! The account settings forms of the home page (SPEC §4a): the email
//! change and the security question change, and the `/confirm-email` page
//! an email change link opens. The same parsing, use cases and texts as
//! `POST /api/v1/me/email`, `/me/email/confirm` and `/me/security-question`.

use super::*;
use crate::api::{EmailChangeBody, SecurityQuestionBody};

/// The email change form on the home page.
#[derive(Deserialize)]
pub struct EmailForm {
    csrf: Option<String>,
    current_password: Option<String>,
    new_email: Option<String>,
}

crate::redact::debug_redacting!(EmailForm { new_email } redacting { csrf, current_password });

/// The security question form on the home page.
#[derive(Deserialize)]
pub struct QuestionForm {
    csrf: Option<String>,
    current_password: Option<String>,
    security_question_id: Option<String>,
    security_answer: Option<String>,
}

crate::redact::debug_redacting!(QuestionForm { security_question_id } redacting { csrf, current_password, security_answer });

/// An error's page text: its detail, then each invalid member's message.
fn refusal_text(error: &ApiError) -> String {
    let mut text = error.detail();
    if let ApiError::InvalidInput(errors) = error {
        for field in &errors.0 {
            let label = match field.field.as_str() {
                "current_password" => "Current password",
                "new_email" => "New email",
                "security_question_id" => "Security question",
                "security_answer" => "Security answer",
                other => other,
            };
            text.push_str(&format!(" {label}: {}.", field.message));
        }
    }
    text
}

/// The answer page of a settings form: `done` on success, else the refusal.
fn settings_answer(
    state: &AppState,
    csrf: &str,
    title: &'static str,
    result: Result<String, ApiError>,
    tips: Vec<&'static str>,
) -> Response {
    let (status, message, alert, tips) = match result {
        Ok(done) => (StatusCode::OK, done, false, tips),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            return error_page(state, csrf, &error);
        }
        Err(error) => (error.status(), refusal_text(&error), true, Vec::new()),
    };
    message_page(
        state,
        csrf,
        status,
        Message {
            title,
            message,
            alert,
            tips,
            link: Some(("/", "Back")),
        },
    )
}

/// Email change (SPEC §4a): a confirmation link to the new address.
pub(super) async fn email_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<EmailForm>,
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
    let body = EmailChangeBody {
        current_password: form.current_password,
        new_email: form.new_email,
    };
    let result = match body.try_into_domain() {
        Ok((current, new_email)) => state
            .portal
            .request_email_change(&auth, &current, &new_email, ctx)
            .await
            .map(|()| {
                format!(
                    "We sent a confirmation link to {}. Your email changes when you open it \
                     and confirm; the link works once, for 1 hour.",
                    new_email.as_str()
                )
            })
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    settings_answer(&state, &csrf, "Change email", result, MAIL_TIPS.to_vec())
}

/// Security question change (SPEC §4a).
pub(super) async fn question_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<QuestionForm>,
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
    // A select's text: a number, or no question at all.
    let question_id = match form.security_question_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<i64>().unwrap_or(0)),
    };
    let body = SecurityQuestionBody {
        current_password: form.current_password,
        security_question_id: question_id,
        security_answer: form.security_answer,
    };
    let result = match body.try_into_domain() {
        Ok((current, input)) => state
            .portal
            .change_security_question(&auth, &current, &input, ctx)
            .await
            .map(|()| "Your security question was changed, and we emailed you a notice.".to_owned())
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    settings_answer(
        &state,
        &csrf,
        "Change security question",
        result,
        Vec::new(),
    )
}

#[derive(Template)]
#[template(path = "confirm_email.html")]
struct ConfirmEmailPage {
    frame: Frame,
    title: &'static str,
    token: String,
}

fn invalid_email_link(state: &AppState, csrf: &str) -> Response {
    message_page(
        state,
        csrf,
        StatusCode::BAD_REQUEST,
        Message {
            title: "This link cannot be used",
            message: ApiError::InvalidToken.detail(),
            alert: true,
            tips: Vec::new(),
            link: Some(("/", "Change email again")),
        },
    )
}

/// The page an email change link opens: nothing changes on `GET` (a mail
/// scanner may follow the link); its button posts the token.
pub(super) async fn confirm_email_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    match non_empty(query.token.as_ref()) {
        Some(token) => {
            let page = ConfirmEmailPage {
                frame: Frame::new(&state, csrf.clone()),
                title: "Confirm your new email",
                token: token.to_owned(),
            };
            html(&state, &csrf, StatusCode::OK, page.render())
        }
        None => invalid_email_link(&state, &csrf),
    }
}

/// The confirmation form: the link's token.
#[derive(Deserialize)]
pub struct ConfirmEmailForm {
    csrf: Option<String>,
    token: Option<String>,
}

crate::redact::debug_redacting!(ConfirmEmailForm {} redacting { csrf, token });

pub(super) async fn confirm_email_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ConfirmEmailForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(token) = non_empty(form.token.as_ref()) else {
        return invalid_email_link(&state, &csrf);
    };
    match state.portal.confirm_email_change(token, ctx).await {
        Ok(account) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Email changed",
                message: format!(
                    "The email of your account is now {}. We told the previous address.",
                    account.email.as_str()
                ),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid_email_link(&state, &csrf),
            error => error_page(&state, &csrf, &error),
        },
    }
}
