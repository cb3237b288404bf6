//! Every domain behaviour of SPEC §2–7, through the use cases over the
//! in-memory adapters.

use std::net::IpAddr;

use portal_domain::account::AccountStatus;
use portal_domain::audit::{AuditAction, AuditFilter};
use portal_domain::ports::UserStore;
use portal_domain::prelude::*;
use portal_domain::registration::StateName;
use portal_domain::service::{Agreement, PasswordChangeError, SupportCheck, SupportError};
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

fn practitioner(provider_id: &str, first: &str, last: &str, zip: &str) -> ProofingRequest {
    ProofingRequest::Practitioner {
        provider_id: ProviderId::parse(provider_id).unwrap(),
        tax_id: TaxId::parse(sample::TAX_ID).unwrap(),
        first_name: PersonName::parse(first).unwrap(),
        last_name: PersonName::parse(last).unwrap(),
        zip: Zip::parse(zip).unwrap(),
    }
}

mod registration {
    use super::*;

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
        assert_eq!(
            p.start_registration(sample::practitioner_request(), CTX)
                .await
                .err(),
            Some(StartError::AlreadyRegistered {
                pending_activation: true
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
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
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
            Some(CreateAccountStepError::InvalidTransition),
            "a finished flow answers 409, never 410"
        );
        p.clock.advance(Duration::days(2));
        assert_eq!(
            p.create_account(id, Ok(sample::account_input()), CTX)
                .await
                .err(),
            Some(CreateAccountStepError::InvalidTransition)
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
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
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
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
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
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
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
    async fn the_provider_is_claimed_when_the_account_step_commits() {
        let p = portal();
        let first = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
        let second = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
        for flow in [&first, &second] {
            p.accept_agreement(flow.id.as_str(), agree(&flow.agreement_version), CTX)
                .await
                .unwrap();
        }
        p.create_account(
            second.id.as_str(),
            Ok(sample::account_input_for("second")),
            CTX,
        )
        .await
        .unwrap();
        assert_eq!(
            p.create_account(
                first.id.as_str(),
                Ok(sample::account_input_for("first")),
                CTX
            )
            .await
            .err(),
            Some(CreateAccountStepError::AlreadyRegistered {
                pending_activation: true
            })
        );
    }

    #[tokio::test]
    async fn the_password_may_not_contain_the_username_or_name_pieces_count() {
        let p = portal();
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
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
}

mod activation {
    use super::*;

    #[tokio::test]
    async fn activates_once_and_sends_email_verification() {
        let p = portal();
        let account = register(&p, sample::practitioner_request(), "dr.doe").await;
        let token = p.last_link_token().unwrap();
        let active = p.activate(&token, CTX).await.unwrap();
        assert_eq!(active.id, account.id);
        assert_eq!(active.status(p.clock.now()), AccountStatus::Active);
        assert_eq!(
            p.activate(&token, CTX).await.err(),
            Some(ActivationError::InvalidToken)
        );
        let last = p.store.emails().pop().unwrap();
        assert_eq!(last.kind.subject("CareSource"), "Email Verification");
        assert_eq!(last.kind.link_path().as_deref(), Some("/login"));
    }

    #[tokio::test]
    async fn malformed_unknown_and_expired_tokens_are_alike() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        let token = p.last_link_token().unwrap();
        for bad in ["", "garbage", &"A".repeat(43)] {
            assert_eq!(
                p.activate(bad, CTX).await.err(),
                Some(ActivationError::InvalidToken)
            );
        }
        p.clock.advance(Duration::hours(24));
        assert_eq!(
            p.activate(&token, CTX).await.err(),
            Some(ActivationError::InvalidToken)
        );
    }

    #[tokio::test]
    async fn resend_issues_a_new_link_that_invalidates_the_old() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        let old = p.last_link_token().unwrap();
        p.resend_activation("DR.DOE", CTX).await.unwrap();
        let new = p.last_link_token().unwrap();
        assert_ne!(old, new);
        assert_eq!(
            p.activate(&old, CTX).await.err(),
            Some(ActivationError::InvalidToken)
        );
        assert!(p.activate(&new, CTX).await.is_ok());
        // Once active, resend sends nothing.
        let before = p.store.emails().len();
        p.resend_activation("dr.doe", CTX).await.unwrap();
        assert_eq!(p.store.emails().len(), before);
    }

    #[tokio::test]
    async fn resend_answers_the_same_for_unknown_users_and_is_capped() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        assert_eq!(p.resend_activation("nobody", CTX).await, Ok(()));
        assert_eq!(p.resend_activation("x", CTX).await, Ok(()));
        for _ in 0..7 {
            assert_eq!(p.resend_activation("dr.doe", CTX).await, Ok(()));
        }
        // The registration email does not count; 5 resends per hour do.
        assert_eq!(p.store.emails().len(), 1 + 5);
        p.clock.advance(Duration::hours(1));
        p.resend_activation("dr.doe", CTX).await.unwrap();
        assert_eq!(p.store.emails().len(), 1 + 6);
    }

    #[tokio::test]
    async fn a_stale_pending_account_frees_its_provider_and_username() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        p.clock
            .advance(Duration::hours(24) + Duration::days(7) - Duration::minutes(1));
        assert!(p.purge().await.unwrap().stale_pending.is_empty());
        assert_eq!(
            p.start_registration(sample::practitioner_request(), CTX)
                .await
                .err(),
            Some(StartError::AlreadyRegistered {
                pending_activation: true
            })
        );
        p.clock.advance(Duration::minutes(2));
        assert_eq!(
            p.purge().await.unwrap().stale_pending,
            vec!["dr.doe".to_owned()]
        );
        register(&p, sample::practitioner_request(), "dr.doe").await;
    }
}

