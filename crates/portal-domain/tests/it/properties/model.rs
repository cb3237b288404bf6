//! The model: what SPEC §3–§6 say the portal's state is after each
//! command, in a few plain fields.

use std::collections::HashSet;

use portal_domain::email::EmailKind;
use portal_domain::registration::StateName;
use portal_domain::roster::RegistrantKey;
use portal_domain::service::Started;
use time::{Duration, OffsetDateTime};

use super::*;

const CTX: RequestContext = RequestContext { client_addr: None };

// The default settings, as SPEC §3–§6 state them.
const MAX_FAILED: u32 = 5;
const LOCK: Duration = Duration::hours(24);
const ACTIVATION_TTL: Duration = Duration::hours(24);
const RESET_TTL: Duration = Duration::hours(1);
const FLOW_TTL: Duration = Duration::minutes(30);
const HOUR: Duration = Duration::hours(1);
const EMAILS_PER_HOUR: usize = 5;
const PROOFING_MAX_FAILED: usize = 10;

/// Usernames: the first five are what registrations choose from (the
/// first two are one username in two cases); then one nobody has and
/// one too short to be a username at all.
const NAMES: [&str; 7] = [
    "dr.doe",
    "DR.Doe",
    "office.mgr",
    "acme-admin",
    "x9z",
    "nobody.here",
    "no",
];
const REGISTERING: usize = 5;

/// `sample::account_input_for` registers with the first; the last is
/// refused by the policy.
const PASSWORDS: [&str; 4] = [
    sample::PASSWORD,
    "Saffron-Glacier-88-Tulip",
    "Mosaic-Pelican-42-Orbit",
    "password",
];
const WEAK: usize = 3;

mod commands;
mod state;

use commands::*;
use state::*;

fn unexpected(what: &str, answer: &dyn std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what}: unexpected answer {answer:?}"))
}

struct Harness {
    portal: TestPortal,
    model: Model,
}

impl Harness {
    fn new() -> Self {
        let portal = TestPortal::new(sample::roster());
        let now = portal.clock.now();
        Self {
            portal,
            model: Model {
                now,
                accounts: Vec::new(),
                tokens: Vec::new(),
                flows: Vec::new(),
                mismatches: Vec::new(),
                emails: 0,
                redeemed: HashSet::new(),
            },
        }
    }

    /// The username `who` types now.
    fn name(&self, who: &Who) -> String {
        match who {
            Who::Account(index, flips) if !self.model.accounts.is_empty() => {
                flip_case(&index.get(&self.model.accounts).username, flips)
            }
            Who::Account(index, _) | Who::Name(index) => (*index.get(&NAMES)).to_owned(),
        }
    }

    async fn apply(&mut self, command: &Command) -> Result<(), TestCaseError> {
        match command {
            Command::Register { details, username } => {
                if let Some(flow) = self.start(*details).await? {
                    self.finish(flow, NAMES[username.index(REGISTERING)])
                        .await?;
                }
            }
            Command::Start { details, times } => {
                for _ in 1..*times {
                    self.start(*details).await?;
                    self.check().await?;
                }
                self.start(*details).await?;
            }
            Command::Finish {
                open,
                flow,
                username,
            } => {
                let flows: Vec<usize> = (0..self.model.flows.len())
                    .filter(|f| !open || !self.model.flows[*f].finished)
                    .collect();
                if !flows.is_empty() {
                    self.finish(*flow.get(&flows), NAMES[username.index(REGISTERING)])
                        .await?;
                }
            }
            Command::Activate(pick) => self.activate(pick).await?,
            Command::ResendActivation { who, times } => {
                for _ in 1..*times {
                    self.resend_activation(&self.name(who)).await?;
                    self.check().await?;
                }
                self.resend_activation(&self.name(who)).await?;
            }
            Command::Login {
                who,
                right_password,
                wrong,
                times,
            } => {
                for _ in 1..*times {
                    self.login(&self.name(who), *right_password, wrong).await?;
                    self.check().await?;
                }
                self.login(&self.name(who), *right_password, wrong).await?;
            }
            Command::RequestReset { who, times } => {
                for _ in 1..*times {
                    self.request_reset(&self.name(who)).await?;
                    self.check().await?;
                }
                self.request_reset(&self.name(who)).await?;
            }
            Command::ConfirmReset { token, password } => {
                self.confirm_reset(token, password.index(PASSWORDS.len()))
                    .await?;
            }
            Command::Wait(by) => {
                self.portal.clock.advance(*by);
                self.model.now += *by;
            }
        }
        self.check().await
    }

