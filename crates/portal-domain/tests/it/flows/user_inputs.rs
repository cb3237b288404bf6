//! The password policy's user inputs: the same at registration, at a
//! change and at a reset (SPEC §6), the provider's names included.

use portal_domain::password_policy::PolicyViolations;
use portal_domain::testing::InMemoryRoster;
use portal_domain::values::Payee;

use super::*;

/// The provider's last name and some digits: strong enough for zxcvbn
/// unless it knows the name.
const NAME_AND_DIGITS: &str = "Przybyszewski!2024";

/// A portal whose roster also holds Zbigniew Przybyszewski, P1009.
fn portal_with_a_rare_name() -> TestPortal {
    let mut rare = sample::jane_doe();
    rare.provider_id = ProviderId::parse("P1009").unwrap();
    rare.identity = RosterIdentity::Practitioner {
        first_name: PersonName::parse("Zbigniew").unwrap(),
        last_name: PersonName::parse("Przybyszewski").unwrap(),
        payee: Payee::Individual,
    };
    let mut entries = sample::entries();
    entries.push(rare);
    TestPortal::new(InMemoryRoster::with(entries))
}

fn rare_request() -> ProofingRequest {
    practitioner("P1009", "Zbigniew", "Przybyszewski", "45202")
}

fn weak_for_the_name(violations: &PolicyViolations) -> bool {
    violations.codes().contains(&"too_weak")
}

#[tokio::test]
async fn the_name_alone_does_not_make_the_password_weak() {
    let p = portal();
    let started = p
        .start_registration(sample::practitioner_request(), CTX)
        .await
        .unwrap();
    p.accept_agreement(started.id.as_str(), agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    let mut input = sample::account_input_for("dr.doe");
    input.password = password(NAME_AND_DIGITS);
    p.create_account(started.id.as_str(), Ok(input), CTX)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_providers_name_is_refused_at_registration() {
    let p = portal_with_a_rare_name();
    let started = p.start_registration(rare_request(), CTX).await.unwrap();
    p.accept_agreement(started.id.as_str(), agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    let mut input = sample::account_input_for("dr.p");
    input.password = password(NAME_AND_DIGITS);
    let Err(CreateAccountStepError::PasswordPolicy(v)) =
        p.create_account(started.id.as_str(), Ok(input), CTX).await
    else {
        panic!("expected a policy refusal")
    };
    assert!(weak_for_the_name(&v), "{v:?}");
}

async fn rare_account(p: &TestPortal) {
    register(p, rare_request(), "dr.p").await;
    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_providers_name_is_refused_at_a_change() {
    let p = portal_with_a_rare_name();
    rare_account(&p).await;
    let session = p.login("dr.p", sample::PASSWORD, CTX).await.unwrap();
    let auth = p.authenticate(session.token.expose()).await.unwrap();
    let Err(PasswordChangeError::PasswordPolicy(v)) = p
        .change_password(
            &auth,
            &password(sample::PASSWORD),
            &password(NAME_AND_DIGITS),
            CTX,
        )
        .await
    else {
        panic!("expected a policy refusal")
    };
    assert!(weak_for_the_name(&v), "{v:?}");
}

#[tokio::test]
async fn the_providers_name_is_refused_at_a_reset() {
    let p = portal_with_a_rare_name();
    rare_account(&p).await;
    p.request_password_reset("dr.p", CTX).await.unwrap();
    let token = p.last_link_token().unwrap();
    let Err(ResetConfirmError::PasswordPolicy(v)) = p
        .confirm_password_reset(&token, &password(NAME_AND_DIGITS), CTX)
        .await
    else {
        panic!("expected a policy refusal")
    };
    assert!(weak_for_the_name(&v), "{v:?}");
}
