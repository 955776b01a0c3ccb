//! A strict reader of the Prometheus text exposition format (version
//! 0.0.4), for tests of `GET /metrics`: every line must be a `# HELP`, a
//! `# TYPE` before its family's samples, or a well-formed sample; a
//! histogram's buckets must be cumulative and end with `+Inf` equal to its
//! `_count`.
//!
//! ```
//! use dm_test_support::prometheus::Exposition;
//!
//! let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\n";
//! let parsed = Exposition::parse(text)?;
//! assert_eq!(parsed.value("x_total", &[("kind", "a")]), Some(3.0));
//! assert_eq!(parsed.value("x_total", &[("kind", "b")]), None);
//! # Ok::<(), String>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

/// The labels of a series but `le`, in order.
type Labels = Vec<(String, String)>;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (with `_bucket`, `_sum` or `_count` for histograms).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// The samples, in order.
    pub samples: Vec<Sample>,
    /// The type of each family (`counter`, `gauge`, `histogram`...).
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// Parses `text`; `Err` names the line and what is wrong with it.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut parsed = Exposition::default();
        let mut helped = HashSet::new();
        for (index, line) in text.lines().enumerate() {
            let at = |why: &str| format!("line {}: {why}: {line:?}", index + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest
                    .split_once(' ')
                    .ok_or_else(|| at("HELP without text"))?;
                check_name(name).map_err(|e| at(&e))?;
                if !helped.insert(name.to_owned()) {
                    return Err(at("second HELP"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| at("TYPE without type"))?;
                check_name(name).map_err(|e| at(&e))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at("unknown type"));
                }
                if parsed
                    .samples
                    .iter()
                    .any(|s| family(&s.name, &parsed.types) == name)
                {
                    return Err(at("TYPE after the family's samples"));
                }
                if parsed
                    .types
                    .insert(name.to_owned(), kind.to_owned())
                    .is_some()
                {
                    return Err(at("second TYPE"));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let sample = sample(line).map_err(|e| at(&e))?;
            if !parsed
                .types
                .contains_key(family(&sample.name, &parsed.types))
            {
                return Err(at("sample without a TYPE"));
            }
            parsed.samples.push(sample);
        }
        parsed.check_histograms()?;
        Ok(parsed)
    }

    /// The value of the sample `name` with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// The samples of the family `name` (histogram series included).
    pub fn family<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| family(&s.name, &self.types) == name)
    }

    fn check_histograms(&self) -> Result<(), String> {
        for (name, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for sample in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{name}_bucket"))
            {
                let le = sample
                    .labels
                    .get("le")
                    .ok_or_else(|| format!("{name}: a bucket without le"))?;
                let bound = parse_value(le)?;
                let key = sample
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                series.entry(key).or_default().push((bound, sample.value));
            }
            for (labels, buckets) in series {
                let last = buckets.last().copied().unwrap_or((0.0, 0.0));
                if last.0 != f64::INFINITY {
                    return Err(format!("{name}{labels:?}: the last bucket is not +Inf"));
                }
                if buckets
                    .windows(2)
                    .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
                {
                    return Err(format!("{name}{labels:?}: buckets not cumulative"));
                }
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let count = self
                    .value(&format!("{name}_count"), &labels)
                    .ok_or_else(|| format!("{name}{labels:?}: no _count"))?;
                if (count - last.1).abs() > 0.5 {
                    return Err(format!("{name}{labels:?}: _count is not the +Inf bucket"));
                }
                self.value(&format!("{name}_sum"), &labels)
                    .ok_or_else(|| format!("{name}{labels:?}: no _sum"))?;
            }
        }
        Ok(())
    }
}

/// The family a sample belongs to: its name, or the histogram it is a
/// series of.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = read_labels(body, &mut labels)?;
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    // An optional timestamp follows the value.
    let value = value.split(' ').next().unwrap_or("");
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// Reads `name="value",...}` and returns what follows the `}`.
fn read_labels<'a>(
    mut body: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        if let Some(rest) = body.strip_prefix('}') {
            return Ok(rest);
        }
        let (name, rest) = body
            .split_once("=\"")
            .ok_or_else(|| "a label without =\"".to_owned())?;
        check_name(name)?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    _ => return Err("a bad escape in a label value".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        body = &rest[end + 1..];
        if let Some(next) = body.strip_prefix(',') {
            body = next;
        }
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_must_be_cumulative_and_complete() {
        let good = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        assert!(Exposition::parse(good).is_ok());
        let shrinking = good.replace("le=\"+Inf\"} 2", "le=\"+Inf\"} 0");
        assert!(Exposition::parse(&shrinking).is_err());
        let no_inf = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n";
        assert!(Exposition::parse(no_inf).is_err());
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "x 1\n",
            "# TYPE x counter\nx{a=\"1} 1\n",
            "# TYPE x counter\nx{a=\"1\",a=\"2\"} 1\n",
            "# TYPE x counter\nx one\n",
            "# TYPE x counter\n# TYPE x counter\n",
            "# TYPE 1x counter\n",
        ] {
            assert!(Exposition::parse(bad).is_err(), "{bad:?}");
        }
        let escaped = "# TYPE x counter\nx{a=\"q\\\"\\n\\\\\"} 1\n";
        let parsed = Exposition::parse(escaped).unwrap();
        assert_eq!(parsed.value("x", &[("a", "q\"\n\\")]), Some(1.0));
    }
}