    /// Steps 1 and 2; the flow's index in the model when both succeed.
    async fn start(&mut self, details: Details) -> Result<Option<usize>, TestCaseError> {
        let model = &mut self.model;
        let provider = details.provider_id();
        let since = model.now - HOUR;
        let recent = model
            .mismatches
            .iter()
            .filter(|(id, at)| *id == provider && *at > since)
            .count();
        let (expected, registrant) = if recent >= PROOFING_MAX_FAILED {
            (StartOutcome::ProofingLimited, None)
        } else {
            match details.roster_answer() {
                RosterAnswer::NotFound => (StartOutcome::NotFound, None),
                RosterAnswer::WrongType => (StartOutcome::WrongType, None),
                RosterAnswer::Mismatch => {
                    model.mismatches.push((provider, model.now));
                    (StartOutcome::Mismatch, None)
                }
                // Only an activated account holds its provider.
                RosterAnswer::Verified(registrant) => match model
                    .account_of(registrant)
                    .filter(|holder| model.accounts[*holder].active)
                {
                    Some(holder) => (
                        StartOutcome::AlreadyRegistered {
                            pending: !model.accounts[holder].active,
                        },
                        None,
                    ),
                    None => (StartOutcome::Started, Some(registrant)),
                },
            }
        };
        let result = self.portal.start_registration(details.request(), CTX).await;
        let actual = match &result {
            Ok(_) => StartOutcome::Started,
            Err(StartError::ProofingLimited { .. }) => StartOutcome::ProofingLimited,
            Err(StartError::ProviderNotFound { .. }) => StartOutcome::NotFound,
            Err(StartError::ProviderMismatch) => StartOutcome::Mismatch,
            Err(StartError::WrongProviderType) => StartOutcome::WrongType,
            Err(StartError::AlreadyRegistered { pending_activation }) => {
                StartOutcome::AlreadyRegistered {
                    pending: *pending_activation,
                }
            }
            Err(e) => return Err(unexpected("start", e)),
        };
        prop_assert_eq!(actual, expected, "start with {:?}", details);
        let (Ok(started), Some(registrant)) = (result, registrant) else {
            return Ok(None);
        };
        self.agree(&started).await?;
        self.model.flows.push(ModelFlow {
            id: started.id.as_str().to_owned(),
            registrant,
            expires_at: self.model.now + FLOW_TTL,
            finished: false,
        });
        Ok(Some(self.model.flows.len() - 1))
    }

    async fn agree(&self, started: &Started) -> Result<(), TestCaseError> {
        let input = AgreementInput {
            accepted: true,
            version: started.agreement_version.clone(),
        };
        let state = self
            .portal
            .accept_agreement(started.id.as_str(), Ok(input), CTX)
            .await;
        prop_assert_eq!(state, Ok(StateName::AgreementAccepted));
        Ok(())
    }

