//! Choice rules: the boolean expressions of a Choice state.
//!
//! A rule is either a boolean expression (`And`, `Or`, `Not`) or a data test: a
//! `Variable` path and exactly one comparison operator. Rules are compiled when the
//! definition loads, so an unknown operator, an operand of the wrong type or a malformed
//! `StringMatches` pattern is a definition error.
//!
//! Semantics (ASL spec, Choice state; the Step Functions service where the spec is silent):
//! * Comparisons between values of the wrong types are false, never errors.
//! * `IsPresent` is false when `Variable` matches nothing. For every other operator, a
//!   `Variable` (or a `...Path` operand) that matches nothing fails the state with
//!   `States.Runtime`, as the service does.
//! * `Is*` operators take a boolean: `"IsNull": false` is true for any non-null value.
//! * Strings compare as Java's `String.compareTo` does (the Step Functions guide's rule): by
//!   UTF-16 code unit, no folding, so a character above U+FFFF (a surrogate pair, from 0xD800)
//!   sorts below U+E000–U+FFFF; numbers by value; timestamps as instants (offsets honoured).
//! * `StringMatches`: `*` matches any run of characters; `\*` and `\\` are a literal star
//!   and backslash; any other backslash is rejected.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::errors::Failure;
use crate::paths::Path;
use crate::value::{compare_numbers, parse_timestamp};

/// A top-level rule of a Choice state: a condition and the state to go to when it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// The condition.
    pub condition: Condition,
    /// The state to transition to.
    pub next: String,
}

/// A condition: a boolean combination of data tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// All of the conditions hold (evaluated in order, stopping at the first false).
    And(Vec<Condition>),
    /// Any of the conditions holds (evaluated in order, stopping at the first true).
    Or(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A data test on the value `variable` selects.
    Test {
        /// The path of the value under test.
        variable: Path,
        /// The comparison operator.
        operator: Operator,
        /// What the value is compared with.
        operand: Operand,
    },
}

/// A comparison operator (without the `Path` suffix, which lives in [`Operand`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The strings are equal.
    StringEquals,
    /// The string sorts before the operand.
    StringLessThan,
    /// The string sorts after the operand.
    StringGreaterThan,
    /// The string sorts before or equals the operand.
    StringLessThanEquals,
    /// The string sorts after or equals the operand.
    StringGreaterThanEquals,
    /// The string matches a `*` wildcard pattern.
    StringMatches,
    /// The numbers are equal.
    NumericEquals,
    /// The number is less than the operand.
    NumericLessThan,
    /// The number is greater than the operand.
    NumericGreaterThan,
    /// The number is at most the operand.
    NumericLessThanEquals,
    /// The number is at least the operand.
    NumericGreaterThanEquals,
    /// The booleans are equal.
    BooleanEquals,
    /// The timestamps are the same instant.
    TimestampEquals,
    /// The timestamp is earlier.
    TimestampLessThan,
    /// The timestamp is later.
    TimestampGreaterThan,
    /// The timestamp is earlier or the same.
    TimestampLessThanEquals,
    /// The timestamp is later or the same.
    TimestampGreaterThanEquals,
    /// The value is (or, with `false`, is not) `null`.
    IsNull,
    /// The path matches (or does not match) a value.
    IsPresent,
    /// The value is (not) a number.
    IsNumeric,
    /// The value is (not) a string.
    IsString,
    /// The value is (not) a boolean.
    IsBoolean,
    /// The value is (not) a string holding a valid timestamp.
    IsTimestamp,
}

/// The right-hand side of a data test.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal from the definition.
    Value(Value),
    /// A path whose value is compared (the `...Path` operators).
    Path(Path),
    /// A compiled `StringMatches` pattern.
    Pattern(Vec<PatternToken>),
}

/// A piece of a `StringMatches` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternToken {
    /// A literal character.
    Char(char),
    /// `*`: any run of characters, possibly empty.
    Star,
}

