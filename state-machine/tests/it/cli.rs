//! The `tote` command itself: exit status, the summary, and no password in any output.

use std::process::Command;

use tote_testkit::chain::Chain;

/// The `tote` command with `chain`'s configuration.
fn tote_command(chain: &Chain) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tote"));
    command
        .env("TOTE_SOURCE_URL", chain.source.url())
        .env("TOTE_WAREHOUSE_URL", chain.warehouse.url())
        .env("TOTE_LANDING", chain.landing.path())
        .env("TOTE_PROCESSED", chain.processed.path())
        .env("TOTE_HOME", chain.home.path());
    command
}

/// Runs `command`: whether it succeeded, and its stdout and stderr together.
pub(crate) fn outcome(command: &mut Command) -> (bool, String) {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tote(chain: &Chain, args: &[&str]) -> (bool, String) {
    outcome(tote_command(chain).args(args))
}

fn password(url: &str) -> String {
    url::Url::parse(url).unwrap().password().unwrap().to_string()
}

#[tokio::test]
async fn tote_run_succeeds_with_a_summary_and_fails_with_a_non_zero_status() {
    let chain = Chain::seeded().await;
    let (ok, text) = tote(&chain, &["run", "--name", "good"]);
    assert!(ok, "{text}");
    assert!(text.contains("execution good SUCCEEDED"), "{text}");
    assert!(text.contains("fact_sales_order"), "rows per model: {text}");

    let (ok, text) = tote(
        &chain,
        &["run", "--name", "bad", "--tables", "_prisma_migrations"],
    );
    assert!(!ok, "a refused table fails the execution: {text}");
    assert!(text.contains("Tote.BadRequest"), "{text}");
    assert!(
        text.contains("start a new execution with corrected input"),
        "says what to do, and not to redrive the same input: {text}"
    );

    // An injection attempt in the execution input is refused the same way, and nothing runs.
    let (ok, text) = tote(
        &chain,
        &[
            "run",
            "--name",
            "hostile",
            "--tables",
            "staff\"; DROP TABLE staff; --",
        ],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("Tote.BadRequest") && text.contains("not a ToteSys table"),
        "{text}"
    );
    let staff: i64 = chain
        .client
        .query_one("SELECT count(*) FROM staff", &[])
        .await
        .unwrap()
        .get(0);
    assert!(staff > 0, "the source is untouched");

    let (ok, text) = tote(&chain, &["verify"]);
    assert!(ok, "the warehouse reconciles after a run: {text}");
    assert!(
        text.contains("fact_sales_order") && !text.contains("MISMATCH"),
        "{text}"
    );

    // Tamper with the warehouse: verify names the table and the id, and fails.
    let wh = chain.warehouse_client().await;
    wh.batch_execute(
        "UPDATE dim_staff SET last_name = 'Tampered' WHERE staff_id = (SELECT min(staff_id) FROM dim_staff)",
    )
    .await
    .unwrap();
    let (ok, text) = tote(&chain, &["verify"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("dim_staff") && text.contains("MISMATCH: id") && text.contains("differs"),
        "{text}"
    );

    let (ok, text) = tote(&chain, &["executions", "list"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("good") && text.contains("SUCCEEDED") && text.contains("FAILED"),
        "{text}"
    );
    let (ok, text) = tote(&chain, &["executions", "show", "bad", "--events"]);
    assert!(ok, "{text}");
    assert!(text.contains("failed at  Plan"), "{text}");

    for secret in [password(chain.source.url()), password(chain.warehouse.url())] {
        let (_, text) = tote(&chain, &["executions", "show", "good", "--json", "--events"]);
        assert!(!text.contains(&secret), "no password in an execution's history");
        let alerts = std::fs::read_to_string(chain.home.path().join("alerts.jsonl")).unwrap_or_default();
        assert!(!alerts.contains(&secret));
    }
}

/// Everything a failing run prints at debug level, and every file it leaves under `TOTE_HOME`
/// (history, alerts), searched for the passwords: a wrong warehouse password (the load fails),
/// then a wrong source password (the ingest fails).
#[tokio::test]
async fn no_password_reaches_any_output_of_a_failing_run_even_at_debug_level() {
    let chain = Chain::seeded().await;
    let with_password = |url: &str, secret: &str| {
        let mut url = url::Url::parse(url).unwrap();
        url.set_password(Some(secret)).unwrap();
        url.to_string()
    };
    let wrong_warehouse = with_password(chain.warehouse.url(), "Wr0ng-Warehouse-Secret");
    let wrong_source = with_password(chain.source.url(), "Wr0ng-Source-Secret");
    let runs = [
        ("bad-warehouse", chain.source.url().to_string(), wrong_warehouse),
        ("bad-source", wrong_source, chain.warehouse.url().to_string()),
    ];
    let mut everything = String::new();
    for (name, source, warehouse) in &runs {
        let (ok, text) = outcome(
            tote_command(&chain)
                .args(["-vv", "run", "--name", name])
                .env("TOTE_SOURCE_URL", source)
                .env("TOTE_WAREHOUSE_URL", warehouse),
        );
        assert!(!ok, "{name} fails");
        assert!(text.contains("refused the credentials"), "{name} says why");
        everything.push_str(&text);
    }
    let mut dirs = vec![chain.home.path().to_path_buf()];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                everything.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
                files += 1;
            }
        }
    }
    assert!(files >= 3, "the histories and the alerts were searched too");
    assert!(
        everything.contains(":***@"),
        "the URLs do appear, redacted, so the search below looks where a leak would be"
    );
    for secret in [
        "Wr0ng-Warehouse-Secret".to_string(),
        "Wr0ng-Source-Secret".to_string(),
        password(chain.source.url()),
        password(chain.warehouse.url()),
    ] {
        assert!(!everything.contains(&secret), "a password reached the output");
    }
}

