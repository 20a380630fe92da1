//! Freshness after each load, and the metrics every stage emits.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tote_load::freshness::{self, Freshness};
use tote_load::Phase;

use tote_testkit::chain::Chain;

/// Measures the chain's freshness now.
async fn measure(chain: &Chain) -> Freshness {
    let config = chain.config();
    freshness::measure(
        &chain.client,
        &chain.warehouse_client().await,
        &tote_io::store::Store::open(&config.landing, "TOTE_LANDING").unwrap(),
        &chain.processed_store(),
        &config,
    )
    .await
    .unwrap()
}

fn table<'a>(f: &'a Freshness, name: &str) -> &'a tote_load::freshness::TableFreshness {
    f.tables.iter().find(|t| t.table == name).unwrap()
}

/// Sets `last_updated` of one sales order to `minutes` before the source's clock.
async fn change_order(chain: &Chain, minutes: i32) {
    chain
        .client
        .execute(
            "UPDATE sales_order SET units_sold = units_sold + 1, \
             last_updated = (clock_timestamp() - make_interval(mins => $1))::timestamp(3) \
             WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)",
            &[&minutes],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn freshness_is_zero_when_caught_up_and_the_age_of_the_oldest_change_not_loaded() {
    let mut chain = Chain::seeded().await;
    let before = measure(&chain).await;
    assert!(
        table(&before, "sales_order").pending_changes > 0 && before.freshness_seconds > 0.0,
        "nothing loaded yet: every row is pending"
    );
    chain.ingest_and_transform().await;
    let loaded = chain.load(Phase::All).await.unwrap();
    assert_eq!(
        loaded.freshness.freshness_millis,
        Some(0),
        "the load measures freshness: caught up"
    );
    let caught_up = measure(&chain).await;
    assert_eq!(caught_up.freshness_seconds, 0.0, "{caught_up:?}");
    assert!(caught_up
        .tables
        .iter()
        .all(|t| t.pending_changes == 0 && t.loaded == t.landed));

    // A change 40 minutes old that no ingest has read: pending, 40 minutes.
    change_order(&chain, 40).await;
    let lagging = measure(&chain).await;
    let sales = table(&lagging, "sales_order");
    assert_eq!(sales.pending_changes, 1, "{sales:?}");
    assert!((2390.0..2500.0).contains(&sales.freshness_seconds), "{sales:?}");
    assert_eq!(
        table(&lagging, "staff").freshness_seconds,
        0.0,
        "a quiet table is 0"
    );

    // Ingested and transformed but not loaded (a load that failed): still pending.
    chain.ingest_and_transform().await;
    let unloaded = measure(&chain).await;
    assert!(unloaded.pending_processed_batches > 0, "{unloaded:?}");
    assert_eq!(table(&unloaded, "sales_order").pending_changes, 1);
    assert!(table(&unloaded, "sales_order").transformed > table(&unloaded, "sales_order").loaded);
    chain.load(Phase::All).await.unwrap();
    assert_eq!(
        measure(&chain).await.freshness_seconds,
        0.0,
        "loaded: caught up again"
    );

    // A late commit: a version dated before the high-water mark, still inside the lookback,
    // that the last ingest did not see. Pending, aged from its own last_updated.
    chain
        .client
        .execute(
            "INSERT INTO design (design_name, file_location, file_name, created_at, last_updated) \
             SELECT 'late', '/late', 'late.json', m - interval '2 minutes', m - interval '2 minutes' \
             FROM (SELECT max(last_updated) AS m FROM design) d",
            &[],
        )
        .await
        .unwrap();
    let late = measure(&chain).await;
    let design = table(&late, "design");
    assert_eq!(design.pending_changes, 1, "{design:?}");
    assert!(design.oldest_pending < design.source_high_water, "{design:?}");
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();
    assert_eq!(
        table(&measure(&chain).await, "design").pending_changes,
        0,
        "the late commit is loaded"
    );
}

/// Every metric `metrics.json` declares is emitted by the stage it names, as an EMF line that
/// parses, with the declared unit and dimensions; and nothing undeclared is.
#[tokio::test]
async fn the_stages_emit_exactly_the_declared_metrics_as_emf() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let captured = lines.clone();
    tote_core::metrics::set_sink(Arc::new(move |line| {
        captured.lock().unwrap().push(line.to_string())
    }));
    let mut chain = Chain::seeded().await;
    chain.ingest_and_transform().await;
    chain.load(Phase::Dimensions).await.unwrap();
    chain.load(Phase::Facts).await.unwrap();
    chain.play(1).await;
    chain.ingest_and_transform().await;
    chain.load(Phase::All).await.unwrap();

    let contract = tote_core::metrics::contract();
    let mut emitted = BTreeSet::new();
    for line in lines.lock().unwrap().iter() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], contract.namespace.as_str(), "{line}");
        assert!(v["_aws"]["Timestamp"].is_i64(), "{line}");
        let dims: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        for d in &dims {
            assert!(v[d].is_string(), "dimension {d} has a value: {line}");
        }
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            let spec = contract
                .metrics
                .iter()
                .find(|s| s.name == name)
                .expect("declared");
            assert_eq!(m["Unit"], spec.unit.as_str(), "{line}");
            assert_eq!(dims, spec.dimensions, "{line}");
            assert!(v[name].is_number(), "{line}");
            let stage = v["Stage"].as_str().unwrap_or("load");
            emitted.insert((name.to_string(), stage.to_string()));
        }
    }
    let declared: BTreeSet<(String, String)> = contract
        .metrics
        .iter()
        .flat_map(|m| m.stages.iter().map(move |s| (m.name.clone(), s.clone())))
        .collect();
    assert_eq!(
        emitted, declared,
        "every declared metric from every stage it names, and nothing else"
    );
}
