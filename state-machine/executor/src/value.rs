//! Small helpers over [`serde_json::Value`] shared by paths, Choice rules and intrinsics.
//!
//! `serde_json` compares numbers by representation (`1 != 1.0`), while the States Language
//! compares them by value. Everything in this crate that compares JSON goes through
//! [`json_eq`] and [`compare_numbers`] so the rule lives in one place.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};

/// Compares two JSON numbers by value: exactly when both are integers, as `f64` otherwise.
pub fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    // One side is an integer beyond `i64::MAX`, the other a (possibly negative) `i64`.
    if a.as_i64().is_some() && b.as_u64().is_some() {
        return Some(Ordering::Less);
    }
    if a.as_u64().is_some() && b.as_i64().is_some() {
        return Some(Ordering::Greater);
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Deep JSON equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| json_eq(v, other)))
        }
        _ => a == b,
    }
}

/// The JSON type name of a value, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The compact JSON text of a value (what Step Functions shows in history and causes).
pub fn to_compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The size in bytes of a value's compact JSON text, as counted against the payload quota.
pub fn json_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to an infallible sink cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Reads a JSON number as an integer, rounding a fractional value to the nearest integer
/// the way the intrinsic functions document ("Step Functions will round it off").
pub fn rounded_integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(i) = number.as_i64() {
        return Some(i);
    }
    let f = number.as_f64()?;
    if f.is_finite() && f.abs() < 9.0e15 {
        Some(f.round() as i64)
    } else {
        None
    }
}

/// Reads a JSON number that must be a non-negative integer (no rounding).
pub fn exact_unsigned(value: &Value) -> Option<u64> {
    let number = value.as_number()?;
    if let Some(u) = number.as_u64() {
        return Some(u);
    }
    let f = number.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f < 9.0e15).then_some(f as u64)
}

/// Parses a States Language timestamp: RFC 3339 with an uppercase `T` between date and
/// time and an uppercase `Z` when there is no numeric offset (`2016-03-14T01:59:00Z`).
pub fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.contains(['t', 'z', ' ']) || !text.contains('T') {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!(1), &json!("1")));
        assert_eq!(
            compare_numbers(
                json!(-1).as_number().unwrap(),
                json!(u64::MAX).as_number().unwrap()
            ),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn size_counts_compact_bytes() {
        assert_eq!(json_size(&json!({"a": 1})), 7);
    }

    #[test]
    fn timestamps() {
        assert!(parse_timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(parse_timestamp("2016-03-14T01:59:00.123+02:00").is_some());
        assert!(parse_timestamp("2016-03-14t01:59:00Z").is_none());
        assert!(parse_timestamp("2016-03-14T01:59:00z").is_none());
        assert!(parse_timestamp("2016-03-14 01:59:00Z").is_none());
        assert!(parse_timestamp("2016-03-14").is_none());
    }

    #[test]
    fn rounding() {
        assert_eq!(rounded_integer(&json!(4.6)), Some(5));
        assert_eq!(rounded_integer(&json!(-2)), Some(-2));
        assert_eq!(rounded_integer(&json!("4")), None);
        assert_eq!(exact_unsigned(&json!(3.0)), Some(3));
        assert_eq!(exact_unsigned(&json!(3.5)), None);
    }
}