/// `tote status` on a caught-up pipeline (exit 0), a lagging one (a change older than the SLA
/// not yet in the warehouse: exit 3, naming the table), and a broken one (the source down:
/// exit 1 with a message and no password). It writes nothing anywhere.
#[tokio::test]
async fn tote_status_exits_zero_caught_up_three_past_the_sla_and_one_when_broken() {
    let chain = Chain::seeded().await;
    let (ok, text) = tote(&chain, &["run", "--name", "first"]);
    assert!(ok, "{text}");
    let (ok, text) = tote(&chain, &["status"]);
    assert!(ok, "{text}");
    assert!(text.contains("verdict: within the SLA"), "{text}");
    assert!(text.contains("first"), "lists the execution: {text}");

    let (_, json) = tote(&chain, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["within_sla"], true);
    assert_eq!(status["freshness"]["tables"].as_array().unwrap().len(), 11);

    chain
        .client
        .execute(
            "UPDATE staff SET first_name = 'Late', last_updated = (clock_timestamp() - interval '45 minutes')::timestamp(3) \
             WHERE staff_id = 1",
            &[],
        )
        .await
        .unwrap();
    let landing_before = std::fs::read_dir(chain.landing.path().join("staff/_log"))
        .unwrap()
        .count();
    let out = tote_command(&chain).args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("SLA BREACHED") && text.contains("staff: 1 change(s)"),
        "{text}"
    );
    let out = tote_command(&chain)
        .args(["status", "--sla", "2h"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a looser SLA: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        std::fs::read_dir(chain.landing.path().join("staff/_log"))
            .unwrap()
            .count(),
        landing_before,
        "status is read-only"
    );

    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "postgres://tote:secret-pw@127.0.0.1:{}/down?sslmode=disable",
            listener.local_addr().unwrap().port()
        )
    };
    let out = tote_command(&chain)
        .env("TOTE_SOURCE_URL", &dead)
        .args(["status"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("source"), "{text}");
    assert!(!text.contains("secret-pw"), "{text}");
}

