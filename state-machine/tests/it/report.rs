//! `tote report` in a real browser: headless Chromium (`TOTE_TEST_CHROMIUM`, installed by
//! scripts/test) renders the report of a real `tote run`, of a failed one and of its redrive;
//! the test reads the DOM the page's scripts drew (every state of the definition, with its
//! outcome) and saves a screenshot of each under target/report/.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tote_testkit::chain::Chain;

use crate::it::cli::outcome;

/// The chromium binary: `TOTE_TEST_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> String {
    std::env::var("TOTE_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Chromium's rendering of `page` after its scripts ran: the DOM, and a screenshot at `png`.
fn render(page: &Path, png: &Path) -> String {
    let url = format!("file://{}", page.display());
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1400,1900",
    ];
    let dom = Command::new(chromium())
        .args(args)
        .args(["--virtual-time-budget=5000", "--dump-dom", &url])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): scripts/test installs chromium", chromium()));
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let shot = Command::new(chromium())
        .args(args)
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success() && png.exists(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    String::from_utf8(dom.stdout).unwrap()
}

/// Every state the drawing script drew, with the outcome it drew it with.
fn drawn_states(dom: &str) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    for part in dom.split("<g class=\"state outcome-").skip(1) {
        let attr = |name: &str| {
            let start = part.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            part[start..start + part[start..].find('"').unwrap()].to_string()
        };
        states.insert(attr("data-state"), attr("data-outcome"));
    }
    states
}

/// The top-level states of the deployed definition.
fn definition_states() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("definition.asl.json");
    let definition: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    definition["States"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_report_of_a_run_a_failure_and_its_redrive_draws_every_state_with_its_outcome() {
    let chain = Chain::seeded().await;
    let out = tempfile::tempdir().unwrap();
    let tote = |warehouse: &str, args: &[&str]| {
        outcome(
            Command::new(env!("CARGO_BIN_EXE_tote"))
                .env("TOTE_SOURCE_URL", chain.source.url())
                .env("TOTE_WAREHOUSE_URL", warehouse)
                .env("TOTE_LANDING", chain.landing.path())
                .env("TOTE_PROCESSED", chain.processed.path())
                .env("TOTE_HOME", chain.home.path())
                .args(args),
        )
    };
    let good = chain.warehouse.url().to_string();
    let mut wrong = url::Url::parse(&good).unwrap();
    wrong.set_password(Some("wrong")).unwrap();
    let all = definition_states();

    let (ok, text) = tote(&good, &["run", "--name", "good"]);
    assert!(ok, "{text}");
    chain.play(1).await;
    let (ok, text) = tote(wrong.as_str(), &["run", "--name", "broken"]);
    assert!(!ok, "{text}");
    let mut drawn = BTreeMap::new();
    for (name, when) in [("good", "good"), ("broken", "failed")] {
        let page = out.path().join(format!("{when}.html"));
        let (ok, text) = tote(&good, &["report", name, "--out", page.to_str().unwrap()]);
        assert!(ok, "{text}");
        let dom = render(&page, &screenshots().join(format!("{when}.png")));
        assert!(dom.contains("data-drawn=\"true\""), "the layout script ran");
        drawn.insert(when, (drawn_states(&dom), dom));
    }
    let (ok, text) = tote(&good, &["executions", "redrive", "broken"]);
    assert!(ok, "{text}");
    let page = out.path().join("redriven.html");
    let (ok, text) = tote(&good, &["report", "broken", "--out", page.to_str().unwrap()]);
    assert!(ok, "{text}");
    let dom = render(&page, &screenshots().join("redriven.png"));
    drawn.insert("redriven", (drawn_states(&dom), dom));

    for (when, (states, _)) in &drawn {
        for state in &all {
            assert!(states.contains_key(state), "{when}: {state} is drawn: {states:?}");
        }
        // The Map's eleven iterations, one per source table.
        for table in tote_core::tables::SOURCE_TABLES {
            assert_eq!(
                states.get(&format!("IngestTables[{table}]")).map(String::as_str),
                Some("succeeded"),
                "{when}: {table}"
            );
        }
        // The fact loads' iterations, one per fact model.
        for fact in ["fact_sales_order", "fact_purchase_order", "fact_payment"] {
            let drawn = states.get(&format!("LoadFacts[{fact}]")).map(String::as_str);
            let expected = if *when == "failed" {
                None
            } else {
                Some("succeeded")
            };
            assert_eq!(drawn, expected, "{when}: {fact}");
        }
    }
    let outcome_of = |when: &str, state: &str| drawn[when].0[state].clone();
    for state in [
        "Plan",
        "IngestTables",
        "Transform",
        "LoadDimensions",
        "LoadFacts",
        "MeasureFreshness",
        "Done",
    ] {
        assert_eq!(outcome_of("good", state), "succeeded", "good: {state}");
    }
    assert_eq!(outcome_of("good", "UseFullRefresh"), "not_run");
    assert_eq!(outcome_of("failed", "Transform"), "succeeded");
    assert_eq!(outcome_of("failed", "LoadDimensions"), "failed");
    assert_eq!(outcome_of("failed", "LoadFacts"), "not_run");
    assert_eq!(outcome_of("failed", "Done"), "not_run");
    let failed_dom = &drawn["failed"].1;
    assert!(
        failed_dom.contains("Failed at LoadDimensions: Tote.Config")
            && failed_dom.contains("tote executions redrive broken"),
        "the failure, its cause and what to do"
    );
    assert_eq!(outcome_of("redriven", "LoadDimensions"), "retried");
    assert_eq!(outcome_of("redriven", "Done"), "succeeded");
    let redriven_dom = &drawn["redriven"].1;
    assert!(redriven_dom.contains("data-state=\"LoadFacts\" data-outcome=\"succeeded\""));
    assert!(
        redriven_dom.contains("state outcome-succeeded redriven\" data-state=\"LoadFacts\""),
        "marked as run again"
    );

    // The index lists both and links to each one's page.
    let (ok, text) = tote(
        &good,
        &[
            "report",
            "--index",
            "--out",
            out.path().join("index.html").to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(
        index.contains("href=\"good.html\"") && index.contains("href=\"broken.html\""),
        "{index}"
    );
    assert!(out.path().join("good.html").exists() && out.path().join("broken.html").exists());
    let password = url::Url::parse(&good).unwrap().password().unwrap().to_string();
    for file in ["index.html", "good.html", "broken.html", "failed.html"] {
        let html = std::fs::read_to_string(out.path().join(file)).unwrap();
        assert!(!html.contains(&password), "{file}: no password");
    }
}
