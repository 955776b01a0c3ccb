//! The temporary files of [`write_atomically`](crate::write_atomically):
//! their names, and the removal of those a killed writer left behind.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Distinguishes temporary files of concurrent writers in one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory of `path` (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A new name for a temporary file of the file `name`, unique in this
/// process: `.NAME.PID-COUNTER.tmp`.
pub(crate) fn temporary_name(name: &OsStr) -> OsString {
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    temporary
}

/// Whether `candidate` is the name of a temporary file made for the file
/// `name` (in any process): `.NAME.DIGITS-DIGITS.tmp`.
fn is_temporary_of(candidate: &str, name: &str) -> bool {
    let Some(middle) = candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
    else {
        return false;
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    middle
        .split_once('-')
        .is_some_and(|(pid, counter)| digits(pid) && digits(counter))
}

/// Removes the temporary files a writer of the file at `path` left behind
/// when it was killed between creating and renaming them (only the names
/// [`write_atomically`](crate::write_atomically) makes for this file,
/// `.NAME.PID-COUNTER.tmp`); returns the paths removed. A missing directory
/// has nothing to remove. Two processes must not share a file: a temporary
/// file another process is writing would be removed too.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("dm-files-stale-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("device.json");
/// std::fs::write(dir.join(".device.json.4242-7.tmp"), b"half a file")?;
/// std::fs::write(dir.join("device.json.bak"), b"kept")?;
/// let removed = dm_files::remove_stale_temporaries(&path)?;
/// assert_eq!(removed, [dir.join(".device.json.4242-7.tmp")]);
/// assert!(dir.join("device.json.bak").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_stale_temporaries(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let Some(name) = path.file_name().and_then(OsStr::to_str) else {
        return Ok(Vec::new());
    };
    let directory = directory_of(path);
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let candidate = entry.map_err(io)?.file_name();
        if candidate.to_str().is_some_and(|c| is_temporary_of(c, name)) {
            let stale = directory.join(&candidate);
            match std::fs::remove_file(&stale) {
                Ok(()) => removed.push(stale),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A new empty directory for one test.
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dm-files-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        let name = temporary_name(OsStr::new("device.json"));
        let name = name.to_str().expect("UTF-8");
        assert!(is_temporary_of(name, "device.json"), "{name}");
        assert!(!is_temporary_of(name, "device"), "{name}");
        for name in [".store.json.1-2.tmp", ".store.json.123-0.tmp"] {
            assert!(is_temporary_of(name, "store.json"), "{name}");
        }
        for other in [
            ".device.json.tmp",
            "device.json.tmp",
            ".device.json.-1.tmp",
            ".device.json.1-.tmp",
            ".device.json.1-2",
            "device.json.1-2.tmp",
            ".device.json.1-2.3-4.tmp",
            ".device.json.+1-2.tmp",
            ".device.json.1-2.tmp.bak",
        ] {
            assert!(!is_temporary_of(other, "device.json"), "{other}");
        }
    }

    #[test]
    fn only_temporaries_of_the_file_are_removed() {
        let dir = scratch("stale");
        let path = dir.join("device.json");
        for name in [
            ".device.json.1-2.tmp",
            ".device.json.99-0.tmp",
            ".other.json.1-2.tmp",
            "device.json",
            "device.json.tmp",
        ] {
            std::fs::write(dir.join(name), b"x").expect("write");
        }
        let mut removed = remove_stale_temporaries(&path).expect("removed");
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.join(".device.json.1-2.tmp"),
                dir.join(".device.json.99-0.tmp")
            ]
        );
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .expect("listing")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".other.json.1-2.tmp", "device.json", "device.json.tmp"]
        );
        assert_eq!(
            remove_stale_temporaries(&path).expect("again"),
            [] as [PathBuf; 0]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_has_nothing_to_remove() {
        let dir = scratch("missing");
        let path = dir.join("not-there").join("device.json");
        assert!(remove_stale_temporaries(&path).expect("nothing").is_empty());
        assert!(
            remove_stale_temporaries(Path::new("/"))
                .expect("no file name")
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_an_io_error() {
        let dir = scratch("not-a-directory");
        let blocker = dir.join("blocker");
        std::fs::write(&blocker, b"x").expect("write");
        let path = blocker.join("device.json");
        let err = remove_stale_temporaries(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
