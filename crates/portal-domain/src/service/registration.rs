//! Registration (SPEC §3): provider details, agreement, account (activation: `activation.rs`).

use crate::codes::ErrorCode;
use time::{Duration, OffsetDateTime};

use super::{
    Fault, HelpLine, InvalidInput, Portal, PortalSettings, RequestContext, faults_into, trace_audit,
};
use crate::account::{Account, AccountProvider, NewAccount};
use crate::audit::{AuditAction, AuditOutcome};
use crate::email::{Email, EmailKind};
use crate::password_policy::{PolicyContext, PolicyViolations};
use crate::ports::{
    Clock, CreateAccountError, FlowUpdateError, IssueOutcome, LinkToken, NewToken, PasswordHasher,
    ProviderRoster, TokenPurpose, TokenSource, UserStore, WindowRecord,
};
use crate::registration::{
    AgreementAcceptance, RegistrationFlow, RegistrationId, RegistrationState, StateName,
    TransitionError,
};
use crate::roster::{ProofingRequest, RosterIdentity, RosterMatch, match_roster};
use crate::values::{
    AgreementVersion, EmailAddress, Password, RawToken, SecurityAnswer, SecurityQuestionId,
    Username,
    normalize::{comparison_key, normalize_display},
};

/// A flow that was started: the answer to step 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: RegistrationId,
    pub state: StateName,
    pub expires_at: time::OffsetDateTime,
    pub agreement_version: AgreementVersion,
}

/// Why step 1 refused, in the SPEC's order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("too many mismatched attempts for this provider")]
    ProofingLimited { retry_after: Duration },
    #[error("the provider does not exist in Provider Portal")]
    ProviderNotFound { help_lines: Vec<HelpLine> },
    #[error("must match exactly as listed on your Explanation of Benefit (EOB) or welcome letter")]
    ProviderMismatch,
    #[error(
        "this practitioner is paid under a Group Payee ID: register as Group with the group's details"
    )]
    WrongProviderType,
    /// `pending_activation` offers the resend option.
    #[error("this provider is already registered")]
    AlreadyRegistered { pending_activation: bool },
    #[error(transparent)]
    Fault(Fault),
}

/// The agreement step's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementInput {
    pub accepted: bool,
    pub version: AgreementVersion,
}

/// Why the agreement step refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementStepError {
    #[error("unknown registration")]
    NotFound,
    #[error("the registration has expired")]
    Expired,
    #[error("this step is not allowed now")]
    InvalidTransition,
    #[error(transparent)]
    InvalidInput(InvalidInput),
    #[error("the current Provider Agreement must be accepted")]
    AgreementNotAccepted,
    #[error(transparent)]
    Fault(Fault),
}

/// The account step's input.
#[derive(Debug, Clone)]
pub struct AccountInput {
    pub username: Username,
    pub password: Password,
    pub email: EmailAddress,
    pub security_question: SecurityQuestionId,
    pub security_answer: SecurityAnswer,
}

/// Why the account step refused, in the SPEC's order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountStepError {
    #[error("unknown registration")]
    NotFound,
    #[error("the registration has expired")]
    Expired,
    #[error("this step is not allowed now")]
    InvalidTransition,
    /// The flow already created its account: this step was submitted twice
    /// (answered `invalid_transition`; a page shows the completion page).
    #[error("this registration already created its account")]
    AlreadyCreated,
    #[error(transparent)]
    InvalidInput(InvalidInput),
    #[error(transparent)]
    PasswordPolicy(PolicyViolations),
    #[error("username taken")]
    UsernameTaken,
    #[error("this provider is already registered")]
    AlreadyRegistered { pending_activation: bool },
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(StartError, AgreementStepError, CreateAccountStepError);

impl From<TransitionError> for AgreementStepError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Expired => Self::Expired,
            TransitionError::InvalidTransition => Self::InvalidTransition,
        }
    }
}