const OPERATORS: &[(&str, Operator)] = &[
    ("StringEquals", Operator::StringEquals),
    ("StringLessThan", Operator::StringLessThan),
    ("StringGreaterThan", Operator::StringGreaterThan),
    ("StringLessThanEquals", Operator::StringLessThanEquals),
    ("StringGreaterThanEquals", Operator::StringGreaterThanEquals),
    ("StringMatches", Operator::StringMatches),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Operator::NumericGreaterThanEquals),
    ("BooleanEquals", Operator::BooleanEquals),
    ("TimestampEquals", Operator::TimestampEquals),
    ("TimestampLessThan", Operator::TimestampLessThan),
    ("TimestampGreaterThan", Operator::TimestampGreaterThan),
    ("TimestampLessThanEquals", Operator::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Operator::TimestampGreaterThanEquals),
    ("IsNull", Operator::IsNull),
    ("IsPresent", Operator::IsPresent),
    ("IsNumeric", Operator::IsNumeric),
    ("IsString", Operator::IsString),
    ("IsBoolean", Operator::IsBoolean),
    ("IsTimestamp", Operator::IsTimestamp),
];

impl Operator {
    fn is_type_test(self) -> bool {
        matches!(
            self,
            Operator::IsNull
                | Operator::IsPresent
                | Operator::IsNumeric
                | Operator::IsString
                | Operator::IsBoolean
                | Operator::IsTimestamp
        )
    }

    fn family(self) -> Family {
        use Operator::*;
        match self {
            StringEquals
            | StringLessThan
            | StringGreaterThan
            | StringLessThanEquals
            | StringGreaterThanEquals
            | StringMatches => Family::String,
            NumericEquals
            | NumericLessThan
            | NumericGreaterThan
            | NumericLessThanEquals
            | NumericGreaterThanEquals => Family::Numeric,
            BooleanEquals => Family::Boolean,
            TimestampEquals
            | TimestampLessThan
            | TimestampGreaterThan
            | TimestampLessThanEquals
            | TimestampGreaterThanEquals => Family::Timestamp,
            _ => Family::Type,
        }
    }

    fn accepts(self, ordering: Ordering) -> bool {
        use Operator::*;
        match self {
            StringEquals | NumericEquals | BooleanEquals | TimestampEquals => ordering.is_eq(),
            StringLessThan | NumericLessThan | TimestampLessThan => ordering.is_lt(),
            StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => ordering.is_gt(),
            StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => ordering.is_le(),
            StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => {
                ordering.is_ge()
            }
            _ => false,
        }
    }
}

#[derive(PartialEq)]
enum Family {
    String,
    Numeric,
    Boolean,
    Timestamp,
    Type,
}

impl ChoiceRule {
    /// Compiles a top-level rule (which must have `Next`).
    pub fn compile(value: &Value) -> Result<ChoiceRule, String> {
        let map = value.as_object().ok_or("a choice rule must be a JSON object")?;
        let next = match map.get("Next") {
            Some(Value::String(next)) => next.clone(),
            Some(_) => return Err("'Next' must be a string".to_owned()),
            None => return Err("a top-level choice rule needs 'Next'".to_owned()),
        };
        Ok(ChoiceRule {
            condition: Condition::compile_fields(map, true)?,
            next,
        })
    }
}

impl Condition {
    /// Compiles a nested condition (which must not have `Next`).
    pub fn compile(value: &Value) -> Result<Condition, String> {
        let map = value.as_object().ok_or("a choice rule must be a JSON object")?;
        Condition::compile_fields(map, false)
    }