/// `tote verify` after updates and deletes: it passes (exit 0) and counts the deleted rows per
/// table, from the warehouse's deletions; a deletion the warehouse has not yet loaded is a
/// mismatch that names the id.
#[tokio::test]
async fn tote_verify_passes_after_updates_and_deletes_and_counts_the_deletions() {
    let chain = Chain::seeded().await;
    let (ok, text) = tote(&chain, &["run", "--name", "first"]);
    assert!(ok, "{text}");
    chain.play(1).await;
    chain.play(2).await;
    let (ok, text) = tote(&chain, &["run", "--name", "second"]);
    assert!(ok, "{text}");
    let (ok, json) = tote(&chain, &["verify", "--json"]);
    assert!(ok, "verify passes after updates and deletes: {json}");
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    let deleted = |table: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == table)
            .map(|r| r["deleted_at_source"].as_u64().unwrap())
            .unwrap()
    };
    // The orders the warehouse's history has and the source no longer has.
    let ids = |rows: Vec<tokio_postgres::Row>| -> std::collections::BTreeSet<i32> {
        rows.iter().map(|r| r.get(0)).collect()
    };
    let source = ids(chain
        .client
        .query("SELECT sales_order_id FROM sales_order", &[])
        .await
        .unwrap());
    let history = ids(chain
        .warehouse_client()
        .await
        .query("SELECT DISTINCT sales_order_id FROM fact_sales_order", &[])
        .await
        .unwrap());
    let gone = history.difference(&source).count() as u64;
    assert!(gone > 0, "the simulator deleted some orders");
    assert_eq!(deleted("fact_sales_order"), gone, "every deleted order counted");

    // Deleted at the source, not yet loaded: a mismatch naming the id.
    let id: i32 = chain
        .client
        .query_one("SELECT max(payment_id) FROM payment", &[])
        .await
        .unwrap()
        .get(0);
    chain
        .client
        .execute("DELETE FROM payment WHERE payment_id = $1", &[&id])
        .await
        .unwrap();
    let (ok, text) = tote(&chain, &["verify"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("fact_payment") && text.contains(&format!("id {id} deleted at the source")),
        "{text}"
    );
}

