//! Deletions found by key reconciliation: recorded once, in bounded batches, a quiet table
//! commits nothing, and a key that comes back is a new version.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;

use crate::it::common::Fixture;

/// The keys a batch records as deleted.
async fn deleted_keys(f: &Fixture, manifest: &tote_core::batch::Manifest) -> Vec<i64> {
    tote_core::batch::read_deletions(&f.store(), manifest)
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[tokio::test]
async fn a_deleted_row_is_recorded_once_and_a_key_that_comes_back_is_a_new_version() {
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE currency (currency_id INT PRIMARY KEY, currency_code VARCHAR NOT NULL, \
               created_at TIMESTAMP(3) NOT NULL, last_updated TIMESTAMP(3) NOT NULL); \
             INSERT INTO currency SELECT g, 'C' || g, '2024-01-01', '2024-01-01' FROM generate_series(1, 5) g",
        )
        .await
        .unwrap();
    let first = f.ingest("currency").await.unwrap();
    assert_eq!((first.rows, first.deleted), (5, 0));
    let quiet = f.ingest("currency").await.unwrap();
    assert!(!quiet.changed, "an unchanged key set commits nothing: {quiet:?}");

    f.client
        .batch_execute("DELETE FROM currency WHERE currency_id IN (2, 4)")
        .await
        .unwrap();
    let deleted = f.ingest("currency").await.unwrap();
    assert!(deleted.changed, "{deleted:?}");
    assert_eq!((deleted.rows, deleted.deleted), (0, 2), "{deleted:?}");
    let manifests = f.manifests("currency").await;
    let last = manifests.last().unwrap();
    assert_eq!(deleted_keys(&f, last).await, vec![2, 4]);
    assert!(last.objects.is_empty(), "no versions, only deletions");
    assert_eq!(last.keys.as_ref().unwrap().fingerprint.count, 3);
    let quiet = f.ingest("currency").await.unwrap();
    assert!(!quiet.changed, "a deletion is recorded once: {quiet:?}");

    f.client
        .batch_execute("INSERT INTO currency VALUES (2, 'back', '2024-01-02', '2024-01-02')")
        .await
        .unwrap();
    let back = f.ingest("currency").await.unwrap();
    assert_eq!(
        (back.rows, back.deleted),
        (1, 0),
        "the returning key is a new version: {back:?}"
    );
    assert_eq!(
        f.manifests("currency")
            .await
            .last()
            .unwrap()
            .keys
            .as_ref()
            .unwrap()
            .fingerprint
            .count,
        4
    );
}

/// Keys stream on both sides in batches of 64 Ki: a table of 200,000 rows with every third
/// deleted records exactly those, across many batch boundaries.
#[tokio::test]
async fn reconciliation_streams_large_key_sets_across_batch_boundaries() {
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE design (design_id INT PRIMARY KEY, design_name VARCHAR NOT NULL, \
               created_at TIMESTAMP(3) NOT NULL, last_updated TIMESTAMP(3) NOT NULL); \
             INSERT INTO design SELECT g, 'd', '2024-01-01', '2024-01-01' FROM generate_series(1, 200000) g",
        )
        .await
        .unwrap();
    f.ingest("design").await.unwrap();
    f.client
        .batch_execute("DELETE FROM design WHERE design_id % 3 = 0")
        .await
        .unwrap();
    let r = f.ingest("design").await.unwrap();
    assert_eq!(r.deleted, 66_666, "{r:?}");
    let manifests = f.manifests("design").await;
    let keys = deleted_keys(&f, manifests.last().unwrap()).await;
    assert!(
        keys.iter().copied().eq((1..=66_666).map(|i| i * 3)),
        "exactly every third key, in order"
    );
    assert!(!f.ingest("design").await.unwrap().changed);
}