    fn compile_fields(map: &Map<String, Value>, top_level: bool) -> Result<Condition, String> {
        for key in map.keys() {
            let allowed = matches!(key.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
                || (top_level && key == "Next")
                || operator_for(key).is_some();
            if !allowed {
                return Err(if key == "Next" {
                    "a nested choice rule must not have 'Next'".to_owned()
                } else {
                    format!("unknown field '{key}' in a choice rule")
                });
            }
        }
        let booleans: Vec<&str> = ["And", "Or", "Not"]
            .into_iter()
            .filter(|k| map.contains_key(*k))
            .collect();
        let operators: Vec<(&String, Operator, bool)> = map
            .keys()
            .filter_map(|k| operator_for(k).map(|(op, is_path)| (k, op, is_path)))
            .collect();
        if booleans.len() + operators.len() != 1 {
            return Err(format!(
                "a choice rule needs exactly one of And, Or, Not or a comparison operator, found {}",
                if booleans.is_empty() && operators.is_empty() {
                    "none".to_owned()
                } else {
                    booleans
                        .iter()
                        .map(|s| s.to_string())
                        .chain(operators.iter().map(|(k, _, _)| k.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        if let Some(&kind) = booleans.first() {
            if map.contains_key("Variable") {
                return Err(format!("'{kind}' cannot be combined with 'Variable'"));
            }
            let value = &map[kind];
            return match kind {
                "Not" => Ok(Condition::Not(Box::new(Condition::compile(value)?))),
                _ => {
                    let items = value
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| format!("'{kind}' must be a non-empty array of rules"))?;
                    let rules = items
                        .iter()
                        .map(Condition::compile)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(if kind == "And" {
                        Condition::And(rules)
                    } else {
                        Condition::Or(rules)
                    })
                }
            };
        }
        let (key, operator, is_path) = operators[0];
        let variable = match map.get("Variable") {
            Some(Value::String(text)) => Path::parse(text).map_err(|e| e.to_string())?,
            Some(_) => return Err("'Variable' must be a string".to_owned()),
            None => return Err(format!("'{key}' needs a 'Variable'")),
        };
        let raw = &map[key.as_str()];
        let operand = if is_path {
            let text = raw
                .as_str()
                .ok_or_else(|| format!("'{key}' must be a path string"))?;
            Operand::Path(Path::parse(text).map_err(|e| e.to_string())?)
        } else {
            let ok = match operator.family() {
                Family::String => raw.is_string(),
                Family::Numeric => raw.is_number(),
                Family::Boolean | Family::Type => raw.is_boolean(),
                Family::Timestamp => raw.as_str().and_then(parse_timestamp).is_some(),
            };
            if !ok {
                let expected = match operator.family() {
                    Family::String => "a string",
                    Family::Numeric => "a number",
                    Family::Boolean | Family::Type => "a boolean",
                    Family::Timestamp => "an RFC 3339 timestamp such as 2016-03-14T01:59:00Z",
                };
                return Err(format!("'{key}' must be {expected}"));
            }
            if operator == Operator::StringMatches {
                Operand::Pattern(compile_pattern(raw.as_str().unwrap_or_default())?)
            } else {
                Operand::Value(raw.clone())
            }
        };
        Ok(Condition::Test {
            variable,
            operator,
            operand,
        })
    }

    /// Evaluates the condition against a state's effective input and the context object.
    pub fn evaluate(&self, input: &Value, context: &Value) -> Result<bool, Failure> {
        match self {
            Condition::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(rule) => Ok(!rule.evaluate(input, context)?),
            Condition::Test {
                variable,
                operator,
                operand,
            } => {
                let resolve = |path: &Path| path.resolve(if path.is_context() { context } else { input });
                let value = resolve(variable);
                if *operator == Operator::IsPresent {
                    let expected = matches!(operand, Operand::Value(Value::Bool(true)));
                    return Ok(value.is_some() == expected);
                }
                let value = value.ok_or_else(|| {
                    Failure::runtime(format!(
                        "Invalid path '{variable}': The choice state's condition path references an invalid value."
                    ))
                })?;
                let other = match operand {
                    Operand::Path(path) => resolve(path).ok_or_else(|| {
                        Failure::runtime(format!(
                            "Invalid path '{path}': The choice state's condition path references an invalid value."
                        ))
                    })?,
                    Operand::Value(v) => v.clone(),
                    Operand::Pattern(pattern) => {
                        return Ok(value.as_str().is_some_and(|s| pattern_matches(pattern, s)))
                    }
                };
                Ok(test(*operator, &value, &other))
            }
        }
    }
}

fn operator_for(key: &str) -> Option<(Operator, bool)> {
    let (base, is_path) = match key.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (key, false),
    };
    let (_, op) = OPERATORS.iter().find(|(name, _)| *name == base)?;
    if is_path && (op.is_type_test() || *op == Operator::StringMatches) {
        return None;
    }
    Some((*op, is_path))
}

fn test(operator: Operator, value: &Value, other: &Value) -> bool {
    if operator.is_type_test() {
        let holds = match operator {
            Operator::IsNull => value.is_null(),
            Operator::IsNumeric => value.is_number(),
            Operator::IsString => value.is_string(),
            Operator::IsBoolean => value.is_boolean(),
            Operator::IsTimestamp => value.as_str().and_then(parse_timestamp).is_some(),
            _ => unreachable!("IsPresent is handled before resolving"),
        };
        return holds == (other == &Value::Bool(true));
    }
    let ordering = match operator.family() {
        Family::String => match (value, other) {
            (Value::String(a), Value::String(b)) => Some(a.encode_utf16().cmp(b.encode_utf16())),
            _ => None,
        },
        Family::Numeric => match (value, other) {
            (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
            _ => None,
        },
        Family::Boolean => match (value, other) {
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        },
        Family::Timestamp => match (
            value.as_str().and_then(parse_timestamp),
            other.as_str().and_then(parse_timestamp),
        ) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        },
        Family::Type => None,
    };
    ordering.is_some_and(|o| operator.accepts(o))
}

fn compile_pattern(text: &str) -> Result<Vec<PatternToken>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(PatternToken::Star),
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '\\')) => tokens.push(PatternToken::Char(escaped)),
                _ => {
                    return Err(format!(
                        "StringMatches pattern '{text}' has an open escape (only \\* and \\\\ are escapes)"
                    ))
                }
            },
            other => tokens.push(PatternToken::Char(other)),
        }
    }
    Ok(tokens)
}

