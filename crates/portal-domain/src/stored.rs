//! The stored forms of domain values: plain columns (text, integers,
//! times) and the conversions both ways, shared by every SQL adapter so
//! that they encode identically and decode through the same parsers.
//!
//! Decoding parses every column again with the domain's own parsers: a row
//! that does not parse is reported as [`StoreError::Unexpected`] naming the
//! table and column, never a panic.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::account::{Account, AccountId, AccountProvider, Activation};
use crate::email::{Email, EmailKind};
use crate::lockout::LockState;
use crate::ports::StoreError;
use crate::registration::{
    AgreementAcceptance, RegistrationFlow, RegistrationId, RegistrationState,
};
use crate::roster::{RosterEntry, RosterIdentity};
use crate::values::{
    AgreementVersion, EmailAddress, GroupName, LineOfBusiness, PasswordHash, Payee, PersonName,
    ProviderId, ProviderKind, RawToken, SecurityQuestionId, TaxId, Username, Zip,
};

/// Separator of list columns (`zips`, `lines_of_business`), as in the CSV.
pub const LIST_SEPARATOR: char = ';';

fn corrupt(table: &str, column: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(format!("corrupt {table}.{column}: {error}"))
}

fn required<'a>(
    table: &str,
    column: &str,
    value: &'a Option<String>,
) -> Result<&'a str, StoreError> {
    value
        .as_deref()
        .ok_or_else(|| corrupt(table, column, "missing"))
}

fn parse_kind(table: &str, value: &str) -> Result<ProviderKind, StoreError> {
    ProviderKind::parse(value).map_err(|e| corrupt(table, "kind", e))
}

fn join<T>(items: &[T], text: impl Fn(&T) -> &str) -> String {
    items
        .iter()
        .map(text)
        .collect::<Vec<_>>()
        .join(&LIST_SEPARATOR.to_string())
}

fn split<T, E: std::fmt::Display>(
    table: &str,
    column: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    value
        .split(LIST_SEPARATOR)
        .filter(|piece| !piece.is_empty())
        .map(|piece| parse(piece).map_err(|e| corrupt(table, column, e)))
        .collect()
}

/// A roster entry's identity columns, shared by roster rows and flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProvider {
    pub tax_id: String,
    pub provider_id: String,
    pub kind: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub group_name: Option<String>,
    pub payee: Option<String>,
    /// 5-digit ZIPs joined by `;`.
    pub zips: String,
    /// Lines of business joined by `;`.
    pub lines_of_business: String,
    pub inactive_since: Option<OffsetDateTime>,
}

impl StoredProvider {
    pub fn from_entry(entry: &RosterEntry) -> Self {
        let (kind, first_name, last_name, group_name, payee) = match &entry.identity {
            RosterIdentity::Practitioner {
                first_name,
                last_name,
                payee,
            } => (
                ProviderKind::Practitioner,
                Some(first_name.as_str().to_owned()),
                Some(last_name.as_str().to_owned()),
                None,
                Some(payee.as_str().to_owned()),
            ),
            RosterIdentity::Group { group_name } => (
                ProviderKind::Group,
                None,
                None,
                Some(group_name.as_str().to_owned()),
                None,
            ),
        };
        Self {
            tax_id: entry.tax_id.as_str().to_owned(),
            provider_id: entry.provider_id.as_str().to_owned(),
            kind: kind.as_str().to_owned(),
            first_name,
            last_name,
            group_name,
            payee,
            zips: join(&entry.zips, Zip::as_str),
            lines_of_business: join(&entry.lines_of_business, |l| l.as_str()),
            inactive_since: entry.inactive_since,
        }
    }

