//! Registration: the three steps of SPEC §3.

use super::*;

/// Step 1: the provider's details as printed on the EOB or welcome letter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// `practitioner` or `group`.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub provider_type: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub provider_id: Option<String>,
    /// 9 digits; `12-3456789` and `123456789` are the same.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub tax_id: Option<String>,
    /// 5 digits or ZIP+4.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub zip: Option<String>,
    /// Practitioner only.
    pub first_name: Option<String>,
    /// Practitioner only.
    pub last_name: Option<String>,
    /// Group only.
    pub group_name: Option<String>,
}

impl RegistrationRequest {
    pub fn try_into_domain(&self) -> Result<ProofingRequest, InvalidInput> {
        let mut errors = InvalidInput::default();
        let kind = field(
            &mut errors,
            "provider_type",
            &self.provider_type,
            ProviderKind::parse,
        );
        let provider_id = field(
            &mut errors,
            "provider_id",
            &self.provider_id,
            ProviderId::parse,
        );
        let tax_id = field(&mut errors, "tax_id", &self.tax_id, TaxId::parse);
        let zip = field(&mut errors, "zip", &self.zip, Zip::parse);
        let request = match kind {
            Some(ProviderKind::Practitioner) => {
                let first_name = field(
                    &mut errors,
                    "first_name",
                    &self.first_name,
                    PersonName::parse,
                );
                let last_name = field(&mut errors, "last_name", &self.last_name, PersonName::parse);
                match (provider_id, tax_id, first_name, last_name, zip) {
                    (
                        Some(provider_id),
                        Some(tax_id),
                        Some(first_name),
                        Some(last_name),
                        Some(zip),
                    ) => Some(ProofingRequest::Practitioner {
                        provider_id,
                        tax_id,
                        first_name,
                        last_name,
                        zip,
                    }),
                    _ => None,
                }
            }
            Some(ProviderKind::Group) => {
                let group_name = field(
                    &mut errors,
                    "group_name",
                    &self.group_name,
                    GroupName::parse,
                );
                match (group_name, tax_id, provider_id, zip) {
                    (Some(group_name), Some(tax_id), Some(provider_id), Some(zip)) => {
                        Some(ProofingRequest::Group {
                            group_name,
                            tax_id,
                            provider_id,
                            zip,
                        })
                    }
                    _ => None,
                }
            }
            None => None,
        };
        match request {
            Some(request) if errors.0.is_empty() => Ok(request),
            _ => Err(errors),
        }
    }
}

/// A registration flow that was started.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationStarted {
    registration_id: String,
    state: String,
    /// RFC 3339, UTC.
    expires_at: String,
    agreement_version: String,
}

#[utoipa::path(post, path = "/api/v1/registrations", request_body = RegistrationRequest,
    responses((status = 201, body = RegistrationStarted), (status = 404, description = "provider_not_found"),
        (status = 422, description = "provider_mismatch, wrong_provider_type, invalid_input"),
        (status = 409, description = "already_registered"), (status = 429, description = "proofing_limited, rate_limited")))]
pub async fn start_registration(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<RegistrationRequest>,
) -> ApiResult {
    let request = body.try_into_domain().map_err(ApiError::InvalidInput)?;
    let started = state.portal.start_registration(request, ctx).await?;
    let body = RegistrationStarted {
        registration_id: started.id.as_str().to_owned(),
        state: started.state.as_str().to_owned(),
        expires_at: rfc3339(started.expires_at),
        agreement_version: started.agreement_version.as_str().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Step 2: accepting the Provider Agreement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementRequest {
    #[schema(required = true, value_type = bool)]
    pub accepted: Option<bool>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub agreement_version: Option<String>,
}

impl AgreementRequest {
    pub fn try_into_domain(&self) -> Result<AgreementInput, InvalidInput> {
        let mut errors = InvalidInput::default();
        if self.accepted.is_none() {
            errors.push("accepted", "is required");
        }
        let version = field(
            &mut errors,
            "agreement_version",
            &self.agreement_version,
            AgreementVersion::parse,
        );
        match (self.accepted, version) {
            (Some(accepted), Some(version)) if errors.0.is_empty() => {
                Ok(AgreementInput { accepted, version })
            }
            _ => Err(errors),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/registrations/{id}/agreement", request_body = AgreementRequest,
    params(("id" = String, Path, description = "the registration id")),
    responses((status = 200, body = FlowState), (status = 422, description = "agreement_not_accepted, invalid_input"),
        (status = 409, description = "invalid_transition"), (status = 410, description = "registration_expired"),
        (status = 404, description = "not_found")))]
pub async fn accept_agreement(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgreementRequest>,
) -> ApiResult {
    let next = state
        .portal
        .accept_agreement(&id, body.try_into_domain(), ctx)
        .await?;
    Ok(Json(FlowState {
        state: next.as_str().to_owned(),
    })
    .into_response())
}

/// Step 3: the user account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    pub username: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub email: Option<String>,
    /// One of `GET /api/v1/security-questions`.
    #[schema(required = true, value_type = i64)]
    pub security_question_id: Option<i64>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub security_answer: Option<String>,
}

crate::redact::debug_redacting!(AccountRequest { username, email, security_question_id } redacting { password, security_answer });

impl AccountRequest {
    pub fn try_into_domain(&self) -> Result<AccountInput, InvalidInput> {
        let mut errors = InvalidInput::default();
        let username = field(&mut errors, "username", &self.username, Username::parse);
        let password = password_field(&mut errors, "password", &self.password);
        let email = field(&mut errors, "email", &self.email, EmailAddress::parse);
        let question = match self.security_question_id {
            None => {
                errors.push("security_question_id", "is required");
                None
            }
            Some(id) => SecurityQuestionId::parse(id)
                .map_err(|e| errors.push("security_question_id", e))
                .ok(),
        };
        let answer = field(
            &mut errors,
            "security_answer",
            &self.security_answer,
            SecurityAnswer::parse,
        );
        match (username, password, email, question, answer) {
            (
                Some(username),
                Some(password),
                Some(email),
                Some(security_question),
                Some(security_answer),
            ) if errors.0.is_empty() => Ok(AccountInput {
                username,
                password,
                email,
                security_question,
                security_answer,
            }),
            _ => Err(errors),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/registrations/{id}/account", request_body = AccountRequest,
    params(("id" = String, Path, description = "the registration id")),
    responses((status = 201, body = FlowState), (status = 422, description = "invalid_input, password_policy"),
        (status = 409, description = "username_taken, already_registered, invalid_transition"),
        (status = 410, description = "registration_expired"), (status = 404, description = "not_found")))]
pub async fn create_account(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccountRequest>,
) -> ApiResult {
    state
        .portal
        .create_account(&id, body.try_into_domain(), ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(FlowState {
            state: "pending_activation".to_owned(),
        }),
    )
        .into_response())
}
