//! Metrics in CloudWatch embedded metric format (EMF): one JSON log line per measurement, which
//! CloudWatch Logs turns into metrics with no API call and no extra IAM.
//!
//! The metric names, units and dimensions are declared once, in `tasks/core/metrics.json`, which
//! the CDK app reads too (its alarms and dashboard); [`CONTRACT`] is that file. A stage records a
//! measurement with [`emit`], which checks it against the contract, so a stage cannot emit a metric
//! the dashboard does not know. Where the lines go is set once per process with [`set_sink`]: the
//! Lambda binaries print them to stdout (CloudWatch Logs); elsewhere they go nowhere unless a sink
//! is set (the tests capture them).

use std::sync::{Arc, OnceLock, RwLock};

use serde::Deserialize;

/// The metric contract file, shared with the CDK app.
pub const CONTRACT_JSON: &str = include_str!("../metrics.json");

/// One declared metric.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetricSpec {
    /// Metric name, e.g. `Rows`.
    pub name: String,
    /// CloudWatch unit, e.g. `Count`.
    pub unit: String,
    /// Dimension names, in order.
    pub dimensions: Vec<String>,
    /// The stages that emit it.
    pub stages: Vec<String>,
    /// What it measures.
    pub description: String,
}

/// The whole contract: a namespace and its metrics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contract {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// Every metric the stages emit.
    pub metrics: Vec<MetricSpec>,
}

/// The parsed contract.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| serde_json::from_str(CONTRACT_JSON).expect("tasks/core/metrics.json is valid"))
}

/// Where EMF lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

fn sink() -> &'static RwLock<Option<Sink>> {
    static SINK: OnceLock<RwLock<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| RwLock::new(None))
}

/// Sends every EMF line of this process to `to` (replacing any earlier sink).
pub fn set_sink(to: Sink) {
    *sink().write().expect("metrics sink lock") = Some(to);
}

/// Prints EMF lines on stdout, where a Lambda's output becomes CloudWatch Logs.
pub fn to_stdout() {
    set_sink(Arc::new(|line| println!("{line}")));
}

/// One measurement: `values` of declared metrics, with the dimension values they share.
///
/// Panics in debug builds on a metric or dimension the contract does not declare (a bug in tote);
/// release builds drop such a value.
pub fn emit(stage: &str, dimensions: &[(&str, &str)], values: &[(&str, f64)]) {
    let Some(to) = sink().read().expect("metrics sink lock").clone() else {
        return;
    };
    let line = emf_line(stage, dimensions, values, chrono::Utc::now().timestamp_millis());
    debug_assert!(line.is_ok(), "{}", line.as_ref().err().map_or("", String::as_str));
    if let Ok(Some(line)) = line {
        to(&line);
    }
}

/// The EMF line for a measurement (`None` with no values), or an error naming the first value the
/// contract does not declare for this stage and these dimensions.
pub fn emf_line(
    stage: &str,
    dimensions: &[(&str, &str)],
    values: &[(&str, f64)],
    millis: i64,
) -> Result<Option<String>, String> {
    let contract = contract();
    let names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    let mut metrics = Vec::new();
    let mut line = serde_json::Map::new();
    for (name, value) in values {
        let spec = contract.metrics.iter().find(|m| m.name == *name);
        let declared = spec.is_some_and(|m| {
            m.stages.iter().any(|s| s == stage)
                && m.dimensions.iter().map(String::as_str).collect::<Vec<_>>() == names
        });
        let Some(spec) = spec.filter(|_| declared) else {
            return Err(format!(
                "metric {name} with dimensions {names:?} from {stage} is not declared in metrics.json"
            ));
        };
        metrics.push(serde_json::json!({ "Name": spec.name, "Unit": spec.unit }));
        line.insert(spec.name.clone(), serde_json::json!(value));
    }
    if metrics.is_empty() {
        return Ok(None);
    }
    for (name, value) in dimensions {
        line.insert(name.to_string(), serde_json::json!(value));
    }
    line.insert(
        "_aws".to_string(),
        serde_json::json!({
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": contract.namespace,
                "Dimensions": [names],
                "Metrics": metrics,
            }],
        }),
    );
    Ok(Some(serde_json::Value::Object(line).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An EMF line as CloudWatch reads it: `_aws.CloudWatchMetrics` names the namespace, one
    /// dimension set and the metrics with units, and the top level holds each dimension's and
    /// each metric's value.
    #[test]
    fn a_line_is_embedded_metric_format_with_the_declared_metrics() {
        let line = emf_line(
            "ingest",
            &[("Stage", "ingest"), ("Table", "staff")],
            &[("Rows", 3.0), ("Bytes", 120.0)],
            5,
        )
        .unwrap()
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 5);
        assert_eq!(directive["Namespace"], "Tote");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Stage", "Table"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "Rows", "Unit": "Count"}, {"Name": "Bytes", "Unit": "Bytes"}])
        );
        assert_eq!(
            (v["Stage"].as_str(), v["Table"].as_str()),
            (Some("ingest"), Some("staff"))
        );
        assert_eq!(
            (v["Rows"].as_f64(), v["Bytes"].as_f64()),
            (Some(3.0), Some(120.0))
        );
    }

    /// A metric the contract does not declare for that stage and dimension set is refused,
    /// in every build (emit also panics on it in debug builds: a bug in tote).
    #[test]
    fn an_undeclared_metric_or_dimension_set_is_refused() {
        let err = emf_line("ingest", &[("Table", "staff")], &[("Rows", 1.0)], 0).unwrap_err();
        assert!(err.contains("Rows") && err.contains("not declared"), "{err}");
        let freshness_from_ingest = [("Stage", "ingest"), ("Table", "staff")];
        assert!(emf_line("ingest", &freshness_from_ingest, &[("Freshness", 1.0)], 0).is_err());
        assert_eq!(emf_line("load", &[], &[], 0), Ok(None));
    }

    #[test]
    fn every_declared_metric_has_a_cloudwatch_unit_and_a_stage() {
        let units = ["Count", "Bytes", "Milliseconds", "Seconds"];
        for m in &contract().metrics {
            assert!(units.contains(&m.unit.as_str()), "{}: {}", m.name, m.unit);
            assert!(!m.stages.is_empty(), "{}", m.name);
        }
    }
}
