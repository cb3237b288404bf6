//! Registration: the three steps, proofing against the roster, and their limits.

use super::*;
use portal_domain::service::Started;

/// Jane Doe's registration, started.
async fn jane_started(p: &TestPortal) -> Started {
    p.start_registration(sample::practitioner_request(), CTX)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_refusals_come_in_the_specs_order() {
    let p = portal();
    let not_found = p
        .start_registration(practitioner("P9999", "Jane", "Doe", "45202"), CTX)
        .await;
    let Err(StartError::ProviderNotFound { help_lines }) = not_found else {
        panic!("{not_found:?}")
    };
    assert_eq!(help_lines[0].phone, "1-855-202-1058");
    assert_eq!(help_lines[1].phone, "1-833-230-2030");
    assert_eq!(
        p.start_registration(practitioner("P1001", "Janet", "Doe", "45202"), CTX)
            .await
            .err(),
        Some(StartError::ProviderMismatch)
    );
    assert_eq!(
        p.start_registration(practitioner("P1001", "Jane", "Doe", "99999"), CTX)
            .await
            .err(),
        Some(StartError::ProviderMismatch)
    );
    // John Roe is paid under the group: the welcome-letter tip, as an answer.
    assert_eq!(
        p.start_registration(practitioner("P1002", "John", "Roe", "45202"), CTX)
            .await
            .err(),
        Some(StartError::WrongProviderType)
    );
    // ... but a mismatch is answered first, revealing nothing.
    assert_eq!(
        p.start_registration(practitioner("P1002", "Jim", "Roe", "45202"), CTX)
            .await
            .err(),
        Some(StartError::ProviderMismatch)
    );
    register(&p, sample::practitioner_request(), "dr.doe").await;
    // A pending account does not hold the provider; an activated one does.
    assert!(
        p.start_registration(sample::practitioner_request(), CTX)
            .await
            .is_ok()
    );
    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap();
    assert_eq!(
        p.start_registration(sample::practitioner_request(), CTX)
            .await
            .err(),
        Some(StartError::AlreadyRegistered {
            pending_activation: false
        })
    );
}

#[tokio::test]
async fn a_group_registers_with_its_own_entry() {
    let p = portal();
    let started = p
        .start_registration(sample::group_request(), CTX)
        .await
        .unwrap();
    assert_eq!(started.state, StateName::ProviderVerified);
    assert_eq!(started.expires_at, p.clock.now() + Duration::minutes(30));
    let naming_a_practitioner = ProofingRequest::Group {
        group_name: GroupName::parse("Acme Health Group").unwrap(),
        tax_id: TaxId::parse(sample::TAX_ID).unwrap(),
        provider_id: ProviderId::parse("P1002").unwrap(),
        zip: Zip::parse("45202").unwrap(),
    };
    assert_eq!(
        p.start_registration(naming_a_practitioner, CTX).await.err(),
        Some(StartError::ProviderMismatch)
    );
}

#[tokio::test]
async fn proofing_is_limited_per_provider_for_an_hour() {
    let p = portal();
    for _ in 0..10 {
        assert_eq!(
            p.start_registration(practitioner("P1001", "Wrong", "Name", "45202"), CTX)
                .await
                .err(),
            Some(StartError::ProviderMismatch)
        );
    }
    p.clock.advance(Duration::minutes(10));
    // Even the right details are refused now, with the time until the
    // oldest mismatch leaves the window.
    let limited = p
        .start_registration(sample::practitioner_request(), CTX)
        .await;
    assert_eq!(
        limited.err(),
        Some(StartError::ProofingLimited {
            retry_after: Duration::minutes(50)
        })
    );
    // Other providers are not affected.
    assert!(
        p.start_registration(sample::group_request(), CTX)
            .await
            .is_ok()
    );
    p.clock.advance(Duration::minutes(50));
    assert!(
        p.start_registration(sample::practitioner_request(), CTX)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_proofing_limit_can_be_turned_off() {
    let settings = PortalSettings {
        proofing_max_failed: 0,
        ..PortalSettings::default()
    };
    let p = TestPortal::with_settings(sample::roster(), settings);
    for _ in 0..12 {
        p.start_registration(practitioner("P1001", "Wrong", "Name", "45202"), CTX)
            .await
            .unwrap_err();
    }
    assert!(
        p.start_registration(sample::practitioner_request(), CTX)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn steps_out_of_order_repeated_or_unknown_are_refused() {
    let p = portal();
    let started = jane_started(&p).await;
    let id = started.id.as_str();
    assert_eq!(
        p.create_account(id, Ok(sample::account_input()), CTX)
            .await
            .err(),
        Some(CreateAccountStepError::InvalidTransition)
    );
    assert_eq!(
        p.accept_agreement(id, agree(&started.agreement_version), CTX)
            .await,
        Ok(StateName::AgreementAccepted)
    );
    assert_eq!(
        p.accept_agreement(id, agree(&started.agreement_version), CTX)
            .await
            .err(),
        Some(AgreementStepError::InvalidTransition)
    );
    p.create_account(id, Ok(sample::account_input()), CTX)
        .await
        .unwrap();
    assert_eq!(
        p.create_account(id, Ok(sample::account_input()), CTX)
            .await
            .err(),
        Some(CreateAccountStepError::AlreadyCreated),
        "a finished flow answers 409 invalid_transition, never 410"
    );
    p.clock.advance(Duration::days(2));
    assert_eq!(
        p.create_account(id, Ok(sample::account_input()), CTX)
            .await
            .err(),
        Some(CreateAccountStepError::AlreadyCreated)
    );
    for unknown in ["0123456789abcdef0123456789abcdef", "not-an-id", ""] {
        assert_eq!(
            p.accept_agreement(unknown, agree(&started.agreement_version), CTX)
                .await
                .err(),
            Some(AgreementStepError::NotFound)
        );
        assert_eq!(
            p.create_account(unknown, Ok(sample::account_input()), CTX)
                .await
                .err(),
            Some(CreateAccountStepError::NotFound)
        );
    }
}

#[tokio::test]
async fn expiry_is_checked_first_and_each_step_restarts_it() {
    let p = portal();
    let started = jane_started(&p).await;
    let id = started.id.as_str();
    p.clock.advance(Duration::minutes(29));
    p.accept_agreement(id, agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    p.clock.advance(Duration::minutes(29));
    // 58 minutes after the start, 29 after the last step: still open.
    let invalid = Err(InvalidInput::single("username", "is required"));
    assert!(matches!(
        p.create_account(id, invalid.clone(), CTX).await,
        Err(CreateAccountStepError::InvalidInput(_))
    ));
    p.clock.advance(Duration::minutes(1));
    // Expired: 410 even for invalid input.
    assert_eq!(
        p.create_account(id, invalid, CTX).await.err(),
        Some(CreateAccountStepError::Expired)
    );
    assert_eq!(
        p.create_account(id, Ok(sample::account_input()), CTX)
            .await
            .err(),
        Some(CreateAccountStepError::Expired)
    );
    assert_eq!(
        p.accept_agreement(id, agree(&started.agreement_version), CTX)
            .await
            .err(),
        Some(AgreementStepError::Expired)
    );
}

#[tokio::test]
async fn the_agreement_must_be_the_current_one_and_accepted() {
    let p = portal();
    let started = jane_started(&p).await;
    let id = started.id.as_str();
    let declined = Ok(AgreementInput {
        accepted: false,
        version: started.agreement_version.clone(),
    });
    assert_eq!(
        p.accept_agreement(id, declined, CTX).await.err(),
        Some(AgreementStepError::AgreementNotAccepted)
    );
    let old = Ok(AgreementInput {
        accepted: true,
        version: AgreementVersion::parse("0").unwrap(),
    });
    assert_eq!(
        p.accept_agreement(id, old, CTX).await.err(),
        Some(AgreementStepError::AgreementNotAccepted)
    );
    // A refused step changed nothing: the flow can still go on.
    p.accept_agreement(id, agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    let account = p
        .create_account(id, Ok(sample::account_input()), CTX)
        .await
        .unwrap();
    assert_eq!(account.agreement.version, started.agreement_version);
    assert_eq!(
        account.agreement.content_hash,
        p.settings().agreement.content_hash
    );
    assert_eq!(account.agreement.client_addr, CTX.client_addr);
}

#[tokio::test]
async fn account_errors_come_in_the_specs_order() {
    let p = portal();
    register(&p, sample::group_request(), "taken.name").await;
    let started = jane_started(&p).await;
    let id = started.id.as_str();
    p.accept_agreement(id, agree(&started.agreement_version), CTX)
        .await
        .unwrap();

    let mut weak = sample::account_input_for("taken.name");
    weak.password = password("short");
    let Err(CreateAccountStepError::PasswordPolicy(violations)) =
        p.create_account(id, Ok(weak), CTX).await
    else {
        panic!("the policy is checked before the username")
    };
    assert_eq!(
        violations.codes(),
        vec!["min_length", "uppercase", "digit", "symbol", "too_weak"]
    );

    let mut obvious = sample::account_input_for("taken.name");
    obvious.security_answer = SecurityAnswer::parse(" TAKEN.name ").unwrap();
    let Err(CreateAccountStepError::InvalidInput(errors)) =
        p.create_account(id, Ok(obvious), CTX).await
    else {
        panic!("an answer equal to the username is invalid input")
    };
    assert_eq!(errors.0[0].field, "security_answer");

    let mut same_as_password = sample::account_input_for("fresh.name");
    same_as_password.security_answer = SecurityAnswer::parse(sample::PASSWORD).unwrap();
    assert!(matches!(
        p.create_account(id, Ok(same_as_password), CTX).await,
        Err(CreateAccountStepError::InvalidInput(_))
    ));

    assert_eq!(
        p.create_account(id, Ok(sample::account_input_for("TAKEN.NAME")), CTX)
            .await
            .err(),
        Some(CreateAccountStepError::UsernameTaken)
    );
    // Every refusal left the flow where it was.
    let account = p
        .create_account(id, Ok(sample::account_input_for("fresh.name")), CTX)
        .await
        .unwrap();
    assert_eq!(
        account.status(p.clock.now()),
        AccountStatus::PendingActivation
    );
}

#[tokio::test]
async fn the_provider_is_claimed_when_an_account_is_activated() {
    let p = portal();
    let flows = [
        jane_started(&p).await,
        jane_started(&p).await,
        jane_started(&p).await,
    ];
    for flow in &flows {
        p.accept_agreement(flow.id.as_str(), agree(&flow.agreement_version), CTX)
            .await
            .unwrap();
    }
    let second = p
        .create_account(
            flows[1].id.as_str(),
            Ok(sample::account_input_for("second")),
            CTX,
        )
        .await
        .unwrap();
    // Still pending: a newer flow replaces it.
    let first = p
        .create_account(
            flows[0].id.as_str(),
            Ok(sample::account_input_for("first")),
            CTX,
        )
        .await
        .unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(
        p.store.account_by_id(second.id).await.unwrap(),
        None,
        "one account per registrant"
    );
    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap();
    assert_eq!(
        p.create_account(
            flows[2].id.as_str(),
            Ok(sample::account_input_for("third")),
            CTX
        )
        .await
        .err(),
        Some(CreateAccountStepError::AlreadyRegistered {
            pending_activation: false
        })
    );
}

/// SPEC §3 step 1: a mistyped email is corrected by registering again; the
/// old link is dead, the username may be kept, and the replacement is
/// audited.
#[tokio::test]
async fn registering_again_replaces_a_pending_account() {
    let p = portal();
    let mistyped = register(&p, sample::practitioner_request(), "dr.doe").await;
    let old_link = p.last_link_token().unwrap();
    let corrected = register(&p, sample::practitioner_request(), "dr.doe").await;
    assert_ne!(corrected.id, mistyped.id);
    assert_eq!(p.store.account_by_id(mistyped.id).await.unwrap(), None);
    let new_link = p.last_link_token().unwrap();
    assert_ne!(old_link, new_link);
    assert_eq!(
        p.activate(&old_link, CTX).await.err(),
        Some(ActivationError::InvalidToken)
    );
    assert_eq!(
        p.activate_link(&old_link, CTX).await.err(),
        Some(ActivationError::InvalidToken),
        "the old link is unknown, not 'already active'"
    );
    let emails = p.store.emails();
    assert_eq!(
        emails
            .iter()
            .filter(|e| e.kind.name() == "activation")
            .count(),
        2,
        "the new account gets its own activation email"
    );
    assert_eq!(p.activate(&new_link, CTX).await.unwrap().id, corrected.id);
    let replaced: Vec<_> = p
        .store
        .audit_events(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::PendingAccountReplaced)
        .collect();
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].username.as_deref(), Some("dr.doe"));
}

#[tokio::test]
async fn the_password_may_not_contain_the_username_or_name_pieces_count() {
    let p = portal();
    let started = jane_started(&p).await;
    p.accept_agreement(started.id.as_str(), agree(&started.agreement_version), CTX)
        .await
        .unwrap();
    let mut input = sample::account_input_for("quartzman");
    input.password = password("Quartzman-Harbor-71-Lantern");
    let Err(CreateAccountStepError::PasswordPolicy(violations)) =
        p.create_account(started.id.as_str(), Ok(input), CTX).await
    else {
        panic!()
    };
    assert!(violations.codes().contains(&"contains_username"));
}

#[tokio::test]
async fn the_activation_email_is_queued_with_the_account() {
    let p = portal();
    let account = register(&p, sample::practitioner_request(), "dr.doe").await;
    let emails = p.store.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].to, account.email);
    assert_eq!(
        emails[0].kind.subject("CareSource"),
        "Activate Your Provider Portal Account"
    );
    assert!(
        emails[0]
            .kind
            .link_path()
            .unwrap()
            .starts_with("/activate?token=")
    );
}
