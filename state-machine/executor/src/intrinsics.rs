//! Intrinsic functions: `States.Format(...)` and friends, as found in `.$` fields.
//!
//! [`Intrinsic::parse`] turns the call text into a tree once, when the definition loads, so
//! an unknown function, a wrong argument count or a malformed path is a definition error.
//! [`Intrinsic::evaluate`] runs it against a state's input and the context object.
//!
//! Arguments are `'strings'` (where `\'`, `\{`, `\}` and `\\` are the only escapes; any
//! other backslash is an error), numbers, `true`/`false`/`null`, paths (`$.x`, `$$.x`) and
//! nested calls (at most 10 calls in one field, as in Step Functions).
//!
//! Failures inside a function (a wrong argument type, an index out of range) raise
//! `States.IntrinsicFailure`; a path argument that matches nothing raises `States.Runtime`,
//! like every other unresolved path.
//!
//! Choices where the documentation is silent, made to be strict and predictable:
//! * `States.Format` arguments must be strings, numbers, booleans or null (the spec
//!   forbids arrays and objects). Only a literal template honours `\{` and `\}`; a
//!   template read from a path is used as is, every `{}` in it being a placeholder.
//! * `States.Hash` hashes a string's UTF-8 bytes, any other value's compact JSON text.
//! * `States.StringSplit` splits on every character of its second argument and drops
//!   empty pieces.
//! * `States.ArrayGetItem` needs a whole, in-range index; the others round fractional
//!   numbers to the nearest integer, as documented.
//! * `States.MathRandom` and `States.UUID` draw from the executor's seeded generator, so a
//!   run with a fixed seed is reproducible; `States.MathRandom` with a seed argument is
//!   reproducible on its own.

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Map, Number, Value};

use crate::digest::Algorithm;
use crate::errors::{Failure, INTRINSIC_FAILURE};
use crate::paths::Path;
use crate::value::{json_eq, rounded_integer, to_compact, type_name};

/// The most calls one field may hold, counting nested ones.
pub const MAX_CALLS: usize = 10;

/// The longest string `States.Base64Encode`, `States.Base64Decode` and `States.Hash` accept.
pub const MAX_STRING_CHARS: usize = 10_000;

/// The longest array `States.ArrayRange` may build.
pub const MAX_RANGE_ITEMS: usize = 1000;

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    function: Function,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Literal(Value),
    Text(Vec<Piece>),
    Path(Path),
    Call(Intrinsic),
}

/// A piece of a string literal: text, or a `{}` placeholder (only `States.Format` cares).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Hole,
}

macro_rules! functions {
    ($($variant:ident => $name:literal, $min:literal ..= $max:expr;)*) => {
        /// The intrinsic functions this executor implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Function {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Function {
            /// Looks a function up by its full name (`States.Format`).
            pub fn from_name(name: &str) -> Option<Function> {
                match name {
                    $($name => Some(Function::$variant),)*
                    _ => None,
                }
            }

            /// The function's full name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Function::$variant => $name,)*
                }
            }

            fn arity(self) -> (usize, usize) {
                match self {
                    $(Function::$variant => ($min, $max),)*
                }
            }
        }
    };
}

functions! {
    Format => "States.Format", 1..=usize::MAX;
    StringToJson => "States.StringToJson", 1..=1;
    JsonToString => "States.JsonToString", 1..=1;
    Array => "States.Array", 0..=usize::MAX;
    ArrayPartition => "States.ArrayPartition", 2..=2;
    ArrayContains => "States.ArrayContains", 2..=2;
    ArrayRange => "States.ArrayRange", 3..=3;
    ArrayGetItem => "States.ArrayGetItem", 2..=2;
    ArrayLength => "States.ArrayLength", 1..=1;
    ArrayUnique => "States.ArrayUnique", 1..=1;
    Base64Encode => "States.Base64Encode", 1..=1;
    Base64Decode => "States.Base64Decode", 1..=1;
    Hash => "States.Hash", 2..=2;
    JsonMerge => "States.JsonMerge", 3..=3;
    MathRandom => "States.MathRandom", 2..=3;
    MathAdd => "States.MathAdd", 2..=2;
    StringSplit => "States.StringSplit", 2..=2;
    Uuid => "States.UUID", 0..=0;
}

