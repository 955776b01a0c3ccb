//! [`StoreLocation`]: which store a server runs on, as `dm serve --store`
//! and the configuration file's `store` key name it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Which store a server keeps its state in: `memory`, `sqlite:PATH` or a
/// PostgreSQL URL (`postgres://user:password@host:port/database`, or
/// `postgresql://...`; what the URL leaves out comes from the standard
/// `PG*` environment variables).
///
/// Its text form is what `dm serve --store` and the configuration's
/// `store` key take. [`fmt::Display`] hides a URL's password.
///
/// ```
/// use dm_server::StoreLocation;
///
/// let sqlite: StoreLocation = "sqlite:/var/lib/dm/store.sqlite".parse()?;
/// assert_eq!(sqlite, StoreLocation::Sqlite("/var/lib/dm/store.sqlite".into()));
/// let postgres: StoreLocation = "postgres://dm:secret@db.example:5432/dm".parse()?;
/// assert_eq!(postgres.to_string(), "postgres://dm:***@db.example:5432/dm");
/// assert_eq!("memory".parse::<StoreLocation>()?, StoreLocation::Memory);
/// // The JSON store file of earlier versions is refused with a hint.
/// assert!("store.json".parse::<StoreLocation>().is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// [`MemoryStore`](crate::MemoryStore): nothing survives a restart.
    Memory,
    /// The SQLite store in this file (created owner-only when missing).
    Sqlite(PathBuf),
    /// The PostgreSQL store at this URL (an empty URL after the scheme,
    /// `postgres://`, takes everything from the `PG*` variables).
    Postgres(String),
}

impl StoreLocation {
    /// The file name of the SQLite store `dm serve` keeps beside its
    /// configuration file when the configuration names no store.
    pub const DEFAULT_SQLITE_FILE: &'static str = "dm-store.sqlite";

    /// A relative SQLite path made relative to `base` (the configuration
    /// file's directory); other locations unchanged.
    #[must_use]
    pub fn relative_to(self, base: &Path) -> StoreLocation {
        match self {
            StoreLocation::Sqlite(path) if path.is_relative() => {
                StoreLocation::Sqlite(base.join(path))
            }
            other => other,
        }
    }
}

impl FromStr for StoreLocation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        if text == "memory" {
            return Ok(StoreLocation::Memory);
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(Error::config(
                    "store",
                    "sqlite: needs a file name (sqlite:PATH)",
                ));
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(text.to_owned()));
        }
        let hint = if text.to_ascii_lowercase().ends_with(".json") {
            "; the JSON store file of earlier versions is no longer read (the SQLite store \
             replaces it: sqlite:PATH)"
        } else {
            ""
        };
        Err(Error::config(
            "store",
            format!(
                "{text:?} names no store: use sqlite:PATH, postgres://user@host:port/database \
                 or memory{hint}"
            ),
        ))
    }
}

/// The URL with its password (if any) replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("memory"),
            StoreLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

impl Serialize for StoreLocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // The configuration's own text, password included: it is
            // written back where it was read from.
            StoreLocation::Postgres(url) => s.serialize_str(url),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for StoreLocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            (
                "postgresql://u:p:q@h:1/db?x=y",
                "postgresql://u:***@h:1/db?x=y",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h", "postgres://h"),
            ("postgres://", "postgres://"),
            (
                "postgres://u:p@h?sslmode=require",
                "postgres://u:***@h?sslmode=require",
            ),
        ] {
            let location: StoreLocation = url.parse().expect(url);
            assert_eq!(location.to_string(), shown);
            assert_eq!(format!("{location:?}"), format!("StoreLocation({shown})"));
        }
    }

    #[test]
    fn relative_sqlite_paths_follow_the_configuration() {
        let location: StoreLocation = "sqlite:state/dm.sqlite".parse().expect("sqlite");
        assert_eq!(
            location.relative_to(Path::new("/etc/dm")),
            StoreLocation::Sqlite("/etc/dm/state/dm.sqlite".into())
        );
        let absolute: StoreLocation = "sqlite:/x.sqlite".parse().expect("sqlite");
        assert_eq!(absolute.clone().relative_to(Path::new("/etc")), absolute);
    }

    #[test]
    fn unknown_forms_are_refused_with_the_accepted_ones() {
        for text in ["", "sqlite:", "mysql://h/db", "store.json", "Memory"] {
            let error = text.parse::<StoreLocation>().expect_err(text);
            assert!(error.to_string().contains("store"), "{text}: {error}");
        }
        let error = "old.json".parse::<StoreLocation>().expect_err("json");
        assert!(error.to_string().contains("no longer read"), "{error}");
    }
}
