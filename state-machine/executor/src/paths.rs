//! JSONPath, in the dialect the Amazon States Language uses.
//!
//! A [`Path`] is parsed once, when a definition is loaded, and evaluated many times. It
//! starts at `$` (the state's input) or `$$` (the context object) and is followed by
//! segments:
//!
//! | form                         | meaning                                               |
//! |------------------------------|-------------------------------------------------------|
//! | `.name`, `['name']`, `["n"]` | object member (`\` escapes a character in `.name`)    |
//! | `[2]`, `[-1]`                | array element (negative counts from the end)          |
//! | `.*`, `[*]`                  | every member or element                               |
//! | `['a','b']`, `[0,2]`         | union                                                 |
//! | `[1:3]`, `[-3:]`, `[::2]`    | slice                                                 |
//! | `[?(@.x == 1)]`              | filter: `== != < <= > >=`, `&&`, `\|\|`, `!`, `@.x` alone tests presence |
//! | `..name`, `..*`, `..[0]`     | recursive descent                                     |
//!
//! A path made only of members and indices is *definite*: it names at most one node and
//! evaluates to that node. Any other path is *indefinite* and evaluates to an array of
//! every match, possibly empty (the spec: "the interpreter gathers the texts into an
//! array"). A definite path that matches nothing is an error the caller reports
//! (`States.Runtime` for `InputPath`, `Parameters` and friends).
//!
//! A *reference path* (`ResultPath`, `ItemsPath`, ...) must be definite; [`Path::set`]
//! writes a value at one, creating intermediate objects as needed.

use std::fmt;

use serde_json::{Map, Value};

use crate::value::{compare_numbers, json_eq};

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    text: String,
    context: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Member(String),
    Index(i64),
    Wildcard,
    Union(Vec<Selector>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Filter(Filter),
    Descend(Box<Segment>),
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Member(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Exists(Vec<Segment>),
    Compare(Operand, CompareOp, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The text that failed to parse.
    pub path: String,
    /// What was wrong, and where.
    pub message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSONPath '{}': {}", self.path, self.message)
    }
}

impl std::error::Error for PathError {}

impl Path {
    /// Parses a path that starts with `$` (state input) or `$$` (context object).
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let fail = |message: String| PathError {
            path: text.to_owned(),
            message,
        };
        let (context, rest) = if let Some(rest) = text.strip_prefix("$$") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (false, rest)
        } else {
            return Err(fail("a path must start with '$'".to_owned()));
        };
        let mut parser = Parser {
            chars: rest.chars().collect(),
            pos: 0,
        };
        let segments = parser.segments(false).map_err(|m| {
            fail(format!(
                "{m} (at character {})",
                parser.pos + 1 + context as usize
            ))
        })?;
        Ok(Path {
            text: text.to_owned(),
            context,
            segments,
        })
    }

    /// Parses a reference path: a definite path into the state input.
    pub fn parse_reference(text: &str) -> Result<Path, PathError> {
        let path = Path::parse(text)?;
        if path.context {
            return Err(PathError {
                path: text.to_owned(),
                message: "a reference path cannot address the context object".to_owned(),
            });
        }
        if !path.is_definite() {
            return Err(PathError {
                path: text.to_owned(),
                message: "a reference path must name a single node (no wildcards, filters, \
                          slices, unions or '..')"
                    .to_owned(),
            });
        }
        Ok(path)
    }

    /// The text the path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path addresses the context object (`$$...`).
    pub fn is_context(&self) -> bool {
        self.context
    }

    /// Whether the path names at most one node (members and indices only).
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Member(_) | Segment::Index(_)))
    }

    /// Whether the path is `$` (or `$$`) alone.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Evaluates the path against `root`.
    ///
    /// A definite path yields the node it names, or `None` when there is none. An
    /// indefinite path always yields an array of its matches, in document order.
    pub fn resolve(&self, root: &Value) -> Option<Value> {
        if self.is_definite() {
            let mut node = root;
            for segment in &self.segments {
                node = match segment {
                    Segment::Member(name) => node.as_object()?.get(name)?,
                    Segment::Index(i) => {
                        let items = node.as_array()?;
                        items.get(normalize_index(*i, items.len())?)?
                    }
                    _ => unreachable!("definite paths hold members and indices only"),
                };
            }
            Some(node.clone())
        } else {
            let mut matches = vec![root];
            for segment in &self.segments {
                let mut next = Vec::new();
                for node in matches {
                    apply(segment, node, &mut next);
                }
                matches = next;
            }
            Some(Value::Array(matches.into_iter().cloned().collect()))
        }
    }

    /// Writes `value` at this reference path inside `target`, returning the result.
    ///
    /// Missing object members along the way are created; an existing member is replaced.
    /// Fails when a step meets something that is not an object (for a member) or not an
    /// array holding that index (for an index).
    pub fn set(&self, mut target: Value, value: Value) -> Result<Value, String> {
        debug_assert!(self.is_definite(), "set needs a reference path");
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut node = &mut target;
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Member(name) => {
                    let Value::Object(map) = node else {
                        return Err(format!(
                            "cannot set member '{name}' on a {} value",
                            crate::value::type_name(node)
                        ));
                    };
                    if i == last {
                        map.insert(name.clone(), value);
                        return Ok(target);
                    }
                    node = map
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                }
                Segment::Index(index) => {
                    let Value::Array(items) = node else {
                        return Err(format!(
                            "cannot set index [{index}] on a {} value",
                            crate::value::type_name(node)
                        ));
                    };
                    let len = items.len();
                    let Some(position) = normalize_index(*index, len) else {
                        return Err(format!("index [{index}] is outside an array of {len}"));
                    };
                    if i == last {
                        items[position] = value;
                        return Ok(target);
                    }
                    node = &mut items[position];
                }
                _ => unreachable!("reference paths hold members and indices only"),
            }
        }
        Ok(target)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn normalize_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let position = if index < 0 { len + index } else { index };
    (0..len).contains(&position).then_some(position as usize)
}