/// What an intrinsic is evaluated against.
pub struct Env<'a> {
    /// The input paths (`$...`) apply to.
    pub input: &'a Value,
    /// The context object (`$$...`).
    pub context: &'a Value,
    /// The generator behind `States.UUID` and unseeded `States.MathRandom`.
    pub rng: &'a mut StdRng,
}

/// Why a call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrinsicSyntaxError {
    /// The call text.
    pub text: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for IntrinsicSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid intrinsic function call '{}': {}",
            self.text, self.message
        )
    }
}

impl std::error::Error for IntrinsicSyntaxError {}

impl Intrinsic {
    /// Parses a call such as `States.Format('{} items', States.ArrayLength($.items))`.
    pub fn parse(text: &str) -> Result<Intrinsic, IntrinsicSyntaxError> {
        let fail = |message: String| IntrinsicSyntaxError {
            text: text.to_owned(),
            message,
        };
        let mut parser = CallParser {
            chars: text.chars().collect(),
            pos: 0,
            calls: 0,
        };
        let call = parser.call().map_err(&fail)?;
        parser.skip_spaces();
        if parser.pos != parser.chars.len() {
            return Err(fail(format!(
                "unexpected text after the call at character {}",
                parser.pos + 1
            )));
        }
        if parser.calls > MAX_CALLS {
            return Err(fail(format!(
                "{} calls in one field; at most {MAX_CALLS} are allowed",
                parser.calls
            )));
        }
        Ok(call)
    }

    /// The function this call invokes.
    pub fn function(&self) -> Function {
        self.function
    }

    /// Evaluates the call.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, Failure> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Literal(v) => v.clone(),
                Arg::Text(pieces) => Value::String(join_pieces(pieces)),
                Arg::Path(path) => {
                    let root = if path.is_context() { env.context } else { env.input };
                    path.resolve(root).ok_or_else(|| {
                        Failure::runtime(format!(
                            "The JSONPath '{path}' given to {} could not be found in the {}",
                            self.function.name(),
                            if path.is_context() {
                                "context object".to_owned()
                            } else {
                                format!("input '{}'", to_compact(root))
                            }
                        ))
                    })?
                }
                Arg::Call(call) => call.evaluate(env)?,
            });
        }
        let fail =
            |message: String| Failure::new(INTRINSIC_FAILURE, format!("{}: {message}", self.function.name()));
        apply(self.function, &self.args, values, env.rng).map_err(fail)
    }
}

fn join_pieces(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.as_str(),
            Piece::Hole => "{}",
        })
        .collect()
}

fn apply(function: Function, args: &[Arg], values: Vec<Value>, rng: &mut StdRng) -> Result<Value, String> {
    use Function as F;
    // The parser checked every function's argument count, so the arguments indexed are there.
    let arg = |i: usize| &values[i];
    match function {
        // The generic one.
        F::Format => format_string(&args[0], &values),
        // JSON data manipulation.
        F::StringToJson => {
            let text = string(arg(0), "the argument")?;
            serde_json::from_str(text).map_err(|e| format!("the argument is not JSON text: {e}"))
        }
        F::JsonToString => Ok(Value::String(to_compact(arg(0)))),
        F::JsonMerge => json_merge(arg(0), arg(1), arg(2)),
        // Arrays.
        F::Array => Ok(Value::Array(values)),
        F::ArrayPartition => array_partition(arg(0), arg(1)),
        F::ArrayContains => {
            let items = array(arg(0), "the first argument")?;
            Ok(Value::Bool(items.iter().any(|v| json_eq(v, arg(1)))))
        }
        F::ArrayRange => array_range(arg(0), arg(1), arg(2)),
        F::ArrayGetItem => array_get_item(arg(0), arg(1)),
        F::ArrayLength => Ok(Value::from(array(arg(0), "the argument")?.len())),
        F::ArrayUnique => array_unique(arg(0)),
        // Data encoding and decoding, and hash calculation.
        F::Base64Encode => {
            let text = bounded_string(arg(0))?;
            Ok(Value::String(crate::base64::encode(text.as_bytes())))
        }
        F::Base64Decode => base64_decode(arg(0)),
        F::Hash => hash(arg(0), arg(1)),
        // Math.
        F::MathRandom => math_random(arg(0), arg(1), values.get(2), rng),
        F::MathAdd => {
            let a = i32_arg(arg(0), "the first argument")?;
            let b = i32_arg(arg(1), "the second argument")?;
            Ok(Value::from(i64::from(a) + i64::from(b)))
        }
        // String operations.
        F::StringSplit => string_split(arg(0), arg(1)),
        // Unique identifiers.
        F::Uuid => {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            Ok(Value::String(
                uuid::Builder::from_random_bytes(bytes).into_uuid().to_string(),
            ))
        }
    }
}