    /// Decodes the columns of `table` back into an entry.
    pub fn into_entry(self, table: &str) -> Result<RosterEntry, StoreError> {
        let identity = match parse_kind(table, &self.kind)? {
            ProviderKind::Practitioner => RosterIdentity::Practitioner {
                first_name: PersonName::parse(required(table, "first_name", &self.first_name)?)
                    .map_err(|e| corrupt(table, "first_name", e))?,
                last_name: PersonName::parse(required(table, "last_name", &self.last_name)?)
                    .map_err(|e| corrupt(table, "last_name", e))?,
                payee: Payee::parse(required(table, "payee", &self.payee)?)
                    .map_err(|e| corrupt(table, "payee", e))?,
            },
            ProviderKind::Group => RosterIdentity::Group {
                group_name: GroupName::parse(required(table, "group_name", &self.group_name)?)
                    .map_err(|e| corrupt(table, "group_name", e))?,
            },
        };
        Ok(RosterEntry {
            provider_id: ProviderId::parse(&self.provider_id)
                .map_err(|e| corrupt(table, "provider_id", e))?,
            tax_id: TaxId::parse(&self.tax_id).map_err(|e| corrupt(table, "tax_id", e))?,
            identity,
            zips: split(table, "zips", &self.zips, Zip::parse)?,
            lines_of_business: split(
                table,
                "lines_of_business",
                &self.lines_of_business,
                LineOfBusiness::parse,
            )?,
            inactive_since: self.inactive_since,
        })
    }
}

/// The columns of an agreement acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAcceptance {
    pub version: String,
    pub content_hash: String,
    pub accepted_at: OffsetDateTime,
    pub client_addr: Option<String>,
}

impl StoredAcceptance {
    pub fn from_acceptance(acceptance: &AgreementAcceptance) -> Self {
        Self {
            version: acceptance.version.as_str().to_owned(),
            content_hash: acceptance.content_hash.clone(),
            accepted_at: acceptance.accepted_at,
            client_addr: acceptance.client_addr.map(|addr| addr.to_string()),
        }
    }

    pub fn into_acceptance(self, table: &str) -> Result<AgreementAcceptance, StoreError> {
        Ok(AgreementAcceptance {
            version: AgreementVersion::parse(&self.version)
                .map_err(|e| corrupt(table, "agreement_version", e))?,
            content_hash: self.content_hash,
            accepted_at: self.accepted_at,
            client_addr: self
                .client_addr
                .map(|addr| {
                    addr.parse::<IpAddr>()
                        .map_err(|e| corrupt(table, "agreement_client_addr", e))
                })
                .transpose()?,
        })
    }
}

/// An account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub provider_kind: String,
    pub tax_id: String,
    pub provider_id: String,
    pub activated_at: Option<OffsetDateTime>,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<OffsetDateTime>,
    pub agreement: StoredAcceptance,
    pub security_question: i64,
    pub security_answer_hash: String,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

impl StoredAccount {
    pub fn into_account(self) -> Result<Account, StoreError> {
        const T: &str = "accounts";
        Ok(Account {
            id: AccountId::new(self.id),
            username: Username::parse(&self.username).map_err(|e| corrupt(T, "username", e))?,
            email: EmailAddress::parse(&self.email).map_err(|e| corrupt(T, "email", e))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            provider: AccountProvider {
                kind: parse_kind(T, &self.provider_kind)?,
                tax_id: TaxId::parse(&self.tax_id).map_err(|e| corrupt(T, "tax_id", e))?,
                provider_id: ProviderId::parse(&self.provider_id)
                    .map_err(|e| corrupt(T, "provider_id", e))?,
            },
            activation: self
                .activated_at
                .map_or(Activation::Pending, |activated_at| Activation::Active {
                    activated_at,
                }),
            disabled: self.disabled,
            lock: LockState {
                failed_count: u32::try_from(self.failed_logins)
                    .map_err(|e| corrupt(T, "failed_logins", e))?,
                locked_until: self.locked_until,
            },
            agreement: self.agreement.into_acceptance(T)?,
            security_question: SecurityQuestionId::parse(self.security_question)
                .map_err(|e| corrupt(T, "security_question", e))?,
            security_answer_hash: PasswordHash::from_phc(self.security_answer_hash),
            created_at: self.created_at,
            last_login_at: self.last_login_at,
        })
    }
}

/// The `state` column of a registration flow.
pub mod flow_state {
    pub const PROVIDER_VERIFIED: &str = "provider_verified";
    pub const AGREEMENT_ACCEPTED: &str = "agreement_accepted";
    pub const FINISHED: &str = "finished";
}

