//! The model: what SPEC §3–§6 say the portal's state is after each
//! command, in a few plain fields.

use std::collections::HashSet;

use portal_domain::email::EmailKind;
use portal_domain::ports::UserStore;
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

fn password(index: usize) -> Password {
    Password::parse(PASSWORDS[index]).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registrant {
    Jane,
    Acme,
}

impl Registrant {
    const ALL: [Self; 2] = [Self::Jane, Self::Acme];

    fn key(self) -> RegistrantKey {
        match self {
            Self::Jane => sample::jane_doe().registrant_key(),
            Self::Acme => sample::acme_group().registrant_key(),
        }
    }
}

/// What a registrant types in step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Details {
    Jane,
    /// Jane's details in other case, spacing and ZIP+4.
    JaneRetyped,
    JaneMismatch,
    /// John Roe is paid under the group's Group Payee ID.
    JohnAsPractitioner,
    Acme,
    AcmeRetyped,
    AcmeMismatch,
    Unknown,
}

/// What the roster says about some details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RosterAnswer {
    Verified(Registrant),
    Mismatch,
    WrongType,
    NotFound,
}

fn practitioner(provider_id: &str, first: &str, last: &str, zip: &str) -> ProofingRequest {
    ProofingRequest::Practitioner {
        provider_id: ProviderId::parse(provider_id).unwrap(),
        tax_id: TaxId::parse(sample::TAX_ID).unwrap(),
        first_name: PersonName::parse(first).unwrap(),
        last_name: PersonName::parse(last).unwrap(),
        zip: Zip::parse(zip).unwrap(),
    }
}

fn group(name: &str, tax_id: &str, provider_id: &str, zip: &str) -> ProofingRequest {
    ProofingRequest::Group {
        group_name: GroupName::parse(name).unwrap(),
        tax_id: TaxId::parse(tax_id).unwrap(),
        provider_id: ProviderId::parse(provider_id).unwrap(),
        zip: Zip::parse(zip).unwrap(),
    }
}

impl Details {
    const ALL: [Self; 8] = [
        Self::Jane,
        Self::JaneRetyped,
        Self::JaneMismatch,
        Self::JohnAsPractitioner,
        Self::Acme,
        Self::AcmeRetyped,
        Self::AcmeMismatch,
        Self::Unknown,
    ];

    fn request(self) -> ProofingRequest {
        match self {
            Self::Jane => sample::practitioner_request(),
            Self::JaneRetyped => practitioner("p1001", "  JANE ", "doe", "45202-0001"),
            Self::JaneMismatch => practitioner("P1001", "Janet", "Doe", "45202"),
            Self::JohnAsPractitioner => practitioner("P1002", "John", "Roe", "45202"),
            Self::Acme => sample::group_request(),
            Self::AcmeRetyped => group(
                "ACME\u{a0} health\tGROUP",
                "123456789",
                "g2001",
                "45202-9999",
            ),
            Self::AcmeMismatch => group("Acme Health Group", sample::TAX_ID, "G2001", "45203"),
            Self::Unknown => practitioner("P9999", "Jane", "Doe", "45202"),
        }
    }

    /// The provider whose proofing limit the details count toward.
    fn provider_id(self) -> &'static str {
        match self {
            Self::Jane | Self::JaneRetyped | Self::JaneMismatch => "P1001",
            Self::JohnAsPractitioner => "P1002",
            Self::Acme | Self::AcmeRetyped | Self::AcmeMismatch => "G2001",
            Self::Unknown => "P9999",
        }
    }

    fn roster_answer(self) -> RosterAnswer {
        match self {
            Self::Jane | Self::JaneRetyped => RosterAnswer::Verified(Registrant::Jane),
            Self::Acme | Self::AcmeRetyped => RosterAnswer::Verified(Registrant::Acme),
            Self::JaneMismatch | Self::AcmeMismatch => RosterAnswer::Mismatch,
            Self::JohnAsPractitioner => RosterAnswer::WrongType,
            Self::Unknown => RosterAnswer::NotFound,
        }
    }
}

