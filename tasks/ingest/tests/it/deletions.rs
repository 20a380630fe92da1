//! Deletions found by key reconciliation: recorded once, in bounded batches, a quiet table
//! commits nothing, and a key that comes back is a new version.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;

use crate::it::common::Fixture;

/// The keys a batch records as deleted.
async fn deleted_keys(f: &Fixture, manifest: &tote_core::batch::Manifest) -> Vec<i64> {
    tote_io::objects::read_deletions(&f.store(), manifest)
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

/// A whole-table read records the keys it read, sorted, with the fingerprint computed in tote
/// ([`tote_core::batch::KeyFingerprint::of`]): it must equal the source's own aggregate, or
/// the next, quiet, ingest would see a changed key set. Keys of every sign and size, in a heap
/// order that is not key order (updated rows move to the end of the heap).
#[tokio::test]
async fn a_whole_table_read_records_its_own_keys_sorted_with_the_sources_fingerprint() {
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE staff (staff_id BIGINT PRIMARY KEY, first_name VARCHAR NOT NULL, \
               created_at TIMESTAMP(3) NOT NULL, last_updated TIMESTAMP(3) NOT NULL); \
             INSERT INTO staff SELECT k, 's', '2024-01-01', '2024-01-01' FROM unnest(ARRAY[ \
               0, 1, -1, 2147483647, -2147483648, 2147483648, -2147483649, 4294967295, 4294967296, \
               9223372036854775807, -9223372036854775807, 123456789012, -98765432109]::int8[]) k; \
             INSERT INTO staff SELECT g * 7919, 's', '2024-01-01', '2024-01-01' FROM generate_series(1, 100000) g; \
             UPDATE staff SET first_name = 't', last_updated = '2024-01-02' WHERE staff_id % 5 = 0 OR staff_id < 0",
        )
        .await
        .unwrap();
    let first = f.ingest("staff").await.unwrap();
    assert_eq!(first.rows, 100_013, "{first:?}");
    let manifest = f.manifests("staff").await.pop().unwrap();
    let recorded = manifest.keys.as_ref().unwrap();
    let fingerprint = f
        .client
        .query_one(
            "SELECT count(*)::int8, coalesce(sum(staff_id::int8), 0)::int8, \
             coalesce(sum(hashint8(staff_id::int8)::int8), 0)::int8 FROM staff",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            recorded.fingerprint.count,
            recorded.fingerprint.sum,
            recorded.fingerprint.hash_sum
        ),
        (fingerprint.get(0), fingerprint.get(1), fingerprint.get(2)),
        "the fingerprint tote computed equals the source's"
    );
    let hashes = f
        .client
        .query(
            "SELECT k, hashint8(k) FROM unnest(ARRAY[0, 1, -1, 2147483648, -2147483649, \
               9223372036854775807, -9223372036854775808, 123456789012]::int8[]) k",
            &[],
        )
        .await
        .unwrap();
    for row in hashes {
        let k: i64 = row.get(0);
        assert_eq!(
            tote_core::batch::hashint8(k),
            row.get::<_, i32>(1),
            "hashint8({k})"
        );
    }
    let store = f.store();
    let body = tote_io::objects::read_object(&store, &manifest, &recorded.object)
        .await
        .unwrap();
    let keys: Vec<i64> = tote_io::objects::parquet_object_batches(&store, &manifest, &recorded.object, body)
        .unwrap()
        .flat_map(|b| b.unwrap().column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    let source: Vec<i64> = f
        .client
        .query("SELECT staff_id FROM staff ORDER BY staff_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, source, "the key set is every key, ascending");
    assert!(
        !f.ingest("staff").await.unwrap().changed,
        "a quiet table stays quiet"
    );

    f.client
        .batch_execute("DELETE FROM staff WHERE staff_id IN (-1, 4294967296, 7919)")
        .await
        .unwrap();
    let deleted = f.ingest("staff").await.unwrap();
    let last = f.manifests("staff").await.pop().unwrap();
    assert_eq!(
        deleted_keys(&f, &last).await,
        vec![-1, 7919, 4294967296],
        "{deleted:?}"
    );
}