impl From<TransitionError> for CreateAccountStepError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Expired => Self::Expired,
            TransitionError::InvalidTransition => Self::InvalidTransition,
        }
    }
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Step 1: verifies the provider against the roster and opens a flow.
    pub async fn start_registration(
        &self,
        request: ProofingRequest,
        ctx: RequestContext,
    ) -> Result<Started, StartError> {
        let result = self.try_start(&request).await;
        let outcome = match &result {
            Ok(_) => AuditOutcome::Success,
            Err(e) => AuditOutcome::Error(e.code()),
        };
        self.audit(AuditAction::RegistrationStarted, None, ctx, outcome)
            .await;
        result
    }

    async fn try_start(&self, request: &ProofingRequest) -> Result<Started, StartError> {
        let now = self.now();
        let (tax_id, provider_id) = (request.tax_id(), request.provider_id());
        let limit = self.settings.proofing_max_failed;
        if limit > 0 {
            let window_start = now - PortalSettings::HOUR;
            let failures = self
                .store
                .proofing_mismatches_since(tax_id, provider_id, window_start)
                .await?;
            if failures.count >= limit {
                let retry_after = proofing_retry_after(failures.oldest.unwrap_or(now), now);
                return Err(StartError::ProofingLimited { retry_after });
            }
        }
        let entry = self.roster.find(tax_id, provider_id).await?;
        let provider = match match_roster(request, entry.as_ref()) {
            RosterMatch::Verified(provider) => *provider,
            RosterMatch::NotFound => {
                return Err(StartError::ProviderNotFound {
                    help_lines: self.settings.help_lines.clone(),
                });
            }
            RosterMatch::Mismatch => {
                // Counted and recorded at once: racing mismatches get at
                // most `limit` of these answers, the rest are limited.
                let window_start = now - PortalSettings::HOUR;
                return match self
                    .store
                    .record_proofing_mismatch(tax_id, provider_id, now, window_start, limit)
                    .await?
                {
                    WindowRecord::Recorded => Err(StartError::ProviderMismatch),
                    WindowRecord::Limited { oldest } => Err(StartError::ProofingLimited {
                        retry_after: proofing_retry_after(oldest, now),
                    }),
                };
            }
            RosterMatch::WrongProviderType => return Err(StartError::WrongProviderType),
        };
        // A pending account does not hold its provider: this flow may
        // replace it at its account step.
        if let Some(holder) = self
            .store
            .account_by_registrant(&provider.registrant_key())
            .await?
            .filter(Account::holds_provider)
        {
            return Err(StartError::AlreadyRegistered {
                pending_activation: pending_holder(&holder),
            });
        }
        let flow = RegistrationFlow::start(
            self.tokens.registration_id()?,
            provider,
            now,
            self.settings.registration_ttl,
        );
        self.store.insert_flow(&flow).await?;
        Ok(Started {
            id: flow.id.clone(),
            state: flow.state_name(),
            expires_at: now + self.settings.registration_ttl,
            agreement_version: self.settings.agreement.version.clone(),
        })
    }

    async fn load_flow(&self, id: &str) -> Result<Option<RegistrationFlow>, Fault> {
        let Ok(id) = RegistrationId::parse(id) else {
            return Ok(None);
        };
        Ok(self.store.load_flow(&id).await?)
    }

    /// Step 2: the Provider Agreement. `input` is what the edge parsed; the
    /// flow's state is checked before it (expiry first).
    pub async fn accept_agreement(
        &self,
        id: &str,
        input: Result<AgreementInput, InvalidInput>,
        ctx: RequestContext,
    ) -> Result<StateName, AgreementStepError> {
        let result = self.try_accept_agreement(id, input, ctx).await;
        let outcome = match &result {
            Ok(_) => AuditOutcome::Success,
            Err(e) => AuditOutcome::Error(e.code()),
        };
        self.audit(AuditAction::AgreementAccepted, None, ctx, outcome)
            .await;
        result
    }

    async fn try_accept_agreement(
        &self,
        id: &str,
        input: Result<AgreementInput, InvalidInput>,
        ctx: RequestContext,
    ) -> Result<StateName, AgreementStepError> {
        let now = self.now();
        let flow = self
            .load_flow(id)
            .await
            .map_err(AgreementStepError::Fault)?
            .ok_or(AgreementStepError::NotFound)?;
        flow.ensure_at(StateName::ProviderVerified, now)?;
        let input = input.map_err(AgreementStepError::InvalidInput)?;
        let current = &self.settings.agreement;
        if !input.accepted || input.version != current.version {
            return Err(AgreementStepError::AgreementNotAccepted);
        }
        let acceptance = AgreementAcceptance {
            version: current.version.clone(),
            content_hash: current.content_hash.clone(),
            accepted_at: now,
            client_addr: ctx.client_addr,
        };
        let next = flow.accept_agreement(acceptance, now, self.settings.registration_ttl)?;
        match self.store.update_flow(&next).await {
            Ok(()) => Ok(next.state_name()),
            Err(FlowUpdateError::Conflict) => Err(AgreementStepError::InvalidTransition),
            Err(FlowUpdateError::Store(e)) => Err(e.into()),
        }
    }

    /// Step 3 and 4: creates the account in `pending_activation` and queues
    /// the activation email, in one store operation.
    pub async fn create_account(
        &self,
        id: &str,
        input: Result<AccountInput, InvalidInput>,
        ctx: RequestContext,
    ) -> Result<Account, CreateAccountStepError> {
        let username = input.as_ref().ok().map(|i| i.username.as_str().to_owned());
        let result = self.try_create_account(id, input, ctx).await;
        // A created account stored its audit event with it.
        if let Err(e) = &result {
            self.audit(
                AuditAction::AccountCreated,
                username.as_deref(),
                ctx,
                AuditOutcome::Error(e.code()),
            )
            .await;
        }
        result
    }

    async fn try_create_account(
        &self,
        id: &str,
        input: Result<AccountInput, InvalidInput>,
        ctx: RequestContext,
    ) -> Result<Account, CreateAccountStepError> {
        let now = self.now();
        let flow = self
            .load_flow(id)
            .await
            .map_err(CreateAccountStepError::Fault)?
            .ok_or(CreateAccountStepError::NotFound)?;
        if is_finished(&flow) {
            return Err(CreateAccountStepError::AlreadyCreated);
        }
        flow.ensure_at(StateName::AgreementAccepted, now)?;
        let input = input.map_err(CreateAccountStepError::InvalidInput)?;
        let provider = flow
            .provider()
            .cloned()
            .ok_or(CreateAccountStepError::InvalidTransition)?;

        if answer_reveals_credentials(&input) {
            return Err(CreateAccountStepError::InvalidInput(InvalidInput::single(
                "security_answer",
                "may not be the same as your username, email or password",
            )));
        }
        let context = PolicyContext {
            username: Some(input.username.clone()),
            email: Some(input.email.clone()),
            names: name_pieces(&provider.identity),
        };
        self.hasher
            .check_policy(&self.settings.password_policy, &input.password, &context)
            .await?
            .map_err(CreateAccountStepError::PasswordPolicy)?;
        // Cheap pre-checks in the SPEC's order; the store's constraints
        // decide again at commit, under concurrency. A hit may be this very
        // flow's account, made by a twin of this request that won: the flow
        // says so, and is asked first. The provider's pending account does
        // not count: this step replaces it, and frees its username.
        let registrant = provider.registrant_key();
        if self
            .store
            .account_by_username(&input.username)
            .await?
            .is_some_and(|a| a.holds_provider() || a.provider.registrant_key() != registrant)
        {
            return Err(self
                .moved_on(&flow.id)
                .await?
                .unwrap_or(CreateAccountStepError::UsernameTaken));
        }
        if let Some(holder) = self
            .store
            .account_by_registrant(&registrant)
            .await?
            .filter(Account::holds_provider)
        {
            return Err(self.moved_on(&flow.id).await?.unwrap_or(
                CreateAccountStepError::AlreadyRegistered {
                    pending_activation: pending_holder(&holder),
                },
            ));
        }

        let password_hash = self.hasher.hash_password(&input.password).await?;
        let security_answer_hash = self.hasher.hash_answer(&input.security_answer).await?;
        let token = self.tokens.token()?;
        let now = self.now();
        let (finished, provider, agreement) = flow.finish(now)?;
        let account = NewAccount {
            username: input.username.clone(),
            email: input.email.clone(),
            password_hash,
            provider: AccountProvider {
                kind: provider.kind(),
                tax_id: provider.tax_id,
                provider_id: provider.provider_id,
            },
            agreement,
            security_question: input.security_question,
            security_answer_hash,
            created_at: now,
        };
        let activation = self.activation_link(&token, now);
        let audit = self.audit_event(
            AuditAction::AccountCreated,
            Some(input.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        let email = Email {
            to: input.email,
            username: input.username,
            kind: EmailKind::Activation { token },
        };
        match self
            .store
            .create_account(&finished, &account, &activation, &email, &audit)
            .await
        {
            Ok(account) => {
                trace_audit(&audit);
                Ok(account)
            }
            Err(CreateAccountError::UsernameTaken) => Err(CreateAccountStepError::UsernameTaken),
            Err(CreateAccountError::AlreadyRegistered) => {
                Err(CreateAccountStepError::AlreadyRegistered {
                    pending_activation: true,
                })
            }
            Err(CreateAccountError::FlowConflict) => Err(self
                .moved_on(&finished.id)
                .await?
                .unwrap_or(CreateAccountStepError::InvalidTransition)),
            Err(CreateAccountError::Store(e)) => Err(e.into()),
        }
    }

    /// [`CreateAccountStepError::AlreadyCreated`] when the flow, read again
    /// now, has finished: another submission of this step created the account.
    async fn moved_on(&self, id: &RegistrationId) -> Result<Option<CreateAccountStepError>, Fault> {
        let flow = self.store.load_flow(id).await?;
        Ok(flow
            .filter(is_finished)
            .map(|_| CreateAccountStepError::AlreadyCreated))
    }

    /// A new activation link for an account still pending activation (older
    /// ones stop working), under the hourly email cap; the audit outcome.
    pub(super) async fn send_activation_again(
        &self,
        account: Account,
    ) -> Result<AuditOutcome, Fault> {
        let now = self.now();
        let token = self.tokens.token()?;
        let new = NewToken {
            account_id: account.id,
            purpose: TokenPurpose::Activation,
            link: self.activation_link(&token, now),
        };
        let email = Email {
            to: account.email,
            username: account.username,
            kind: EmailKind::Activation { token },
        };
        Ok(
            match self
                .store
                .issue_token(&new, &email, self.settings.email_cap())
                .await?
            {
                IssueOutcome::Issued => AuditOutcome::Sent,
                IssueOutcome::CapReached => AuditOutcome::EmailCapReached,
                IssueOutcome::NoAccount => AuditOutcome::UnknownUsername,
            },
        )
    }

    fn activation_link(&self, token: &RawToken, now: time::OffsetDateTime) -> LinkToken {
        LinkToken {
            hash: token.hash(),
            issued_at: now,
            expires_at: now + self.settings.activation_ttl,
        }
    }
}

/// Whether an account that holds its provider is one its owner can still
/// activate (and so may be offered the resend form): never for a disabled
/// one.
fn pending_holder(holder: &Account) -> bool {
    !holder.is_activated() && !holder.disabled
}

fn is_finished(flow: &RegistrationFlow) -> bool {
    matches!(flow.state, RegistrationState::Finished { .. })
}

/// The security answer may not equal the username, the email or the
/// password (SPEC §6), compared in the answer's normalised form.
fn answer_reveals_credentials(input: &AccountInput) -> bool {
    answer_equals_any(
        &input.security_answer,
        [
            input.username.as_str(),
            input.email.as_str(),
            input.password.expose(),
        ],
    )
}

/// Whether `answer` equals one of `credentials`, compared in the answer's
/// normalised form (SPEC §6).
pub(super) fn answer_equals_any<'a>(
    answer: &SecurityAnswer,
    credentials: impl IntoIterator<Item = &'a str>,
) -> bool {
    let answer = answer.expose_normalized();
    credentials
        .into_iter()
        .any(|credential| comparison_key(&normalize_display(credential)) == answer)
}

