//! `Retry` and `Catch`: which errors a state retries, how long it waits, and where it goes
//! when it gives up.
//!
//! Retriers are scanned in order and the *first* whose `ErrorEquals` matches the error
//! decides; once that retrier has used its `MaxAttempts` the error is not retried, even if
//! a later retrier would match (the spec's "complex retry scenarios"). Each retrier counts
//! its own attempts; the counts reset when the state is left.
//!
//! The wait before retry `n` (0-based, counted per retrier) is
//! `IntervalSeconds × BackoffRate^n`, capped at `MaxDelaySeconds`; with
//! `JitterStrategy: FULL` it is drawn uniformly from `[0, that]`. Defaults: interval 1 s,
//! 3 attempts, backoff 2.0, no cap, no jitter.
//!
//! Loading checks the rules Step Functions enforces: non-empty `ErrorEquals`,
//! `States.ALL` alone and in the last retrier/catcher, only predefined `States.*` names,
//! positive integer intervals, `BackoffRate >= 1`, `JitterStrategy` `FULL` or `NONE`.

use std::time::Duration;

use rand::Rng;
use serde_json::{Map, Value};

use crate::errors::{any_matches, ALL, PREDEFINED};
use crate::paths::Path;

/// The largest value Step Functions accepts for `IntervalSeconds` and `MaxAttempts`.
pub const MAX_INTEGER_FIELD: u64 = 99_999_999;

/// The largest wait this executor will compute, whatever the backoff (one year, the
/// ceiling Step Functions puts on `MaxDelaySeconds`).
pub const MAX_DELAY_SECONDS: u64 = 31_622_400;

/// How a retrier randomises its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Wait exactly the computed backoff.
    None,
    /// Wait a uniformly random time between zero and the computed backoff.
    Full,
}

/// One entry of a `Retry` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// The error names this retrier handles.
    pub error_equals: Vec<String>,
    /// Seconds before the first retry.
    pub interval_seconds: u64,
    /// How many retries at most; 0 means never retry.
    pub max_attempts: u64,
    /// The factor the wait grows by on every retry.
    pub backoff_rate: f64,
    /// The longest wait, if capped.
    pub max_delay_seconds: Option<u64>,
    /// Whether waits are randomised.
    pub jitter: Jitter,
}

/// One entry of a `Catch` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// The error names this catcher handles.
    pub error_equals: Vec<String>,
    /// The state to go to.
    pub next: String,
    /// Where the error output goes in the state's raw input; `None` for `"ResultPath": null`
    /// (the raw input passes through unchanged). Defaults to `$`.
    pub result_path: Option<Path>,
}

impl Retrier {
    /// The un-jittered wait before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u64) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let mut seconds = self.interval_seconds as f64 * self.backoff_rate.powi(exponent);
        if let Some(cap) = self.max_delay_seconds {
            seconds = seconds.min(cap as f64);
        }
        Duration::from_secs_f64(seconds.clamp(0.0, MAX_DELAY_SECONDS as f64))
    }
}

/// Per-state retry bookkeeping: how many times each retrier has fired.
#[derive(Debug, Clone, Default)]
pub struct RetryCounters {
    counts: Vec<u64>,
}

impl RetryCounters {
    /// Counters for a state with `retriers` retriers, all at zero.
    pub fn new(retriers: usize) -> RetryCounters {
        RetryCounters {
            counts: vec![0; retriers],
        }
    }

    /// Total retries so far, across retriers (`$$.State.RetryCount`).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Decides whether `error` is retried. If it is, counts the attempt and returns the
    /// wait before it; if the first matching retrier is spent (or none matches), `None`.
    pub fn next_delay(&mut self, retriers: &[Retrier], error: &str, rng: &mut impl Rng) -> Option<Duration> {
        let index = retriers
            .iter()
            .position(|r| any_matches(&r.error_equals, error))?;
        let retrier = &retriers[index];
        let attempt = self.counts[index];
        if attempt >= retrier.max_attempts {
            return None;
        }
        self.counts[index] += 1;
        let backoff = retrier.backoff(attempt);
        Some(match retrier.jitter {
            Jitter::None => backoff,
            Jitter::Full => backoff.mul_f64(rng.random::<f64>()),
        })
    }
}

