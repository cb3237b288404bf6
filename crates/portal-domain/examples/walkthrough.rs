//! Walks a provider through the whole account lifecycle with the in-memory
//! adapters and prints what happens at each step:
//!
//! ```text
//! cargo run -p portal-domain --features testing --example walkthrough
//! ```

use std::error::Error;

use portal_domain::prelude::*;
use portal_domain::testing::{TestPortal, sample};
use time::Duration;

#[allow(clippy::print_stdout)] // printing is this example's purpose
fn main() -> Result<(), Box<dyn Error>> {
    futures::executor::block_on(async {
        let portal = TestPortal::new(sample::roster());
        let ctx = RequestContext::default();
        println!(
            "Roster: Jane Doe (P1001, practitioner), John Roe (P1002, paid under the group), Acme Health Group (G2001)"
        );

        let mut wrong_type = sample::practitioner_request();
        if let ProofingRequest::Practitioner {
            provider_id,
            first_name,
            last_name,
            zip,
            ..
        } = &mut wrong_type
        {
            *provider_id = ProviderId::parse("P1002")?;
            *first_name = PersonName::parse("John")?;
            *last_name = PersonName::parse("Roe")?;
            *zip = Zip::parse("45202")?;
        }
        let refused = portal.start_registration(wrong_type, ctx).await.err();
        println!(
            "1. John Roe registers as Practitioner  -> {}",
            refused.map_or("accepted".into(), |e| e.to_string())
        );

        let started = portal
            .start_registration(sample::practitioner_request(), ctx)
            .await?;
        println!(
            "1. Jane Doe registers as Practitioner  -> verified, flow {}, agreement v{}",
            started.id.as_str(),
            started.agreement_version
        );
        let agreement = AgreementInput {
            accepted: true,
            version: started.agreement_version.clone(),
        };
        let state = portal
            .accept_agreement(started.id.as_str(), Ok(agreement), ctx)
            .await?;
        println!(
            "2. Provider Agreement accepted          -> {}",
            state.as_str()
        );

        let mut weak = sample::account_input();
        weak.password = Password::parse("Password1234!")?;
        if let Err(CreateAccountStepError::PasswordPolicy(violations)) = portal
            .create_account(started.id.as_str(), Ok(weak), ctx)
            .await
        {
            println!(
                "3. Account with a weak password         -> refused: {}",
                violations.codes().join(", ")
            );
        }
        let account = portal
            .create_account(started.id.as_str(), Ok(sample::account_input()), ctx)
            .await?;
        println!(
            "3. Account {:<28} -> {}",
            account.username.as_str(),
            account.status(portal.clock.now()).as_str()
        );
        for email in portal.store.emails() {
            println!(
                "   email to {}: \"{}\" {}",
                email.to,
                email.kind.subject("CareSource"),
                email.kind.link_path().unwrap_or_default()
            );
        }

        let token = portal.last_link_token().ok_or("no activation email")?;
        portal.activate(&token, ctx).await?;
        println!(
            "5. Activate                              -> active; a second click: {}",
            outcome(portal.activate(&token, ctx).await)
        );

        let session = portal.login("dr.doe", sample::PASSWORD, ctx).await?;
        let me = portal.authenticate(session.token.expose()).await?;
        let providers = portal.visible_providers(&me.account).await?;
        println!(
            "   Login                                 -> session until {}, sees {}",
            rfc3339(session.expires_at)?,
            providers
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );

        for attempt in 1..=5 {
            let answer = portal
                .login("dr.doe", "Not-The-Password-42", ctx)
                .await
                .err();
            println!(
                "   Wrong password #{attempt}                     -> {}",
                answer.map_or(String::new(), |e| e.to_string())
            );
        }

        portal.request_password_reset("dr.doe", ctx).await?;
        let reset = portal.last_link_token().ok_or("no reset email")?;
        let new_password = Password::parse("Saffron-Glacier-88-Tulip")?;
        portal
            .confirm_password_reset(&reset, &new_password, ctx)
            .await?;
        println!("   Forgot password? -> reset link -> new password: unlocked");
        let again = portal.login("dr.doe", new_password.expose(), ctx).await?;
        println!(
            "   Login with the new password           -> session until {}",
            rfc3339(again.expires_at)?
        );

        portal.clock.advance(Duration::hours(13));
        println!(
            "   13 hours later, the first session      -> {}",
            outcome(portal.authenticate(again.token.expose()).await)
        );
        Ok(())
    })
}

/// A step's result as a person reads it: "accepted" or the error's message.
fn outcome<T, E: std::fmt::Display>(result: Result<T, E>) -> String {
    result.map_or_else(|e| format!("refused: {e}"), |_| "accepted".to_owned())
}

/// Times as every answer and log shows them: RFC 3339, in UTC.
fn rfc3339(at: time::OffsetDateTime) -> Result<String, time::error::Format> {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
}