/// Which token a command sends.
#[derive(Debug, Clone)]
enum Pick {
    /// The newest token issued for the command's purpose.
    Newest,
    /// Any token issued for the command's purpose: newest, older or used.
    SamePurpose(Index),
    /// Any token issued, of either purpose.
    Any(Index),
    /// A token that has already worked once.
    Used(Index),
    /// One never issued.
    Random([u8; 32]),
    Malformed,
}

/// Whose username a command types.
#[derive(Debug, Clone)]
enum Who {
    /// An existing account's, in any case (a pool name while there is none).
    Account(Index, Vec<bool>),
    /// One of [`NAMES`]: maybe registered, maybe unknown, maybe malformed.
    Name(Index),
}

#[derive(Debug, Clone)]
enum Command {
    /// Steps 1–4 at once: start, accept the agreement, create the account.
    Register {
        details: Details,
        username: Index,
    },
    /// Steps 1–2 only, `times` times: the flows stay open.
    Start {
        details: Details,
        times: u8,
    },
    /// Step 3 on a flow opened earlier (maybe expired), or on any flow
    /// (maybe finished).
    Finish {
        open: bool,
        flow: Index,
        username: Index,
    },
    Activate(Pick),
    /// Each repeated command runs `times` times in a row, with the
    /// invariants checked after each.
    ResendActivation {
        who: Who,
        times: u8,
    },
    Login {
        who: Who,
        right_password: bool,
        wrong: Index,
        times: u8,
    },
    RequestReset {
        who: Who,
        times: u8,
    },
    ConfirmReset {
        token: Pick,
        password: Index,
    },
    Wait(Duration),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => Just(Pick::Newest),
        2 => any::<Index>().prop_map(Pick::SamePurpose),
        1 => any::<Index>().prop_map(Pick::Any),
        1 => any::<Index>().prop_map(Pick::Used),
        1 => any::<[u8; 32]>().prop_map(Pick::Random),
        1 => Just(Pick::Malformed),
    ]
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => (any::<Index>(), vec(any::<bool>(), 1..8))
            .prop_map(|(index, flips)| Who::Account(index, flips)),
        1 => any::<Index>().prop_map(Who::Name),
    ]
}

/// Short and long waits, and the exact edges of every time limit.
fn wait() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => select(vec![
            Duration::seconds(1),
            FLOW_TTL - Duration::seconds(1),
            FLOW_TTL,
            HOUR - Duration::seconds(1),
            HOUR,
            LOCK - Duration::seconds(1),
            LOCK,
            LOCK + Duration::seconds(1),
        ]),
        2 => (1i64..=3_600).prop_map(Duration::seconds),
        1 => (1i64..=2 * 86_400).prop_map(Duration::seconds),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    // Mostly details the roster verifies, so that accounts exist.
    let details = || {
        prop_oneof![
            3 => select(vec![
                Details::Jane,
                Details::JaneRetyped,
                Details::Acme,
                Details::AcmeRetyped,
            ]),
            2 => select(Details::ALL.to_vec()),
        ]
    };
    prop_oneof![
        3 => (details(), any::<Index>())
            .prop_map(|(details, username)| Command::Register { details, username }),
        2 => (details(), 1u8..=12).prop_map(|(details, times)| Command::Start { details, times }),
        2 => (any::<bool>(), any::<Index>(), any::<Index>())
            .prop_map(|(open, flow, username)| Command::Finish { open, flow, username }),
        4 => pick().prop_map(Command::Activate),
        1 => (who(), 1u8..=7).prop_map(|(who, times)| Command::ResendActivation { who, times }),
        5 => (who(), any::<bool>(), any::<Index>(), 1u8..=6).prop_map(
            |(who, right_password, wrong, times)| Command::Login {
                who,
                right_password,
                wrong,
                times,
            }
        ),
        2 => (who(), 1u8..=7).prop_map(|(who, times)| Command::RequestReset { who, times }),
        4 => (pick(), any::<Index>())
            .prop_map(|(token, password)| Command::ConfirmReset { token, password }),
        3 => wait().prop_map(Command::Wait),
    ]
}