/// Wildcard matching with backtracking to the most recent `*` (linear for typical patterns).
fn pattern_matches(pattern: &[PatternToken], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternToken::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(PatternToken::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|token| *token == PatternToken::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(rule: Value, input: Value) -> Result<bool, Failure> {
        Condition::compile(&rule)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&input, &json!({"Execution": {"Name": "n"}}))
    }

    #[test]
    fn string_matches() {
        let m = |p: &str, s: &str| pattern_matches(&compile_pattern(p).unwrap(), s);
        assert!(m("foo*.log", "foo23.log"));
        assert!(m("*.log", "zebra.log"));
        assert!(m("foo*.*", "foobar.zebra"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("lit\\*", "lit*"));
        assert!(!m("lit\\*", "literal"));
        assert!(m("back\\\\slash", "back\\slash"));
        assert!(compile_pattern("bad\\escape").is_err());
    }

    #[test]
    fn comparisons() {
        let input = json!({"s": "b", "n": 2, "f": 2.0, "b": true, "t": "2016-03-14T01:59:00Z", "z": null, "other": 3});
        assert_eq!(
            holds(
                json!({"Variable": "$.s", "StringGreaterThan": "a"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.n", "NumericEquals": 2.0}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(
                json!({"Variable": "$.f", "NumericLessThanPath": "$.other"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.s", "NumericEquals": 2}), input.clone()),
            Ok(false),
            "type mismatch is false"
        );
        assert_eq!(
            holds(json!({"Variable": "$.b", "BooleanEquals": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(
                json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T02:00:00+00:00"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(
                json!({"Variable": "$.t", "TimestampEquals": "2016-03-14T03:59:00+02:00"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.z", "IsNull": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.s", "IsNull": false}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.nope", "IsPresent": false}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.t", "IsTimestamp": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            holds(
                json!({"Variable": "$$.Execution.Name", "StringEquals": "n"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.nope", "StringEquals": "x"}), input.clone())
                .unwrap_err()
                .error,
            "States.Runtime"
        );
        assert_eq!(
            holds(
                json!({"And": [{"Variable": "$.n", "IsNumeric": true}, {"Not": {"Variable": "$.s", "StringEquals": "a"}}]}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            holds(
                json!({"Or": [{"Variable": "$.n", "IsString": true}, {"Variable": "$.b", "IsBoolean": false}]}),
                input
            ),
            Ok(false)
        );
    }

    #[test]
    fn compile_errors() {
        for bad in [
            json!({"Variable": "$.a"}),
            json!({"Variable": "$.a", "StringEquals": 1}),
            json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
            json!({"Variable": "$.a", "TimestampEquals": "yesterday"}),
            json!({"Variable": "$.a", "IsNullPath": "$.b"}),
            json!({"Variable": "$.a", "StringEqual": "x"}),
            json!({"And": []}),
            json!({"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}}),
            json!({"Variable": "$.a", "IsNull": true, "Next": "X"}),
        ] {
            assert!(Condition::compile(&bad).is_err(), "{bad} should not compile");
        }
        assert!(ChoiceRule::compile(&json!({"Variable": "$.a", "IsNull": true})).is_err());
    }
}
