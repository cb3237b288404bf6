//! Roster replacement (SPEC §2): providers left out of a `--replace` file
//! become inactive — their accounts cannot log in and their sessions stop
//! working, a group no longer sees them — and come back with a later file.

use portal_domain::ports::{Clock, ImportMode};
use portal_domain::roster_csv;
use portal_domain::system::SystemClock;
use serde_json::Value;

use crate::helpers::{Auth, Db, PASSWORD, TestApp, both, spawn_app};

const HEADER: &str =
    "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n";
const JANE: &str = "P1001,12-3456789,practitioner,Jane,Doe,,45202;45011-1234,individual,medicaid\n";
const JOHN: &str = "P1002,12-3456789,practitioner,John,Roe,,45202,group,medicaid;marketplace\n";
const ACME: &str = "G2001,12-3456789,group,,,Acme Health Group,45202,,medicaid;marketplace\n";

async fn replace_roster(app: &TestApp, rows: &[&str]) {
    let file = format!("{HEADER}{}", rows.concat());
    roster_csv::import(
        app.state.storage.as_ref(),
        "roster.csv",
        std::io::Cursor::new(file),
        ImportMode::Replace,
        false,
        SystemClock.now(),
    )
    .await
    .unwrap();
}

fn provider_ids(me: &Value) -> Vec<String> {
    me["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap().to_owned())
        .collect()
}

both!(left_out_providers_are_inactive_until_they_return);
async fn left_out_providers_are_inactive_until_they_return(db: Db) {
    let app = spawn_app(db, &[]).await;
    let jane = app.session(false, "dr.doe").await;
    let acme = app.session(true, "acme.admin").await;
    assert_eq!(
        provider_ids(&app.get_as("/api/v1/me", Auth::Bearer(&acme)).await.json()),
        ["G2001", "P1001", "P1002"]
    );

    // A file without Jane and John.
    replace_roster(&app, &[ACME]).await;
    app.login("dr.doe", PASSWORD)
        .await
        .problem(403, "provider_inactive");
    app.get_as("/api/v1/me", Auth::Bearer(&jane))
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        provider_ids(&app.get_as("/api/v1/me", Auth::Bearer(&acme)).await.json()),
        ["G2001"]
    );
    // An inactive provider cannot be registered either.
    app.start_practitioner()
        .await
        .problem(404, "provider_not_found");

    // They are back with the next file.
    replace_roster(&app, &[JANE, JOHN, ACME]).await;
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    assert_eq!(
        provider_ids(&app.get_as("/api/v1/me", Auth::Bearer(&acme)).await.json()),
        ["G2001", "P1001", "P1002"]
    );
}