    /// Step 3 on flow `flow`.
    async fn finish(&mut self, flow: usize, username: &str) -> Result<(), TestCaseError> {
        let model = &self.model;
        let open = &model.flows[flow];
        let expected = if open.finished {
            CreateOutcome::AlreadyCreated
        } else if model.now >= open.expires_at {
            CreateOutcome::Expired
        } else if model.account_named(username).is_some_and(|named| {
            model.accounts[named].active || model.accounts[named].registrant != open.registrant
        }) {
            CreateOutcome::UsernameTaken
        } else if let Some(holder) = model
            .account_of(open.registrant)
            .filter(|holder| model.accounts[*holder].active)
        {
            CreateOutcome::AlreadyRegistered {
                pending: !model.accounts[holder].active,
            }
        } else {
            CreateOutcome::Created
        };
        // A pending account of the registrant is replaced.
        let replaced = (expected == CreateOutcome::Created)
            .then(|| model.account_of(open.registrant))
            .flatten();
        let result = self
            .portal
            .create_account(&open.id, Ok(sample::account_input_for(username)), CTX)
            .await;
        let actual = match &result {
            Ok(_) => CreateOutcome::Created,
            Err(CreateAccountStepError::Expired) => CreateOutcome::Expired,
            Err(CreateAccountStepError::InvalidTransition) => CreateOutcome::InvalidTransition,
            Err(CreateAccountStepError::AlreadyCreated) => CreateOutcome::AlreadyCreated,
            Err(CreateAccountStepError::UsernameTaken) => CreateOutcome::UsernameTaken,
            Err(CreateAccountStepError::AlreadyRegistered { pending_activation }) => {
                CreateOutcome::AlreadyRegistered {
                    pending: *pending_activation,
                }
            }
            Err(e) => return Err(unexpected("create_account", e)),
        };
        prop_assert_eq!(actual, expected, "create {:?} on flow #{}", username, flow);
        let Ok(account) = result else {
            return Ok(());
        };
        let registrant = open.registrant;
        prop_assert_eq!(account.provider.registrant_key(), registrant.key());
        prop_assert!(!account.is_activated());
        if let Some(old) = replaced {
            self.model.accounts[old].gone = true;
        }
        self.model.flows[flow].finished = true;
        self.model.accounts.push(ModelAccount {
            registrant,
            username: username.to_ascii_lowercase(),
            password: 0,
            active: false,
            failures: 0,
            locked_until: None,
            emailed_at: Vec::new(),
            gone: false,
        });
        self.model.emails += 1;
        self.take_token(Purpose::Activation, self.model.accounts.len() - 1)
    }

    /// Records the link of the email just queued.
    fn take_token(&mut self, purpose: Purpose, account: usize) -> Result<(), TestCaseError> {
        let emails = self.portal.store.emails();
        prop_assert_eq!(emails.len(), self.model.emails, "emails queued");
        let Some(email) = emails.last() else {
            return Err(TestCaseError::fail("no email was queued"));
        };
        let raw = match (&email.kind, purpose) {
            (EmailKind::Activation { token }, Purpose::Activation)
            | (EmailKind::PasswordReset { token }, Purpose::Reset) => token.expose().to_owned(),
            (kind, _) => {
                return Err(TestCaseError::fail(format!(
                    "expected a {purpose:?} link, the newest email is {}",
                    kind.name()
                )));
            }
        };
        prop_assert_eq!(
            email.username.key(),
            self.model.accounts[account].username.as_str()
        );
        prop_assert!(
            !self.model.tokens.iter().any(|t| t.raw == raw),
            "a token was issued twice"
        );
        self.model.tokens.push(ModelToken {
            raw,
            purpose,
            account,
            issued_at: self.model.now,
            used: false,
        });
        Ok(())
    }

    /// A token that just worked: it must never have worked before.
    fn redeemed(&mut self, token: usize) -> Result<(), TestCaseError> {
        let raw = self.model.tokens[token].raw.clone();
        prop_assert!(self.model.redeemed.insert(raw), "a token worked twice");
        self.model.tokens[token].used = true;
        Ok(())
    }

    async fn activate(&mut self, pick: &Pick) -> Result<(), TestCaseError> {
        let raw = self.model.pick(pick, Purpose::Activation);
        let expected = self.model.live_token(&raw, Purpose::Activation);
        let result = self.portal.activate(&raw, CTX).await;
        match (expected, result) {
            (Some(token), Ok(account)) => {
                let owner = self.model.tokens[token].account;
                prop_assert_eq!(
                    account.username.key(),
                    self.model.accounts[owner].username.as_str()
                );
                prop_assert!(account.is_activated());
                self.redeemed(token)?;
                self.model.accounts[owner].active = true;
                self.model.emails += 1;
            }
            (None, Err(ActivationError::InvalidToken)) => {}
            (expected, actual) => {
                return Err(TestCaseError::fail(format!(
                    "activation with {pick:?}: the model expected token {expected:?} to work, \
                         the portal answered {actual:?}"
                )));
            }
        }
        Ok(())
    }

