//! [`Value`] in and out of PostgreSQL: `BIGINT`, `TEXT`, `BYTEA`.

use std::error::Error as StdError;

use bytes::BytesMut;
use dm_server::Error;
use dm_server::sql::{Row, Value};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A [`Value`] as a statement parameter. `NULL` fits a parameter of any
/// type; an integer fits `BIGINT`, `INTEGER`, `SMALLINT` (when in range),
/// `BOOLEAN` (non-zero is true) and text (as its decimal digits: the type
/// PostgreSQL gives an untyped `?`); text fits the text types; bytes fit
/// `BYTEA`.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(v) => {
                let v = *v;
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(v)
                        .map_err(|_| format!("{v} does not fit a parameter of type integer"))?
                        .to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(v)
                        .map_err(|_| format!("{v} does not fit a parameter of type smallint"))?
                        .to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (v != 0).to_sql(ty, out)
                } else if <&str as ToSql>::accepts(ty) {
                    v.to_string().as_str().to_sql(ty, out)
                } else {
                    Err(mismatch("an integer", ty))
                }
            }
            Value::Text(s) if <&str as ToSql>::accepts(ty) => s.as_str().to_sql(ty, out),
            Value::Blob(b) if <&[u8] as ToSql>::accepts(ty) => b.as_slice().to_sql(ty, out),
            Value::Text(_) => Err(mismatch("text", ty)),
            Value::Blob(_) => Err(mismatch("bytes", ty)),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`: NULL fits every type.
        true
    }

    to_sql_checked!();
}

fn mismatch(what: &str, ty: &Type) -> BoxError {
    format!("{what} cannot be a parameter of type {}", ty.name()).into()
}

/// A result row as [`Value`]s: `BIGINT` (and `INTEGER`, `SMALLINT`,
/// widened; `BOOLEAN` as 0 or 1) as [`Value::Integer`], the text types as
/// [`Value::Text`], `BYTEA` as [`Value::Blob`], `NULL` as [`Value::Null`].
/// A column of another type is an [`Error::Store`] naming it (cast it in
/// the statement, e.g. `SUM(..)::BIGINT`).
pub(crate) fn row(row: &tokio_postgres::Row, operation: &str) -> Result<Row, Error> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let failed = |problem: String| Error::Store {
            operation: operation.to_owned(),
            problem: format!("column {} ({}): {problem}", column.name(), ty.name()),
        };
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map(|v| v.map(Value::Integer))
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Value::Integer(v.into())))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| Value::Integer(v.into())))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(|v| Value::Integer(v.into())))
        } else if <String as tokio_postgres::types::FromSql>::accepts(ty) {
            row.try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::Text))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map(|v| v.map(Value::Blob))
        } else {
            return Err(failed(format!(
                "a column of type {} is not read by the store (only bigint, text and bytea)",
                ty.name()
            )));
        };
        values.push(
            value
                .map_err(|e| failed(e.to_string()))?
                .unwrap_or(Value::Null),
        );
    }
    Ok(Row(values))
}
