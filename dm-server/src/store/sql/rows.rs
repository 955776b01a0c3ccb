//! Moving values in and out of [`Value`]s and [`Row`]s.

use serde::Serialize;
use serde::de::DeserializeOwned;

use dm_types::DevId;

use super::{Row, Value};
use crate::Error;
use crate::store::SessionToken;

/// A `u64` (a time, a version) as an integer column, saturating at
/// `i64::MAX`.
pub(super) fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// A count or limit as an integer column, saturating at `i64::MAX`.
pub(super) fn count(v: usize) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// A value as JSON text.
pub(super) fn json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Value, Error> {
    serde_json::to_string(value)
        .map(Value::Text)
        .map_err(|e| Error::store(format!("encode {what}"), e))
}

/// JSON text read back.
pub(super) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::store(format!("decode {what}"), e))
}

fn unexpected(what: &str, value: &Value) -> Error {
    Error::store(
        format!("read {what}"),
        format!("unexpected column value {value:?}"),
    )
}

/// Typed access to a row's columns by index.
pub(super) trait Columns {
    /// The column's value (`Null` past the end).
    fn at(&self, i: usize) -> &Value;

    /// A nullable integer.
    fn opt_i64(&self, i: usize, what: &str) -> Result<Option<i64>, Error> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Integer(v) => Ok(Some(*v)),
            other => Err(unexpected(what, other)),
        }
    }

    /// An integer.
    fn i64(&self, i: usize, what: &str) -> Result<i64, Error> {
        self.opt_i64(i, what)?
            .ok_or_else(|| unexpected(what, &Value::Null))
    }

    /// A non-negative integer (negative ones read as 0).
    fn u64(&self, i: usize, what: &str) -> Result<u64, Error> {
        Ok(u64::try_from(self.i64(i, what)?).unwrap_or(0))
    }

    /// A non-negative integer as a count.
    fn usize(&self, i: usize, what: &str) -> Result<usize, Error> {
        Ok(usize::try_from(self.i64(i, what)?).unwrap_or(0))
    }

    /// Nullable text.
    fn opt_text(&self, i: usize, what: &str) -> Result<Option<String>, Error> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Blob(v) => String::from_utf8(v.clone())
                .map(Some)
                .map_err(|e| Error::store(format!("read {what}"), e)),
            other @ Value::Integer(_) => Err(unexpected(what, other)),
        }
    }

    /// Text.
    fn text(&self, i: usize, what: &str) -> Result<String, Error> {
        self.opt_text(i, what)?
            .ok_or_else(|| unexpected(what, &Value::Null))
    }

    /// Nullable bytes.
    fn opt_blob(&self, i: usize, what: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v.clone())),
            Value::Text(v) => Ok(Some(v.clone().into_bytes())),
            other @ Value::Integer(_) => Err(unexpected(what, other)),
        }
    }

    /// Bytes.
    fn blob(&self, i: usize, what: &str) -> Result<Vec<u8>, Error> {
        self.opt_blob(i, what)?
            .ok_or_else(|| unexpected(what, &Value::Null))
    }

    /// Bytes of a fixed length.
    fn opt_array<const N: usize>(&self, i: usize, what: &str) -> Result<Option<[u8; N]>, Error> {
        self.opt_blob(i, what)?
            .map(|bytes| {
                <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
                    Error::store(
                        format!("read {what}"),
                        format!("{} bytes, not {N}", bytes.len()),
                    )
                })
            })
            .transpose()
    }
}

impl Columns for Row {
    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }
}

/// The first column of the first row, as an integer (0 when there is no
/// row or it is `NULL`): a `COUNT(*)`, a `SUM`.
pub(super) fn scalar(rows: &[Row], what: &str) -> Result<i64, Error> {
    match rows.first() {
        None => Ok(0),
        Some(row) => Ok(row.opt_i64(0, what)?.unwrap_or(0)),
    }
}

/// `?, ?, ...` for `n` parameters.
pub(super) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// A DevID column.
pub(super) fn dev_id_of(row: &Row, i: usize) -> Result<DevId, Error> {
    let text = row.text(i, "device")?;
    DevId::new(text).map_err(|e| Error::store("read a device", e))
}

/// A session token as a column value.
pub(super) fn token_value(token: SessionToken) -> Value {
    token.as_bytes().as_slice().into()
}

/// A session token column.
pub(super) fn token_of(row: &Row, i: usize) -> Result<SessionToken, Error> {
    row.opt_array::<16>(i, "session token")?
        .map(SessionToken::from_bytes)
        .ok_or_else(|| Error::store("read a session token", "NULL"))
}

/// A nullable session token column.
pub(super) fn opt_token_of(row: &Row, i: usize) -> Result<Option<SessionToken>, Error> {
    Ok(row
        .opt_array::<16>(i, "session token")?
        .map(SessionToken::from_bytes))
}
