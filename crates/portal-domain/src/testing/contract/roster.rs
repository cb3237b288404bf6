//! The provider roster: lookups, scopes and imports.

use super::*;

pub async fn roster_finds_and_scopes<S, R: ProviderRoster>(s: &Subject<S, R>) {
    s.roster
        .import(
            &mut EntryBatches::new(sample::entries()),
            ImportMode::Upsert,
            false,
            T0,
        )
        .await
        .unwrap();
    let jane = sample::jane_doe();
    assert_eq!(
        s.roster
            .find(&jane.tax_id, &jane.provider_id)
            .await
            .unwrap(),
        Some(jane.clone())
    );
    assert_eq!(
        s.roster
            .find(&jane.tax_id, &ProviderId::parse("NOPE").unwrap())
            .await
            .unwrap(),
        None
    );
    let under = s.roster.active_under_tax_id(&jane.tax_id).await.unwrap();
    let ids: Vec<&str> = under.iter().map(|e| e.provider_id.as_str()).collect();
    assert_eq!(ids, vec!["G2001", "P1001", "P1002"]);
    assert!(
        s.roster
            .active_under_tax_id(&TaxId::parse("999999999").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn roster_import_is_idempotent_replaces_and_dry_runs<S, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    let first = s
        .roster
        .import(
            &mut EntryBatches::new(sample::entries()),
            ImportMode::Upsert,
            false,
            T0,
        )
        .await
        .unwrap();
    assert_eq!((first.added, first.changed, first.unchanged), (3, 0, 0));
    let again = s
        .roster
        .import(
            &mut EntryBatches::new(sample::entries()),
            ImportMode::Upsert,
            false,
            at(1),
        )
        .await
        .unwrap();
    assert_eq!((again.added, again.changed, again.unchanged), (0, 0, 3));

    let mut moved = sample::jane_doe();
    moved.zips = vec![crate::values::Zip::parse("10001").unwrap()];
    let dry = s
        .roster
        .import(
            &mut EntryBatches::new(vec![moved.clone()]),
            ImportMode::Replace,
            true,
            at(2),
        )
        .await
        .unwrap();
    assert_eq!((dry.changed, dry.deactivated), (1, 2));
    assert_eq!(
        s.roster
            .find(&moved.tax_id, &moved.provider_id)
            .await
            .unwrap(),
        Some(sample::jane_doe()),
        "dry run wrote nothing"
    );

    let replaced = s
        .roster
        .import(
            &mut EntryBatches::new(vec![moved.clone()]),
            ImportMode::Replace,
            false,
            at(3),
        )
        .await
        .unwrap();
    assert_eq!((replaced.changed, replaced.deactivated), (1, 2));
    let group = sample::acme_group();
    let inactive = s
        .roster
        .find(&group.tax_id, &group.provider_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inactive.inactive_since,
        Some(at(3)),
        "kept, marked inactive"
    );
    assert_eq!(
        s.roster.active_under_tax_id(&group.tax_id).await.unwrap(),
        vec![moved.clone()]
    );

    let back = s
        .roster
        .import(
            &mut EntryBatches::new(sample::entries()),
            ImportMode::Replace,
            false,
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(
        (back.reactivated, back.changed, back.deactivated),
        (2, 1, 0)
    );
    assert_eq!(
        s.roster
            .active_under_tax_id(&group.tax_id)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn roster_files_import_all_or_nothing<S, R: ProviderRoster>(s: &Subject<S, R>) {
    use crate::roster_csv::{RosterImportError, import};
    let good = "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
                P1001,12-3456789,practitioner,Jane,Doe,,45202;45011,individual,medicaid\n";
    let summary = import(
        &s.roster,
        "roster.csv",
        std::io::Cursor::new(good),
        ImportMode::Upsert,
        false,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(summary.added, 1);
    // Line 3 is bad: nothing of the file is applied, not even line 2.
    let bad = "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
               G2001,123456789,group,,,Acme Health Group,45202,,medicaid\n\
               P1002,12-345678,practitioner,John,Roe,,45202,group,medicaid\n";
    let Err(RosterImportError::Invalid(errors)) = import(
        &s.roster,
        "roster.csv",
        std::io::Cursor::new(bad),
        ImportMode::Replace,
        false,
        at(1),
    )
    .await
    else {
        panic!("a bad row must refuse the file")
    };
    assert_eq!(
        errors.to_string().lines().next(),
        Some("roster.csv:3: tax_id: expected 9 digits")
    );
    let tax = TaxId::parse(sample::TAX_ID).unwrap();
    let active = s.roster.active_under_tax_id(&tax).await.unwrap();
    assert_eq!(
        active
            .iter()
            .map(|e| e.provider_id.as_str())
            .collect::<Vec<_>>(),
        vec!["P1001"],
        "nothing applied"
    );
}

pub async fn roster_imports_100_000_rows<S, R: ProviderRoster>(s: &Subject<S, R>) {
    use crate::roster_csv::import;
    use std::fmt::Write as _;
    let mut file = String::from(
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n",
    );
    for i in 0..100_000u32 {
        let _ = writeln!(
            file,
            "P{i},{:09},practitioner,First{i},Last,,45202;45011-1234,individual,medicaid;marketplace",
            i % 5000
        );
    }
    let first = import(
        &s.roster,
        "big.csv",
        std::io::Cursor::new(file.clone()),
        ImportMode::Upsert,
        false,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(first.added, 100_000);
    let found = s
        .roster
        .find(
            &TaxId::parse("000000042").unwrap(),
            &ProviderId::parse("P5042").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        found.map(|e| e.display_name()),
        Some("First5042 Last".to_owned())
    );
    assert_eq!(
        s.roster
            .active_under_tax_id(&TaxId::parse("000000007").unwrap())
            .await
            .unwrap()
            .len(),
        20
    );
    let again = import(
        &s.roster,
        "big.csv",
        std::io::Cursor::new(file),
        ImportMode::Upsert,
        false,
        at(1),
    )
    .await
    .unwrap();
    assert_eq!(
        (again.added, again.changed, again.unchanged),
        (0, 0, 100_000),
        "idempotent"
    );
}

/// A bad row the store sees only after it staged whole batches: nothing is
/// written, neither the batches nor, with `--replace`, any deactivation.
pub async fn a_roster_file_failing_after_its_first_batches_writes_nothing<S, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    use crate::roster_csv::{BATCH, HEADER, RosterImportError, import};
    use std::fmt::Write as _;
    seed_roster(&s.roster).await;
    let mut file = format!("{HEADER}\n");
    for i in 0..(2 * BATCH + 1) {
        let _ = writeln!(
            file,
            "N{i},{:09},practitioner,New{i},Row,,45202,individual,medicaid",
            200_000_000 + i
        );
    }
    file.push_str("N9999999,1,practitioner,Bad,Row,,45202,individual,medicaid\n");
    let Err(RosterImportError::Invalid(errors)) = import(
        &s.roster,
        "late.csv",
        std::io::Cursor::new(file),
        ImportMode::Replace,
        false,
        at(1),
    )
    .await
    else {
        panic!("a bad row must refuse the file")
    };
    assert_eq!(errors.total(), 1, "{errors}");
    let staged = s
        .roster
        .find(
            &TaxId::parse("200000000").unwrap(),
            &ProviderId::parse("N0").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(staged, None, "no staged row was applied");
    let tax = TaxId::parse(sample::TAX_ID).unwrap();
    assert!(
        !s.roster.active_under_tax_id(&tax).await.unwrap().is_empty(),
        "nothing was deactivated"
    );
}