/// A registration flow row: the verified provider, the acceptance (from
/// the agreement step on), and the state's times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlow {
    pub id: String,
    pub version: i64,
    pub state: String,
    pub provider: Option<StoredProvider>,
    pub acceptance: Option<StoredAcceptance>,
    pub expires_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

impl StoredFlow {
    pub fn from_flow(flow: &RegistrationFlow) -> Self {
        let (state, provider, acceptance, expires_at, finished_at) = match &flow.state {
            RegistrationState::ProviderVerified {
                provider,
                expires_at,
            } => (
                flow_state::PROVIDER_VERIFIED,
                Some(provider),
                None,
                Some(*expires_at),
                None,
            ),
            RegistrationState::AgreementAccepted {
                provider,
                acceptance,
                expires_at,
            } => (
                flow_state::AGREEMENT_ACCEPTED,
                Some(provider),
                Some(acceptance),
                Some(*expires_at),
                None,
            ),
            RegistrationState::Finished { finished_at } => {
                (flow_state::FINISHED, None, None, None, Some(*finished_at))
            }
        };
        Self {
            id: flow.id.as_str().to_owned(),
            version: i64::from(flow.version),
            state: state.to_owned(),
            provider: provider.map(StoredProvider::from_entry),
            acceptance: acceptance.map(StoredAcceptance::from_acceptance),
            expires_at,
            finished_at,
        }
    }

    pub fn into_flow(self) -> Result<RegistrationFlow, StoreError> {
        const T: &str = "registration_flows";
        let provider = || -> Result<RosterEntry, StoreError> {
            self.provider
                .clone()
                .ok_or_else(|| corrupt(T, "provider", "missing"))?
                .into_entry(T)
        };
        let expires_at = || {
            self.expires_at
                .ok_or_else(|| corrupt(T, "expires_at", "missing"))
        };
        let state = match self.state.as_str() {
            flow_state::PROVIDER_VERIFIED => RegistrationState::ProviderVerified {
                provider: provider()?,
                expires_at: expires_at()?,
            },
            flow_state::AGREEMENT_ACCEPTED => RegistrationState::AgreementAccepted {
                provider: provider()?,
                acceptance: self
                    .acceptance
                    .clone()
                    .ok_or_else(|| corrupt(T, "agreement", "missing"))?
                    .into_acceptance(T)?,
                expires_at: expires_at()?,
            },
            flow_state::FINISHED => RegistrationState::Finished {
                finished_at: self
                    .finished_at
                    .ok_or_else(|| corrupt(T, "finished_at", "missing"))?,
            },
            other => return Err(corrupt(T, "state", other)),
        };
        Ok(RegistrationFlow {
            id: RegistrationId::parse(&self.id).map_err(|e| corrupt(T, "id", e))?,
            state,
            version: u32::try_from(self.version).map_err(|e| corrupt(T, "version", e))?,
        })
    }
}

/// An outbox row's message columns. `token` holds the link's token until
/// the email is delivered or given up, then the store clears it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredEmail {
    pub recipient: String,
    pub username: String,
    pub kind: String,
    pub token: Option<String>,
}

