//! Public documents: security questions, password policy, agreement.

use super::*;

/// A security question.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityQuestion {
    id: u8,
    text: String,
}

#[utoipa::path(get, path = "/api/v1/security-questions", responses((status = 200, body = [SecurityQuestion])))]
pub async fn security_questions() -> Json<Vec<SecurityQuestion>> {
    Json(
        SECURITY_QUESTIONS
            .iter()
            .map(|(id, text)| SecurityQuestion {
                id: *id,
                text: (*text).to_owned(),
            })
            .collect(),
    )
}

/// The password rules and limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordPolicyDoc {
    min_length: usize,
    max_length: usize,
    require_classes: bool,
    /// The codes a `password_policy` problem may list.
    rules: Vec<String>,
    /// The lowest zxcvbn score accepted (0–4).
    min_strength_score: u8,
}

#[utoipa::path(get, path = "/api/v1/password-policy", responses((status = 200, body = PasswordPolicyDoc)))]
pub async fn password_policy(State(state): State<AppState>) -> Json<PasswordPolicyDoc> {
    use portal_domain::password_policy::PasswordPolicy;
    let policy = &state.config.portal.password_policy;
    let mut rules = vec!["min_length"];
    if policy.requires_classes() {
        rules.extend(["lowercase", "uppercase", "digit", "symbol"]);
    }
    rules.extend(["max_length", "contains_username", "too_weak", "reused"]);
    Json(PasswordPolicyDoc {
        min_length: policy.min_length(),
        max_length: PasswordPolicy::MAX_LENGTH,
        require_classes: policy.requires_classes(),
        rules: rules.into_iter().map(str::to_owned).collect(),
        min_strength_score: PasswordPolicy::MIN_SCORE,
    })
}

/// The current Provider Agreement.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementDoc {
    version: String,
    text: String,
}

#[utoipa::path(get, path = "/api/v1/agreement", responses((status = 200, body = AgreementDoc)))]
pub async fn agreement(State(state): State<AppState>) -> Json<AgreementDoc> {
    let agreement = &state.config.portal.agreement;
    Json(AgreementDoc {
        version: agreement.version.as_str().to_owned(),
        text: agreement.text.clone(),
    })
}