/// Commands, after a start that registers and activates some accounts
/// (or none), so that sequences reach the interesting states.
fn commands() -> impl Strategy<Value = Vec<Command>> {
    (
        0u8..4,
        any::<Index>(),
        any::<Index>(),
        vec(command(), 1..=30),
    )
        .prop_map(|(start, jane, acme, commands)| {
            let mut all = Vec::new();
            if start >= 1 {
                all.push(Command::Register {
                    details: Details::Jane,
                    username: jane,
                });
            }
            if start >= 2 {
                all.push(Command::Activate(Pick::Newest));
            }
            if start >= 3 {
                all.push(Command::Register {
                    details: Details::Acme,
                    username: acme,
                });
                all.push(Command::Activate(Pick::Newest));
            }
            all.extend(commands);
            all
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Activation,
    Reset,
}

impl Purpose {
    fn ttl(self) -> Duration {
        match self {
            Self::Activation => ACTIVATION_TTL,
            Self::Reset => RESET_TTL,
        }
    }
}

#[derive(Debug)]
struct ModelAccount {
    registrant: Registrant,
    /// Lower case: usernames are one case-insensitively.
    username: String,
    /// Index into [`PASSWORDS`].
    password: usize,
    active: bool,
    /// Consecutive failures since the last success, reset or lock.
    failures: u32,
    locked_until: Option<OffsetDateTime>,
    /// When reset or resend emails went out (the registration's doesn't count).
    emailed_at: Vec<OffsetDateTime>,
}

impl ModelAccount {
    fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// The count as SPEC §4 reads it: it starts again when a lock ends.
    fn failures(&self, now: OffsetDateTime) -> u32 {
        if self.locked_until.is_some_and(|until| now >= until) {
            0
        } else {
            self.failures
        }
    }

    /// A wrong password outside a lock.
    fn fail(&mut self, now: OffsetDateTime) {
        self.failures = self.failures(now) + 1;
        self.locked_until = (self.failures == MAX_FAILED).then_some(now + LOCK);
    }

    fn clear(&mut self) {
        self.failures = 0;
        self.locked_until = None;
    }
}

#[derive(Debug)]
struct ModelToken {
    raw: String,
    purpose: Purpose,
    account: usize,
    issued_at: OffsetDateTime,
    used: bool,
}

#[derive(Debug)]
struct ModelFlow {
    id: String,
    registrant: Registrant,
    expires_at: OffsetDateTime,
    finished: bool,
}

#[derive(Debug)]
struct Model {
    now: OffsetDateTime,
    accounts: Vec<ModelAccount>,
    /// Every token issued, oldest first.
    tokens: Vec<ModelToken>,
    flows: Vec<ModelFlow>,
    /// `provider_mismatch` answers, by provider.
    mismatches: Vec<(&'static str, OffsetDateTime)>,
    /// Emails queued so far.
    emails: usize,
    /// Tokens that worked once.
    redeemed: HashSet<String>,
}

impl Model {
    fn account_named(&self, name: &str) -> Option<usize> {
        let key = name.trim().to_ascii_lowercase();
        self.accounts.iter().position(|a| a.username == key)
    }

    fn account_of(&self, registrant: Registrant) -> Option<usize> {
        self.accounts
            .iter()
            .position(|a| a.registrant == registrant)
    }

    /// The token, if it works now for `purpose`: issued for it, unused,
    /// unexpired and the newest of its account and purpose.
    fn live_token(&self, raw: &str, purpose: Purpose) -> Option<usize> {
        let index = self.tokens.iter().position(|t| t.raw == raw)?;
        let token = &self.tokens[index];
        let newest = self
            .tokens
            .iter()
            .rposition(|t| t.account == token.account && t.purpose == token.purpose);
        (token.purpose == purpose
            && !token.used
            && self.now < token.issued_at + token.purpose.ttl()
            && newest == Some(index))
        .then_some(index)
    }

    /// Fewer than the cap of reset and resend emails in the last hour.
    fn may_email(&self, account: usize) -> bool {
        let since = self.now - HOUR;
        self.accounts[account]
            .emailed_at
            .iter()
            .filter(|at| **at > since)
            .count()
            < EMAILS_PER_HOUR
    }

    fn pick(&self, pick: &Pick, purpose: Purpose) -> String {
        let choose = |index: &Index, filter: &dyn Fn(&ModelToken) -> bool| {
            let candidates: Vec<&ModelToken> = self.tokens.iter().filter(|t| filter(t)).collect();
            (!candidates.is_empty()).then(|| index.get(&candidates).raw.clone())
        };
        let raw = match pick {
            Pick::Newest => self
                .tokens
                .iter()
                .rev()
                .find(|t| t.purpose == purpose)
                .map(|t| t.raw.clone()),
            Pick::SamePurpose(index) => choose(index, &|t| t.purpose == purpose),
            Pick::Any(index) => choose(index, &|_| true),
            Pick::Used(index) => choose(index, &|t| t.used),
            Pick::Random(bytes) => Some(never_issued(*bytes)),
            Pick::Malformed => Some("not-a-token".to_owned()),
        };
        raw.unwrap_or_else(|| never_issued([0xa5; 32]))
    }
}

/// A well-formed token no `SequentialTokens` ever draws (those end in zeros).
fn never_issued(mut bytes: [u8; 32]) -> String {
    bytes[31] = 0xff;
    RawToken::from_random_bytes(bytes).expose().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartOutcome {
    Started,
    ProofingLimited,
    NotFound,
    Mismatch,
    WrongType,
    AlreadyRegistered { pending: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateOutcome {
    Created,
    Expired,
    InvalidTransition,
    UsernameTaken,
    AlreadyRegistered { pending: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginOutcome {
    Success,
    InvalidCredentials,
    Locked { until: OffsetDateTime },
    NotActivated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetOutcome {
    Success,
    InvalidToken,
    /// Refused by the policy; `reused` when that is the only reason.
    Refused {
        reused: bool,
    },
}

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
                RosterAnswer::Verified(registrant) => match model.account_of(registrant) {
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
            CreateOutcome::InvalidTransition
        } else if model.now >= open.expires_at {
            CreateOutcome::Expired
        } else if model.account_named(username).is_some() {
            CreateOutcome::UsernameTaken
        } else if let Some(holder) = model.account_of(open.registrant) {
            CreateOutcome::AlreadyRegistered {
                pending: !model.accounts[holder].active,
            }
        } else {
            CreateOutcome::Created
        };
        let result = self
            .portal
            .create_account(&open.id, Ok(sample::account_input_for(username)), CTX)
            .await;
        let actual = match &result {
            Ok(_) => CreateOutcome::Created,
            Err(CreateAccountStepError::Expired) => CreateOutcome::Expired,
            Err(CreateAccountStepError::InvalidTransition) => CreateOutcome::InvalidTransition,
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
        self.model.flows[flow].finished = true;
        self.model.accounts.push(ModelAccount {
            registrant,
            username: username.to_ascii_lowercase(),
            password: 0,
            active: false,
            failures: 0,
            locked_until: None,
            emailed_at: Vec::new(),
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
        let actual = match self.portal.login(name, &password(typed), CTX).await {
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
        let sends = self
            .model
            .account_named(name)
            .filter(|a| self.model.accounts[*a].active && self.model.may_email(*a));
        let result = self.portal.request_password_reset(name, CTX).await;
        prop_assert_eq!(result, Ok(()));
        if let Some(account) = sends {
            self.model.accounts[account].emailed_at.push(self.model.now);
            self.model.emails += 1;
            self.take_token(Purpose::Reset, account)?;
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
        prop_assert_eq!(stored.len(), model.accounts.len(), "number of accounts");

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

        for expected in &model.accounts {
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