/// Compiles a `Retry` array.
pub fn compile_retry(value: &Value) -> Result<Vec<Retrier>, String> {
    let items = value.as_array().ok_or("'Retry' must be an array")?;
    let mut retriers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |m: String| format!("Retry[{i}]: {m}");
        let map = item
            .as_object()
            .ok_or_else(|| at("a retrier must be an object".to_owned()))?;
        check_fields(
            map,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
        )
        .map_err(at)?;
        let error_equals = error_equals(map, i + 1 == items.len()).map_err(at)?;
        let interval_seconds = integer(map, "IntervalSeconds", 1, 1).map_err(at)?;
        let max_attempts = integer(map, "MaxAttempts", 3, 0).map_err(at)?;
        let backoff_rate = match map.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(rate) if rate >= 1.0 => rate,
                _ => return Err(at("'BackoffRate' must be a number >= 1.0".to_owned())),
            },
        };
        let max_delay_seconds = match map.get("MaxDelaySeconds") {
            None => None,
            Some(_) => Some(integer(map, "MaxDelaySeconds", 0, 1).map_err(at)?),
        };
        if max_delay_seconds.is_some_and(|d| d > MAX_DELAY_SECONDS) {
            return Err(at(format!(
                "'MaxDelaySeconds' must be at most {MAX_DELAY_SECONDS}"
            )));
        }
        let jitter = match map.get("JitterStrategy") {
            None => Jitter::None,
            Some(Value::String(s)) if s == "NONE" => Jitter::None,
            Some(Value::String(s)) if s == "FULL" => Jitter::Full,
            Some(_) => return Err(at("'JitterStrategy' must be \"FULL\" or \"NONE\"".to_owned())),
        };
        retriers.push(Retrier {
            error_equals,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            jitter,
        });
    }
    Ok(retriers)
}

/// Compiles a `Catch` array.
pub fn compile_catch(value: &Value) -> Result<Vec<Catcher>, String> {
    let items = value.as_array().ok_or("'Catch' must be an array")?;
    let mut catchers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |m: String| format!("Catch[{i}]: {m}");
        let map = item
            .as_object()
            .ok_or_else(|| at("a catcher must be an object".to_owned()))?;
        check_fields(map, &["ErrorEquals", "Next", "ResultPath", "Comment"]).map_err(at)?;
        let error_equals = error_equals(map, i + 1 == items.len()).map_err(at)?;
        let next = match map.get("Next") {
            Some(Value::String(next)) => next.clone(),
            _ => return Err(at("a catcher needs 'Next', a state name".to_owned())),
        };
        let result_path = match map.get("ResultPath") {
            None => Some(Path::parse_reference("$").map_err(|e| at(e.to_string()))?),
            Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(Path::parse_reference(text).map_err(|e| at(format!("'ResultPath': {e}")))?)
            }
            Some(_) => return Err(at("'ResultPath' must be a reference path or null".to_owned())),
        };
        catchers.push(Catcher {
            error_equals,
            next,
            result_path,
        });
    }
    Ok(catchers)
}

fn check_fields(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown field '{unknown}'")),
        None => Ok(()),
    }
}

fn error_equals(map: &Map<String, Value>, last: bool) -> Result<Vec<String>, String> {
    let names: Vec<String> = map
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or("'ErrorEquals' must be a non-empty array of error names")?;
    for name in &names {
        if name.starts_with("States.") && !PREDEFINED.contains(&name.as_str()) {
            return Err(format!("'{name}' is not a predefined error name"));
        }
    }
    if names.iter().any(|n| n == ALL) {
        if names.len() > 1 {
            return Err("States.ALL must appear alone in 'ErrorEquals'".to_owned());
        }
        if !last {
            return Err("States.ALL must appear in the last retrier or catcher".to_owned());
        }
    }
    Ok(names)
}

