//! JSON paths for error messages (`$.CMD[3][1]`).
//!
//! Nothing is tracked while decoding succeeds: when a value fails, each
//! enclosing array or object appends its own step while the error travels
//! outwards, and the steps are rendered once at the top.

use std::fmt;

/// One step from a container to a value inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A member of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// Steps recorded innermost first.
#[derive(Debug, Default)]
pub(crate) struct ReversePath(pub(crate) Vec<Step>);

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in self.0.iter().rev() {
            match step {
                Step::Key(key)
                    if !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    write!(f, ".{key}")?;
                }
                Step::Key(key) => write!(f, "[{key:?}]")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_outermost_first() {
        let path = ReversePath(vec![
            Step::Key("a b".into()),
            Step::Index(3),
            Step::Key("CMD".into()),
        ]);
        assert_eq!(path.to_string(), r#"$.CMD[3]["a b"]"#);
        assert_eq!(ReversePath::default().to_string(), "$");
    }
}
