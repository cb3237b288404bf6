//! The model's state, and the outcomes it predicts.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Activation,
    Reset,
}

impl Purpose {
    pub(super) fn ttl(self) -> Duration {
        match self {
            Self::Activation => ACTIVATION_TTL,
            Self::Reset => RESET_TTL,
        }
    }
}

#[derive(Debug)]
pub(super) struct ModelAccount {
    pub(super) registrant: Registrant,
    /// Lower case: usernames are one case-insensitively.
    pub(super) username: String,
    /// Index into [`PASSWORDS`].
    pub(super) password: usize,
    pub(super) active: bool,
    /// Consecutive failures since the last success, reset or lock.
    pub(super) failures: u32,
    pub(super) locked_until: Option<OffsetDateTime>,
    /// When reset or resend emails went out (the registration's doesn't count).
    pub(super) emailed_at: Vec<OffsetDateTime>,
    /// Replaced by a newer registration while pending (SPEC §3 step 1):
    /// deleted with its links, its username free.
    pub(super) gone: bool,
}

impl ModelAccount {
    pub(super) fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// The count as SPEC §4 reads it: it starts again when a lock ends.
    pub(super) fn failures(&self, now: OffsetDateTime) -> u32 {
        if self.locked_until.is_some_and(|until| now >= until) {
            0
        } else {
            self.failures
        }
    }

    /// A wrong password outside a lock.
    pub(super) fn fail(&mut self, now: OffsetDateTime) {
        self.failures = self.failures(now) + 1;
        self.locked_until = (self.failures == MAX_FAILED).then_some(now + LOCK);
    }

    pub(super) fn clear(&mut self) {
        self.failures = 0;
        self.locked_until = None;
    }
}

#[derive(Debug)]
pub(super) struct ModelToken {
    pub(super) raw: String,
    pub(super) purpose: Purpose,
    pub(super) account: usize,
    pub(super) issued_at: OffsetDateTime,
    pub(super) used: bool,
}

#[derive(Debug)]
pub(super) struct ModelFlow {
    pub(super) id: String,
    pub(super) registrant: Registrant,
    pub(super) expires_at: OffsetDateTime,
    pub(super) finished: bool,
}

#[derive(Debug)]
pub(super) struct Model {
    pub(super) now: OffsetDateTime,
    pub(super) accounts: Vec<ModelAccount>,
    /// Every token issued, oldest first.
    pub(super) tokens: Vec<ModelToken>,
    pub(super) flows: Vec<ModelFlow>,
    /// `provider_mismatch` answers, by provider.
    pub(super) mismatches: Vec<(&'static str, OffsetDateTime)>,
    /// Emails queued so far.
    pub(super) emails: usize,
    /// Tokens that worked once.
    pub(super) redeemed: HashSet<String>,
}

impl Model {
    pub(super) fn account_named(&self, name: &str) -> Option<usize> {
        let key = name.trim().to_ascii_lowercase();
        self.accounts
            .iter()
            .position(|a| !a.gone && a.username == key)
    }

    pub(super) fn account_of(&self, registrant: Registrant) -> Option<usize> {
        self.accounts
            .iter()
            .position(|a| !a.gone && a.registrant == registrant)
    }

    /// The token, if it works now for `purpose`: issued for it, unused,
    /// unexpired and the newest of its account and purpose.
    pub(super) fn live_token(&self, raw: &str, purpose: Purpose) -> Option<usize> {
        let index = self.tokens.iter().position(|t| t.raw == raw)?;
        let token = &self.tokens[index];
        let newest = self
            .tokens
            .iter()
            .rposition(|t| t.account == token.account && t.purpose == token.purpose);
        (token.purpose == purpose
            && !self.accounts[token.account].gone
            && !token.used
            && self.now < token.issued_at + token.purpose.ttl()
            && newest == Some(index))
        .then_some(index)
    }

    /// Fewer than the cap of reset and resend emails in the last hour.
    pub(super) fn may_email(&self, account: usize) -> bool {
        let since = self.now - HOUR;
        self.accounts[account]
            .emailed_at
            .iter()
            .filter(|at| **at > since)
            .count()
            < EMAILS_PER_HOUR
    }

    pub(super) fn pick(&self, pick: &Pick, purpose: Purpose) -> String {
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
pub(super) fn never_issued(mut bytes: [u8; 32]) -> String {
    bytes[31] = 0xff;
    RawToken::from_random_bytes(bytes).expose().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartOutcome {
    Started,
    ProofingLimited,
    NotFound,
    Mismatch,
    WrongType,
    AlreadyRegistered { pending: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CreateOutcome {
    Created,
    Expired,
    InvalidTransition,
    /// The flow already created its account (a second submission).
    AlreadyCreated,
    UsernameTaken,
    AlreadyRegistered {
        pending: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoginOutcome {
    Success,
    InvalidCredentials,
    Locked { until: OffsetDateTime },
    NotActivated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResetOutcome {
    Success,
    InvalidToken,
    /// Refused by the policy; `reused` when that is the only reason.
    Refused {
        reused: bool,
    },
}
