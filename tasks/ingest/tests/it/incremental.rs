//! Full then incremental ingest of every table, late commits, and ties on last_updated.

use chrono::{Duration, NaiveDateTime};
use tote_core::tables::SOURCE_TABLES;

use crate::it::common::Fixture;

#[tokio::test]
async fn full_then_incremental_ingest_captures_exactly_the_changed_versions() {
    let f = Fixture::seeded().await;
    // The source server's time zone is not UTC, nor a whole hour from it: last_updated is a naive
    // timestamp, so the cursor must not shift (every session below, the ingest's included, gets
    // this zone).
    f.client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET timezone = 'Asia/Kathmandu'",
            tote_core::tables::quote_ident(f.db.name())
        ))
        .await
        .unwrap();
    let fresh = tote_io::pg::connect(f.db.url(), tote_io::pg::Role::Source)
        .await
        .unwrap();
    let zone: String = fresh.query_one("SHOW timezone", &[]).await.unwrap().get(0);
    assert_eq!(
        zone, "Asia/Kathmandu",
        "a new session, as the ingest's, runs in that zone"
    );
    let mut high_water = Vec::new();
    for table in SOURCE_TABLES {
        let r = f.ingest(table).await.unwrap();
        assert!(r.changed, "{table}: first ingest commits a batch");
        let manifests = f.manifests(table).await;
        assert_eq!(manifests.len(), 1);
        assert_eq!(
            f.keys_of(&manifests[0]).await,
            f.source_keys(table, "true").await,
            "{table}: full ingest"
        );
        assert_eq!(r.rows, manifests[0].rows);
        high_water.push(r.high_water.unwrap());
    }

    let run = tote_sim::RunOptions {
        ticks: 16,
        update_rate: 1.0,
        delete_rate: 0.3,
        scale: 3.0,
        ..Default::default()
    };
    tote_sim::run(f.db.url(), &run, |_| {}).await.unwrap();

    let mut changed_tables = 0;
    for (table, hw) in SOURCE_TABLES.iter().zip(&high_water) {
        let filter = format!("last_updated > '{}'", hw.format("%Y-%m-%d %H:%M:%S%.6f"));
        let expected = f.source_keys(table, &filter).await;
        let r = f.ingest(table).await.unwrap();
        assert_eq!(r.changed, !expected.is_empty(), "{table}: changed flag");
        if r.changed {
            changed_tables += 1;
            let manifests = f.manifests(table).await;
            assert_eq!(manifests.len(), 2);
            assert_eq!(
                f.keys_of(&manifests[1]).await,
                expected,
                "{table}: incremental batch = the changed versions"
            );
            assert_eq!(
                manifests[1].cursor.as_ref().unwrap().since,
                Some(*hw - Duration::minutes(10))
            );
        }
    }
    assert!(
        changed_tables >= 8,
        "the run should have touched most tables, touched {changed_tables}"
    );

    // Nothing changed since: every table reports no changes and commits nothing.
    for table in SOURCE_TABLES {
        let before = f.manifests(table).await.len();
        let r = f.ingest(table).await.unwrap();
        assert!(!r.changed, "{table}: a quiet source yields no batch");
        assert_eq!(f.manifests(table).await.len(), before);
    }
}

