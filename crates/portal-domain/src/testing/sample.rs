//! Sample roster entries and inputs shared by tests, examples and the
//! contract suite.

use crate::roster::{ProofingRequest, RosterEntry, RosterIdentity};
use crate::service::AccountInput;
use crate::values::{
    EmailAddress, GroupName, LineOfBusiness, Password, Payee, PersonName, ProviderId,
    SecurityAnswer, SecurityQuestionId, TaxId, Username, Zip,
};

use super::InMemoryRoster;

/// A password that meets the default policy for [`account_input`].
pub const PASSWORD: &str = "Quartz-Harbor-71-Lantern";

/// The Tax ID every sample provider is paid under.
pub const TAX_ID: &str = "12-3456789";

// Sample data is fixed and valid: a failure here is a bug in this file,
// reported at once by every test that uses it.
#[allow(clippy::expect_used)]
fn parse<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.expect("sample data is valid")
}

fn practitioner_entry(
    provider_id: &str,
    first: &str,
    last: &str,
    payee: Payee,
    zips: &[&str],
) -> RosterEntry {
    RosterEntry {
        provider_id: parse(ProviderId::parse(provider_id)),
        tax_id: parse(TaxId::parse(TAX_ID)),
        identity: RosterIdentity::Practitioner {
            first_name: parse(PersonName::parse(first)),
            last_name: parse(PersonName::parse(last)),
            payee,
        },
        zips: zips.iter().map(|z| parse(Zip::parse(z))).collect(),
        lines_of_business: vec![LineOfBusiness::Medicaid],
        inactive_since: None,
    }
}

/// Jane Doe, P1001, paid individually, at 45202 and 45011.
pub fn jane_doe() -> RosterEntry {
    practitioner_entry(
        "P1001",
        "Jane",
        "Doe",
        Payee::Individual,
        &["45202", "45011"],
    )
}

/// John Roe, P1002, paid under the group's Group Payee ID.
pub fn john_roe() -> RosterEntry {
    practitioner_entry("P1002", "John", "Roe", Payee::Group, &["45202"])
}

/// Acme Health Group, G2001, the group both practitioners work for.
pub fn acme_group() -> RosterEntry {
    RosterEntry {
        provider_id: parse(ProviderId::parse("G2001")),
        tax_id: parse(TaxId::parse(TAX_ID)),
        identity: RosterIdentity::Group {
            group_name: parse(GroupName::parse("Acme Health Group")),
        },
        zips: vec![parse(Zip::parse("45202"))],
        lines_of_business: vec![LineOfBusiness::Medicaid, LineOfBusiness::Marketplace],
        inactive_since: None,
    }
}

/// The three sample providers.
pub fn entries() -> Vec<RosterEntry> {
    vec![jane_doe(), john_roe(), acme_group()]
}

pub fn roster() -> InMemoryRoster {
    InMemoryRoster::with(entries())
}

/// Jane Doe's details as she types them (case and ZIP+4 differ harmlessly).
pub fn practitioner_request() -> ProofingRequest {
    ProofingRequest::Practitioner {
        provider_id: parse(ProviderId::parse("p1001")),
        tax_id: parse(TaxId::parse("123456789")),
        first_name: parse(PersonName::parse("jane")),
        last_name: parse(PersonName::parse("DOE")),
        zip: parse(Zip::parse("45011-1234")),
    }
}

/// The group's details.
pub fn group_request() -> ProofingRequest {
    ProofingRequest::Group {
        group_name: parse(GroupName::parse("acme health group")),
        tax_id: parse(TaxId::parse(TAX_ID)),
        provider_id: parse(ProviderId::parse("G2001")),
        zip: parse(Zip::parse("45202")),
    }
}

/// Account details for `dr.doe`.
pub fn account_input() -> AccountInput {
    account_input_for("dr.doe")
}

pub fn account_input_for(username: &str) -> AccountInput {
    AccountInput {
        username: parse(Username::parse(username)),
        password: parse(Password::parse(PASSWORD)),
        email: parse(EmailAddress::parse("frontdesk@doeclinic.example.org")),
        security_question: parse(SecurityQuestionId::parse(1)),
        security_answer: parse(SecurityAnswer::parse("Fluffy")),
    }
}
