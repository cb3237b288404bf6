//! The commands a run is made of, and the strategies that generate them.

use super::*;

pub(super) fn password(index: usize) -> Password {
    Password::parse(PASSWORDS[index]).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Registrant {
    Jane,
    Acme,
}

impl Registrant {
    pub(super) const ALL: [Self; 2] = [Self::Jane, Self::Acme];

    pub(super) fn key(self) -> RegistrantKey {
        match self {
            Self::Jane => sample::jane_doe().registrant_key(),
            Self::Acme => sample::acme_group().registrant_key(),
        }
    }
}

/// What a registrant types in step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Details {
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
pub(super) enum RosterAnswer {
    Verified(Registrant),
    Mismatch,
    WrongType,
    NotFound,
}

pub(super) fn practitioner(
    provider_id: &str,
    first: &str,
    last: &str,
    zip: &str,
) -> ProofingRequest {
    ProofingRequest::Practitioner {
        provider_id: ProviderId::parse(provider_id).unwrap(),
        tax_id: TaxId::parse(sample::TAX_ID).unwrap(),
        first_name: PersonName::parse(first).unwrap(),
        last_name: PersonName::parse(last).unwrap(),
        zip: Zip::parse(zip).unwrap(),
    }
}

pub(super) fn group(name: &str, tax_id: &str, provider_id: &str, zip: &str) -> ProofingRequest {
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

    pub(super) fn request(self) -> ProofingRequest {
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
    pub(super) fn provider_id(self) -> &'static str {
        match self {
            Self::Jane | Self::JaneRetyped | Self::JaneMismatch => "P1001",
            Self::JohnAsPractitioner => "P1002",
            Self::Acme | Self::AcmeRetyped | Self::AcmeMismatch => "G2001",
            Self::Unknown => "P9999",
        }
    }

    pub(super) fn roster_answer(self) -> RosterAnswer {
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
pub(super) enum Pick {
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
pub(super) enum Who {
    /// An existing account's, in any case (a pool name while there is none).
    Account(Index, Vec<bool>),
    /// One of [`NAMES`]: maybe registered, maybe unknown, maybe malformed.
    Name(Index),
}

#[derive(Debug, Clone)]
pub(super) enum Command {
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

pub(super) fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => Just(Pick::Newest),
        2 => any::<Index>().prop_map(Pick::SamePurpose),
        1 => any::<Index>().prop_map(Pick::Any),
        1 => any::<Index>().prop_map(Pick::Used),
        1 => any::<[u8; 32]>().prop_map(Pick::Random),
        1 => Just(Pick::Malformed),
    ]
}

pub(super) fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => (any::<Index>(), vec(any::<bool>(), 1..8))
            .prop_map(|(index, flips)| Who::Account(index, flips)),
        1 => any::<Index>().prop_map(Who::Name),
    ]
}

/// Short and long waits, and the exact edges of every time limit.
pub(super) fn wait() -> impl Strategy<Value = Duration> {
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

pub(super) fn command() -> impl Strategy<Value = Command> {
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
pub(super) fn commands() -> impl Strategy<Value = Vec<Command>> {
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
