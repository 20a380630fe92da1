//! Table names outside the allow-list are refused before anything touches the source.

use tote_core::ErrorKind;

use crate::it::common::Fixture;

#[tokio::test]
async fn unknown_internal_and_hostile_table_names_are_refused() {
    let mut f = Fixture::seeded().await;
    for name in [
        "_prisma_migrations",
        "pg_authid",
        "staff\"; DROP TABLE staff; --",
        "Staff",
        "",
        "sales_order ",
    ] {
        let err = f.ingest(name).await.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::BadRequest, "{name}: {err}");
        assert!(
            err.message().contains("allowed:"),
            "the message lists what is allowed: {err}"
        );
    }
    // A ToteSys table left out of TOTE_TABLES is refused too.
    f.extra.insert("TOTE_TABLES", "staff,department".into());
    let err = f.ingest("payment").await.expect_err("not allowed by TOTE_TABLES");
    assert!(err.message().contains("TOTE_TABLES"), "{err}");
    // The hostile name did nothing.
    let staff: i64 = f
        .client
        .query_one("SELECT count(*) FROM staff", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(staff, 20);
    assert!(
        f.store().list("", None).await.unwrap().is_empty(),
        "nothing written for refused requests"
    );
}
