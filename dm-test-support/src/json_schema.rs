//! A JSON Schema (2020-12) validator for the subset the admin API's
//! OpenAPI document uses: `type` (one or a list), `properties`,
//! `required`, `additionalProperties`, `items`, `minItems`, `maxItems`,
//! `enum`, `const`, `minimum`, `maximum`, `minLength`, `maxLength`,
//! `pattern` (anchored sequences of character classes or characters, each
//! with `*`, `+`, `?` or `{m,n}`), `oneOf`, `anyOf`, and `$ref` to
//! `#/...` in the document. Annotations (`description`, `default`,
//! `example`, `title`, `contentMediaType`) are ignored; any other keyword
//! is an error, so a schema cannot silently leave the subset.
//!
//! ```
//! use dm_test_support::json_schema::validate;
//! use serde_json::json;
//!
//! let document = json!({"components": {"schemas": {"Id": {"type": "string", "pattern": "^[a-z]{1,3}$"}}}});
//! let schema = json!({"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}},
//!                     "required": ["id"], "additionalProperties": false});
//! assert!(validate(&schema, &json!({"id": "abc"}), &document).is_ok());
//! let problems = validate(&schema, &json!({"id": "abcd", "x": 1}), &document).unwrap_err();
//! assert_eq!(problems.len(), 2, "{problems:?}");
//! ```

use serde_json::Value;

