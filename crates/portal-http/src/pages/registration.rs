//! The registration pages (SPEC §3): provider type, the provider's details,
//! the Provider Agreement, the account, and the refusals of each step.

use super::*;
use portal_domain::service::CreateAccountStepError;

/// What a refusal says: the `detail()` text, then each invalid field or
/// unmet password rule.
fn error_lines(error: &ApiError) -> Vec<String> {
    let mut lines = vec![error.detail()];
    match error {
        ApiError::InvalidInput(InvalidInput(errors)) => lines.extend(
            errors
                .iter()
                .map(|e| format!("{}: {}", field_label(&e.field), e.message)),
        ),
        ApiError::PasswordPolicy(violations) => {
            lines.extend(violations.as_slice().iter().map(ToString::to_string));
        }
        _ => {}
    }
    lines
}

/// `provider_not_found` on the page: the SPEC's words, with the number
/// named as the plan prints it ("CareSource Provider Number").
fn provider_not_found_text(brand: &str, help_lines: &[HelpLine]) -> String {
    let calls: Vec<String> = help_lines
        .iter()
        .map(|l| format!("{} ({})", l.phone, l.label))
        .collect();
    format!(
        "The provider does not exist in Provider Portal. This may occur if the provider is not \
         yet entered into our system with the Tax ID or {brand} Provider Number you provided. \
         Call {}.",
        calls.join(" or ")
    )
}

fn field_label(field: &str) -> &str {
    match field {
        "provider_type" => "Provider type",
        "provider_id" => "Provider ID",
        "tax_id" => "Tax ID",
        "zip" => "ZIP code",
        "first_name" => "First name",
        "last_name" => "Last name",
        "group_name" => "Group name",
        "username" => "Username",
        "password" => "Password",
        "email" => "Email",
        "security_question_id" => "Security question",
        "security_answer" => "Security answer",
        "agreement_version" => "Agreement version",
        "accepted" => "Accept the agreement",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "register_type.html")]
struct RegisterTypePage {
    frame: Frame,
    title: &'static str,
}

/// The values typed in step 1, shown again after a refusal.
#[derive(Default, Deserialize)]
pub struct ProviderForm {
    csrf: Option<String>,
    provider_type: Option<String>,
    provider_id: Option<String>,
    tax_id: Option<String>,
    zip: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    group_name: Option<String>,
}

crate::redact::debug_redacting!(ProviderForm { provider_type, provider_id, tax_id, zip, first_name, last_name, group_name } redacting { csrf });

/// Step 1's fields as text, for the template.
#[derive(Debug, Default)]
struct ProviderValues {
    provider_id: String,
    tax_id: String,
    zip: String,
    first_name: String,
    last_name: String,
    group_name: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    group: bool,
    values: ProviderValues,
}

/// `?type=practitioner|group`.
#[derive(Debug, Deserialize)]
pub struct TypeQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn register_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    group: bool,
    form: &ProviderForm,
    errors: Vec<String>,
) -> Response {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let page = RegisterPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: if group {
            "User Registration: Group"
        } else {
            "User Registration: Practitioner"
        },
        errors,
        group,
        values: ProviderValues {
            provider_id: text(&form.provider_id),
            tax_id: text(&form.tax_id),
            zip: text(&form.zip),
            first_name: text(&form.first_name),
            last_name: text(&form.last_name),
            group_name: text(&form.group_name),
        },
    };
    html(state, csrf, status, page.render())
}

pub(super) async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TypeQuery>,
) -> Response {
    let csrf = match csrf_for_page(&state, &headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    match query.kind.as_deref() {
        Some("practitioner") => register_view(
            &state,
            &csrf,
            StatusCode::OK,
            false,
            &ProviderForm::default(),
            Vec::new(),
        ),
        Some("group") => register_view(
            &state,
            &csrf,
            StatusCode::OK,
            true,
            &ProviderForm::default(),
            Vec::new(),
        ),
        _ => {
            let page = RegisterTypePage {
                frame: Frame::new(&state, csrf.clone()),
                title: "User Registration",
            };
            html(&state, &csrf, StatusCode::OK, page.render())
        }
    }
}

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    registration_id: String,
    version: String,
    text: String,
}