/// The link's token is a credential: `Debug` tells only whether there is one.
impl std::fmt::Debug for StoredEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEmail")
            .field("recipient", &self.recipient)
            .field("username", &self.username)
            .field("kind", &self.kind)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl StoredEmail {
    pub fn from_email(email: &Email) -> Self {
        Self {
            recipient: email.to.as_str().to_owned(),
            username: email.username.as_str().to_owned(),
            kind: email.kind.name().to_owned(),
            token: email.kind.token().map(|t| t.expose().to_owned()),
        }
    }

    pub fn into_email(self) -> Result<Email, StoreError> {
        const T: &str = "email_outbox";
        let token = || -> Result<RawToken, StoreError> {
            RawToken::parse(required(T, "token", &self.token)?).map_err(|e| corrupt(T, "token", e))
        };
        let kind = match self.kind.as_str() {
            "activation" => EmailKind::Activation { token: token()? },
            "password_reset" => EmailKind::PasswordReset { token: token()? },
            "email_change" => EmailKind::EmailChange { token: token()? },
            other => EmailKind::without_token(other).ok_or_else(|| corrupt(T, "kind", other))?,
        };
        Ok(Email {
            to: EmailAddress::parse(&self.recipient).map_err(|e| corrupt(T, "recipient", e))?,
            username: Username::parse(&self.username).map_err(|e| corrupt(T, "username", e))?,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::tests::practitioner;
    use time::Duration;

    #[test]
    fn queued_emails_never_print_their_token() {
        let email = StoredEmail {
            recipient: "frontdesk@example.org".to_owned(),
            username: "dr.doe".to_owned(),
            kind: "password_reset".to_owned(),
            token: Some("link-token-secret-77".to_owned()),
        };
        let text = format!("{email:?}");
        assert!(!text.contains("link-token-secret-77"), "{text}");
        assert!(
            text.contains("[REDACTED]") && text.contains("dr.doe"),
            "{text}"
        );
    }

    #[test]
    fn providers_round_trip() {
        let entry = practitioner(Payee::Group);
        assert_eq!(
            StoredProvider::from_entry(&entry).into_entry("t").unwrap(),
            entry
        );
    }

    #[test]
    fn flows_round_trip_in_every_state() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let flow = RegistrationFlow::start(
            RegistrationId::from_random_bytes([3; 16]),
            practitioner(Payee::Individual),
            now,
            Duration::minutes(30),
        );
        let acceptance = AgreementAcceptance {
            version: AgreementVersion::sample(),
            content_hash: "00".repeat(32),
            accepted_at: now,
            client_addr: Some(IpAddr::from([127, 0, 0, 1])),
        };
        let accepted = flow
            .accept_agreement(acceptance, now, Duration::minutes(30))
            .unwrap();
        let finished = accepted.finish(now).unwrap().0;
        for f in [flow, accepted, finished] {
            assert_eq!(StoredFlow::from_flow(&f).into_flow().unwrap(), f);
        }
    }

    #[test]
    fn corrupt_rows_name_their_column() {
        let mut stored = StoredProvider::from_entry(&practitioner(Payee::Individual));
        stored.tax_id = "12".to_owned();
        let error = stored.into_entry("roster_entries").unwrap_err();
        assert_eq!(
            error,
            StoreError::Unexpected("corrupt roster_entries.tax_id: expected 9 digits".to_owned())
        );
    }

    #[test]
    fn emails_round_trip_with_their_token() {
        let email = Email {
            to: EmailAddress::parse("a@b.org").unwrap(),
            username: Username::parse("dr.doe").unwrap(),
            kind: EmailKind::PasswordReset {
                token: RawToken::from_random_bytes([9; 32]),
            },
        };
        let back = StoredEmail::from_email(&email).into_email().unwrap();
        assert_eq!(
            back.kind.token().map(RawToken::hash),
            email.kind.token().map(RawToken::hash)
        );
        let mut no_token = StoredEmail::from_email(&email);
        no_token.token = None;
        assert!(no_token.into_email().is_err());
    }

    #[test]
    fn notices_and_email_changes_round_trip() {
        use crate::email::SecurityNotice;
        let token = RawToken::from_random_bytes([4; 32]);
        let mut kinds: Vec<EmailKind> = SecurityNotice::ALL.map(EmailKind::Notice).to_vec();
        kinds.push(EmailKind::EmailChange { token });
        for kind in kinds {
            let email = Email {
                to: EmailAddress::parse("a@b.org").unwrap(),
                username: Username::parse("dr.doe").unwrap(),
                kind,
            };
            let stored = StoredEmail::from_email(&email);
            assert_eq!(stored.token.is_some(), email.kind.token().is_some());
            let back = stored.into_email().unwrap();
            assert_eq!(back.kind.name(), email.kind.name());
            assert_eq!(
                back.kind.token().map(RawToken::hash),
                email.kind.token().map(RawToken::hash)
            );
        }
    }
}
