//! The steps of the seed's walk in Chromium (see `browser.rs`): each
//! follows one part of the printed instructions, checks what the provider
//! sees, and leaves its screenshots and axe-core checks.

use super::*;

/// "Go to the Provider Login page and select Register Here"; choose
/// Practitioner; enter the details as on the welcome letter (a first try
/// with a mistyped Provider ID); accept the agreement; create the account,
/// with the email mistyped.
pub(super) async fn practitioner_registers_with_a_mistyped_email(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.step("login").await?;
    walk.click_and_load("//a[normalize-space()='Register Here']")
        .await?;
    walk.wait_heading("User Registration").await?;
    let choice = walk.body().await?;
    assert!(choice.contains("Group Payee ID"), "{choice}");
    assert!(choice.contains("registered as an individual"), "{choice}");
    walk.step("user-registration").await?;
    walk.click_and_load("//main//a[normalize-space()='Practitioner']")
        .await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    walk.step("practitioner-form").await?;
    // Any ZIP code from the provider's profile works: Jane Doe's second.
    for (id, value) in [
        ("provider_id", "P1009"),
        ("tax_id", "12-3456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45011"),
    ] {
        walk.fill(id, value).await?;
    }
    walk.submit("Next").await?;
    let not_found = walk.alert().await?;
    assert!(
        not_found.contains("CareSource Provider Number"),
        "{not_found}"
    );
    walk.step("practitioner-not-found").await?;
    walk.fill("provider_id", "P1001").await?;
    walk.submit("Next").await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.step("agreement").await?;
    accept_the_agreement(walk).await?;

    // The account: a weak password shows the rule it breaks, in the words
    // the list uses.
    walk.wait_heading("Create your account").await?;
    let account = walk.body().await?;
    assert!(
        account.contains("The email you enter is used to send your account activation."),
        "{account}"
    );
    assert!(
        !account.contains("Must not be a password you used before."),
        "{account}"
    );
    walk.step("account").await?;
    walk.fill("username", USERNAME).await?;
    walk.fill("password", "password1").await?;
    walk.fill("email", MISTYPED).await?;
    walk.client
        .find(Locator::Id("security_question_id"))
        .await?
        .select_by_value("1")
        .await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Create your account").await?;
    let refusal = walk.alert().await?;
    assert!(
        refusal.contains("Must be at least 12 characters long."),
        "{refusal}"
    );
    walk.step("account-refused").await?;
    // The typed username and email are kept; the password and answer are
    // typed again.
    walk.fill("password", PASSWORD).await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Registration complete").await?;
    let complete = walk.body().await?;
    assert!(complete.contains("spam"), "{complete}");
    assert!(complete.contains("Register again"), "{complete}");
    walk.step("registration-complete").await?;
    walk.app.mail_to(MISTYPED, ACTIVATION, 1).await;
    Ok(())
}

/// No email came (it went to the mistyped address): Forgot password? on a
/// pending account sends the activation email again, to that address.
pub(super) async fn forgot_password_while_pending(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.click_and_load("(//main//a[normalize-space()='Forgot password?'])[1]")
        .await?;
    walk.wait_heading("Forgot password?").await?;
    walk.step("forgot-password").await?;
    walk.fill("username", USERNAME).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Check your email").await?;
    let sent = walk.body().await?;
    assert!(sent.contains("spam"), "{sent}");
    walk.step("check-your-email").await?;
    // Sent again, to the only address the account has.
    walk.app.mail_to(MISTYPED, ACTIVATION, 2).await;
    Ok(())
}