fn apply<'v>(segment: &Segment, node: &'v Value, out: &mut Vec<&'v Value>) {
    match segment {
        Segment::Member(name) => {
            if let Some(v) = node.as_object().and_then(|m| m.get(name)) {
                out.push(v);
            }
        }
        Segment::Index(i) => {
            if let Some(items) = node.as_array() {
                if let Some(p) = normalize_index(*i, items.len()) {
                    out.push(&items[p]);
                }
            }
        }
        Segment::Wildcard => match node {
            Value::Object(map) => out.extend(map.values()),
            Value::Array(items) => out.extend(items.iter()),
            _ => {}
        },
        Segment::Union(selectors) => {
            for selector in selectors {
                let single = match selector {
                    Selector::Member(name) => Segment::Member(name.clone()),
                    Selector::Index(i) => Segment::Index(*i),
                };
                apply(&single, node, out);
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(items) = node.as_array() {
                slice(items, *start, *end, *step, out);
            }
        }
        Segment::Filter(filter) => {
            let candidates: Vec<&Value> = match node {
                Value::Array(items) => items.iter().collect(),
                Value::Object(map) => map.values().collect(),
                _ => Vec::new(),
            };
            out.extend(candidates.into_iter().filter(|c| filter_matches(filter, c)));
        }
        Segment::Descend(inner) => {
            apply(inner, node, out);
            match node {
                Value::Object(map) => map.values().for_each(|child| apply(segment, child, out)),
                Value::Array(items) => items.iter().for_each(|child| apply(segment, child, out)),
                _ => {}
            }
        }
    }
}

fn slice<'v>(
    items: &'v [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'v Value>,
) {
    let len = items.len() as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return;
    }
    let clamp = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
    if step > 0 {
        let (mut i, stop) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
        while i < stop {
            out.push(&items[i as usize]);
            i += step;
        }
    } else {
        let mut i = start.map_or(len - 1, |s| if s < 0 { len + s } else { s.min(len - 1) });
        let stop = end.map_or(-1, |e| if e < 0 { (len + e).max(-1) } else { e });
        while i > stop && i >= 0 {
            out.push(&items[i as usize]);
            i += step;
        }
    }
}