/// Until the oldest counted mismatch leaves the hour, at least a second.
fn proofing_retry_after(oldest: OffsetDateTime, now: OffsetDateTime) -> Duration {
    (oldest + PortalSettings::HOUR - now).max(Duration::seconds(1))
}

/// The provider's names as the password policy's user inputs.
pub(super) fn name_pieces(identity: &RosterIdentity) -> Vec<String> {
    match identity {
        RosterIdentity::Practitioner {
            first_name,
            last_name,
            ..
        } => {
            vec![
                first_name.as_str().to_owned(),
                last_name.as_str().to_owned(),
            ]
        }
        RosterIdentity::Group { group_name } => {
            group_name.as_str().split(' ').map(str::to_owned).collect()
        }
    }
}

impl StartError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ProofingLimited { .. } => ErrorCode::ProofingLimited,
            Self::ProviderNotFound { .. } => ErrorCode::ProviderNotFound,
            Self::ProviderMismatch => ErrorCode::ProviderMismatch,
            Self::WrongProviderType => ErrorCode::WrongProviderType,
            Self::AlreadyRegistered { .. } => ErrorCode::AlreadyRegistered,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl AgreementStepError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Expired => ErrorCode::RegistrationExpired,
            Self::InvalidTransition => ErrorCode::InvalidTransition,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::AgreementNotAccepted => ErrorCode::AgreementNotAccepted,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl CreateAccountStepError {
    /// The code this error is answered and audited with: a second
    /// submission of a step that created its account is an invalid
    /// transition.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Expired => ErrorCode::RegistrationExpired,
            Self::InvalidTransition | Self::AlreadyCreated => ErrorCode::InvalidTransition,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::PasswordPolicy(_) => ErrorCode::PasswordPolicy,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::AlreadyRegistered { .. } => ErrorCode::AlreadyRegistered,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}
