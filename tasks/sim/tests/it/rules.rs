//! Every data rule of SPEC.md §1 holds after a seed at the real size and after a day of ticks
//! with every kind of change; the checker itself catches broken data; the late commit really
//! commits late with an old `last_updated`.

use tote_sim::{RunOptions, SeedOptions};

use crate::it::common::{assert_rules_hold, monday_morning, seeded, small};

fn count(counts: &[(&str, i64)], table: &str) -> i64 {
    counts.iter().find(|(t, _)| *t == table).unwrap().1
}

#[tokio::test]
async fn rules_hold_after_a_real_sized_seed_and_a_day_of_every_change() {
    let options = SeedOptions {
        scale: 1.0,
        days: 730,
        seed: 1,
        end: monday_morning(),
        replace: false,
    };
    let (db, client) = seeded(&options).await;
    let counts = tote_sim::table_counts(&client).await.unwrap();
    let expect = [
        ("address", 30, 30),
        ("counterparty", 20, 20),
        ("currency", 3, 3),
        ("department", 8, 8),
        ("staff", 20, 20),
        ("payment_type", 4, 4),
        ("sales_order", 10_500, 12_000),
        ("purchase_order", 4_200, 5_100),
        ("transaction", 14_900, 16_900),
        ("payment", 14_900, 16_900),
    ];
    for (table, lo, hi) in expect {
        let n = count(&counts, table);
        assert!((lo..=hi).contains(&n), "{table}: {n} rows, expected {lo}..={hi}");
    }
    assert_rules_hold(&client, "after seed").await;

    // 100 ticks = 25 simulated hours from Monday 08:00: a business day, a night, Tuesday's flips.
    let run = RunOptions {
        ticks: 100,
        update_rate: 1.0,
        delete_rate: 0.3,
        late_commit: true,
        ..RunOptions::default()
    };
    let reports = tote_sim::run(db.url(), &run, |_| {}).await.unwrap();
    let total = |f: fn(&tote_sim::TickReport) -> u32| reports.iter().map(f).sum::<u32>();
    assert!(total(|r| r.sales_orders) > 10, "new sales orders");
    assert!(total(|r| r.purchase_orders) > 3, "new purchase orders");
    assert!(total(|r| r.paid) > 5, "payments flipped to paid at 07:55");
    assert!(total(|r| r.order_updates) > 20, "order updates");
    assert!(
        total(|r| r.staff_renames) > 20 && total(|r| r.staff_moves) > 20,
        "staff changes"
    );
    assert!(total(|r| r.department_renames) > 10, "department renames");
    assert!(
        total(|r| r.counterparty_moves) > 20 && total(|r| r.address_changes) > 20,
        "address changes"
    );
    assert!(total(|r| r.deletes) > 10, "deletes");
    assert_eq!(
        reports.iter().filter(|r| r.late_opened.is_some()).count(),
        1,
        "one late transaction"
    );
    assert_eq!(
        reports.iter().filter(|r| r.late_committed).count(),
        1,
        "late transaction committed"
    );
    // Ticks in the night bring no orders: the weekday 08:00–18:59 cadence.
    let night = reports
        .iter()
        .find(|r| r.from.unwrap().format("%H:%M").to_string() == "23:00")
        .unwrap();
    assert_eq!(night.sales_orders + night.purchase_orders, 0);
    assert_rules_hold(&client, "after 100 ticks").await;

    // The clock moved 25 hours even though the night wrote nothing.
    let clock = tote_sim::run::current_clock(&client).await.unwrap();
    assert_eq!(clock, monday_morning() + chrono::Duration::hours(25));
}

/// Counts, from a connection of its own, the sales orders stamped exactly `at` and after `at`.
fn visible_from_outside(url: &str, at: chrono::NaiveDateTime) -> (i64, i64) {
    let url = url.to_string();
    // The tick callback is synchronous: look from another thread with a runtime of its own.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = tote_io::pg::connect(&url, tote_io::pg::Role::Source).await.unwrap();
            let row = client
                .query_one(
                    "SELECT count(*) FILTER (WHERE created_at = $1), count(*) FILTER (WHERE created_at > $1) FROM sales_order",
                    &[&at],
                )
                .await
                .unwrap();
            (row.get(0), row.get(1))
        })
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn the_late_transaction_commits_after_newer_rows_with_its_old_timestamp() {
    let (db, _client) = seeded(&small(5)).await;
    let run = RunOptions {
        ticks: 8,
        late_commit: true,
        scale: 4.0,
        ..RunOptions::default()
    };
    let mut late_stamp = None;
    let mut seen = Vec::new();
    let url = db.url().to_string();
    let reports = tote_sim::run(db.url(), &run, |tick| {
        if let Some(at) = tick.late_opened {
            late_stamp = Some(at);
        }
        if let Some(at) = late_stamp {
            seen.push(visible_from_outside(&url, at));
        }
    })
    .await
    .unwrap();
    let opened = reports
        .iter()
        .position(|r| r.late_opened.is_some())
        .expect("late transaction opened");
    let committed = reports
        .iter()
        .position(|r| r.late_committed)
        .expect("late transaction committed");
    assert_eq!(committed, opened + tote_sim::run::LATE_COMMIT_TICKS as usize);
    // seen[i] is the view after tick opened + i.
    let (late_before, newer_before) = seen[committed - opened - 1];
    assert_eq!(late_before, 0, "the late row must be invisible before its commit");
    assert!(
        newer_before > 0,
        "rows stamped after the late one are committed before it"
    );
    let (late_after, _) = seen[committed - opened];
    assert_eq!(
        late_after, 1,
        "the late row is visible once committed, with its old timestamp"
    );
}

#[tokio::test]
async fn the_rule_checker_catches_broken_data() {
    let (_db, client) = seeded(&small(2)).await;
    assert_rules_hold(&client, "before breaking").await;
    client
        .batch_execute(
            "UPDATE payment SET payment_amount = payment_amount + 0.01 WHERE payment_id = 1; \
             UPDATE sales_order SET created_at = '2024-03-02 10:00:00', last_updated = '2024-03-02 10:00:00' WHERE sales_order_id = 2; \
             UPDATE purchase_order SET item_quantity = 5000 WHERE purchase_order_id = 1; \
             UPDATE staff SET department_id = 1 WHERE staff_id = 1",
        )
        .await
        .unwrap();
    let broken: Vec<&str> = tote_sim::rules::check(&client)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let expect_broken = |needle: &str| {
        assert!(
            broken.iter().any(|n| n.contains(needle)),
            "rule containing `{needle}` not flagged; flagged: {broken:?}"
        );
    };
    expect_broken("payment_amount");
    expect_broken("weekdays");
    expect_broken("value ranges");
    expect_broken("no staff in Sales");
}
