//! A whole-table read in chunks: every chunk retried, the commit retried, a chunk missing.

use tote_core::ErrorKind;
use tote_ingest::chunks::{self, ChunkedTable};
use tote_ingest::{IngestRequest, PlanRequest, PlanResponse};

use crate::it::common::Fixture;

#[tokio::test]
async fn chunks_retried_and_committed_twice_make_one_batch_of_every_row_and_every_key() {
    let mut f = Fixture::seeded().await;
    let request = PlanRequest {
        tables: Some(vec!["sales_order".into(), "staff".into()]),
        ..PlanRequest::default()
    };
    let (rows, plan) = plan_in_parts(&mut f, 4, request).await;
    let config = f.config();
    assert_eq!(plan.tables, ["staff"], "the small table is read whole");
    assert_eq!(plan.chunked.len(), 1);
    let table: &ChunkedTable = &plan.chunked[0];
    assert!(table.chunks >= 4, "{plan:?}");
    assert_eq!(plan.chunks.len(), table.chunks as usize);
    assert_eq!(plan.chunks[0].from, None, "the first range is open below");
    assert_eq!(plan.chunks.last().unwrap().to, None, "the last is open above");

    // Each chunk twice (a retry after a lost reply): the first part recorded stands.
    for chunk in &plan.chunks {
        let request = IngestRequest {
            execution: Some("test".into()),
            ..chunk_request(chunk)
        };
        let first = tote_ingest::ingest(&config, &request).await.unwrap();
        let again = tote_ingest::ingest(&config, &request).await.unwrap();
        assert_eq!(first.batch_id, again.batch_id, "chunk {}", chunk.index);
        assert_eq!(first.seq, None, "a chunk commits nothing by itself");
    }
    assert!(
        f.manifests("sales_order").await.is_empty(),
        "nothing visible before the commit"
    );

    let committed = chunks::commit(&config, table).await.unwrap();
    let again = chunks::commit(&config, table).await.unwrap();
    assert_eq!(committed.seq, Some(1));
    assert_eq!(again.seq, Some(1), "a second commit answers as the first");
    assert_eq!(committed.batch_id.as_deref(), Some(table.group.as_str()));
    let manifests = f.manifests("sales_order").await;
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].rows, rows as u64);
    assert_eq!(
        f.keys_of(&manifests[0]).await,
        f.source_keys("sales_order", "true").await,
        "every version once"
    );
    assert_eq!(manifests[0].keys.as_ref().unwrap().fingerprint.count, rows);

    // An incremental read after it finds nothing new: the cursor and the key set are whole.
    let next = f.ingest("sales_order").await.unwrap();
    assert!(!next.changed, "{next:?}");
}

