//! Which providers a logged-in account sees.

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
            &mut portal_domain::ports::EntryBatches::new(remaining.clone()),
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
