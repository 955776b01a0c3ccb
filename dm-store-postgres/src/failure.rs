//! What a driver or pool error means for the store: a conflict to retry, a
//! database out of reach (503), or a failure of the statement (500).

use std::error::Error as _;
use std::fmt::Write as _;

use deadpool_postgres::{PoolError, TimeoutType};
use dm_server::Error;
use tokio_postgres::error::SqlState;

/// The kind of a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A serialization failure (40001), a deadlock (40P01), or a unique
    /// key another transaction committed after this one read (23505: two
    /// nodes registering the same user name, or storing a new repository
    /// path, at once): running the transaction again may succeed, or
    /// meets the committed row and fails with its typed conflict.
    Conflict,
    /// The connection is lost or the server is going away.
    Unavailable,
    /// Anything else: the statement itself failed.
    Other,
}

/// The kind of a driver error.
pub(crate) fn kind(e: &tokio_postgres::Error) -> Kind {
    if let Some(code) = e.code() {
        return if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
        {
            Kind::Conflict
        } else if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || code.code().starts_with("08")
        {
            Kind::Unavailable
        } else {
            Kind::Other
        };
    }
    let mut source = e.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return Kind::Unavailable;
        }
        source = cause.source();
    }
    // The driver's own kinds are private; these are its words for a lost
    // connection and a connect that failed or timed out.
    let text = e.to_string();
    if e.is_closed()
        || text.starts_with("error connecting to server")
        || text.starts_with("error communicating with the server")
        || text.starts_with("timeout waiting for server")
    {
        Kind::Unavailable
    } else {
        Kind::Other
    }
}

/// A driver error in words: the server's message and SQLSTATE, or the
/// driver's message with its causes.
pub(crate) fn problem(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            let _ = write!(text, "; {detail}");
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// The store error for a driver error met while running `operation` on
/// `database`.
pub(crate) fn store_error(e: &tokio_postgres::Error, database: &str, operation: &str) -> Error {
    match kind(e) {
        Kind::Unavailable => Error::StoreUnavailable {
            database: database.to_owned(),
            problem: problem(e),
        },
        Kind::Conflict | Kind::Other => Error::Store {
            operation: operation.to_owned(),
            problem: problem(e),
        },
    }
}

/// The store error for a connection the pool could not give.
pub(crate) fn pool_error(e: PoolError, database: &str) -> Error {
    let problem = match e {
        PoolError::Backend(e) => return store_error(&e, database, "PostgreSQL connect"),
        PoolError::Timeout(TimeoutType::Wait) => {
            "no free connection in the pool in time (every one is busy)".to_owned()
        }
        PoolError::Timeout(TimeoutType::Create) => {
            "no new connection in time (the server does not answer)".to_owned()
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            "checking an idle connection took too long".to_owned()
        }
        PoolError::Closed => "the connection pool is closed".to_owned(),
        other => {
            return Error::Store {
                operation: "PostgreSQL connection pool".to_owned(),
                problem: other.to_string(),
            };
        }
    };
    Error::StoreUnavailable {
        database: database.to_owned(),
        problem,
    }
}

/// The start of a statement, whitespace folded, for an error message.
pub(crate) fn operation(sql: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::from("PostgreSQL: ");
    let start = out.len();
    for word in sql.split_whitespace() {
        if out.len() > start {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() - start > MAX {
            let mut end = start + MAX;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::operation;

    #[test]
    fn an_operation_is_the_statement_folded_and_cut() {
        assert_eq!(
            operation("SELECT a\n   FROM b WHERE c = ?"),
            "PostgreSQL: SELECT a FROM b WHERE c = ?"
        );
        let long = format!("SELECT {}", "é".repeat(200));
        let op = operation(&long);
        assert!(op.ends_with("..."));
        assert!(op.len() < 100);
    }
}
