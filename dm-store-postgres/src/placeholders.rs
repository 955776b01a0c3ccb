//! The seam's `?` parameters as PostgreSQL's `$1`, `$2`...

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How many rewritten statements are kept: the store's statements are a
/// fixed set, so the bound only matters for a caller that builds many
/// distinct ones (those are rewritten each time, not kept).
const KEPT: usize = 1024;

/// Numbers the `?` of `sql` in order: `$1`, `$2`... A `?` inside a quoted
/// literal (`'...'`) or identifier (`"..."`) is left alone.
pub(crate) fn number(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0u32;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The rewritten statements, by their seam text.
#[derive(Debug, Default)]
pub(crate) struct Numbered {
    kept: Mutex<HashMap<Box<str>, Arc<str>>>,
}

impl Numbered {
    /// `sql` with its parameters numbered, from the cache when it was
    /// rewritten before.
    pub(crate) fn get(&self, sql: &str) -> Arc<str> {
        if let Some(text) = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
        {
            return Arc::clone(text);
        }
        let text: Arc<str> = number(sql).into();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT {
            kept.insert(sql.into(), Arc::clone(&text));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::{KEPT, Numbered, number};

    #[test]
    fn parameters_are_numbered_in_order_outside_quotes() {
        assert_eq!(
            number("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
        );
        assert_eq!(
            number("SELECT '?', \"a?\" FROM t WHERE x = ?"),
            "SELECT '?', \"a?\" FROM t WHERE x = $1"
        );
        assert_eq!(number("SELECT 'it''s ?' , ?"), "SELECT 'it''s ?' , $1");
        assert_eq!(number("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn the_cache_is_bounded() {
        let numbered = Numbered::default();
        for i in 0..KEPT + 10 {
            assert_eq!(
                &*numbered.get(&format!("SELECT ? + {i}")),
                format!("SELECT $1 + {i}")
            );
        }
        assert_eq!(numbered.kept.lock().unwrap().len(), KEPT);
        assert_eq!(&*numbered.get("SELECT ? + 0"), "SELECT $1 + 0");
    }
}
