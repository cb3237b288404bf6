//! Every domain behaviour of SPEC §2–7, through the use cases over the
//! in-memory adapters.

use std::net::IpAddr;

use portal_domain::account::AccountStatus;
use portal_domain::audit::{AuditAction, AuditFilter};
use portal_domain::prelude::*;
use portal_domain::registration::StateName;
use portal_domain::service::{
    Agreement, LinkActivation, LoggedIn, PasswordChangeError, SupportCheck, SupportError,
};
use portal_domain::testing::{TestPortal, sample};
use time::Duration;

const CTX: RequestContext = RequestContext {
    client_addr: Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9))),
};
const NEW_PASSWORD: &str = "Saffron-Glacier-88-Tulip";

fn portal() -> TestPortal {
    TestPortal::new(sample::roster())
}

fn password(text: &str) -> Password {
    Password::parse(text).unwrap()
}

fn agree(version: &AgreementVersion) -> Result<AgreementInput, InvalidInput> {
    Ok(AgreementInput {
        accepted: true,
        version: version.clone(),
    })
}

/// Registers `username` for `request` up to `pending_activation`.
async fn register(p: &TestPortal, request: ProofingRequest, username: &str) -> Account {
    let started = p.start_registration(request, CTX).await.unwrap();
    p.accept_agreement(started.id.as_str(), agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    p.create_account(
        started.id.as_str(),
        Ok(sample::account_input_for(username)),
        CTX,
    )
    .await
    .unwrap()
}

/// Registers and activates `dr.doe` as Jane Doe.
async fn active_account(p: &TestPortal) -> Account {
    register(p, sample::practitioner_request(), "dr.doe").await;
    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap()
}

/// Logs `dr.doe` in with the sample password.
async fn logged_in(p: &TestPortal) -> LoggedIn {
    p.login("dr.doe", sample::PASSWORD, CTX).await.unwrap()
}

/// A session of `dr.doe`, logged in with the sample password.
async fn session(p: &TestPortal) -> portal_domain::service::Authenticated {
    let token = logged_in(p).await.token;
    p.authenticate(token.expose()).await.unwrap()
}

/// The password step of a login that must go on to a second step.
async fn challenged(p: &TestPortal) -> portal_domain::service::IssuedChallenge {
    match p.login("dr.doe", sample::PASSWORD, CTX).await {
        Err(LoginError::SecondStepRequired(challenge)) => challenge,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// Whether `dr.doe` can log in with `text`.
async fn logs_in(p: &TestPortal, text: &str) -> bool {
    p.login("dr.doe", text, CTX).await.is_ok()
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

mod activation;
mod audit;
mod login;
mod mfa;
mod operator;
mod passkeys;
mod password_change;
mod races;
mod registration;
mod rehash;
mod reset;
mod scope;
mod sessions;
mod settings;
mod support;
mod user_inputs;