mod login {
    use super::*;

    #[tokio::test]
    async fn unknown_user_and_wrong_password_answer_alike() {
        let p = portal();
        active_account(&p).await;
        let wrong = password("Not-The-Password-42");
        assert_eq!(
            p.login("nobody", &wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
        assert_eq!(
            p.login("a b", &wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
        assert_eq!(
            p.login("dr.doe", &wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
    }

    #[tokio::test]
    async fn login_finds_the_username_case_insensitively_and_issues_a_session() {
        let p = portal();
        let account = active_account(&p).await;
        let session = p
            .login("Dr.Doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        assert_eq!(session.account.id, account.id);
        assert!(!session.agreement_required);
        assert_eq!(session.expires_at, p.clock.now() + Duration::minutes(30));
        let auth = p.authenticate(session.token.expose()).await.unwrap();
        assert_eq!(auth.account.id, account.id);
        assert_eq!(
            p.store
                .account_by_id(account.id)
                .await
                .unwrap()
                .unwrap()
                .last_login_at,
            Some(p.clock.now())
        );
        // A new login, a new token.
        let again = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        assert_ne!(again.token.expose(), session.token.expose());
    }

    #[tokio::test]
    async fn a_pending_account_is_told_to_activate_and_its_failures_count() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        assert_eq!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .err(),
            Some(LoginError::AccountNotActivated)
        );
        let wrong = password("Not-The-Password-42");
        for _ in 0..4 {
            p.login("dr.doe", &wrong, CTX).await.unwrap_err();
        }
        assert!(matches!(
            p.login("dr.doe", &wrong, CTX).await,
            Err(LoginError::AccountLocked { .. })
        ));
    }

    #[tokio::test]
    async fn the_fifth_failure_locks_for_24_hours_without_extension() {
        let p = portal();
        active_account(&p).await;
        let wrong = password("Not-The-Password-42");
        for _ in 0..4 {
            assert_eq!(
                p.login("dr.doe", &wrong, CTX).await.err(),
                Some(LoginError::InvalidCredentials)
            );
        }
        let locked_until = p.clock.now() + Duration::hours(24);
        assert_eq!(
            p.login("dr.doe", &wrong, CTX).await.err(),
            Some(LoginError::AccountLocked { locked_until })
        );
        p.clock.advance(Duration::hours(23));
        // Attempts during the lock, right or wrong, are refused and change nothing.
        assert_eq!(
            p.login("dr.doe", &wrong, CTX).await.err(),
            Some(LoginError::AccountLocked { locked_until })
        );
        assert_eq!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .err(),
            Some(LoginError::AccountLocked { locked_until })
        );
        p.clock.advance(Duration::hours(1));
        // The lock lifted by itself, and the count starts from zero.
        assert_eq!(
            p.login("dr.doe", &wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
        assert!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_success_resets_the_count() {
        let p = portal();
        active_account(&p).await;
        let wrong = password("Not-The-Password-42");
        for _ in 0..4 {
            p.login("dr.doe", &wrong, CTX).await.unwrap_err();
        }
        p.login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        for _ in 0..4 {
            assert_eq!(
                p.login("dr.doe", &wrong, CTX).await.err(),
                Some(LoginError::InvalidCredentials)
            );
        }
    }

    #[tokio::test]
    async fn an_inactive_provider_cannot_log_in_and_loses_its_sessions() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let others = vec![sample::john_roe(), sample::acme_group()];
        p.roster
            .import(
                &others,
                portal_domain::ports::ImportMode::Replace,
                false,
                p.clock.now(),
            )
            .await
            .unwrap();
        assert_eq!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .err(),
            Some(LoginError::ProviderInactive)
        );
        assert_eq!(
            p.authenticate(session.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
        // Not before the password is right: a wrong one still answers invalid_credentials.
        assert_eq!(
            p.login("dr.doe", &password("Not-The-Password-42"), CTX)
                .await
                .err(),
            Some(LoginError::InvalidCredentials)
        );
    }
}

mod sessions {
    use super::*;

    #[tokio::test]
    async fn idle_and_absolute_expiry() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let token = session.token.expose();
        // Activity keeps it alive...
        for _ in 0..24 {
            p.clock.advance(Duration::minutes(29));
            p.authenticate(token).await.unwrap();
        }
        // ... but never past 12 hours.
        p.clock.advance(Duration::minutes(29));
        assert_eq!(
            p.authenticate(token).await.err(),
            Some(AuthError::Unauthenticated)
        );

        let idle = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        p.clock.advance(Duration::minutes(30));
        assert_eq!(
            p.authenticate(idle.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
    }

    #[tokio::test]
    async fn logout_revokes_and_garbage_is_unauthenticated() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        p.logout(session.token.expose(), CTX).await.unwrap();
        assert_eq!(
            p.authenticate(session.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
        assert_eq!(p.logout("garbage", CTX).await, Ok(()));
        assert_eq!(
            p.authenticate("garbage").await.err(),
            Some(AuthError::Unauthenticated)
        );
    }

    #[tokio::test]
    async fn a_newer_agreement_restricts_the_session_until_accepted() {
        let p = portal();
        active_account(&p).await;
        let mut settings = p.settings().clone();
        settings.agreement = Agreement::new(
            AgreementVersion::parse("2").unwrap(),
            "Version 2 of the agreement.",
        );
        let republished = p.reconfigured(settings);

        let restricted = republished
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        assert!(restricted.agreement_required, "login succeeds, restricted");
        let auth = republished
            .authenticate(restricted.token.expose())
            .await
            .unwrap();
        assert!(auth.agreement_required);
        assert_eq!(
            republished
                .accept_current_agreement(&auth, &AgreementVersion::parse("1").unwrap(), CTX)
                .await
                .err(),
            Some(AuthError::AgreementNotAccepted)
        );
        republished
            .accept_current_agreement(&auth, &AgreementVersion::parse("2").unwrap(), CTX)
            .await
            .unwrap();
        assert!(
            !republished
                .authenticate(restricted.token.expose())
                .await
                .unwrap()
                .agreement_required
        );
        let account = p
            .store
            .account_by_username(&Username::parse("dr.doe").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.agreement.version.as_str(), "2");
        assert_eq!(
            account.agreement.content_hash,
            republished.settings().agreement.content_hash
        );
    }
}

mod password_change {
    use super::*;

    #[tokio::test]
    async fn keeps_this_session_revokes_the_others_and_notifies() {
        let p = portal();
        active_account(&p).await;
        let this = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let other = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let auth = p.authenticate(this.token.expose()).await.unwrap();
        p.change_password(
            &auth,
            &password(sample::PASSWORD),
            &password(NEW_PASSWORD),
            CTX,
        )
        .await
        .unwrap();
        assert!(p.authenticate(this.token.expose()).await.is_ok());
        assert_eq!(
            p.authenticate(other.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
        assert_eq!(
            p.store.emails().pop().unwrap().kind.subject("X"),
            "Your Provider Portal password was changed"
        );
        assert!(
            p.login("dr.doe", &password(NEW_PASSWORD), CTX)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn wrong_current_passwords_count_toward_the_lockout() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let auth = p.authenticate(session.token.expose()).await.unwrap();
        let wrong = password("Not-The-Password-42");
        for _ in 0..4 {
            assert_eq!(
                p.change_password(&auth, &wrong, &password(NEW_PASSWORD), CTX)
                    .await
                    .err(),
                Some(PasswordChangeError::InvalidCredentials)
            );
        }
        assert!(matches!(
            p.change_password(&auth, &wrong, &password(NEW_PASSWORD), CTX)
                .await,
            Err(PasswordChangeError::AccountLocked { .. })
        ));
        assert!(matches!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX).await,
            Err(LoginError::AccountLocked { .. })
        ));
    }

    #[tokio::test]
    async fn the_policy_applies_with_reused() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let auth = p.authenticate(session.token.expose()).await.unwrap();
        let Err(PasswordChangeError::PasswordPolicy(v)) = p
            .change_password(
                &auth,
                &password(sample::PASSWORD),
                &password(sample::PASSWORD),
                CTX,
            )
            .await
        else {
            panic!()
        };
        assert_eq!(v.codes(), vec!["reused"]);
        let Err(PasswordChangeError::PasswordPolicy(v)) = p
            .change_password(&auth, &password(sample::PASSWORD), &password("weak"), CTX)
            .await
        else {
            panic!()
        };
        assert!(v.codes().contains(&"min_length"));
    }
}

mod reset {
    use super::*;

    async fn locked_account(p: &TestPortal) {
        active_account(p).await;
        let wrong = password("Not-The-Password-42");
        for _ in 0..5 {
            p.login("dr.doe", &wrong, CTX).await.unwrap_err();
        }
    }

    #[tokio::test]
    async fn a_reset_unlocks_revokes_and_notifies() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        for _ in 0..5 {
            p.login("dr.doe", &password("Not-The-Password-42"), CTX)
                .await
                .unwrap_err();
        }
        p.request_password_reset("DR.DOE", CTX).await.unwrap();
        let reset = p.store.emails().pop().unwrap();
        assert_eq!(
            reset.kind.subject("CareSource"),
            "CareSource Provider Portal Password"
        );
        // Requesting changed nothing: still locked, session still live.
        assert!(matches!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX).await,
            Err(LoginError::AccountLocked { .. })
        ));
        assert!(p.authenticate(session.token.expose()).await.is_ok());

        let token = reset.kind.token().unwrap().expose().to_owned();
        p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
            .await
            .unwrap();
        assert_eq!(
            p.authenticate(session.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
        assert_eq!(
            p.store.emails().pop().unwrap().kind.subject("X"),
            "Your Provider Portal password was changed"
        );
        assert!(
            p.login("dr.doe", &password(NEW_PASSWORD), CTX)
                .await
                .is_ok()
        );
        assert_eq!(
            p.confirm_password_reset(&token, &password("Another-Fresh-Pass-97"), CTX)
                .await
                .err(),
            Some(ResetConfirmError::InvalidToken)
        );
    }

    #[tokio::test]
    async fn a_refused_confirm_spends_nothing() {
        let p = portal();
        locked_account(&p).await;
        p.request_password_reset("dr.doe", CTX).await.unwrap();
        let token = p.last_link_token().unwrap();
        let Err(ResetConfirmError::PasswordPolicy(v)) = p
            .confirm_password_reset(&token, &password(sample::PASSWORD), CTX)
            .await
        else {
            panic!()
        };
        assert_eq!(v.codes(), vec!["reused"]);
        assert!(matches!(
            p.confirm_password_reset(&token, &password("weak"), CTX)
                .await,
            Err(ResetConfirmError::PasswordPolicy(_))
        ));
        p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_newer_request_invalidates_older_links_which_also_expire() {
        let p = portal();
        active_account(&p).await;
        p.request_password_reset("dr.doe", CTX).await.unwrap();
        let older = p.last_link_token().unwrap();
        p.request_password_reset("dr.doe", CTX).await.unwrap();
        let newer = p.last_link_token().unwrap();
        assert_eq!(
            p.confirm_password_reset(&older, &password(NEW_PASSWORD), CTX)
                .await
                .err(),
            Some(ResetConfirmError::InvalidToken)
        );
        p.clock.advance(Duration::hours(1));
        assert_eq!(
            p.confirm_password_reset(&newer, &password(NEW_PASSWORD), CTX)
                .await
                .err(),
            Some(ResetConfirmError::InvalidToken)
        );
    }

    #[tokio::test]
    async fn only_activated_accounts_get_an_email_and_at_most_five_an_hour() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        let before = p.store.emails().len();
        p.request_password_reset("dr.doe", CTX).await.unwrap();
        p.request_password_reset("nobody", CTX).await.unwrap();
        p.request_password_reset("", CTX).await.unwrap();
        assert_eq!(
            p.store.emails().len(),
            before,
            "pending and unknown accounts get nothing"
        );

        p.activate(&p.last_link_token().unwrap(), CTX)
            .await
            .unwrap();
        let before = p.store.emails().len();
        for _ in 0..8 {
            p.request_password_reset("dr.doe", CTX).await.unwrap();
        }
        assert_eq!(p.store.emails().len(), before + 5);
    }

    #[tokio::test]
    async fn a_locked_account_can_reset() {
        let p = portal();
        locked_account(&p).await;
        p.request_password_reset("dr.doe", CTX).await.unwrap();
        p.confirm_password_reset(&p.last_link_token().unwrap(), &password(NEW_PASSWORD), CTX)
            .await
            .unwrap();
        assert!(
            p.login("dr.doe", &password(NEW_PASSWORD), CTX)
                .await
                .is_ok()
        );
    }
}

mod support {
    use super::*;

    #[tokio::test]
    async fn answers_are_compared_normalised_and_limited() {
        let p = portal();
        active_account(&p).await;
        let right = SecurityAnswer::parse("  FLUFFY ").unwrap();
        let wrong = SecurityAnswer::parse("Rex").unwrap();
        assert_eq!(
            p.verify_security_answer("dr.doe", &right, CTX).await,
            Ok(SupportCheck::Match)
        );
        for _ in 0..3 {
            assert_eq!(
                p.verify_security_answer("dr.doe", &wrong, CTX).await,
                Ok(SupportCheck::NoMatch)
            );
        }
        assert_eq!(
            p.verify_security_answer("dr.doe", &right, CTX).await.err(),
            Some(SupportError::TooManyAttempts)
        );
        p.clock.advance(Duration::hours(24));
        assert_eq!(
            p.verify_security_answer("dr.doe", &right, CTX).await,
            Ok(SupportCheck::Match)
        );
        assert_eq!(
            p.verify_security_answer("nobody", &right, CTX).await.err(),
            Some(SupportError::UnknownUsername)
        );
    }

    #[tokio::test]
    async fn checks_are_audited_without_the_answer() {
        let p = portal();
        active_account(&p).await;
        p.verify_security_answer("dr.doe", &SecurityAnswer::parse("Fluffy").unwrap(), CTX)
            .await
            .unwrap();
        let events = p
            .store
            .audit_events(&AuditFilter {
                username: Some("dr.doe".into()),
                since: None,
            })
            .await
            .unwrap();
        let check = events
            .iter()
            .find(|e| e.action == AuditAction::SupportCheck)
            .unwrap();
        assert_eq!(check.outcome, "match");
        assert_eq!(check.client_addr, CTX.client_addr);
        assert!(!format!("{events:?}").to_lowercase().contains("fluffy"));
    }
}

mod scope {
    use super::*;

    #[tokio::test]
    async fn a_practitioner_sees_itself_and_a_group_everyone_under_its_tax_id() {
        let p = portal();
        let jane = active_account(&p).await;
        let items = p.visible_providers(&jane).await.unwrap();
        assert_eq!(
            items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            vec!["Jane Doe"]
        );
        assert_eq!(items[0].kind, ProviderKind::Practitioner);

        let group = register(&p, sample::group_request(), "acme.office").await;
        let items = p.visible_providers(&group).await.unwrap();
        assert_eq!(
            items
                .iter()
                .map(|i| i.provider_id.as_str())
                .collect::<Vec<_>>(),
            vec!["G2001", "P1001", "P1002"]
        );

        // Read from the roster every time: a replacement shows at once.
        let remaining = vec![sample::acme_group(), sample::jane_doe()];
        p.roster
            .import(
                &remaining,
                portal_domain::ports::ImportMode::Replace,
                false,
                p.clock.now(),
            )
            .await
            .unwrap();
        let items = p.visible_providers(&group).await.unwrap();
        assert_eq!(
            items
                .iter()
                .map(|i| i.provider_id.as_str())
                .collect::<Vec<_>>(),
            vec!["G2001", "P1001"]
        );
    }
}

mod audit {
    use super::*;

    #[tokio::test]
    async fn the_lifecycle_is_audited_with_address_and_outcome_and_no_secret() {
        let p = portal();
        active_account(&p).await;
        p.login("dr.doe", &password("Not-The-Password-42"), CTX)
            .await
            .unwrap_err();
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
        let actions: Vec<AuditAction> = events.iter().map(|e| e.action).collect();
        for expected in [
            AuditAction::RegistrationStarted,
            AuditAction::AgreementAccepted,
            AuditAction::AccountCreated,
            AuditAction::AccountActivated,
            AuditAction::LoginFailed,
            AuditAction::LoginSucceeded,
        ] {
            assert!(
                actions.contains(&expected),
                "{expected:?} missing from {actions:?}"
            );
        }
        let failed = events
            .iter()
            .find(|e| e.action == AuditAction::LoginFailed)
            .unwrap();
        assert_eq!(
            (failed.outcome.as_str(), failed.client_addr),
            ("invalid_credentials", CTX.client_addr)
        );
        let dump = format!("{events:?}");
        assert!(!dump.contains(sample::PASSWORD) && !dump.contains(session.token.expose()));
    }
}

mod operator {
    use super::*;
    use portal_domain::service::{OperatorAction, OperatorError};

    #[tokio::test]
    async fn show_reports_state_without_secrets() {
        let p = portal();
        register(&p, sample::practitioner_request(), "dr.doe").await;
        let report = p.show_account("DR.DOE", CTX).await.unwrap();
        assert_eq!(report.status, AccountStatus::PendingActivation);
        assert_eq!(report.pending_emails, 1);
        assert_eq!(report.provider.provider_id.as_str(), "P1001");
        let printed = format!("{report:?}");
        assert!(!printed.contains("argon2") && !printed.to_lowercase().contains("fluffy"));
        assert_eq!(
            p.show_account("nobody", CTX).await.err(),
            Some(OperatorError::UnknownUsername)
        );
    }

    #[tokio::test]
    async fn disable_refuses_logins_and_revokes_sessions_until_enabled() {
        let p = portal();
        active_account(&p).await;
        let session = p
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        p.operate_account("dr.doe", OperatorAction::Disable, CTX)
            .await
            .unwrap();
        assert_eq!(
            p.show_account("dr.doe", CTX).await.unwrap().status,
            AccountStatus::Disabled
        );
        assert_eq!(
            p.authenticate(session.token.expose()).await.err(),
            Some(AuthError::Unauthenticated)
        );
        assert_eq!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .err(),
            Some(LoginError::AccountDisabled)
        );
        // A wrong password still answers as for everyone: nothing is revealed.
        assert_eq!(
            p.login("dr.doe", &password("Not-The-Password-42"), CTX)
                .await
                .err(),
            Some(LoginError::InvalidCredentials)
        );
        p.operate_account("dr.doe", OperatorAction::Enable, CTX)
            .await
            .unwrap();
        assert!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn unlock_clears_the_lock_and_the_count_and_every_command_is_audited() {
        let p = portal();
        active_account(&p).await;
        for _ in 0..5 {
            p.login("dr.doe", &password("Not-The-Password-42"), CTX)
                .await
                .unwrap_err();
        }
        assert!(matches!(
            p.show_account("dr.doe", CTX).await.unwrap().status,
            AccountStatus::Locked { .. }
        ));
        p.operate_account("dr.doe", OperatorAction::Unlock, CTX)
            .await
            .unwrap();
        let report = p.show_account("dr.doe", CTX).await.unwrap();
        assert_eq!(
            (report.status, report.failed_logins),
            (AccountStatus::Active, 0)
        );
        assert!(
            p.login("dr.doe", &password(sample::PASSWORD), CTX)
                .await
                .is_ok()
        );
        assert_eq!(
            p.operate_account("nobody", OperatorAction::Disable, CTX)
                .await
                .err(),
            Some(OperatorError::UnknownUsername)
        );
        let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
        let outcomes: Vec<(AuditAction, &str)> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.action,
                    AuditAction::AccountUnlocked | AuditAction::AccountDisabled
                )
            })
            .map(|e| (e.action, e.outcome.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                (AuditAction::AccountUnlocked, "success"),
                (AuditAction::AccountDisabled, "unknown_username")
            ]
        );
    }
}

mod rehash {
    use super::*;
    use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
    use portal_domain::testing::SequentialTokens;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_hash_with_older_parameters_is_replaced_at_the_next_login() {
        let p = portal();
        let account = active_account(&p).await;
        assert!(account.password_hash.as_phc().contains("m=8,t=1,p=1"));
        // The operator raises the Argon2 parameters.
        let stronger = Argon2Settings {
            memory_kib: 64,
            iterations: 2,
            parallelism: 1,
        };
        let upgraded = Portal::new(
            p.store.clone(),
            p.roster.clone(),
            Arc::new(Argon2Hasher::new(stronger, None).unwrap()),
            p.clock.clone(),
            Arc::new(SequentialTokens::starting_at(1 << 40)),
            p.settings().clone(),
        );
        upgraded
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
        let stored = p.store.account_by_id(account.id).await.unwrap().unwrap();
        assert!(
            stored.password_hash.as_phc().contains("m=64,t=2,p=1"),
            "{:?}",
            stored.password_hash.as_phc().get(..30)
        );
        // The new hash still verifies, on either portal.
        upgraded
            .login("dr.doe", &password(sample::PASSWORD), CTX)
            .await
            .unwrap();
    }
}