/// `States.Format`: the template, the first argument (`template` as written, `values[0]` as
/// evaluated), with each `{}` replaced by the next of the other values.
fn format_string(template: &Arg, values: &[Value]) -> Result<Value, String> {
    let pieces = match template {
        Arg::Text(pieces) => pieces.clone(),
        _ => split_template(string(&values[0], "the template")?),
    };
    let holes = pieces.iter().filter(|p| **p == Piece::Hole).count();
    if holes != values.len() - 1 {
        return Err(format!(
            "the template has {holes} placeholder(s) but {} argument(s) follow it",
            values.len() - 1
        ));
    }
    let mut out = String::new();
    let mut next = values[1..].iter();
    for piece in &pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Hole => {
                let v = next.next().unwrap_or(&Value::Null);
                match v {
                    Value::String(s) => out.push_str(s),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(format!(
                            "cannot format an {} (only strings, numbers, booleans and null)",
                            type_name(v)
                        ))
                    }
                    other => out.push_str(&to_compact(other)),
                }
            }
        }
    }
    Ok(Value::String(out))
}

/// `States.JsonMerge`: the keys of `b` over those of `a`; `deep` must be `false`.
fn json_merge(a: &Value, b: &Value, deep: &Value) -> Result<Value, String> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return Err(format!(
            "both arguments to merge must be objects, got {} and {}",
            type_name(a),
            type_name(b)
        ));
    };
    match deep {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err("deep merging is not supported; the third argument must be false".to_owned())
        }
        other => {
            return Err(format!(
                "the third argument must be the boolean false, got {}",
                to_compact(other)
            ))
        }
    }
    let mut merged: Map<String, Value> = a.clone();
    for (k, v) in b {
        merged.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(merged))
}

