//! Payload templates: the `Parameters`, `ResultSelector` and `ItemSelector` fields.
//!
//! A template is a JSON object copied as is, except that a field whose name ends in `.$`
//! (at any depth, including inside arrays) is renamed without the suffix and its value,
//! which must be a string, is replaced by:
//! * `$...`: the path applied to the template's input;
//! * `$$...`: the path applied to the context object;
//! * anything else: the result of an intrinsic function call.
//!
//! Templates are compiled when the definition loads, so bad paths, bad calls and fields
//! that collide once `.$` is stripped are definition errors. At run time a path that
//! matches nothing fails the state with `States.Runtime` and the cause Step Functions
//! gives: "The JSONPath '$.x' specified for the field 'y.$' could not be found in the
//! input '...'". (The ASL spec names this `States.ParameterPathFailure`; the service
//! does not use that name, and neither does this executor.)

use serde_json::{Map, Value};

use crate::errors::Failure;
use crate::intrinsics::{Env, Intrinsic};
use crate::paths::Path;
use crate::value::to_compact;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Path { field: String, path: Path },
    Call(Intrinsic),
}

impl Template {
    /// Compiles a template; it must be a JSON object.
    pub fn compile(value: &Value) -> Result<Template, String> {
        if !value.is_object() {
            return Err("a payload template must be a JSON object".to_owned());
        }
        Ok(Template {
            root: compile(value, "")?,
        })
    }

    /// Builds the payload from the template's input, the context object and the
    /// generator for `States.UUID`/`States.MathRandom`.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        evaluate(&self.root, env)
    }
}

fn compile(value: &Value, location: &str) -> Result<Node, String> {
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            let mut names = std::collections::HashSet::new();
            for (key, v) in map {
                let here = format!("{location}/{key}");
                let (name, node) = match key.strip_suffix(".$") {
                    Some(name) => {
                        let Value::String(text) = v else {
                            return Err(format!(
                                "{here}: the value of a field ending in '.$' must be a string"
                            ));
                        };
                        let node = if text.starts_with('$') {
                            Node::Path {
                                field: key.clone(),
                                path: Path::parse(text).map_err(|e| format!("{here}: {e}"))?,
                            }
                        } else {
                            Node::Call(Intrinsic::parse(text).map_err(|e| {
                                format!(
                                    "{here}: the value must be a JSONPath or an intrinsic function call; {e}"
                                )
                            })?)
                        };
                        (name.to_owned(), node)
                    }
                    None => (key.clone(), compile(v, &here)?),
                };
                if !names.insert(name.clone()) {
                    return Err(format!(
                        "{here}: the field '{name}' appears twice once '.$' is removed"
                    ));
                }
                fields.push((name, node));
            }
            Ok(Node::Object(fields))
        }
        Value::Array(items) => Ok(Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| compile(v, &format!("{location}[{i}]")))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(Node::Literal(other.clone())),
    }
}

fn evaluate(node: &Node, env: &mut Env<'_>) -> Result<Value, Failure> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Object(fields) => {
            let mut out = Map::with_capacity(fields.len());
            for (name, child) in fields {
                out.insert(name.clone(), evaluate(child, env)?);
            }
            Ok(Value::Object(out))
        }
        Node::Array(items) => items
            .iter()
            .map(|child| evaluate(child, env))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Path { field, path } => {
            let root = if path.is_context() { env.context } else { env.input };
            path.resolve(root).ok_or_else(|| {
                let source = if path.is_context() {
                    "context object".to_owned()
                } else {
                    format!("input '{}'", to_compact(root))
                };
                Failure::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{field}' could not be found in the {source}"
                ))
            })
        }
        Node::Call(call) => call.evaluate(env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use serde_json::json;

    fn apply(template: Value, input: Value, context: Value) -> Result<Value, Failure> {
        let mut rng = StdRng::seed_from_u64(1);
        Template::compile(&template)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&mut Env {
                input: &input,
                context: &context,
                rng: &mut rng,
            })
    }

    #[test]
    fn spec_payload_template_example() {
        // The ASL spec's "Payload Template" example.
        let template = json!({
            "flagged": true,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.DayOfWeek",
            "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)"
        });
        assert_eq!(
            apply(
                template,
                json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}),
                json!({"DayOfWeek": "TUESDAY"})
            ),
            Ok(json!({
                "flagged": true,
                "parts": {"first": 0, "last3": [30, 40, 50]},
                "weekday": "TUESDAY",
                "formattedOutput": "Today is TUESDAY"
            }))
        );
    }

    #[test]
    fn arrays_of_objects_are_templated() {
        assert_eq!(
            apply(json!({"list": [{"a.$": "$.x"}, 2]}), json!({"x": 1}), json!({})),
            Ok(json!({"list": [{"a": 1}, 2]}))
        );
    }

    #[test]
    fn missing_path_is_runtime_error_with_service_cause() {
        let err = apply(
            json!({"missing.$": "$.nope.deep"}),
            json!({"other": 1}),
            json!({}),
        )
        .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert_eq!(
            err.cause.as_deref(),
            Some("The JSONPath '$.nope.deep' specified for the field 'missing.$' could not be found in the input '{\"other\":1}'")
        );
    }

    #[test]
    fn compile_errors() {
        assert!(Template::compile(&json!([1])).is_err());
        assert!(Template::compile(&json!({"a.$": 1})).is_err());
        assert!(Template::compile(&json!({"a.$": "foo"})).is_err());
        assert!(Template::compile(&json!({"a.$": "$.[", "b": 1})).is_err());
        assert!(Template::compile(&json!({"a.$": "$.x", "a": 1})).is_err());
    }
}