/// Inserts a sales order (copied from an existing one) stamped `at`, on `client`.
async fn insert_sales_order(client: &tokio_postgres::Client, at: NaiveDateTime) -> i32 {
    client
        .query_one(
            "INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, \
             currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) \
             SELECT $1, $1, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, \
                    agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id FROM sales_order LIMIT 1 \
             RETURNING sales_order_id",
            &[&at],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_transaction_that_commits_late_with_an_old_last_updated_is_captured() {
    let f = Fixture::seeded().await;
    let first = f.ingest("sales_order").await.unwrap();
    let hw = first.high_water.unwrap();

    // A new row lands after the high-water mark, and a slow transaction stamps a row *before* it.
    insert_sales_order(&f.client, hw + Duration::seconds(30)).await;
    let late = tote_io::pg::connect(f.db.url(), tote_io::pg::Role::Source)
        .await
        .unwrap();
    late.batch_execute("BEGIN").await.unwrap();
    let late_id = insert_sales_order(&late, hw - Duration::minutes(3)).await;

    let second = f.ingest("sales_order").await.unwrap();
    assert_eq!(second.rows, 1, "only the committed row is visible");
    late.batch_execute("COMMIT").await.unwrap();

    let third = f.ingest("sales_order").await.unwrap();
    assert!(third.changed, "the late row must be picked up by the next ingest");
    let manifests = f.manifests("sales_order").await;
    let keys = f.keys_of(manifests.last().unwrap()).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.iter().next().unwrap().0, late_id as i64);
}

#[tokio::test]
async fn many_rows_sharing_one_last_updated_across_batch_boundaries_are_all_kept() {
    let f = Fixture::seeded().await;
    let tie = NaiveDateTime::parse_from_str("2024-03-04 12:00:00.123", "%Y-%m-%d %H:%M:%S%.3f").unwrap();
    let add = |n: i32| {
        let client = &f.client;
        async move {
            client
                .execute(
                    "INSERT INTO design (created_at, design_name, file_location, file_name, last_updated) \
                     SELECT $1, 'Tie', '/t', 'tie-' || g || '.json', $1 FROM generate_series(1, $2) g",
                    &[&tie, &n],
                )
                .await
                .unwrap();
        }
    };
    add(40_000).await; // more than two record batches share the one timestamp
    let first = f.ingest("design").await.unwrap();
    assert_eq!(first.rows as usize, f.source_keys("design", "true").await.len());
    add(500).await; // committed later, same timestamp as the high-water mark
    let second = f.ingest("design").await.unwrap();
    assert_eq!(
        second.rows, 500,
        "every later row with the tied timestamp is captured, none twice"
    );
    let all: usize = {
        let mut n = 0;
        for m in f.manifests("design").await {
            n += f.keys_of(&m).await.len();
        }
        n
    };
    assert_eq!(all, f.source_keys("design", "true").await.len());
}

/// The source's clock now, as a naive timestamp in a new session's time zone (the ingest's), to
/// the millisecond as `last_updated` holds it.
async fn source_clock(f: &Fixture) -> NaiveDateTime {
    tote_io::pg::connect(f.db.url(), tote_io::pg::Role::Source)
        .await
        .unwrap()
        .query_one("SELECT clock_timestamp()::timestamp(3)", &[])
        .await
        .unwrap()
        .get(0)
}

/// A writer whose clock ran two hours ahead stamps a row in the future; once its clock is set
/// right, rows are stamped two hours below the high-water mark. They must not be missed.
#[tokio::test]
async fn a_row_stamped_by_a_clock_that_ran_ahead_does_not_hide_the_rows_after_it() {
    let f = Fixture::seeded().await;
    let now = source_clock(&f).await;
    insert_sales_order(&f.client, now - Duration::minutes(1)).await;
    f.ingest("sales_order").await.unwrap();

    let ahead = insert_sales_order(&f.client, now + Duration::hours(2)).await;
    let second = f.ingest("sales_order").await.unwrap();
    assert_eq!(second.rows, 1);
    assert_eq!(second.high_water.unwrap(), now + Duration::hours(2));

    let after = insert_sales_order(&f.client, source_clock(&f).await).await;
    let third = f.ingest("sales_order").await.unwrap();
    assert!(
        third.changed,
        "the row stamped after the clock was set right is read"
    );
    let manifests = f.manifests("sales_order").await;
    let keys: Vec<i64> = f
        .keys_of(manifests.last().unwrap())
        .await
        .iter()
        .map(|k| k.0)
        .collect();
    assert_eq!(
        keys,
        vec![after as i64],
        "only it: the row from the future is a re-read ({ahead})"
    );
    let quiet = f.ingest("sales_order").await.unwrap();
    assert!(!quiet.changed, "and nothing after that");
}

/// The source's clock jumps back twelve hours between two ingests (here: the zone its sessions
/// use changes, which is what a naive-timestamp source sees of a clock correction or a
/// daylight-saving change). A row stamped after the jump lies far below the high-water mark;
/// the next read is whole, so it is captured, and the one after is incremental again.
#[tokio::test]
async fn a_source_clock_that_jumps_back_makes_the_next_read_whole() {
    let f = Fixture::seeded().await;
    let before = source_clock(&f).await;
    insert_sales_order(&f.client, before - Duration::minutes(1)).await;
    let first = f.ingest("sales_order").await.unwrap();
    assert!(first.since.is_none());
    insert_sales_order(&f.client, source_clock(&f).await).await;
    let second = f.ingest("sales_order").await.unwrap();
    assert!(second.since.is_some(), "an ordinary incremental read");

    f.client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET timezone = 'Etc/GMT+12'",
            tote_core::tables::quote_ident(f.db.name())
        ))
        .await
        .unwrap();
    let after = source_clock(&f).await;
    assert!(
        after < before - Duration::hours(6),
        "the clock went back: {before} → {after}"
    );
    let stamped = insert_sales_order(&f.client, after).await;

    let third = f.ingest("sales_order").await.unwrap();
    assert!(third.since.is_none(), "the read after a jump back is whole");
    let manifests = f.manifests("sales_order").await;
    let keys = f.keys_of(manifests.last().unwrap()).await;
    assert!(
        keys.iter().any(|k| k.0 == stamped as i64),
        "the row stamped after the jump is captured"
    );
    let next = insert_sales_order(&f.client, source_clock(&f).await).await;
    let fourth = f.ingest("sales_order").await.unwrap();
    assert!(fourth.since.is_some(), "then incremental again");
    let manifests = f.manifests("sales_order").await;
    let keys: Vec<i64> = f
        .keys_of(manifests.last().unwrap())
        .await
        .iter()
        .map(|k| k.0)
        .collect();
    assert_eq!(keys, vec![next as i64]);
}
