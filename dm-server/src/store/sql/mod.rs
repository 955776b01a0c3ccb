//! The SQL stores: one implementation of [`Store`](crate::Store) over a
//! transactional database, with SQLite (embedded, the default of
//! `dm serve`) and PostgreSQL (in the `dm-store-postgres` crate, for a
//! server that runs as several nodes) as backends.
//!
//! Each store method is one transaction; the schema ships with the code
//! and is migrated at start. A driver plugs in through [`Backend`] and
//! [`Connection`].

mod alerts;
mod api_keys;
mod artifacts;
mod backend;
mod bootstrap;
mod cache;
mod campaigns;
mod commands;
mod devices;
mod digest;
mod events;
mod locks;
mod migrate;
mod objects;
mod rows;
mod sessions;
#[cfg(feature = "sqlite")]
mod sqlite;
mod steps;
mod store;

pub use backend::{Access, Backend, BoxFuture, Connection, Dialect, Row, Value, Work};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteBackend, SqliteStore};
pub use store::SqlStore;