/// "Confirm that you have entered the email you registered with": it was
/// wrong, so register again with the right one; the old link is dead, the
/// new one activates with one click.
pub(super) async fn practitioner_registers_again_and_activates(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    let old_link = walk
        .emailed_link(MISTYPED, ACTIVATION, 2, "/activate?token=")
        .await;
    walk.goto("/register?type=practitioner").await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    fill_jane_does_details(walk).await?;
    walk.submit("Next").await?;
    walk.wait_heading("Provider Agreement").await?;
    accept_the_agreement(walk).await?;
    walk.wait_heading("Create your account").await?;
    walk.fill("username", USERNAME).await?;
    walk.fill("password", PASSWORD).await?;
    walk.fill("email", EMAIL).await?;
    walk.client
        .find(Locator::Id("security_question_id"))
        .await?
        .select_by_value("1")
        .await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Registration complete").await?;
    walk.step("registered-again").await?;

    // The link sent to the mistyped address no longer works.
    walk.goto(&old_link).await?;
    walk.wait_heading("Get a new activation email").await?;
    walk.alert().await?;
    walk.step("activate-invalid-link").await?;

    // One click on Activate Account activates.
    let link = walk
        .emailed_link(EMAIL, ACTIVATION, 1, "/activate?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Account activated").await?;
    walk.step("activated").await?;
    walk.app.mail_to(EMAIL, VERIFIED, 1).await;
    // Opened again: already active, with Login, not an error.
    walk.goto(&link).await?;
    walk.wait_heading("This account is already active").await?;
    walk.step("already-active").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;
    walk.log_in(USERNAME, PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    let home = walk.body().await?;
    assert!(home.contains("P1001"), "{home}");
    assert!(
        home.contains("Must not be a password you used before."),
        "{home}"
    );
    walk.step("home").await?;
    walk.submit("Log out").await
}

/// Wrong passwords until locked; the lock's duration as configured;
/// Forgot password? on the active account → the reset link → a new
/// password → logged in.
pub(super) async fn lockout_and_forgot_password_while_active(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    for attempt in 1..=MAX_FAILED {
        walk.log_in(USERNAME, "Wrong-Password-123!").await?;
        let alert = walk.alert().await?;
        if attempt < MAX_FAILED {
            assert!(
                alert.contains("The username or password is incorrect."),
                "{alert}"
            );
            if attempt == 1 {
                walk.step("login-refused").await?;
            }
        } else {
            assert!(alert.contains("locked"), "{alert}");
        }
    }
    let locked = walk.alert().await?;
    assert!(locked.contains("try again in 3 hours"), "{locked}");
    assert!(!locked.contains("24 hours"), "{locked}");
    walk.step("locked").await?;

    walk.click_and_load("(//main//a[normalize-space()='Forgot password?'])[1]")
        .await?;
    walk.wait_heading("Forgot password?").await?;
    walk.fill("username", USERNAME).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Check your email").await?;
    walk.step("reset-email-sent").await?;
    let link = walk
        .emailed_link(EMAIL, RESET, 1, "/reset-password?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Set a new password").await?;
    let form = walk.body().await?;
    assert!(
        form.contains("Must not be a password you used before."),
        "{form}"
    );
    walk.step("reset-form").await?;
    walk.fill("new_password", PASSWORD).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Set a new password").await?;
    let refusal = walk.alert().await?;
    assert!(
        refusal.contains("Must not be a password you used before."),
        "{refusal}"
    );
    walk.step("reset-refused").await?;
    walk.fill("new_password", NEW_PASSWORD).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Password changed").await?;
    walk.step("password-changed").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.step("home-after-reset").await?;
    walk.submit("Log out").await
}

/// The Group registration, with the keyboard only: Tab moves, Enter
/// follows a link or submits a form (Space ticks the checkbox and the
/// arrow key picks the question: that is how a keyboard works those).
pub(super) async fn group_registers_with_the_keyboard_only(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.tab_to("//a[normalize-space()='Register Here']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("User Registration").await?;
    walk.tab_to("//main//a[@class='button' and normalize-space()='Group']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("User Registration: Group").await?;
    let form = walk.body().await?;
    assert!(
        form.contains("A Group sees every provider under the Group Tax ID."),
        "{form}"
    );
    walk.step("group-form").await?;
    // The seed's order: Group Name, Tax ID, Provider ID, ZIP Code.
    walk.tab_and_type("group_name", "Acme Health Group").await?;
    for (id, value) in [
        ("tax_id", "12-3456789"),
        ("provider_id", "G2001"),
        ("zip", "45202"),
    ] {
        walk.keys(&Key::Tab).await?;
        let focused = walk.client.active_element().await?.attr("id").await?;
        assert_eq!(focused.as_deref(), Some(id), "Tab goes in the seed's order");
        walk.keys(value).await?;
    }
    walk.enter_and_load().await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.tab_to("//*[@id='accepted']").await?;
    walk.keys(&Key::Space).await?;
    walk.tab_to("//main//button[normalize-space()='Next']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Create your account").await?;
    walk.tab_and_type("username", GROUP_USERNAME).await?;
    walk.keys(&Key::Tab).await?;
    walk.keys(PASSWORD).await?;
    walk.tab_and_type("email", GROUP_EMAIL).await?;
    walk.tab_to("//*[@id='security_question_id']").await?;
    walk.keys(&Key::Down).await?;
    walk.tab_and_type("security_answer", ANSWER).await?;
    walk.tab_to("//main//button[normalize-space()='Finish Registration']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Registration complete").await?;
    walk.step("group-registration-complete").await?;

    let link = walk
        .emailed_link(GROUP_EMAIL, ACTIVATION, 1, "/activate?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Account activated").await?;
    walk.tab_to("//main//a[normalize-space()='Login']").await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Provider Login").await?;
    walk.tab_and_type("username", GROUP_USERNAME).await?;
    walk.keys(&Key::Tab).await?;
    walk.keys(PASSWORD).await?;
    walk.enter_and_load().await?;
    walk.wait_heading(&format!("Welcome, {GROUP_USERNAME}"))
        .await?;
    // A Group sees every provider under its Tax ID.
    let home = walk.body().await?;
    for provider in ["G2001", "P1001", "P1002"] {
        assert!(home.contains(provider), "{provider} in {home}");
    }
    walk.step("group-home").await?;
    walk.submit("Log out").await
}

/// The pages a provider reaches off the main path: the provider already
/// registered, a registration that cannot continue, an unknown address.
pub(super) async fn pages_off_the_main_path(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/register?type=practitioner").await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    fill_jane_does_details(walk).await?;
    walk.submit("Next").await?;
    walk.wait_heading("Already registered").await?;
    let held = walk.body().await?;
    assert!(held.contains("never activated does not count"), "{held}");
    walk.step("already-registered").await?;

    // The agreement step of a flow that is not there.
    walk.goto("/register?type=group").await?;
    walk.wait_heading("User Registration: Group").await?;
    walk.client
        .execute(
            "const form = document.querySelector('main form');
             form.action = '/register/agreement';
             const id = document.createElement('input');
             id.type = 'hidden'; id.name = 'registration_id'; id.value = 'gone';
             form.appendChild(id);
             form.noValidate = true;",
            Vec::new(),
        )
        .await?;
    walk.submit("Next").await?;
    walk.wait_heading("Registration cannot continue").await?;
    walk.step("registration-cannot-continue").await?;

    walk.goto("/no-such-page").await?;
    walk.wait_heading("Page not found").await?;
    walk.step("page-not-found").await?;
    Ok(())
}

/// The practitioner form as on Jane Doe's welcome letter.
async fn fill_jane_does_details(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    for (id, value) in [
        ("provider_id", "P1001"),
        ("tax_id", "123456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ] {
        walk.fill(id, value).await?;
    }
    Ok(())
}

/// Ticks "I agree" on the Provider Agreement page and goes on.
async fn accept_the_agreement(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.client
        .find(Locator::Id("accepted"))
        .await?
        .click()
        .await?;
    walk.submit("Next").await
}

/// The group's office changes the account's security question and its
/// email from the home page (SPEC §4a), and confirms the new address from
/// the link emailed to it.
pub(super) async fn account_settings_from_the_home_page(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    const NEW_EMAIL: &str = "front.desk@acme.example.org";
    walk.log_in(GROUP_USERNAME, PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {GROUP_USERNAME}"))
        .await?;
    walk.fill("question_current_password", PASSWORD).await?;
    walk.client
        .execute(
            "document.getElementById('security_question_id').value = '2';",
            Vec::new(),
        )
        .await?;
    walk.fill("security_answer", "Maple Street").await?;
    walk.submit("Change Security Question").await?;
    walk.wait_heading("Change security question").await?;
    let done = walk.body().await?;
    assert!(done.contains("security question was changed"), "{done}");
    walk.step("security-question-changed").await?;

    walk.goto("/").await?;
    walk.fill("email_current_password", PASSWORD).await?;
    walk.fill("new_email", NEW_EMAIL).await?;
    walk.submit("Change Email").await?;
    walk.wait_heading("Change email").await?;
    walk.step("email-change-sent").await?;
    let link = walk
        .emailed_link(
            NEW_EMAIL,
            "Confirm Your New Provider Portal Email",
            1,
            "/confirm-email?token=",
        )
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Confirm your new email").await?;
    walk.step("confirm-email").await?;
    walk.submit("Confirm Email").await?;
    walk.wait_heading("Email changed").await?;
    let changed = walk.body().await?;
    assert!(changed.contains(NEW_EMAIL), "{changed}");
    walk.step("email-changed").await?;
    walk.goto("/").await?;
    walk.submit("Log out").await
}

/// The practitioner turns on an authenticator app from the home page (the
/// test plays the app: it computes the codes from the key the page shows),
/// logs out, logs in with a code, then once with a recovery code, and
/// removes the app again.
pub(super) async fn practitioner_enrols_an_authenticator_app(
    walk: &mut Walk<'_>,
) -> Result<(), CmdError> {
    use crate::mfa::code;
    walk.goto("/login").await?;
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.fill("mfa_current_password", NEW_PASSWORD).await?;
    walk.submit("Set up authenticator app").await?;
    walk.wait_heading("Set up your authenticator app").await?;
    walk.wait_for("//main//figure[@class='qr']/*[local-name()='svg']")
        .await?;
    walk.step("mfa-setup").await?;
    let key = walk
        .client
        .find(Locator::Id("totp-secret"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    let secret = portal_domain::second_factor::TotpSecret::from_base32(&key)
        .unwrap_or_else(|| panic!("not a base32 key: {key:?}"));
    walk.fill("code", &code(&secret, 0)).await?;
    walk.submit("Turn on").await?;
    walk.wait_heading("Your recovery codes").await?;
    walk.step("mfa-recovery-codes").await?;
    let codes = walk
        .client
        .find_all(Locator::Css("#recovery-codes code"))
        .await?;
    assert_eq!(codes.len(), 10);
    let mut recovery = Vec::new();
    for code in &codes {
        recovery.push(code.text().await?);
    }
    walk.click_and_load("//main//a[normalize-space()='Continue']")
        .await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.submit("Log out").await?;
    // The password alone no longer logs in: the second step asks a code.
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading("Enter your code").await?;
    walk.step("mfa-login").await?;
    walk.fill("code", "000000").await?;
    walk.submit("Verify").await?;
    walk.wait_heading("Enter your code").await?;
    assert!(walk.alert().await?.contains("code is wrong"));
    walk.step("mfa-login-refused").await?;
    walk.fill("code", &code(&secret, 1)).await?;
    walk.submit("Verify").await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.submit("Log out").await?;
    // A recovery code, once.
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading("Enter your code").await?;
    walk.fill("code", &recovery[0]).await?;
    walk.submit("Verify").await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.step("home-with-mfa").await?;
    // Removed with the password and a recovery code: the password alone again.
    let home = walk.body().await?;
    assert!(home.contains("9 unused recovery codes"), "{home}");
    walk.fill("remove_current_password", NEW_PASSWORD).await?;
    walk.fill("remove_code", &recovery[1]).await?;
    walk.submit("Remove authenticator app").await?;
    walk.wait_heading("Authenticator app").await?;
    walk.step("mfa-removed").await?;
    walk.click_and_load("//main//a[normalize-space()='Back']")
        .await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.submit("Log out").await?;
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.submit("Log out").await
}