fn integer(map: &Map<String, Value>, field: &str, default: u64, min: u64) -> Result<u64, String> {
    match map.get(field) {
        None => Ok(default),
        Some(v) => match crate::value::exact_unsigned(v) {
            Some(n) if n >= min && n <= MAX_INTEGER_FIELD => Ok(n),
            _ => Err(format!(
                "'{field}' must be an integer from {min} to {MAX_INTEGER_FIELD}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use serde_json::json;

    #[test]
    fn spec_complex_retry_scenario() {
        // ErrorA, ErrorB, ErrorC, ErrorB, ErrorB: waits 1, 2, 5, 4, then give up.
        let retriers = compile_retry(&json!([
            {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
            {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
        ]))
        .unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let mut counters = RetryCounters::new(retriers.len());
        let mut waits = Vec::new();
        for error in ["ErrorA", "ErrorB", "ErrorC", "ErrorB"] {
            waits.push(
                counters
                    .next_delay(&retriers, error, &mut rng)
                    .map(|d| d.as_secs()),
            );
        }
        assert_eq!(waits, vec![Some(1), Some(2), Some(5), None]);
        assert_eq!(counters.total(), 3);
    }

    #[test]
    fn max_delay_and_zero_attempts() {
        let retriers = compile_retry(&json!([
            {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0},
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3, "MaxAttempts": 3, "MaxDelaySeconds": 4}
        ]))
        .unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let mut counters = RetryCounters::new(2);
        assert_eq!(counters.next_delay(&retriers, "States.Timeout", &mut rng), None);
        let waits: Vec<_> = (0..4)
            .map(|_| {
                counters
                    .next_delay(&retriers, "Boom", &mut rng)
                    .map(|d| d.as_secs())
            })
            .collect();
        assert_eq!(waits, vec![Some(3), Some(4), Some(4), None]);
    }

    #[test]
    fn full_jitter_stays_within_backoff() {
        let retriers = compile_retry(&json!([
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2, "JitterStrategy": "FULL"}
        ]))
        .unwrap();
        let mut rng = StdRng::seed_from_u64(42);
        let mut counters = RetryCounters::new(1);
        for attempt in 0..6 {
            let wait = counters.next_delay(&retriers, "X", &mut rng).unwrap();
            assert!(wait <= retriers[0].backoff(attempt));
        }
    }

    #[test]
    fn validation() {
        for bad in [
            json!([{"ErrorEquals": []}]),
            json!([{"ErrorEquals": ["States.ALL", "X"]}]),
            json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]),
            json!([{"ErrorEquals": ["States.Nope"]}]),
            json!([{"ErrorEquals": ["X"], "IntervalSeconds": 0}]),
            json!([{"ErrorEquals": ["X"], "IntervalSeconds": 1.5}]),
            json!([{"ErrorEquals": ["X"], "MaxAttempts": -1}]),
            json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5}]),
            json!([{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]),
            json!([{"ErrorEquals": ["X"], "MaxDelaySeconds": 0}]),
            json!([{"ErrorEquals": ["X"], "Interval": 1}]),
        ] {
            assert!(compile_retry(&bad).is_err(), "{bad} should be rejected");
        }
        assert!(compile_catch(&json!([{"ErrorEquals": ["X"]}])).is_err());
        let catchers = compile_catch(&json!([
            {"ErrorEquals": ["X"], "Next": "A", "ResultPath": null},
            {"ErrorEquals": ["States.ALL"], "Next": "B", "ResultPath": "$.error"}
        ]))
        .unwrap();
        assert_eq!(catchers[0].result_path, None);
        assert_eq!(catchers[1].result_path.as_ref().unwrap().as_str(), "$.error");
    }
}