fn agreement_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    id: &str,
    errors: Vec<String>,
) -> Response {
    let agreement = &state.config.portal.agreement;
    let page = AgreementPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Provider Agreement",
        errors,
        registration_id: id.to_owned(),
        version: agreement.version.as_str().to_owned(),
        text: agreement.text.clone(),
    };
    html(state, csrf, status, page.render())
}

/// A step refused for the flow itself (unknown, expired, out of order):
/// what happened, and a way to start again.
fn flow_page(state: &AppState, csrf: &str, error: &ApiError) -> Response {
    let message = match error {
        ApiError::NotFound => {
            "We could not find this registration. It may have been finished or removed. \
             Please start again."
                .to_owned()
        }
        ApiError::InvalidTransition => {
            "This registration step is not available now: the steps are done in order, each \
             once. Please start again."
                .to_owned()
        }
        other => other.detail(),
    };
    message_page(
        state,
        csrf,
        error.status(),
        Message {
            title: "Registration cannot continue",
            message,
            alert: true,
            tips: Vec::new(),
            link: Some(("/register", "Start again")),
        },
    )
}

pub(super) async fn register_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ProviderForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let group = form.provider_type.as_deref() == Some("group");
    let request = RegistrationRequest {
        provider_type: form.provider_type.clone(),
        provider_id: form.provider_id.clone(),
        tax_id: form.tax_id.clone(),
        zip: form.zip.clone(),
        first_name: form.first_name.clone().filter(|_| !group),
        last_name: form.last_name.clone().filter(|_| !group),
        group_name: form.group_name.clone().filter(|_| group),
    };
    let result = match request.try_into_domain() {
        Ok(request) => state
            .portal
            .start_registration(request, ctx)
            .await
            .map_err(ApiError::from),
        Err(errors) => Err(ApiError::InvalidInput(errors)),
    };
    match result {
        Ok(started) => agreement_view(
            &state,
            &csrf,
            StatusCode::OK,
            started.id.as_str(),
            Vec::new(),
        ),
        Err(error @ ApiError::AlreadyRegistered { pending_activation }) => {
            already_registered_page(&state, &csrf, &error, pending_activation)
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => {
            let lines = match &error {
                ApiError::ProviderNotFound { help_lines } => {
                    vec![provider_not_found_text(
                        &state.config.mail.branding.brand,
                        help_lines,
                    )]
                }
                other => error_lines(other),
            };
            register_view(&state, &csrf, error.status(), group, &form, lines)
        }
    }
}

/// Step 2's form.
#[derive(Deserialize)]
pub struct AgreementForm {
    csrf: Option<String>,
    registration_id: Option<String>,
    agreement_version: Option<String>,
    accepted: Option<String>,
}

crate::redact::debug_redacting!(AgreementForm { registration_id, agreement_version, accepted } redacting { csrf });

pub(super) async fn agreement_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<AgreementForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(id) = non_empty(form.registration_id.as_ref()) else {
        return flow_page(&state, &csrf, &ApiError::NotFound);
    };
    let request = AgreementRequest {
        // An unticked checkbox is not sent at all.
        accepted: Some(form.accepted.as_deref().is_some_and(|v| !v.is_empty())),
        agreement_version: form.agreement_version.clone(),
    };
    match state
        .portal
        .accept_agreement(id, request.try_into_domain(), ctx)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => account_view(
            &state,
            &csrf,
            StatusCode::OK,
            id,
            &AccountForm::default(),
            Vec::new(),
        ),
        Err(error @ (ApiError::AgreementNotAccepted | ApiError::InvalidInput(_))) => {
            agreement_view(&state, &csrf, error.status(), id, error_lines(&error))
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => flow_page(&state, &csrf, &error),
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    registration_id: String,
    username: String,
    email: String,
    question: u8,
    questions: Vec<(u8, &'static str)>,
    rules: Vec<RuleLine>,
}

/// Step 3's form.
#[derive(Default, Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    registration_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
    security_question_id: Option<String>,
    security_answer: Option<String>,
}