/// Validates `instance` against `schema`, resolving `$ref` in `document`;
/// every problem found, each naming where (a JSON path).
pub fn validate(schema: &Value, instance: &Value, document: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    check(schema, instance, document, "$", &mut problems, 0);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The schema a `$ref` names (`#/components/schemas/Name`).
pub fn resolve<'a>(reference: &str, document: &'a Value) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// `schema` with its `$ref`s followed (at the top only).
pub fn follow<'a>(mut schema: &'a Value, document: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => match resolve(reference, document) {
                Some(target) => schema = target,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// The JSON type names `value` has (`integer` is also a `number`).
fn types_of(value: &Value) -> &'static [&'static str] {
    match value {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(n) if n.is_i64() || n.is_u64() => &["integer", "number"],
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

const ANNOTATIONS: [&str; 6] = [
    "description",
    "default",
    "example",
    "title",
    "contentMediaType",
    "examples",
];

#[allow(clippy::too_many_lines)]
fn check(
    schema: &Value,
    instance: &Value,
    document: &Value,
    at: &str,
    problems: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        problems.push(format!("{at}: schema nested too deep (a $ref cycle?)"));
        return;
    }
    let Some(keywords) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            problems.push(format!("{at}: no value is allowed here"));
        }
        return;
    };
    for (keyword, value) in keywords {
        match keyword.as_str() {
            "$ref" => {
                let reference = value.as_str().unwrap_or("");
                match resolve(reference, document) {
                    Some(target) => check(target, instance, document, at, problems, depth + 1),
                    None => problems.push(format!("{at}: unresolved $ref {reference}")),
                }
            }
            "type" => {
                let allowed: Vec<&str> = match value {
                    Value::String(one) => vec![one.as_str()],
                    Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if !types_of(instance).iter().any(|t| allowed.contains(t)) {
                    problems.push(format!(
                        "{at}: {} is not of type {allowed:?}",
                        short(instance)
                    ));
                }
            }
            "properties" => {
                if let (Some(properties), Some(members)) = (value.as_object(), instance.as_object())
                {
                    for (name, member) in members {
                        if let Some(schema) = properties.get(name) {
                            check(
                                schema,
                                member,
                                document,
                                &format!("{at}.{name}"),
                                problems,
                                depth + 1,
                            );
                        }
                    }
                }
            }
            "required" => {
                if let Some(members) = instance.as_object() {
                    for name in value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !members.contains_key(name) {
                            problems.push(format!("{at}: member {name:?} is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(members) = instance.as_object() {
                    let known = keywords.get("properties").and_then(Value::as_object);
                    for (name, member) in members {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match value {
                            Value::Bool(false) => {
                                problems.push(format!("{at}: member {name:?} is not allowed"));
                            }
                            Value::Bool(true) => {}
                            schema => check(
                                schema,
                                member,
                                document,
                                &format!("{at}.{name}"),
                                problems,
                                depth + 1,
                            ),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = instance.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(
                            value,
                            item,
                            document,
                            &format!("{at}[{i}]"),
                            problems,
                            depth + 1,
                        );
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let (Some(items), Some(bound)) = (instance.as_array(), value.as_u64()) {
                    let length = items.len() as u64;
                    if (keyword == "minItems" && length < bound)
                        || (keyword == "maxItems" && length > bound)
                    {
                        problems.push(format!("{at}: {length} items break {keyword} {bound}"));
                    }
                }
            }
            "enum" => {
                if !value.as_array().is_some_and(|v| v.contains(instance)) {
                    problems.push(format!("{at}: {} is not one of {value}", short(instance)));
                }
            }
            "const" => {
                if value != instance {
                    problems.push(format!("{at}: {} is not {value}", short(instance)));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(number), Some(bound)) = (instance.as_f64(), value.as_f64())
                    && instance.is_number()
                    && ((keyword == "minimum" && number < bound)
                        || (keyword == "maximum" && number > bound))
                {
                    problems.push(format!("{at}: {number} breaks {keyword} {bound}"));
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(text), Some(bound)) = (instance.as_str(), value.as_u64()) {
                    let length = text.chars().count() as u64;
                    if (keyword == "minLength" && length < bound)
                        || (keyword == "maxLength" && length > bound)
                    {
                        problems.push(format!("{at}: length {length} breaks {keyword} {bound}"));
                    }
                }
            }
            "pattern" => {
                let source = value.as_str().unwrap_or("");
                match Pattern::parse(source) {
                    Some(pattern) => {
                        if let Some(text) = instance.as_str()
                            && !pattern.matches(text)
                        {
                            problems.push(format!("{at}: {text:?} does not match {source}"));
                        }
                    }
                    None => problems.push(format!("{at}: pattern {source} is outside the subset")),
                }
            }
            "oneOf" | "anyOf" => {
                let branches = value.as_array().map_or(&[][..], Vec::as_slice);
                let passing = branches
                    .iter()
                    .filter(|branch| {
                        let mut inner = Vec::new();
                        check(branch, instance, document, at, &mut inner, depth + 1);
                        inner.is_empty()
                    })
                    .count();
                if (keyword == "oneOf" && passing != 1) || (keyword == "anyOf" && passing == 0) {
                    problems.push(format!(
                        "{at}: {} matches {passing} of the {keyword} schemas",
                        short(instance)
                    ));
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => problems.push(format!("{at}: keyword {other} is outside the subset")),
        }
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 {
        format!("{}...", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// One element of a [`Pattern`]: the characters it takes and how many.
#[derive(Debug, Clone)]
struct Atom {
    /// Inclusive ranges of characters.
    ranges: Vec<(char, char)>,
    min: usize,
    max: usize,
}

impl Atom {
    fn takes(&self, c: char) -> bool {
        self.ranges
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&c))
    }
}

/// An anchored pattern of the subset: `^`, then characters or character
/// classes (`[a-z._-]`) each with an optional `*`, `+`, `?`, `{n}` or
/// `{m,n}`, then `$`.
#[derive(Debug, Clone)]
pub struct Pattern {
    atoms: Vec<Atom>,
}

impl Pattern {
    /// Parses `source`; `None` when it is outside the subset.
    pub fn parse(source: &str) -> Option<Pattern> {
        let body = source.strip_prefix('^')?.strip_suffix('$')?;
        let chars: Vec<char> = body.chars().collect();
        let mut atoms = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let ranges = if chars[i] == '[' {
                let end = i + chars[i..].iter().position(|c| *c == ']')?;
                let class = &chars[i + 1..end];
                let mut ranges = Vec::new();
                let mut j = 0;
                while j < class.len() {
                    if j + 2 < class.len() && class[j + 1] == '-' {
                        ranges.push((class[j], class[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((class[j], class[j]));
                        j += 1;
                    }
                }
                i = end + 1;
                ranges
            } else if "\\.()|*+?{}".contains(chars[i]) {
                return None;
            } else {
                i += 1;
                vec![(chars[i - 1], chars[i - 1])]
            };
            let (min, max) = match chars.get(i) {
                Some('*') => {
                    i += 1;
                    (0, usize::MAX)
                }
                Some('+') => {
                    i += 1;
                    (1, usize::MAX)
                }
                Some('?') => {
                    i += 1;
                    (0, 1)
                }
                Some('{') => {
                    let end = i + chars[i..].iter().position(|c| *c == '}')?;
                    let inside: String = chars[i + 1..end].iter().collect();
                    i = end + 1;
                    if let Some((low, high)) = inside.split_once(',') {
                        (low.parse().ok()?, high.parse().ok()?)
                    } else {
                        let n = inside.parse().ok()?;
                        (n, n)
                    }
                }
                _ => (1, 1),
            };
            atoms.push(Atom { ranges, min, max });
        }
        Some(Pattern { atoms })
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        Self::match_from(&self.atoms, &chars)
    }

    fn match_from(atoms: &[Atom], text: &[char]) -> bool {
        let Some((atom, rest)) = atoms.split_first() else {
            return text.is_empty();
        };
        let run = text.iter().take_while(|c| atom.takes(**c)).count();
        let most = run.min(atom.max);
        if most < atom.min {
            return false;
        }
        (atom.min..=most)
            .rev()
            .any(|n| Self::match_from(rest, &text[n..]))
    }

    /// A string matching the pattern, its repetitions chosen by `choose`
    /// (called with the inclusive bounds, capped at `cap` repetitions).
    pub fn generate(&self, cap: usize, mut choose: impl FnMut(usize, usize) -> usize) -> String {
        let mut text = String::new();
        for atom in &self.atoms {
            let high = atom.max.min(atom.min.max(cap));
            let times = choose(atom.min, high);
            for _ in 0..times {
                let (low, high) = atom.ranges[choose(0, atom.ranges.len() - 1)];
                let code = choose(low as usize, high as usize);
                text.push(char::from_u32(u32::try_from(code).unwrap_or(0x41)).unwrap_or('A'));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_of_the_subset_match_as_regular_expressions_do() {
        let name = Pattern::parse("^[A-Za-z0-9._-]+$").expect("in the subset");
        assert!(name.matches("fw-2.1.0"));
        assert!(!name.matches(""));
        assert!(!name.matches("a b"));
        let hex = Pattern::parse("^[0-9a-f]{64}$").expect("in the subset");
        assert!(hex.matches(&"0a".repeat(32)));
        assert!(!hex.matches(&"0a".repeat(31)));
        let url = Pattern::parse("^[hH][tT][tT][pP][sS]?://[!-~]+$").expect("in the subset");
        assert!(url.matches("https://x"));
        assert!(url.matches("http://x"));
        assert!(!url.matches("ftp://x"));
        assert!(Pattern::parse("^(a|b)$").is_none());
        assert!(Pattern::parse("a+").is_none());
        let generated = name.generate(10, usize::midpoint);
        assert!(name.matches(&generated), "{generated}");
    }

    #[test]
    fn every_keyword_of_the_subset_refuses_what_it_should() {
        let document = json!({"components": {"schemas": {"N": {"type": ["integer", "null"], "minimum": 1, "maximum": 3}}}});
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"$ref": "#/components/schemas/N"},
                "list": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2},
                "one": {"oneOf": [{"type": "string"}, {"const": 1}]},
                "text": {"type": "string", "minLength": 2, "maxLength": 3},
            },
            "required": ["n"],
            "additionalProperties": {"type": "boolean"},
        });
        let ok = json!({"n": null, "list": ["a"], "one": 1, "text": "ab", "flag": true});
        assert_eq!(validate(&schema, &ok, &document), Ok(()));
        for bad in [
            json!({}),
            json!({"n": 0}),
            json!({"n": 4}),
            json!({"n": 1.5}),
            json!({"n": 1, "list": []}),
            json!({"n": 1, "list": ["a", "b", "a"]}),
            json!({"n": 1, "list": ["c"]}),
            json!({"n": 1, "one": 2}),
            json!({"n": 1, "text": "a"}),
            json!({"n": 1, "text": "abcd"}),
            json!({"n": 1, "flag": "yes"}),
            json!([1]),
        ] {
            assert!(validate(&schema, &bad, &document).is_err(), "{bad} passed");
        }
        let outside = json!({"type": "string", "format": "uri"});
        assert!(validate(&outside, &json!("x"), &document).is_err());
        let unresolved = json!({"$ref": "#/components/schemas/Missing"});
        assert!(validate(&unresolved, &json!(1), &document).is_err());
    }
}
