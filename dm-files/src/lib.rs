//! Owner-only, atomic, durable writes of the files a DM device keeps (the
//! client's state file: tree and account secrets), and the owner-only check
//! the server also applies to its SQLite store file (Digest H(A1) values,
//! nonce key, notification secrets).
//!
//! - [`write_atomically`] and [`write_atomically_with`] replace a file
//!   through an owner-only temporary file in the same directory that is
//!   synced and renamed over it; the directory is synced afterwards. A crash
//!   leaves the old or the new file, never half of one, and a failure leaves
//!   the old file and no temporary file.
//! - [`check_permissions`] refuses a file group or others can read or write
//!   ([`Access::OwnerOnly`]), unless shared permissions are allowed
//!   ([`Access::SharedAllowed`]).
//! - [`remove_stale_temporaries`] removes the temporary files a writer
//!   killed in the middle of a write left behind.
//!
//! Every failure is one [`Error`] naming the path. Two processes must not
//! share a file: each would take the other's temporary files for stale ones.
//!
//! ```
//! use dm_files::Access;
//!
//! let dir = std::env::temp_dir().join(format!("dm-files-crate-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("store.json");
//! // At start: clean up after a killed writer, refuse a file others can read.
//! dm_files::remove_stale_temporaries(&path)?;
//! dm_files::check_permissions(&path, Access::OwnerOnly)?;
//! // Whenever the content changes:
//! dm_files::write_atomically(&path, b"{\"version\":1}")?;
//! assert_eq!(std::fs::read(&path)?, b"{\"version\":1}");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod permissions;
mod temporary;
mod write;

pub use error::Error;
pub use permissions::{Access, check_permissions};
pub use temporary::remove_stale_temporaries;
pub use write::{write_atomically, write_atomically_with};

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
