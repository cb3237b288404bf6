//! Property tests.
//!
//! - `model`: random sequences of registrations, activations, logins,
//!   resets and waits, driven against [`TestPortal`] and a plain model of
//!   the SPEC's rules (§3–§6), with the invariants checked after every step.
//! - `policy`: [`PasswordPolicy::check`] against a straightforward
//!   reimplementation of the rules of SPEC §5 as the policy's module docs
//!   define them.
//! - `normalisation`: the normalisation of names, Tax IDs, ZIPs and
//!   usernames, and roster matching, are insensitive to harmless retyping.

use futures::executor::block_on;
use portal_domain::prelude::*;
use portal_domain::testing::{TestPortal, sample};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

/// A modest run; failures print their minimal case and write no
/// regression files into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Flips the case of the characters whose `flips` entry (cycled) is true.
fn flip_case(text: &str, flips: &[bool]) -> String {
    if flips.is_empty() {
        return text.to_owned();
    }
    text.chars()
        .zip(flips.iter().copied().cycle())
        .flat_map(|(c, flip)| -> Vec<char> {
            if !flip {
                vec![c]
            } else if c.is_uppercase() {
                c.to_lowercase().collect()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect()
}

mod model {
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
                let candidates: Vec<&ModelToken> =
                    self.tokens.iter().filter(|t| filter(t)).collect();
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
}

mod policy {
    //! `PasswordPolicy::check` against a plain reading of SPEC §5 and the
    //! policy's module docs.

    use portal_domain::password_policy::PolicyContext;

    use super::*;

    /// Every code of SPEC §5, in the SPEC's order.
    const SPEC_ORDER: [&str; 9] = [
        "min_length",
        "lowercase",
        "uppercase",
        "digit",
        "symbol",
        "max_length",
        "contains_username",
        "too_weak",
        "reused",
    ];
    /// The rules the reference decides: all but zxcvbn's and `reused`.
    const COMPARED: [&str; 7] = [
        "min_length",
        "lowercase",
        "uppercase",
        "digit",
        "symbol",
        "max_length",
        "contains_username",
    ];
    const MIN_LENGTH: usize = 12;
    const MAX_LENGTH: usize = 128;
    const MIN_PIECE: usize = 3;

    const SYMBOLS: &str = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    /// Cased letters of other scripts, caseless letters, other numerals,
    /// emoji, compatibility forms NFKC rewrites, a combining mark, and
    /// other spaces.
    const OTHER: [char; 24] = [
        'é', 'É', 'ß', 'Ж', 'ж', 'ı', 'İ', 'Σ', 'ǅ', 'ª', 'ʰ', '漢', '字', '٣', '½', 'Ⅻ', '①', 'Ω',
        'ﬁ', '😀', '🔒', '\u{301}', '\u{a0}', '\u{3000}',
    ];

    /// Characters of one alphabet: mixed, or missing whole classes so that
    /// every rule is met and unmet often, at every length.
    fn char_of(alphabet: u8) -> BoxedStrategy<char> {
        let lower = || prop::char::range('a', 'z');
        let upper = || prop::char::range('A', 'Z');
        let digit = || prop::char::range('0', '9');
        let symbol = || select(SYMBOLS.chars().collect::<Vec<_>>());
        let other = || select(OTHER.to_vec());
        let printable = || any::<char>().prop_filter("never in a password", |c| !c.is_control());
        match alphabet {
            0 => prop_oneof![
                4 => lower(), 3 => upper(), 2 => digit(), 2 => symbol(), 2 => other(), 1 => printable()
            ]
            .boxed(),
            1 => lower().boxed(),
            2 => prop_oneof![lower(), upper()].boxed(),
            3 => prop_oneof![lower(), digit(), symbol()].boxed(),
            4 => prop_oneof![upper(), digit(), other()].boxed(),
            _ => prop_oneof![other(), printable()].boxed(),
        }
    }

    fn text() -> impl Strategy<Value = String> {
        (0u8..6)
            .prop_flat_map(|alphabet| {
                prop_oneof![
                    4 => vec(char_of(alphabet), 1..24),
                    1 => vec(char_of(alphabet), 100..150),
                ]
            })
            .prop_map(String::from_iter)
    }

    #[derive(Debug, Clone)]
    enum Embed {
        Nothing,
        Username,
        LocalPart,
    }

    /// A password, maybe with the username or the email's local part
    /// spliced in (in any case), and who it belongs to.
    #[derive(Debug, Clone)]
    struct Case {
        text: String,
        username: String,
        local_part: Option<String>,
        embed: Embed,
        at: Index,
        flips: Vec<bool>,
    }

    impl Case {
        fn build(&self) -> (String, PolicyContext) {
            let piece = match self.embed {
                Embed::Nothing => String::new(),
                Embed::Username => flip_case(&self.username, &self.flips),
                Embed::LocalPart => {
                    flip_case(self.local_part.as_deref().unwrap_or(""), &self.flips)
                }
            };
            let chars: Vec<char> = self.text.chars().collect();
            let split = self.at.index(chars.len() + 1);
            let text: String = chars[..split]
                .iter()
                .copied()
                .chain(piece.chars())
                .chain(chars[split..].iter().copied())
                .collect();
            let context = PolicyContext {
                username: Some(Username::parse(&self.username).unwrap()),
                email: self.local_part.as_ref().map(|local| {
                    EmailAddress::parse(&format!("{local}@clinic.example.org")).unwrap()
                }),
                names: vec![],
            };
            (text, context)
        }
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            text(),
            "[a-zA-Z0-9._@-]{3,10}",
            prop::option::of("[a-zA-Z0-9]{1,6}"),
            prop_oneof![
                Just(Embed::Nothing),
                Just(Embed::Username),
                Just(Embed::LocalPart)
            ],
            any::<Index>(),
            vec(any::<bool>(), 1..8),
        )
            .prop_map(|(text, username, local_part, embed, at, flips)| Case {
                text,
                username,
                local_part,
                embed,
                at,
                flips,
            })
    }

    fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
        let haystack: Vec<char> = haystack.chars().flat_map(char::to_lowercase).collect();
        let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_slice())
    }

    /// SPEC §5 read plainly: lengths in scalar values of the NFKC form;
    /// classes by Unicode's lower/upper case, numeric, and "neither a
    /// letter nor a number" for symbols; the username and the email's
    /// local part, 3 characters or longer, case-insensitively.
    fn reference(text: &str, context: &PolicyContext) -> Vec<&'static str> {
        let length = text.chars().count();
        let pieces = [
            context.username.as_ref().map(|u| u.as_str().to_owned()),
            context
                .email
                .as_ref()
                .and_then(|e| e.as_str().split('@').next().map(str::to_owned)),
        ];
        let checks = [
            ("min_length", length < MIN_LENGTH),
            ("lowercase", !text.chars().any(char::is_lowercase)),
            ("uppercase", !text.chars().any(char::is_uppercase)),
            ("digit", !text.chars().any(char::is_numeric)),
            (
                "symbol",
                !text.chars().any(|c| !c.is_alphabetic() && !c.is_numeric()),
            ),
            ("max_length", length > MAX_LENGTH),
            (
                "contains_username",
                pieces.iter().flatten().any(|piece| {
                    piece.chars().count() >= MIN_PIECE && contains_ignoring_case(text, piece)
                }),
            ),
        ];
        checks
            .into_iter()
            .filter(|(_, unmet)| *unmet)
            .map(|(code, _)| code)
            .collect()
    }

    /// The password (NFKC) and the codes the policy reports for it.
    fn check(case: &Case) -> Result<(String, Vec<&'static str>, PolicyContext), TestCaseError> {
        let (text, context) = case.build();
        let password = Password::parse(&text)
            .map_err(|e| TestCaseError::reject(format!("never a password: {e}")))?;
        let codes = match PasswordPolicy::default().check(&password, &context) {
            Ok(()) => vec![],
            Err(violations) => violations.codes(),
        };
        Ok((password.expose().to_owned(), codes, context))
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn the_policy_agrees_with_a_plain_reference(case in case()) {
            let (text, codes, context) = check(&case)?;
            let expected = reference(&text, &context);
            for code in COMPARED {
                prop_assert_eq!(
                    codes.contains(&code),
                    expected.contains(&code),
                    "{} for {:?}: the policy says {:?}, the reference {:?}",
                    code, text, codes, expected
                );
            }
        }

        #[test]
        fn violations_come_in_the_specs_order_each_once(case in case()) {
            let (text, codes, _) = check(&case)?;
            let positions: Vec<usize> = codes
                .iter()
                .map(|code| SPEC_ORDER.iter().position(|known| known == code))
                .collect::<Option<_>>()
                .ok_or_else(|| TestCaseError::fail(format!("unknown code in {codes:?}")))?;
            prop_assert!(
                positions.windows(2).all(|pair| pair[0] < pair[1]),
                "{:?} is not in the order of SPEC §5 ({:?}), or repeats a code, for {:?}",
                codes, SPEC_ORDER, text
            );
        }
    }
}