    async fn resend_activation(&mut self, name: &str) -> Result<(), TestCaseError> {
        let sends = self
            .model
            .account_named(name)
            .filter(|a| !self.model.accounts[*a].active && self.model.may_email(*a));
        let result = self.portal.resend_activation(name, CTX).await;
        prop_assert_eq!(result, Ok(()));
        if let Some(account) = sends {
            self.model.accounts[account].emailed_at.push(self.model.now);
            self.model.emails += 1;
            self.take_token(Purpose::Activation, account)?;
        }
        Ok(())
    }

    async fn login(
        &mut self,
        name: &str,
        right_password: bool,
        wrong: &Index,
    ) -> Result<(), TestCaseError> {
        let now = self.model.now;
        let account = self.model.account_named(name);
        let current = account.map_or(0, |a| self.model.accounts[a].password);
        let typed = if right_password {
            current
        } else {
            let others: Vec<usize> = (0..PASSWORDS.len()).filter(|p| *p != current).collect();
            *wrong.get(&others)
        };
        let expected = match account {
            None => LoginOutcome::InvalidCredentials,
            Some(account) => {
                let account = &mut self.model.accounts[account];
                if let Some(until) = account.locked_until.filter(|_| account.is_locked(now)) {
                    LoginOutcome::Locked { until }
                } else if typed != account.password {
                    account.fail(now);
                    match account.locked_until {
                        Some(until) => LoginOutcome::Locked { until },
                        None => LoginOutcome::InvalidCredentials,
                    }
                } else if !account.active {
                    LoginOutcome::NotActivated
                } else {
                    account.clear();
                    LoginOutcome::Success
                }
            }
        };
        let actual = match self.portal.login(name, PASSWORDS[typed], CTX).await {
            Ok(_) => LoginOutcome::Success,
            Err(LoginError::InvalidCredentials) => LoginOutcome::InvalidCredentials,
            Err(LoginError::AccountLocked { locked_until }) => LoginOutcome::Locked {
                until: locked_until,
            },
            Err(LoginError::AccountNotActivated) => LoginOutcome::NotActivated,
            Err(e) => return Err(unexpected("login", &e)),
        };
        prop_assert_eq!(
            actual,
            expected,
            "login {:?} with password #{}",
            name,
            typed
        );
        Ok(())
    }

    async fn request_reset(&mut self, name: &str) -> Result<(), TestCaseError> {
        // An active account gets a reset link; one still pending, its
        // activation link again (SPEC §6); either under the hourly cap.
        let sends = self
            .model
            .account_named(name)
            .filter(|a| self.model.may_email(*a));
        let result = self.portal.request_password_reset(name, CTX).await;
        prop_assert_eq!(result, Ok(()));
        if let Some(account) = sends {
            self.model.accounts[account].emailed_at.push(self.model.now);
            self.model.emails += 1;
            let purpose = if self.model.accounts[account].active {
                Purpose::Reset
            } else {
                Purpose::Activation
            };
            self.take_token(purpose, account)?;
        }
        Ok(())
    }

    async fn confirm_reset(&mut self, pick: &Pick, new: usize) -> Result<(), TestCaseError> {
        let raw = self.model.pick(pick, Purpose::Reset);
        let live = self.model.live_token(&raw, Purpose::Reset);
        let expected = match live {
            None => ResetOutcome::InvalidToken,
            Some(token) => {
                let account = &self.model.accounts[self.model.tokens[token].account];
                if new == WEAK {
                    ResetOutcome::Refused { reused: false }
                } else if new == account.password {
                    ResetOutcome::Refused { reused: true }
                } else {
                    ResetOutcome::Success
                }
            }
        };
        let result = self
            .portal
            .confirm_password_reset(&raw, &password(new), CTX)
            .await;
        let actual = match &result {
            Ok(()) => ResetOutcome::Success,
            Err(ResetConfirmError::InvalidToken) => ResetOutcome::InvalidToken,
            Err(ResetConfirmError::PasswordPolicy(violations)) => ResetOutcome::Refused {
                reused: violations.codes() == ["reused"],
            },
            Err(e) => return Err(unexpected("confirm reset", e)),
        };
        prop_assert_eq!(
            actual,
            expected,
            "reset with {:?} to password #{}",
            pick,
            new
        );
        if let (Some(token), ResetOutcome::Success) = (live, actual) {
            // The model only lets the newest reset token of an account
            // work: an older one never works after a newer was issued.
            self.redeemed(token)?;
            let account = &mut self.model.accounts[self.model.tokens[token].account];
            account.password = new;
            account.clear();
            self.model.emails += 1;
        }
        Ok(())
    }