/// Rows written after the plan fixed its mark: an updated row and a new one, both dated above
/// it. The chunks keep their keys in the key set but not their versions, which the next
/// incremental read takes; after both reads the landing zone holds every source row.
#[tokio::test]
async fn rows_written_after_the_plan_join_the_key_set_and_the_next_read_takes_them() {
    let mut f = Fixture::seeded().await;
    let request = PlanRequest {
        tables: Some(vec!["sales_order".into()]),
        full_refresh: Some(true),
        ..PlanRequest::default()
    };
    let (rows, plan) = plan_in_parts(&mut f, 3, request).await;
    let config = f.config();
    let table = &plan.chunked[0];
    assert!(plan.chunks.len() >= 3, "{plan:?}");
    let until = plan.chunks[0].until;

    let updated: i32 = f
        .client
        .query_one(
            "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = localtimestamp \
             WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order) RETURNING sales_order_id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let inserted: i32 = f
        .client
        .query_one(
            "INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, \
             units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, \
             agreed_delivery_location_id) \
             SELECT localtimestamp, localtimestamp, design_id, staff_id, counterparty_id, units_sold, \
             unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id \
             FROM sales_order ORDER BY sales_order_id LIMIT 1 RETURNING sales_order_id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let after_the_mark = f
        .source_keys(
            "sales_order",
            &format!("sales_order_id IN ({updated}, {inserted})"),
        )
        .await;
    assert!(
        after_the_mark.iter().all(|(_, lu)| *lu > until),
        "the two rows are dated above the mark {until}: {after_the_mark:?}"
    );

    for chunk in &plan.chunks {
        tote_ingest::ingest(&config, &chunk_request(chunk)).await.unwrap();
    }
    chunks::commit(&config, table).await.unwrap();
    let first = f.manifests("sales_order").await.remove(0);
    let at_or_below = f.source_keys("sales_order", "true").await;
    let at_or_below: std::collections::BTreeSet<_> =
        at_or_below.difference(&after_the_mark).cloned().collect();
    assert_eq!(
        f.keys_of(&first).await,
        at_or_below,
        "the versions at or below the mark, once"
    );
    let keys = first.keys.as_ref().unwrap();
    assert_eq!(keys.fingerprint.count, rows + 1, "every key, the new one too");
    assert!(first.deletions.is_none(), "no key went missing");

    let next = f.ingest("sales_order").await.unwrap();
    assert!(next.changed, "{next:?}");
    let second = f.manifests("sales_order").await.remove(1);
    let read = f.keys_of(&second).await;
    assert!(read.is_superset(&after_the_mark), "{read:?}");
    assert_eq!(next.deleted, 0, "{next:?}");
}

#[tokio::test]
async fn a_commit_with_a_chunk_missing_names_it_and_commits_nothing() {
    let mut f = Fixture::seeded().await;
    f.extra.insert("TOTE_CHUNK_ROWS", "50".into());
    let config = f.config();
    let plan = tote_ingest::plan(
        &config,
        &PlanRequest {
            tables: Some(vec!["sales_order".into()]),
            full_refresh: Some(true),
            ..PlanRequest::default()
        },
    )
    .await
    .unwrap();
    let table = &plan.chunked[0];
    for chunk in plan.chunks.iter().filter(|c| c.index != 1) {
        tote_ingest::ingest(&config, &chunk_request(chunk)).await.unwrap();
    }
    let err = chunks::commit(&config, table).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    let message = err.to_string();
    assert!(message.contains("chunk 1 of"), "{message}");
    assert!(message.contains("redrive"), "{message}");
    assert!(f.manifests("sales_order").await.is_empty());
}

#[test]
fn ranges_cover_the_key_span_in_about_equal_parts_open_at_both_ends() {
    let ranges = chunks::ranges(1, 1000, 1000, 300);
    assert_eq!(ranges.len(), 4);
    assert_eq!(ranges[0].from, None);
    assert_eq!(ranges[3].to, None);
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].to, pair[1].from, "adjacent, no gap, no overlap");
    }
    assert_eq!(ranges[1].from, Some(251));
    assert!(ranges[0].contains(i64::MIN) && ranges[3].contains(i64::MAX));
    // More chunks asked than keys in the span: one key each at most.
    assert_eq!(chunks::ranges(5, 6, 1000, 1).len(), 2);
    assert_eq!(chunks::ranges(5, 5, 10, 100).len(), 1);
}

/// `sales_order`'s row count, and the plan `request` makes with chunks of about a `parts`-th of it.
async fn plan_in_parts(f: &mut Fixture, parts: i64, request: PlanRequest) -> (i64, PlanResponse) {
    let rows: i64 = f
        .client
        .query_one("SELECT count(*) FROM sales_order", &[])
        .await
        .unwrap()
        .get(0);
    f.extra
        .insert("TOTE_CHUNK_ROWS", (rows / parts).max(1).to_string());
    let plan = tote_ingest::plan(&f.config(), &request).await.unwrap();
    (rows, plan)
}

/// The ingest of `chunk` of `sales_order`, as the state machine asks for it.
fn chunk_request(chunk: &chunks::Chunk) -> IngestRequest {
    IngestRequest {
        table: "sales_order".into(),
        execution: None,
        full_refresh: true,
        chunk: Some(chunk.clone()),
    }
}