fn relative<'v>(segments: &[Segment], node: &'v Value) -> Option<&'v Value> {
    let mut node = node;
    for segment in segments {
        node = match segment {
            Segment::Member(name) => node.as_object()?.get(name)?,
            Segment::Index(i) => {
                let items = node.as_array()?;
                items.get(normalize_index(*i, items.len())?)?
            }
            _ => return None,
        };
    }
    Some(node)
}

fn filter_matches(filter: &Filter, node: &Value) -> bool {
    match filter {
        Filter::Or(a, b) => filter_matches(a, node) || filter_matches(b, node),
        Filter::And(a, b) => filter_matches(a, node) && filter_matches(b, node),
        Filter::Not(inner) => !filter_matches(inner, node),
        Filter::Exists(segments) => relative(segments, node).is_some(),
        Filter::Compare(left, op, right) => {
            let resolve = |operand: &Operand| match operand {
                Operand::Current(segments) => relative(segments, node).cloned(),
                Operand::Literal(v) => Some(v.clone()),
            };
            let (Some(l), Some(r)) = (resolve(left), resolve(right)) else {
                return false;
            };
            let ordering = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            match op {
                CompareOp::Eq => json_eq(&l, &r),
                CompareOp::Ne => !json_eq(&l, &r),
                CompareOp::Lt => ordering.is_some_and(|o| o.is_lt()),
                CompareOp::Le => ordering.is_some_and(|o| o.is_le()),
                CompareOp::Gt => ordering.is_some_and(|o| o.is_gt()),
                CompareOp::Ge => ordering.is_some_and(|o| o.is_ge()),
            }
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

type ParseResult<T> = Result<T, String>;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> ParseResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(found) => format!("expected '{c}', found '{found}'"),
                None => format!("expected '{c}', found the end"),
            })
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Segments up to the end, or (inside a filter) up to a character that ends an operand.
    fn segments(&mut self, in_filter: bool) -> ParseResult<Vec<Segment>> {
        let mut segments = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '.' if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    let inner = if self.peek() == Some('[') {
                        self.bracket()?
                    } else {
                        self.dot_member(in_filter)?
                    };
                    segments.push(Segment::Descend(Box::new(inner)));
                }
                '.' => {
                    self.pos += 1;
                    segments.push(self.dot_member(in_filter)?);
                }
                '[' => segments.push(self.bracket()?),
                _ if in_filter => break,
                other => return Err(format!("unexpected '{other}'")),
            }
        }
        Ok(segments)
    }

    fn dot_member(&mut self, in_filter: bool) -> ParseResult<Segment> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if in_filter && (c.is_whitespace() || "=!<>&|)".contains(c)) {
                break;
            }
            self.pos += 1;
            if c == '\\' {
                match self.peek() {
                    Some(escaped) => {
                        name.push(escaped);
                        self.pos += 1;
                    }
                    None => return Err("a '\\' escapes nothing".to_owned()),
                }
            } else {
                name.push(c);
            }
        }
        match name.as_str() {
            "" => Err("expected a member name after '.'".to_owned()),
            "*" => Ok(Segment::Wildcard),
            _ => Ok(Segment::Member(name)),
        }
    }

    fn bracket(&mut self) -> ParseResult<Segment> {
        self.expect('[')?;
        self.skip_spaces();
        let segment = match self.peek() {
            Some('\'') | Some('"') => {
                let mut names = vec![self.quoted()?];
                self.skip_spaces();
                while self.eat(',') {
                    self.skip_spaces();
                    names.push(self.quoted()?);
                    self.skip_spaces();
                }
                if names.len() == 1 {
                    Segment::Member(names.pop().unwrap_or_default())
                } else {
                    Segment::Union(names.into_iter().map(Selector::Member).collect())
                }
            }
            Some('*') => {
                self.pos += 1;
                self.skip_spaces();
                Segment::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_spaces();
                self.expect('(')?;
                let filter = self.filter_or()?;
                self.skip_spaces();
                self.expect(')')?;
                self.skip_spaces();
                Segment::Filter(filter)
            }
            _ => self.numeric_bracket()?,
        };
        self.expect(']')?;
        Ok(segment)
    }

    fn numeric_bracket(&mut self) -> ParseResult<Segment> {
        let first = self.integer_opt()?;
        self.skip_spaces();
        if self.peek() == Some(':') {
            self.pos += 1;
            self.skip_spaces();
            let end = self.integer_opt()?;
            self.skip_spaces();
            let step = if self.eat(':') {
                self.skip_spaces();
                self.integer_opt()?
            } else {
                None
            };
            self.skip_spaces();
            if step == Some(0) {
                return Err("a slice step cannot be 0".to_owned());
            }
            return Ok(Segment::Slice(first, end, step));
        }
        let first = first.ok_or_else(|| "expected an index, a quoted name, '*' or '?('".to_owned())?;
        let mut indices = vec![first];
        while self.eat(',') {
            self.skip_spaces();
            indices.push(
                self.integer_opt()?
                    .ok_or_else(|| "expected an index after ','".to_owned())?,
            );
            self.skip_spaces();
        }
        if indices.len() == 1 {
            Ok(Segment::Index(first))
        } else {
            Ok(Segment::Union(indices.into_iter().map(Selector::Index).collect()))
        }
    }

    fn integer_opt(&mut self) -> ParseResult<Option<i64>> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>()
            .map(Some)
            .map_err(|_| format!("'{text}' is not an integer"))
    }

    fn quoted(&mut self) -> ParseResult<String> {
        let quote = self.peek().ok_or("expected a quoted name")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated {quote}-quoted name")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or("a '\\' escapes nothing")?;
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn filter_or(&mut self) -> ParseResult<Filter> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('|') && self.peek_at(1) == Some('|') {
                self.pos += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> ParseResult<Filter> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('&') && self.peek_at(1) == Some('&') {
                self.pos += 2;
                let right = self.filter_unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> ParseResult<Filter> {
        self.skip_spaces();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.skip_spaces();
            self.expect(')')?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_spaces();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CompareOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CompareOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CompareOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CompareOp::Ge, 2)),
            (Some('<'), _) => Some((CompareOp::Lt, 1)),
            (Some('>'), _) => Some((CompareOp::Gt, 1)),
            _ => None,
        };
        match op {
            Some((op, width)) => {
                self.pos += width;
                self.skip_spaces();
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            None => match left {
                Operand::Current(segments) => Ok(Filter::Exists(segments)),
                Operand::Literal(_) => Err("a filter needs a comparison or an '@' path".to_owned()),
            },
        }
    }

    fn operand(&mut self) -> ParseResult<Operand> {
        self.skip_spaces();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                let segments = self.segments(true)?;
                if segments
                    .iter()
                    .any(|s| !matches!(s, Segment::Member(_) | Segment::Index(_)))
                {
                    return Err("an '@' path in a filter must name a single node".to_owned());
                }
                Ok(Operand::Current(segments))
            }
            Some('\'') | Some('"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(_) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "-+.".contains(c))
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    _ => serde_json::from_str::<serde_json::Number>(&word)
                        .map(|n| Operand::Literal(Value::Number(n)))
                        .map_err(|_| format!("'{word}' is not a filter operand")),
                }
            }
            None => Err("expected a filter operand".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, data: &Value) -> Option<Value> {
        Path::parse(path).unwrap().resolve(data)
    }

    #[test]
    fn definite_paths() {
        let data = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}, "a b": 1});
        assert_eq!(eval("$.foo", &data), Some(json!(123)));
        assert_eq!(eval("$.bar", &data), Some(json!(["a", "b", "c"])));
        assert_eq!(eval("$.car.cdr", &data), Some(json!(true)));
        assert_eq!(eval("$['car']['cdr']", &data), Some(json!(true)));
        assert_eq!(eval("$.bar[1]", &data), Some(json!("b")));
        assert_eq!(eval("$.bar[-1]", &data), Some(json!("c")));
        assert_eq!(eval("$['a b']", &data), Some(json!(1)));
        assert_eq!(eval("$", &data), Some(data.clone()));
        assert_eq!(eval("$.missing", &data), None);
        assert_eq!(eval("$.bar[3]", &data), None);
        assert_eq!(eval("$.foo.x", &data), None);
    }

    #[test]
    fn indefinite_paths_gather_matches() {
        let data = json!({"a": [1, 2, 3, 4], "items": [{"x": true, "n": 1}, {"x": false, "n": 2}, {"n": 3}]});
        assert_eq!(eval("$.a[0:2]", &data), Some(json!([1, 2])));
        assert_eq!(eval("$.a[0,1]", &data), Some(json!([1, 2])));
        assert_eq!(eval("$.a[-3:]", &data), Some(json!([2, 3, 4])));
        assert_eq!(eval("$.a[::2]", &data), Some(json!([1, 3])));
        assert_eq!(eval("$.a[::-1]", &data), Some(json!([4, 3, 2, 1])));
        assert_eq!(eval("$.items[*].n", &data), Some(json!([1, 2, 3])));
        assert_eq!(eval("$.items[?(@.x == true)].n", &data), Some(json!([1])));
        assert_eq!(eval("$.items[?(@.x)].n", &data), Some(json!([1, 2])));
        assert_eq!(
            eval("$.items[?(@.n >= 2 && @.n != 3)].n", &data),
            Some(json!([2]))
        );
        assert_eq!(
            eval("$.items[?(@.n < 2 || @.n > 2)].n", &data),
            Some(json!([1, 3]))
        );
        assert_eq!(eval("$..n", &data), Some(json!([1, 2, 3])));
        assert_eq!(eval("$.items[?(@.n > 9)]", &data), Some(json!([])));
    }

    #[test]
    fn spec_reference_path_examples_parse() {
        for text in [
            "$.store.book",
            "$.store\\.book",
            "$.\\stor\\e.boo\\k",
            "$.foo.\\.bar",
            "$.foo\\@bar.baz\\[\\[.\\?pretty",
            "$.&Ж中.\u{10346}",
            "$.ledgers.branch[0].pending.count",
            "$.ledgers[0][22][315].foo",
            "$['store']['book']",
            "$['store'][0]['book']",
            "$.delivery-partner",
        ] {
            let path = Path::parse_reference(text).unwrap_or_else(|e| panic!("{e}"));
            assert!(path.is_definite(), "{text}");
        }
        let data = json!({"store.book": 1});
        assert_eq!(eval("$.store\\.book", &data), Some(json!(1)));
    }

    #[test]
    fn rejects_bad_paths() {
        for text in [
            "",
            "foo",
            "$.",
            "$[",
            "$[1",
            "$['a]",
            "$.a[?(@.x ==)]",
            "$[1:2:0]",
        ] {
            assert!(Path::parse(text).is_err(), "{text} should not parse");
        }
        assert!(Path::parse_reference("$.a[*]").is_err());
        assert!(Path::parse_reference("$$.Execution.Id").is_err());
    }

    #[test]
    fn context_paths() {
        let path = Path::parse("$$.Execution.Name").unwrap();
        assert!(path.is_context());
        assert_eq!(
            path.resolve(&json!({"Execution": {"Name": "run-1"}})),
            Some(json!("run-1"))
        );
    }

    #[test]
    fn set_creates_and_replaces() {
        let set = |p: &str, target: Value, v: Value| Path::parse_reference(p).unwrap().set(target, v);
        assert_eq!(
            set(
                "$.master.detail",
                json!({"master": {"detail": [1, 2, 3]}}),
                json!(6)
            ),
            Ok(json!({"master": {"detail": 6}}))
        );
        assert_eq!(
            set(
                "$.master.result.sum",
                json!({"master": {"detail": [1, 2, 3]}}),
                json!(6)
            ),
            Ok(json!({"master": {"detail": [1, 2, 3], "result": {"sum": 6}}}))
        );
        assert_eq!(set("$", json!({"a": 1}), json!("x")), Ok(json!("x")));
        assert_eq!(
            set("$.a[1]", json!({"a": [1, 2]}), json!(9)),
            Ok(json!({"a": [1, 9]}))
        );
        assert!(set("$.x", json!("foo"), json!(1)).is_err());
        assert!(set("$.a[5]", json!({"a": [1]}), json!(1)).is_err());
    }
}