    /// The invariants, after every step.
    async fn check(&self) -> Result<(), TestCaseError> {
        let store = &self.portal.store;
        let model = &self.model;
        let now = model.now;
        prop_assert_eq!(self.portal.clock.now(), now);

        // Every account has one of the pool's usernames, so this finds them all.
        let mut stored: Vec<Account> = Vec::new();
        for name in NAMES {
            let Ok(username) = Username::parse(name) else {
                continue;
            };
            let found = store.account_by_username(&username).await.unwrap();
            prop_assert_eq!(
                found.is_some(),
                model.account_named(name).is_some(),
                "an account named {:?}",
                name
            );
            if let Some(account) = found
                && !stored.iter().any(|s| s.id == account.id)
            {
                stored.push(account);
            }
        }
        let kept = model.accounts.iter().filter(|a| !a.gone).count();
        prop_assert_eq!(stored.len(), kept, "number of accounts");

        // At most one account per registrant.
        for (i, account) in stored.iter().enumerate() {
            for other in &stored[..i] {
                prop_assert_ne!(
                    account.provider.registrant_key(),
                    other.provider.registrant_key(),
                    "two accounts for one registrant"
                );
            }
        }
        for registrant in Registrant::ALL {
            let found = store
                .account_by_registrant(&registrant.key())
                .await
                .unwrap();
            let expected = model
                .account_of(registrant)
                .map(|a| model.accounts[a].username.clone());
            prop_assert_eq!(
                found.map(|a| a.username.key().to_owned()),
                expected,
                "the account of {:?}",
                registrant
            );
        }
        let john = sample::john_roe().registrant_key();
        prop_assert!(
            store.account_by_registrant(&john).await.unwrap().is_none(),
            "a practitioner paid under the group got an account"
        );

        for expected in model.accounts.iter().filter(|a| !a.gone) {
            let Some(account) = stored
                .iter()
                .find(|a| a.username.key() == expected.username)
            else {
                return Err(TestCaseError::fail(format!(
                    "no account {}",
                    expected.username
                )));
            };
            prop_assert_eq!(
                account.is_activated(),
                expected.active,
                "{} is active only after its activation link worked",
                expected.username
            );
            prop_assert_eq!(
                account.lock.is_locked(now),
                expected.is_locked(now),
                "{} locked exactly at {} consecutive failures, for {}",
                expected.username,
                MAX_FAILED,
                LOCK
            );
            prop_assert_eq!(
                account.lock.locked_until(now),
                expected.locked_until.filter(|_| expected.is_locked(now))
            );
            let counted = if account.lock.locked_until.is_some_and(|until| now >= until) {
                0
            } else {
                account.lock.failed_count
            };
            prop_assert_eq!(
                counted,
                expected.failures(now),
                "consecutive failures of {}",
                expected.username
            );
        }
        prop_assert_eq!(store.emails().len(), model.emails, "emails queued");
        Ok(())
    }
}

async fn run(commands: &[Command]) -> Result<(), TestCaseError> {
    let mut harness = Harness::new();
    harness.check().await?;
    for command in commands {
        harness.apply(command).await?;
    }
    Ok(())
}

#[test]
fn the_pool_passwords_are_what_the_model_assumes() {
    let policy = PasswordPolicy::default();
    for name in &NAMES[..REGISTERING] {
        let input = sample::account_input_for(name);
        let context = portal_domain::password_policy::PolicyContext {
            username: Some(input.username),
            email: Some(input.email),
            names: vec![],
        };
        for (index, text) in PASSWORDS.iter().enumerate() {
            let result = policy.check(&password(index), &context);
            assert_eq!(
                result.is_ok(),
                index != WEAK,
                "{text} for {name}: {result:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn accounts_tokens_and_lockout_follow_the_model(
        commands in commands()
    ) {
        block_on(run(&commands))?;
    }
}
