//! The provider roster and roster matching (SPEC §2, §3 step 1).
//!
//! Matching answers, in this order: not found (no entry for the Tax ID +
//! Provider ID), mismatch (name or ZIP differ), wrong provider type (a
//! practitioner paid under a Group Payee ID registering as Practitioner),
//! and only then verified. `already_registered` is decided by the registration
//! use case, which knows the accounts; see [`crate::service`].

use time::OffsetDateTime;

use crate::values::{
    GroupName, LineOfBusiness, Payee, PersonName, ProviderId, ProviderKind, TaxId, Zip,
};

/// Who a roster entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterIdentity {
    Practitioner {
        first_name: PersonName,
        last_name: PersonName,
        payee: Payee,
    },
    Group {
        group_name: GroupName,
    },
}

/// One contracted provider on the plan's roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub provider_id: ProviderId,
    pub tax_id: TaxId,
    pub identity: RosterIdentity,
    /// Every ZIP of every address on the provider's profile; never empty.
    pub zips: Vec<Zip>,
    pub lines_of_business: Vec<LineOfBusiness>,
    /// `None` while active; the time a `--replace` import left it out.
    pub inactive_since: Option<OffsetDateTime>,
}

impl RosterEntry {
    pub fn kind(&self) -> ProviderKind {
        match self.identity {
            RosterIdentity::Practitioner { .. } => ProviderKind::Practitioner,
            RosterIdentity::Group { .. } => ProviderKind::Group,
        }
    }

    pub fn is_active(&self) -> bool {
        self.inactive_since.is_none()
    }

    /// "First Last" for a practitioner, the group name for a group.
    pub fn display_name(&self) -> String {
        match &self.identity {
            RosterIdentity::Practitioner {
                first_name,
                last_name,
                ..
            } => format!("{first_name} {last_name}"),
            RosterIdentity::Group { group_name } => group_name.to_string(),
        }
    }

    /// The registrant this entry would be registered as.
    pub fn registrant_key(&self) -> RegistrantKey {
        match self.identity {
            RosterIdentity::Practitioner { .. } => {
                RegistrantKey::Practitioner(self.provider_id.clone())
            }
            RosterIdentity::Group { .. } => {
                RegistrantKey::Group(self.tax_id.clone(), self.provider_id.clone())
            }
        }
    }

    fn has_zip(&self, zip: &Zip) -> bool {
        self.zips.iter().any(|known| known == zip)
    }
}

/// What one account is held against: one account per practitioner
/// `provider_id`, one per group (`tax_id`, `provider_id`) (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegistrantKey {
    Practitioner(ProviderId),
    Group(TaxId, ProviderId),
}

impl RegistrantKey {
    /// A stable text form for a unique database column: `p:ID` or `g:TAX:ID`.
    pub fn to_storage_key(&self) -> String {
        match self {
            Self::Practitioner(id) => format!("p:{id}"),
            Self::Group(tax, id) => format!("g:{tax}:{id}"),
        }
    }
}

/// The provider details a registrant enters in step 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofingRequest {
    Practitioner {
        provider_id: ProviderId,
        tax_id: TaxId,
        first_name: PersonName,
        last_name: PersonName,
        zip: Zip,
    },
    Group {
        group_name: GroupName,
        tax_id: TaxId,
        provider_id: ProviderId,
        zip: Zip,
    },
}

impl ProofingRequest {
    pub fn tax_id(&self) -> &TaxId {
        match self {
            Self::Practitioner { tax_id, .. } | Self::Group { tax_id, .. } => tax_id,
        }
    }

    pub fn provider_id(&self) -> &ProviderId {
        match self {
            Self::Practitioner { provider_id, .. } | Self::Group { provider_id, .. } => provider_id,
        }
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Practitioner { .. } => ProviderKind::Practitioner,
            Self::Group { .. } => ProviderKind::Group,
        }
    }
}

/// The roster's answer to a [`ProofingRequest`], before accounts are consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterMatch {
    /// The entry matches what the registrant typed.
    Verified(Box<RosterEntry>),
    /// No active entry for that Tax ID + Provider ID.
    NotFound,
    /// An entry exists but the name or ZIP differ.
    Mismatch,
    /// A practitioner paid under a Group Payee ID: register as Group.
    WrongProviderType,
}