/// `States.ArrayPartition`: the array in chunks of `size` items, the last one shorter.
fn array_partition(items: &Value, size: &Value) -> Result<Value, String> {
    let items = array(items, "the first argument")?;
    let size = integer(size, "the chunk size")?;
    if size <= 0 {
        return Err(format!("the chunk size must be a positive integer, got {size}"));
    }
    Ok(Value::Array(
        items
            .chunks(size as usize)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

/// `States.ArrayRange`: the integers from `start` to `end` inclusive, `step` apart.
fn array_range(start: &Value, end: &Value, step: &Value) -> Result<Value, String> {
    let start = integer(start, "the start")?;
    let end = integer(end, "the end")?;
    let step = integer(step, "the step")?;
    if step == 0 {
        return Err("the step must not be 0".to_owned());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0 && x <= end) || (step < 0 && x >= end) {
        if out.len() == MAX_RANGE_ITEMS {
            return Err(format!("the range holds more than {MAX_RANGE_ITEMS} items"));
        }
        out.push(Value::from(x));
        x = x.saturating_add(step);
    }
    Ok(Value::Array(out))
}

/// `States.ArrayGetItem`: the item at a whole, in-range `index`.
fn array_get_item(items: &Value, index: &Value) -> Result<Value, String> {
    let items = array(items, "the first argument")?;
    let position = index
        .as_u64()
        .or_else(|| {
            index
                .as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .ok_or_else(|| {
            format!(
                "the index must be a non-negative integer, got {}",
                to_compact(index)
            )
        })?;
    usize::try_from(position)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| format!("index {position} is outside an array of {}", items.len()))
}

/// `States.ArrayUnique`: the array without repeated items, first occurrences kept.
fn array_unique(items: &Value) -> Result<Value, String> {
    let items = array(items, "the argument")?;
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.iter().any(|seen| json_eq(seen, item)) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

/// `States.Base64Decode`: the UTF-8 text a base64 string encodes.
fn base64_decode(text: &Value) -> Result<Value, String> {
    let text = bounded_string(text)?;
    let bytes = crate::base64::decode(text)?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "the decoded bytes are not UTF-8 text".to_owned())
}

/// `States.Hash`: the hex digest of a string's UTF-8 bytes (any other value's compact JSON
/// text) by the named algorithm.
fn hash(data: &Value, algorithm: &Value) -> Result<Value, String> {
    let data = match data {
        Value::String(s) => s.clone(),
        other => to_compact(other),
    };
    if data.chars().count() > MAX_STRING_CHARS {
        return Err(format!("the data is longer than {MAX_STRING_CHARS} characters"));
    }
    let name = string(algorithm, "the algorithm")?;
    let algorithm = Algorithm::from_name(name)
        .ok_or_else(|| format!("unknown algorithm '{name}' (MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"))?;
    Ok(Value::String(algorithm.hex_digest(data.as_bytes())))
}

/// `States.MathRandom`: an integer from `start` (inclusive) to `end` (exclusive), drawn
/// from a generator seeded by `seed` if given, else from the executor's.
fn math_random(start: &Value, end: &Value, seed: Option<&Value>, rng: &mut StdRng) -> Result<Value, String> {
    let start = integer(start, "the start")?;
    let end = integer(end, "the end")?;
    if start >= end {
        return Err(format!("the start ({start}) must be less than the end ({end})"));
    }
    let n = match seed {
        Some(seed) => {
            let seed = integer(seed, "the seed")?;
            StdRng::seed_from_u64(seed as u64).random_range(start..end)
        }
        None => rng.random_range(start..end),
    };
    Ok(Value::from(n))
}

/// `States.StringSplit`: the non-empty pieces of the string between any of the delimiter's
/// characters.
fn string_split(text: &Value, delimiter: &Value) -> Result<Value, String> {
    let text = string(text, "the string")?;
    let delimiters: Vec<char> = string(delimiter, "the delimiter")?.chars().collect();
    Ok(Value::Array(
        text.split(|c| delimiters.contains(&c))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Value::String(piece.to_owned()))
            .collect(),
    ))
}

fn string<'v>(value: &'v Value, what: &str) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} must be a string, got {}", type_name(value)))
}

fn bounded_string(value: &Value) -> Result<&str, String> {
    let text = string(value, "the argument")?;
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(format!(
            "the argument is longer than {MAX_STRING_CHARS} characters"
        ));
    }
    Ok(text)
}

fn array<'v>(value: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{what} must be an array, got {}", type_name(value)))
}

fn integer(value: &Value, what: &str) -> Result<i64, String> {
    rounded_integer(value).ok_or_else(|| format!("{what} must be an integer, got {}", to_compact(value)))
}

fn i32_arg(value: &Value, what: &str) -> Result<i32, String> {
    let n = integer(value, what)?;
    i32::try_from(n).map_err(|_| format!("{what} must lie between -2147483648 and 2147483647, got {n}"))
}

fn split_template(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in text.split("{}").enumerate() {
        if i > 0 {
            pieces.push(Piece::Hole);
        }
        if !part.is_empty() {
            pieces.push(Piece::Text(part.to_owned()));
        }
    }
    pieces
}

struct CallParser {
    chars: Vec<char>,
    pos: usize,
    calls: usize,
}