/// A model added from a directory (`TOTE_MODELS`: `tests/fixtures/extra-model`, a
/// `dim_department` dimension) with no change to Rust: the load names the warehouse table it lacks
/// and what to do; once the table exists, a redrive transforms and loads it, `tote verify`
/// reconciles it with the source, and a change at the source reaches it on the next run.
#[tokio::test]
async fn a_model_added_from_a_directory_is_transformed_loaded_and_verified() {
    let chain = Chain::seeded().await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tote_with_model = |args: &[&str]| {
        outcome(
            tote_command(&chain)
                .env("TOTE_MODELS", fixtures.join("extra-model"))
                .args(args),
        )
    };
    let (ok, text) = tote_with_model(&["run", "--name", "first"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("no table dim_department") && text.contains("TOTE_MODELS"),
        "names the table the model needs: {text}"
    );

    let wh = chain.warehouse_client().await;
    wh.batch_execute(&std::fs::read_to_string(fixtures.join("extra-model.warehouse.sql")).unwrap())
        .await
        .unwrap();
    let (ok, text) = tote_with_model(&["executions", "redrive", "first"]);
    assert!(ok, "{text}");
    let source_rows = rows_as_text(
        &chain.client,
        "SELECT department_id, department_name, COALESCE(location, 'Unknown'), manager FROM department",
    )
    .await;
    let warehouse_rows = rows_as_text(
        &wh,
        "SELECT department_id, department_name, location, manager FROM dim_department",
    )
    .await;
    assert!(!source_rows.is_empty());
    assert_eq!(
        warehouse_rows, source_rows,
        "dim_department holds every department"
    );

    let (ok, json) = tote_with_model(&["verify", "--json"]);
    assert!(ok, "{json}");
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    let report = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["table"] == "dim_department")
        .expect("verify checks the added model");
    assert_eq!(
        report["matching"].as_u64(),
        Some(source_rows.len() as u64),
        "{report}"
    );

    chain
        .client
        .execute(
            "UPDATE department SET department_name = 'Renamed', last_updated = now() \
             WHERE department_id = (SELECT min(department_id) FROM department)",
            &[],
        )
        .await
        .unwrap();
    let (ok, text) = tote_with_model(&["run", "--name", "second"]);
    assert!(ok, "{text}");
    let renamed: i64 = wh
        .query_one(
            "SELECT count(*) FROM dim_department WHERE department_name = 'Renamed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(renamed, 1, "the change reached the added model");
    let (ok, text) = tote_with_model(&["verify"]);
    assert!(ok && text.contains("dim_department"), "{text}");
}

/// Every row of `sql`, each column as text, sorted.
async fn rows_as_text(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<Vec<Option<String>>> = client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect();
    rows.sort();
    rows
}

/// `tote bench --backfill-scale`: each table read in chunks at 1, 2 and 4 at a time and in one
/// invocation, every read committing exactly the table's rows (the bench refuses otherwise).
#[tokio::test]
async fn tote_bench_backfill_reads_each_table_in_chunks_at_each_concurrency() {
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = outcome(
        Command::new(env!("CARGO_BIN_EXE_tote"))
            .args(["bench", "--backfill-scale", "0.2", "--chunk-rows", "300", "--out"])
            .arg(out.path()),
    );
    assert!(ok, "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("backfill.json")).unwrap()).unwrap();
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(
        tables
            .iter()
            .map(|t| t["table"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["sales_order", "payment"]
    );
    for t in tables {
        assert!(t["chunks"].as_u64().unwrap() >= 2, "{t}");
        let concurrencies: Vec<u64> = t["chunked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["concurrency"].as_u64().unwrap())
            .collect();
        assert_eq!(concurrencies, [1, 2, 4]);
        for c in t["chunked"].as_array().unwrap() {
            assert!(
                c["wall_s"].as_f64().unwrap() > 0.0 && c["peak_rss_kb"].as_u64().unwrap() > 0,
                "{c}"
            );
        }
    }
    let table = std::fs::read_to_string(out.path().join("backfill.md")).unwrap();
    assert!(
        table.contains("| sales_order |") && table.contains("vs one invocation"),
        "{table}"
    );
}

/// `tote bench` at a tiny scale: every measurement is there under the keys docs/benchmarks.md
/// and earlier runs use, with positive figures, and the Markdown table is written.
#[tokio::test]
async fn tote_bench_writes_every_measurement_under_its_documented_key() {
    let out = tempfile::tempdir().unwrap();
    // DuckDB, the transform's peer, comes from scripts/test (ensure_bench_tools).
    let python = std::env::var("TOTE_BENCH_PYTHON")
        .expect("TOTE_BENCH_PYTHON names a Python with duckdb: run the tests through scripts/test");
    let (ok, text) = outcome(
        Command::new(env!("CARGO_BIN_EXE_tote"))
            .args(["bench", "--scale", "0.2", "--runs", "1", "--out"])
            .arg(out.path())
            .env("TOTE_BENCH_PYTHON", python),
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("ingest sales_order") && text.contains("load, every batch"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench.json")).unwrap()).unwrap();
    let keys = |section: &str| -> Vec<String> {
        let value = section
            .split('.')
            .filter(|s| !s.is_empty())
            .fold(&report, |v, s| &v[s]);
        value.as_object().unwrap().keys().cloned().collect()
    };
    let sorted = |list: &[&str]| {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let expected = [
        (
            "",
            &[
                "date",
                "machine",
                "scale",
                "runs",
                "ingest",
                "transform",
                "load",
                "run",
                "pipeline",
            ][..],
        ),
        (
            "ingest",
            &[
                "table",
                "rows",
                "source_bytes",
                "landing_bytes",
                "wall_s",
                "user_s",
                "sys_s",
                "peak_rss_kb",
                "ceiling_wall_s",
                "ratio_to_copy_to",
                "small_scale",
                "small_rows",
                "small_peak_rss_kb",
                "large_scale",
                "large_rows",
                "large_peak_rss_kb",
                "large_ratio_to_copy_to",
            ],
        ),
        (
            "transform",
            &[
                "fact_sales_order_rows",
                "wall_s",
                "user_s",
                "sys_s",
                "peak_rss_kb",
                "small_peak_rss_kb",
                "large_peak_rss_kb",
                "no_change_wall_s",
                "steps",
                "duckdb_wall_s",
                "duckdb_peak_rss_kb",
                "ratio_to_duckdb",
                "duckdb_steps",
                "memory_mb",
                "same_memory",
            ],
        ),
        (
            "transform.same_memory",
            &[
                "memory_mb",
                "wall_s",
                "user_s",
                "sys_s",
                "peak_rss_kb",
                "steps",
                "duckdb_wall_s",
                "duckdb_peak_rss_kb",
                "ratio_to_duckdb",
            ],
        ),
        (
            "load",
            &[
                "wall_s",
                "user_s",
                "sys_s",
                "peak_rss_kb",
                "small_peak_rss_kb",
                "large_peak_rss_kb",
                "large_ratio_to_copy_from",
                "fact_sales_order_rows",
                "fact_sales_order_s",
                "copy_from_ceiling_s",
                "ratio_to_copy_from",
            ],
        ),
        ("run", &["no_change_wall_s", "one_percent_changed_wall_s"]),
        (
            "pipeline",
            &[
                "first_run_wall_s",
                "ingest_s",
                "ingest_copy_to_ceiling_s",
                "ingest_ratio_to_copy_to",
                "ingest_tote_cpu_s",
                "ingest_source_cpu_s",
                "ingest_psql_cpu_s",
                "ingest_apart_s",
                "ingest_apart_copy_to_ceiling_s",
                "ingest_apart_ratio_to_copy_to",
                "load_s",
                "load_copy_from_ceiling_s",
                "load_ratio_to_copy_from",
                "load_dimensions_s",
                "load_dimensions_ceiling_s",
                "load_facts_s",
                "load_facts_ceiling_s",
                "freshness_s",
            ],
        ),
    ];
    for (section, list) in expected {
        let mut actual = keys(section);
        actual.sort();
        assert_eq!(actual, sorted(list), "bench.json {section:?}");
    }
    for (section, key) in [
        ("ingest", "rows"),
        ("ingest", "ratio_to_copy_to"),
        ("ingest", "peak_rss_kb"),
        ("ingest", "large_rows"),
        ("transform", "wall_s"),
        ("load", "fact_sales_order_rows"),
        ("load", "ratio_to_copy_from"),
        ("run", "no_change_wall_s"),
        ("pipeline", "ingest_ratio_to_copy_to"),
        ("pipeline", "load_ratio_to_copy_from"),
        ("pipeline", "first_run_wall_s"),
        ("pipeline", "load_facts_s"),
        ("pipeline", "load_facts_ceiling_s"),
        ("pipeline", "freshness_s"),
        ("transform", "duckdb_wall_s"),
        ("transform", "ratio_to_duckdb"),
        ("transform.same_memory", "wall_s"),
        ("transform.same_memory", "duckdb_wall_s"),
        ("transform.same_memory", "ratio_to_duckdb"),
        ("pipeline", "ingest_source_cpu_s"),
        ("pipeline", "ingest_psql_cpu_s"),
    ] {
        let value = section
            .split('.')
            .fold(&report, |v, s| &v[s])
            .get(key)
            .and_then(|v| v.as_f64())
            .unwrap_or_else(|| panic!("{section}.{key} is not a number"));
        assert!(value > 0.0, "{section}.{key} = {value}");
    }
    // The ingest with the source on a core of its own needs a second core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for key in ["ingest_apart_s", "ingest_apart_copy_to_ceiling_s"] {
        let value = report["pipeline"][key].as_f64().unwrap();
        assert_eq!(
            value > 0.0,
            cores > 1,
            "pipeline.{key} = {value} on {cores} cores"
        );
    }
    // The transform's own account of its time names every model.
    let steps = &report["transform"]["steps"];
    assert!(steps["read_ms"].is_u64(), "{steps}");
    assert_eq!(
        steps["models_ms"].as_object().unwrap().len(),
        tote_core::models::built_in().len(),
        "{steps}"
    );
    assert!(
        report["ingest"]["large_rows"].as_u64() > report["ingest"]["rows"].as_u64(),
        "three times the scale has more orders"
    );
    let markdown = std::fs::read_to_string(out.path().join("bench.md")).unwrap();
    assert!(
        markdown.contains("| ingest sales_order (scale 0.2) |") && markdown.contains("MB of memory each"),
        "{markdown}"
    );
}

/// A failure says what happened and what to do on one line; `--verbose` adds the error that
/// caused it, a line each, below (here the operating system's, for a landing store that cannot
/// be created under a regular file).
#[test]
fn verbose_shows_the_cause_chain_below_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let landing = file.join("landing");
    let ingest = |verbose: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tote"));
        command
            .args(["ingest", "--table", "staff", "--landing"])
            .arg(&landing)
            .env("TOTE_HOME", dir.path().join("home"));
        if verbose {
            command.arg("--verbose");
        }
        outcome(&mut command)
    };
    let (ok, plain) = ingest(false);
    assert!(!ok, "{plain}");
    assert!(plain.contains("error: Tote.Config: TOTE_LANDING="), "{plain}");
    assert!(
        !plain.contains("caused by"),
        "the cause only when asked for: {plain}"
    );
    let (ok, verbose) = ingest(true);
    assert!(!ok, "{verbose}");
    let cause = verbose
        .lines()
        .find_map(|l| l.strip_prefix("  caused by: "))
        .unwrap_or_else(|| panic!("no cause line: {verbose}"));
    assert!(cause.contains("Not a directory"), "{verbose}");
}