/// Matches a request against the entry found for its Tax ID + Provider ID.
///
/// An inactive entry answers as not found: a provider that left the roster
/// cannot be registered, and nothing tells it apart from one never there.
pub fn match_roster(request: &ProofingRequest, entry: Option<&RosterEntry>) -> RosterMatch {
    let Some(entry) = entry.filter(|e| e.is_active()) else {
        return RosterMatch::NotFound;
    };
    if entry.tax_id != *request.tax_id() || entry.provider_id != *request.provider_id() {
        return RosterMatch::NotFound;
    }
    match (request, &entry.identity) {
        (
            ProofingRequest::Practitioner {
                first_name,
                last_name,
                zip,
                ..
            },
            RosterIdentity::Practitioner {
                first_name: roster_first,
                last_name: roster_last,
                payee,
            },
        ) => {
            if first_name != roster_first || last_name != roster_last || !entry.has_zip(zip) {
                RosterMatch::Mismatch
            } else if *payee == Payee::Group {
                RosterMatch::WrongProviderType
            } else {
                RosterMatch::Verified(Box::new(entry.clone()))
            }
        }
        (
            ProofingRequest::Group {
                group_name, zip, ..
            },
            RosterIdentity::Group {
                group_name: roster_name,
            },
        ) => {
            if group_name == roster_name && entry.has_zip(zip) {
                RosterMatch::Verified(Box::new(entry.clone()))
            } else {
                RosterMatch::Mismatch
            }
        }
        // A group's entry has no first and last name, a practitioner's no
        // group name: the names cannot match.
        (ProofingRequest::Practitioner { .. }, RosterIdentity::Group { .. })
        | (ProofingRequest::Group { .. }, RosterIdentity::Practitioner { .. }) => {
            RosterMatch::Mismatch
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn practitioner(payee: Payee) -> RosterEntry {
        RosterEntry {
            provider_id: ProviderId::parse("P1001").unwrap(),
            tax_id: TaxId::parse("12-3456789").unwrap(),
            identity: RosterIdentity::Practitioner {
                first_name: PersonName::parse("Jane").unwrap(),
                last_name: PersonName::parse("Doe").unwrap(),
                payee,
            },
            zips: vec![Zip::parse("45202").unwrap(), Zip::parse("45011").unwrap()],
            lines_of_business: vec![LineOfBusiness::Medicaid],
            inactive_since: None,
        }
    }

    fn group() -> RosterEntry {
        RosterEntry {
            provider_id: ProviderId::parse("G2001").unwrap(),
            tax_id: TaxId::parse("123456789").unwrap(),
            identity: RosterIdentity::Group {
                group_name: GroupName::parse("Acme Health Group").unwrap(),
            },
            zips: vec![Zip::parse("45202").unwrap()],
            lines_of_business: vec![LineOfBusiness::Medicaid, LineOfBusiness::Marketplace],
            inactive_since: None,
        }
    }

    fn practitioner_request(first: &str, zip: &str) -> ProofingRequest {
        ProofingRequest::Practitioner {
            provider_id: ProviderId::parse("p1001").unwrap(),
            tax_id: TaxId::parse("123456789").unwrap(),
            first_name: PersonName::parse(first).unwrap(),
            last_name: PersonName::parse("DOE").unwrap(),
            zip: Zip::parse(zip).unwrap(),
        }
    }

    #[test]
    fn any_zip_of_the_entry_matches() {
        let entry = practitioner(Payee::Individual);
        assert!(matches!(
            match_roster(&practitioner_request("jane", "45011-1234"), Some(&entry)),
            RosterMatch::Verified(_)
        ));
        assert_eq!(
            match_roster(&practitioner_request("jane", "99999"), Some(&entry)),
            RosterMatch::Mismatch
        );
    }

    #[test]
    fn name_differs_is_mismatch() {
        let entry = practitioner(Payee::Individual);
        assert_eq!(
            match_roster(&practitioner_request("Janet", "45202"), Some(&entry)),
            RosterMatch::Mismatch
        );
    }

    #[test]
    fn practitioner_paid_under_group_is_told_to_register_as_group() {
        let entry = practitioner(Payee::Group);
        assert_eq!(
            match_roster(&practitioner_request("Jane", "45202"), Some(&entry)),
            RosterMatch::WrongProviderType
        );
        // A mismatch is answered before the type: nothing is revealed to
        // someone who cannot match the entry.
        assert_eq!(
            match_roster(&practitioner_request("Jim", "45202"), Some(&entry)),
            RosterMatch::Mismatch
        );
    }

    #[test]
    fn no_entry_or_inactive_entry_is_not_found() {
        assert_eq!(
            match_roster(&practitioner_request("Jane", "45202"), None),
            RosterMatch::NotFound
        );
        let mut entry = practitioner(Payee::Individual);
        entry.inactive_since = Some(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            match_roster(&practitioner_request("Jane", "45202"), Some(&entry)),
            RosterMatch::NotFound
        );
    }

    #[test]
    fn group_request_must_name_the_groups_own_entry() {
        let request = ProofingRequest::Group {
            group_name: GroupName::parse("ACME   health group").unwrap(),
            tax_id: TaxId::parse("12-3456789").unwrap(),
            provider_id: ProviderId::parse("G2001").unwrap(),
            zip: Zip::parse("45202").unwrap(),
        };
        assert!(matches!(
            match_roster(&request, Some(&group())),
            RosterMatch::Verified(_)
        ));
        let naming_a_practitioner = ProofingRequest::Group {
            group_name: GroupName::parse("Jane Doe").unwrap(),
            tax_id: TaxId::parse("12-3456789").unwrap(),
            provider_id: ProviderId::parse("P1001").unwrap(),
            zip: Zip::parse("45202").unwrap(),
        };
        assert_eq!(
            match_roster(&naming_a_practitioner, Some(&practitioner(Payee::Group))),
            RosterMatch::Mismatch
        );
    }

    #[test]
    fn registrant_keys() {
        assert_eq!(
            practitioner(Payee::Individual)
                .registrant_key()
                .to_storage_key(),
            "p:P1001"
        );
        assert_eq!(
            group().registrant_key().to_storage_key(),
            "g:123456789:G2001"
        );
    }
}