impl CallParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Intrinsic, String> {
        self.calls += 1;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if name.is_empty() {
            return Err(format!("expected a function name at character {}", start + 1));
        }
        let function =
            Function::from_name(&name).ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after '{name}'"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_spaces();
                args.push(self.arg()?);
                self.skip_spaces();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => {
                        return Err(format!(
                            "expected ',' or ')' but found '{c}' at character {}",
                            self.pos + 1
                        ))
                    }
                    None => return Err(format!("missing ')' to close '{name}('")),
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!("{name} takes {expected} argument(s), got {}", args.len()));
        }
        Ok(Intrinsic { function, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string_literal().map(Arg::Text),
            Some('$') => self.path().map(Arg::Path),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    _ => {
                        self.pos = start;
                        self.call().map(Arg::Call)
                    }
                }
            }
            Some(c) => Err(format!("unexpected '{c}' at character {}", self.pos + 1)),
            None => Err("missing argument".to_owned()),
        }
    }

    fn string_literal(&mut self) -> Result<Vec<Piece>, String> {
        self.pos += 1;
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".to_owned()),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        _ => {
                            return Err(format!(
                            "open escape '\\' at character {} (only \\', \\{{, \\}} and \\\\ are escapes)",
                            self.pos
                        ))
                        }
                    }
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Hole);
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(pieces)
    }

    /// A path argument runs to the next `,` or `)` outside brackets, parentheses and quotes.
    fn path(&mut self) -> Result<Path, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if c == '\\' {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    '\'' | '"' if depth > 0 => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    ')' if depth > 0 => depth -= 1,
                    ',' | ')' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        Path::parse(text.trim_end()).map_err(|e| e.to_string())
    }

    fn number(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<Number>()
            .map(|n| Arg::Literal(Value::Number(n)))
            .map_err(|_| format!("'{text}' is not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(call: &str, input: Value) -> Result<Value, Failure> {
        let mut rng = StdRng::seed_from_u64(7);
        let context = json!({"Execution": {"Name": "run-1"}});
        Intrinsic::parse(call)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&mut Env {
                input: &input,
                context: &context,
                rng: &mut rng,
            })
    }

    #[test]
    fn format() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            eval("States.Format('Hello, my name is {}.', $.name)", input.clone()),
            Ok(json!("Hello, my name is Arnav."))
        );
        assert_eq!(
            eval("States.Format($.template, $.name)", input),
            Ok(json!("Hello, my name is Arnav."))
        );
        assert_eq!(
            eval(
                "States.Format('Welcome to {} {}\\'s playlist.', $.first, $.last)",
                json!({"first": "Ada", "last": "L"})
            ),
            Ok(json!("Welcome to Ada L's playlist."))
        );
        assert_eq!(
            eval("States.Format('\\{}{} \\\\ {}', 1, true, null)", json!({}))
                .unwrap_err()
                .error,
            INTRINSIC_FAILURE
        );
        assert_eq!(
            eval("States.Format('\\{\\}{} \\\\ {}', 1.5, null)", json!({})),
            Ok(json!("{}1.5 \\ null"))
        );
        assert_eq!(
            eval(
                "States.Format('{}_{}', $$.Execution.Name, $['test-batch']['batch_id'])",
                json!({"test-batch": {"batch_id": 7}})
            ),
            Ok(json!("run-1_7"))
        );
    }

    #[test]
    fn nested_calls_and_literals() {
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my.recipe/1.0.0"}});
        assert_eq!(
            eval(
                "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1), 'x')",
                input
            ),
            Ok(json!("1.0.x"))
        );
        assert_eq!(
            eval(
                "States.Array('a', 1, -2.5, true, false, null, States.Array())",
                json!({})
            ),
            Ok(json!(["a", 1, -2.5, true, false, null, []]))
        );
        assert_eq!(
            eval(
                "States.ArrayLength($.items[?(@.ok == true)])",
                json!({"items": [{"ok": true}, {"ok": false}, {"ok": true}]})
            ),
            Ok(json!(2))
        );
    }

    #[test]
    fn arrays() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5, "lookingFor": 5});
        assert_eq!(
            eval("States.ArrayPartition($.inputArray,4)", input.clone()),
            Ok(json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]]))
        );
        assert_eq!(
            eval("States.ArrayPartition($.inputArray, 4.6)", input.clone()),
            Ok(json!([[1, 2, 3, 4, 5], [6, 7, 8, 9]]))
        );
        assert_eq!(
            eval("States.ArrayContains($.inputArray, $.lookingFor)", input.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})),
            Ok(json!([1, 3, 5, 7, 9]))
        );
        assert_eq!(
            eval("States.ArrayRange(5, 1, -2)", json!({})),
            Ok(json!([5, 3, 1]))
        );
        assert_eq!(
            eval("States.ArrayGetItem($.inputArray, $.index)", input.clone()),
            Ok(json!(6))
        );
        assert_eq!(
            eval("States.ArrayLength($.inputArray)", input.clone()),
            Ok(json!(9))
        );
        assert_eq!(
            eval("States.ArrayUnique(States.Array(1, 2, 3, 3, 1.0, 4))", json!({})),
            Ok(json!([1, 2, 3, 4]))
        );
        for bad in [
            "States.ArrayPartition($.inputArray, 0)",
            "States.ArrayRange(1, 9, 0)",
            "States.ArrayRange(0, 1000, 1)",
            "States.ArrayGetItem($.inputArray, 9)",
            "States.ArrayGetItem($.inputArray, 1.5)",
            "States.ArrayLength($.index)",
        ] {
            assert_eq!(
                eval(bad, input.clone()).unwrap_err().error,
                INTRINSIC_FAILURE,
                "{bad}"
            );
        }
        assert_eq!(
            eval("States.ArrayRange(0, 999, 1)", json!({}))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn encoding_hashing_json() {
        assert_eq!(
            eval("States.Base64Encode($.input)", json!({"input": "Data to encode"})),
            Ok(json!("RGF0YSB0byBlbmNvZGU="))
        );
        assert_eq!(
            eval(
                "States.Base64Decode($.base64)",
                json!({"base64": "RGF0YSB0byBlbmNvZGU="})
            ),
            Ok(json!("Data to encode"))
        );
        assert_eq!(
            eval(
                "States.Hash($.Data, $.Algorithm)",
                json!({"Data": "input data", "Algorithm": "SHA-1"})
            ),
            Ok(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert_eq!(
            eval("States.Hash('x', 'SHA-3')", json!({})).unwrap_err().error,
            INTRINSIC_FAILURE
        );
        assert_eq!(
            eval(
                "States.JsonMerge($.json1, $.json2, false)",
                json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}})
            ),
            Ok(json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}))
        );
        assert_eq!(
            eval("States.JsonMerge($.a, $.a, true)", json!({"a": {}}))
                .unwrap_err()
                .error,
            INTRINSIC_FAILURE
        );
        assert_eq!(
            eval("States.StringToJson($.s)", json!({"s": "{\"foo\": \"bar\"}"})),
            Ok(json!({"foo": "bar"}))
        );
        assert_eq!(
            eval("States.StringToJson($.s)", json!({"s": "{"}))
                .unwrap_err()
                .error,
            INTRINSIC_FAILURE
        );
        assert_eq!(
            eval(
                "States.JsonToString($.j)",
                json!({"j": {"name": "Foo", "year": 2020}})
            ),
            Ok(json!("{\"name\":\"Foo\",\"year\":2020}"))
        );
    }

    #[test]
    fn math_strings_uuid() {
        assert_eq!(
            eval(
                "States.MathAdd($.value1, $.step)",
                json!({"value1": 111, "step": -1})
            ),
            Ok(json!(110))
        );
        assert_eq!(
            eval("States.MathAdd(2147483648, 1)", json!({}))
                .unwrap_err()
                .error,
            INTRINSIC_FAILURE
        );
        let r = eval("States.MathRandom(1, 999)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..999).contains(&r));
        assert_eq!(
            eval("States.MathRandom(1, 999, 42)", json!({})),
            eval("States.MathRandom(1, 999, 42)", json!({"other": 1}))
        );
        assert_eq!(
            eval(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "1,2,3,4,5", "splitter": ","})
            ),
            Ok(json!(["1", "2", "3", "4", "5"]))
        );
        assert_eq!(
            eval(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "This.is+a,test=string", "splitter": ".+,="})
            ),
            Ok(json!(["This", "is", "a", "test", "string"]))
        );
        assert_eq!(
            eval("States.StringSplit('a,,b', ',')", json!({})),
            Ok(json!(["a", "b"]))
        );
        let uuid = eval("States.UUID()", json!({})).unwrap();
        let text = uuid.as_str().unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert_eq!(
            uuid,
            eval("States.UUID()", json!({})).unwrap(),
            "same seed, same UUID"
        );
    }

    #[test]
    fn missing_path_is_runtime_error() {
        assert_eq!(
            eval("States.Array($.nope)", json!({})).unwrap_err().error,
            crate::errors::RUNTIME
        );
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "States.Nope()",
            "States.Format()",
            "States.UUID(1)",
            "States.Array('a' 'b')",
            "States.Array('unterminated)",
            "States.Array('bad \\n escape')",
            "States.Array($.a",
            "States.Array(1) trailing",
            "States.Array(foo)",
            "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array())))))))))))",
        ] {
            assert!(Intrinsic::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
