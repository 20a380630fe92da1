//! Crashes at every commit boundary, then a retry: exactly one visible batch, nothing lost.

use tote_core::fault;

use crate::it::common::Fixture;

#[tokio::test]
async fn a_crash_at_any_commit_boundary_then_a_retry_yields_exactly_one_batch() {
    for point in [
        "ingest.after_keys",
        "ingest.after_data",
        "ingest.after_manifest",
        "ingest.after_commit",
    ] {
        let f = Fixture::seeded().await;
        fault::arm(point, 1);
        let err = f
            .ingest("staff")
            .await
            .expect_err("the injected crash fails the ingest");
        assert!(err.to_string().contains(point), "{err}");
        let visible = f.manifests("staff").await.len();
        assert_eq!(
            visible,
            usize::from(point == "ingest.after_commit"),
            "{point}: visible batches after the crash"
        );

        let retry = f.ingest("staff").await.unwrap();
        assert_eq!(
            retry.changed,
            point != "ingest.after_commit",
            "{point}: retry commits only if nothing was"
        );
        let manifests = f.manifests("staff").await;
        assert_eq!(manifests.len(), 1, "{point}: exactly one visible batch");
        assert_eq!(
            f.keys_of(&manifests[0]).await,
            f.source_keys("staff", "true").await,
            "{point}: no loss"
        );
    }
    fault::disarm_all();
}

#[tokio::test]
async fn two_ingests_of_one_table_at_once_commit_each_version_once() {
    let f = Fixture::seeded().await;
    let (a, b) = tokio::join!(f.ingest("sales_order"), f.ingest("sales_order"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let manifests = f.manifests("sales_order").await;
    assert_eq!(manifests.len(), usize::from(a.changed) + usize::from(b.changed));
    assert_eq!(
        manifests.len(),
        1,
        "the loser of the race finds the winner's batch and commits nothing"
    );
    assert_eq!(
        f.keys_of(&manifests[0]).await,
        f.source_keys("sales_order", "true").await
    );
}

#[tokio::test]
async fn ingest_commits_to_an_s3_landing_zone_exactly_once() {
    let mut f = Fixture::seeded().await;
    let bucket = tote_testkit::moto::bucket("tote-landing");
    let location = format!("s3://{bucket}/landing");
    f.extra.insert("TOTE_LANDING", location.clone());
    let first = f.ingest("staff").await.unwrap();
    assert!(first.changed);
    fault::arm("ingest.after_manifest", 1);
    f.client
        .batch_execute("UPDATE staff SET last_updated = '2024-03-04 09:00:00' WHERE staff_id = 1")
        .await
        .unwrap();
    f.ingest("staff").await.expect_err("crash before the log entry");
    let retry = f.ingest("staff").await.unwrap();
    assert_eq!(retry.rows, 1);
    assert!(!f.ingest("staff").await.unwrap().changed);
    let store = tote_io::store::Store::open(&location, "TOTE_LANDING").unwrap();
    let log = tote_io::commit_log::CommitLog::new(store.clone(), "staff");
    let entries = log.entries_after(None).await.unwrap();
    assert_eq!(
        entries.len(),
        2,
        "two visible batches: the full read and the one update"
    );
    let second = log.manifest(&entries[1]).await.unwrap();
    assert_eq!(
        tote_io::objects::read_batch(&store, &second).await.unwrap()[0].num_rows(),
        1
    );
}