mod normalisation {
    //! Normalisation is idempotent, and harmless retyping (case, spacing,
    //! separators, ZIP+4) never changes an answer.

    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    use portal_domain::roster::{RosterMatch, match_roster};
    use portal_domain::values::normalize::{comparison_key, normalize_display};

    use super::*;

    /// Letters whose upper and lower case map one to one, a caseless
    /// letter, and the punctuation of names.
    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            2 => prop::char::range('A', 'Z'),
            2 => select(vec!['é', 'É', 'ж', 'Ж', 'ø', 'Ø', 'ñ', 'Ñ', '漢', '\'', '-', '.']),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        vec(vec(name_char(), 1..8).prop_map(String::from_iter), 1..4).prop_map(|w| w.join(" "))
    }

    /// Text that stresses normalisation: compatibility forms, combining
    /// marks, special casing, composing jamo and kana, odd spaces.
    fn tricky_text() -> impl Strategy<Value = String> {
        let tricky = select(vec![
            '\u{301}', '\u{308}', '\u{345}', 'ﬁ', 'ß', 'ẞ', 'İ', 'ı', 'Σ', 'ς', 'ǅ', 'Ⅻ', '①',
            'Ｊ', '¨', 'ᴬ', 'ΐ', 'ᾼ', 'ﾊ', 'ﾟ', '\u{1100}', '\u{1161}', '\u{11a8}', 'Å', 'K', ' ',
            '\u{a0}', '\u{3000}', '\t', '\n',
        ]);
        prop_oneof![
            1 => any::<String>(),
            3 => vec(prop_oneof![name_char(), tricky], 0..24).prop_map(String::from_iter),
        ]
    }

    const GAPS: [&str; 7] = [" ", "  ", "\t", " \u{a0} ", "\u{3000}", "\n ", "\u{2003}"];

    /// The same name typed again: other case, other spacing around and
    /// between the words.
    fn retype(name: &str, flips: &[bool], gaps: &[Index]) -> String {
        let mut gaps = gaps.iter().cycle().map(|g| *g.get(&GAPS));
        let flipped = flip_case(name, flips);
        let mut out = String::from(gaps.next().unwrap_or(""));
        for (i, word) in flipped.split(' ').enumerate() {
            if i > 0 {
                out.push_str(gaps.next().unwrap_or(" "));
            }
            out.push_str(word);
        }
        out.push_str(gaps.next().unwrap_or(""));
        out
    }

    fn retyping() -> impl Strategy<Value = (Vec<bool>, Vec<Index>)> {
        (vec(any::<bool>(), 1..12), vec(any::<Index>(), 1..6))
    }

    fn hash_of(value: &impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[derive(Debug, Clone)]
    struct RosterCase {
        kind: u8,
        provider_id: String,
        tax_id: String,
        names: [String; 3],
        typed_names: Option<[String; 3]>,
        zips: Vec<String>,
        zip: Index,
        typed_zip: Option<String>,
        flips: Vec<bool>,
        gaps: Vec<Index>,
    }

    fn roster_case() -> impl Strategy<Value = RosterCase> {
        (
            (0u8..3, "[A-Z0-9]{1,20}", "[0-9]{9}"),
            (
                prop::array::uniform3(name()),
                prop::option::of(prop::array::uniform3(name())),
            ),
            (
                vec("[0-9]{5}", 1..4),
                any::<Index>(),
                prop::option::of("[0-9]{5}"),
            ),
            retyping(),
        )
            .prop_map(
                |(
                    (kind, provider_id, tax_id),
                    (names, typed_names),
                    (zips, zip, typed_zip),
                    (flips, gaps),
                )| {
                    RosterCase {
                        kind,
                        provider_id,
                        tax_id,
                        names,
                        typed_names,
                        zips,
                        zip,
                        typed_zip,
                        flips,
                        gaps,
                    }
                },
            )
    }

    fn request(
        kind: u8,
        provider_id: &str,
        tax_id: &str,
        names: &[String; 3],
        zip: &str,
    ) -> ProofingRequest {
        let provider_id = ProviderId::parse(provider_id).unwrap();
        let tax_id = TaxId::parse(tax_id).unwrap();
        let zip = Zip::parse(zip).unwrap();
        if kind == 2 {
            ProofingRequest::Group {
                group_name: GroupName::parse(&names[2]).unwrap(),
                tax_id,
                provider_id,
                zip,
            }
        } else {
            ProofingRequest::Practitioner {
                provider_id,
                tax_id,
                first_name: PersonName::parse(&names[0]).unwrap(),
                last_name: PersonName::parse(&names[1]).unwrap(),
                zip,
            }
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn normalize_display_is_idempotent_and_collapses_whitespace(text in tricky_text()) {
            let once = normalize_display(&text);
            prop_assert_eq!(normalize_display(&once), once.clone());
            prop_assert_eq!(once.trim(), once.as_str());
            prop_assert!(!once.contains("  "), "{:?}", once);
            prop_assert!(!once.chars().any(|c| c.is_whitespace() && c != ' '), "{:?}", once);
        }

        #[test]
        fn comparison_key_is_idempotent(text in tricky_text()) {
            let key = comparison_key(&text);
            prop_assert_eq!(comparison_key(&key), key.clone());
            let display_key = comparison_key(&normalize_display(&text));
            prop_assert_eq!(comparison_key(&display_key), display_key);
        }

        #[test]
        fn name_equality_is_symmetric_and_is_key_equality(
            (a, b) in tricky_text().prop_flat_map(|a| {
                let retyped = retyping().prop_map({
                    let a = a.clone();
                    move |(flips, gaps)| retype(&a, &flips, &gaps)
                });
                (Just(a), prop_oneof![retyped, tricky_text()])
            })
        ) {
            let keys_equal =
                comparison_key(&normalize_display(&a)) == comparison_key(&normalize_display(&b));
            if let (Ok(x), Ok(y)) = (PersonName::parse(&a), PersonName::parse(&b)) {
                prop_assert_eq!(x == y, y == x);
                prop_assert_eq!(x == y, x.key() == y.key());
                prop_assert_eq!(x == y, keys_equal);
                if x == y {
                    prop_assert_eq!(hash_of(&x), hash_of(&y));
                }
            }
            if let (Ok(x), Ok(y)) = (GroupName::parse(&a), GroupName::parse(&b)) {
                prop_assert_eq!(x == y, y == x);
                prop_assert_eq!(x == y, x.key() == y.key());
                prop_assert_eq!(x == y, keys_equal);
                if x == y {
                    prop_assert_eq!(hash_of(&x), hash_of(&y));
                }
            }
        }

        #[test]
        fn a_retyped_name_is_the_same_name(name in name(), (flips, gaps) in retyping()) {
            let retyped = retype(&name, &flips, &gaps);
            prop_assert_eq!(PersonName::parse(&retyped).unwrap(), PersonName::parse(&name).unwrap());
            prop_assert_eq!(GroupName::parse(&retyped).unwrap(), GroupName::parse(&name).unwrap());
            let parsed = PersonName::parse(&retyped).unwrap();
            prop_assert_eq!(parsed.as_str(), normalize_display(&retyped));
        }

        #[test]
        fn a_tax_id_with_a_dash_is_the_same_tax_id(digits in "[0-9]{9}") {
            let dashed = format!("{}-{}", &digits[..2], &digits[2..]);
            let plain = TaxId::parse(&digits).unwrap();
            prop_assert_eq!(TaxId::parse(&dashed), Ok(plain.clone()));
            prop_assert_eq!(plain.as_str(), digits.as_str());
        }

        #[test]
        fn a_zip_plus_four_is_its_five_digit_zip(zip in "[0-9]{5}", plus in "[0-9]{4}", other in "[0-9]{5}") {
            let five = Zip::parse(&zip).unwrap();
            prop_assert_eq!(Zip::parse(&format!("{zip}-{plus}")), Ok(five.clone()));
            prop_assert_eq!(Zip::parse(&format!("{zip}{plus}")), Ok(five.clone()));
            prop_assert_eq!(five.as_str(), zip.as_str());
            prop_assert_eq!(Zip::parse(&other).unwrap() == five, other == zip);
        }

        #[test]
        fn usernames_are_equal_case_insensitively(
            name in "[a-zA-Z0-9._@-]{3,64}",
            other in "[a-zA-Z0-9._@-]{3,64}",
            flips in vec(any::<bool>(), 1..12),
        ) {
            let username = Username::parse(&name).unwrap();
            let flipped = Username::parse(&flip_case(&name, &flips)).unwrap();
            prop_assert_eq!(&flipped, &username);
            prop_assert_eq!(hash_of(&flipped), hash_of(&username));
            prop_assert_eq!(username.key(), name.to_ascii_lowercase());
            prop_assert_eq!(flipped.as_str(), flip_case(&name, &flips));
            let other_username = Username::parse(&other).unwrap();
            prop_assert_eq!(other_username == username, other.eq_ignore_ascii_case(&name));
        }

        #[test]
        fn roster_matching_ignores_case_and_spacing(case in roster_case()) {
            let names: Vec<_> = case.names.iter().map(|n| PersonName::parse(n).unwrap()).collect();
            let identity = match case.kind {
                0 | 1 => RosterIdentity::Practitioner {
                    first_name: names[0].clone(),
                    last_name: names[1].clone(),
                    payee: if case.kind == 0 { Payee::Individual } else { Payee::Group },
                },
                _ => RosterIdentity::Group { group_name: GroupName::parse(&case.names[2]).unwrap() },
            };
            let entry = RosterEntry {
                provider_id: ProviderId::parse(&case.provider_id).unwrap(),
                tax_id: TaxId::parse(&case.tax_id).unwrap(),
                identity,
                zips: case.zips.iter().map(|z| Zip::parse(z).unwrap()).collect(),
                lines_of_business: vec![LineOfBusiness::Medicaid],
                inactive_since: None,
            };
            let typed_names = case.typed_names.clone().unwrap_or_else(|| case.names.clone());
            let zip = case.typed_zip.clone().unwrap_or_else(|| case.zip.get(&case.zips).clone());
            let typed = request(case.kind, &case.provider_id, &case.tax_id, &typed_names, &zip);
            let retyped_names = typed_names.clone().map(|n| retype(&n, &case.flips, &case.gaps));
            let dashed_tax_id = format!("{}-{}", &case.tax_id[..2], &case.tax_id[2..]);
            let retyped = request(
                case.kind,
                &case.provider_id.to_lowercase(),
                &dashed_tax_id,
                &retyped_names,
                &format!("{zip}-1234"),
            );
            let answer = match_roster(&typed, Some(&entry));
            prop_assert_eq!(&match_roster(&retyped, Some(&entry)), &answer);
            if case.typed_names.is_none() && case.typed_zip.is_none() {
                let expected = if case.kind == 1 {
                    RosterMatch::WrongProviderType
                } else {
                    RosterMatch::Verified(Box::new(entry.clone()))
                };
                prop_assert_eq!(answer, expected);
            }
        }
    }
}