crate::redact::debug_redacting!(AccountForm { registration_id, username, email, security_question_id } redacting { csrf, password, security_answer });

fn account_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    id: &str,
    form: &AccountForm,
    errors: Vec<String>,
) -> Response {
    let page = AccountPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Create your account",
        errors,
        registration_id: id.to_owned(),
        username: form.username.clone().unwrap_or_default(),
        email: form.email.clone().unwrap_or_default(),
        question: form
            .security_question_id
            .as_deref()
            .and_then(|q| q.parse().ok())
            .unwrap_or(0),
        questions: SECURITY_QUESTIONS.to_vec(),
        rules: password_rules(state, PasswordUse::NewAccount),
    };
    html(state, csrf, status, page.render())
}

pub(super) async fn account_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<AccountForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(id) = non_empty(form.registration_id.as_ref()) else {
        return flow_page(&state, &csrf, &ApiError::NotFound);
    };
    let question = match non_empty(form.security_question_id.as_ref()) {
        None => Ok(None),
        Some(text) => text.trim().parse::<i64>().map(Some),
    };
    let request = AccountRequest {
        username: form.username.clone(),
        password: form.password.clone(),
        email: form.email.clone(),
        security_question_id: question.clone().ok().flatten(),
        security_answer: form.security_answer.clone(),
    };
    let parsed = request.try_into_domain().map_err(|mut errors| {
        if question.is_err() {
            errors.0.retain(|e| e.field != "security_question_id");
            errors.push("security_question_id", "is not one of the questions");
        }
        errors
    });
    match state
        .portal
        .create_account(id, parsed, ctx)
        .await
        .map(Some)
        // Submitted twice (a double click, a reload): the first submission
        // created the account, so this one shows what that one showed.
        .or_else(|error| match error {
            CreateAccountStepError::AlreadyCreated => Ok(None),
            other => Err(ApiError::from(other)),
        }) {
        Ok(_) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Registration complete",
                message: "We sent an activation email to the address you entered. Open its Activate Account link to finish."
                    .to_owned(),
                alert: false,
                tips: MAIL_TIPS
                    .iter()
                    .copied()
                    .chain([MISTYPED_EMAIL_TIP])
                    .collect(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(
            error @ (ApiError::InvalidInput(_)
            | ApiError::PasswordPolicy(_)
            | ApiError::UsernameTaken),
        ) => account_view(&state, &csrf, error.status(), id, &form, error_lines(&error)),
        Err(error @ ApiError::AlreadyRegistered { pending_activation }) => {
            already_registered_page(&state, &csrf, &error, pending_activation)
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => flow_page(&state, &csrf, &error),
    }
}

/// The way back from a mistyped email (SPEC §3 step 1), on the
/// confirmation page.
pub(super) const MISTYPED_EMAIL_TIP: &str = "Entered the wrong email? Register again with the \
     right one: until this account is activated, a new registration replaces it, and the link \
     sent to the wrong address stops working.";

/// What the `already_registered` page adds (SPEC §3 step 1): only an
/// activated account holds the provider.
pub(super) const ALREADY_REGISTERED_TIPS: [&str; 2] = [
    "This provider already has an activated account. Use Forgot password? on the login page if you \
     do not remember its password.",
    "An account that was never activated does not count: if you registered with a mistyped email \
     and never received the activation email, you can simply register again; the new registration \
     replaces the one that was never activated.",
];

/// `already_registered`: a login link, or while the account still awaits
/// activation the resend form.
fn already_registered_page(
    state: &AppState,
    csrf: &str,
    error: &ApiError,
    pending_activation: bool,
) -> Response {
    if pending_activation {
        return activate_view(state, csrf, error.status(), vec![error.detail()]);
    }
    message_page(
        state,
        csrf,
        error.status(),
        Message {
            title: "Already registered",
            message: error.detail(),
            alert: true,
            tips: ALREADY_REGISTERED_TIPS.to_vec(),
            link: Some(("/login", "Login")),
        },
    )
}
