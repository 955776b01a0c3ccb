//! The atomic, durable, owner-only replacement of a file.

use std::io::Write as _;
use std::path::Path;

use crate::Error;
use crate::temporary::{directory_of, temporary_name};

/// Replaces the file at `path` with `bytes` atomically and durably, the
/// new file owner-only; see [`write_atomically_with`].
///
/// ```
/// let dir = std::env::temp_dir().join(format!("dm-files-write-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("device.json");
/// dm_files::write_atomically(&path, b"old")?;
/// dm_files::write_atomically(&path, b"new")?;
/// assert_eq!(std::fs::read(&path)?, b"new");
/// # #[cfg(unix)]
/// # {
/// use std::os::unix::fs::PermissionsExt as _;
/// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
/// # }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Replaces the file at `path` atomically: `write` fills a new temporary
/// file in the same directory (`.NAME.PID-COUNTER.tmp`, created owner-only:
/// mode `0600` on Unix, set by the `open` call itself, and never through an
/// existing file or symbolic link), which is flushed, synced to disk and
/// renamed over `path`; the directory is then synced so that the rename is
/// durable too. The file therefore has mode `0600` once written, whatever
/// it had before. When anything fails (including `write`) the temporary
/// file is removed and `path` is left as it was.
///
/// ```
/// use std::io::Write as _;
///
/// let dir = std::env::temp_dir().join(format!("dm-files-with-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("device.json");
/// dm_files::write_atomically(&path, b"old state")?;
/// let err = dm_files::write_atomically_with(&path, |file| {
///     file.write_all(b"half of the new")?;
///     Err(std::io::Error::other("disk full"))
/// })
/// .unwrap_err();
/// assert!(matches!(err, dm_files::Error::Io { .. }));
/// assert_eq!(std::fs::read(&path)?, b"old state");
/// assert_eq!(std::fs::read_dir(&dir)?.count(), 1, "no temporary file is left");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let Some(name) = path.file_name() else {
        return Err(Error::NoFileName {
            path: path.to_owned(),
        });
    };
    let directory = directory_of(path);
    let temporary = directory.join(temporary_name(name));
    let written = (|| {
        let mut file = create_owner_only(&temporary)?;
        write(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(Error::Io {
            path: path.to_owned(),
            source,
        });
    }
    // Makes the rename itself durable; not every platform can open a
    // directory, and the data is already safe in either file.
    if let Ok(directory) = std::fs::File::open(&directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}

/// Creates a new file (never an existing one, nor through a symbolic link)
/// that only its owner can read and write: mode `0600` is set by the `open`
/// call itself, so there is no moment when others could open it. On other
/// platforms the file gets the directory's default access.
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporary::tests::scratch;

    fn listing(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("listing")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_owner_only_whatever_they_were() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch("owner-only");
        let path = dir.join("device.json");
        std::fs::write(&path, b"shared").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        write_atomically(&path, b"secret").expect("written");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).expect("read"), b"secret");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("atomic");
        let path = dir.join("device.json");
        write_atomically(&path, b"old state").expect("first write");
        let err = write_atomically_with(&path, |file| {
            file.write_all(b"half of the new st")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, source } if *p == path && source.to_string() == "disk full"),
            "{err}"
        );
        assert!(err.to_string().contains("device.json: disk full"), "{err}");
        assert_eq!(std::fs::read(&path).expect("old file"), b"old state");
        assert_eq!(listing(&dir), ["device.json"]);
        write_atomically(&path, b"new state").expect("second write");
        assert_eq!(std::fs::read(&path).expect("new file"), b"new state");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary() {
        // A directory in the file's place: the rename fails after the
        // temporary file was written and synced.
        let dir = scratch("rename");
        let path = dir.join("device.json");
        std::fs::create_dir(&path).expect("directory in the way");
        std::fs::write(path.join("inside"), b"x").expect("write");
        let err = write_atomically(&path, b"state").unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err}"
        );
        assert_eq!(listing(&dir), ["device.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_unwritable_directory_fails_and_leaves_nothing() {
        use std::os::unix::fs::PermissionsExt as _;
        if crate::permissions::tests::running_as_root() {
            return;
        }
        let dir = scratch("unwritable");
        let path = dir.join("device.json");
        write_atomically(&path, b"old state").expect("first write");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        let err = write_atomically(&path, b"new state").unwrap_err();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert!(
            matches!(&err, Error::Io { path: p, source } if *p == path
                && source.kind() == std::io::ErrorKind::PermissionDenied),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).expect("old file"), b"old state");
        assert_eq!(listing(&dir), ["device.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_nobody_can_create_files_in_fails() {
        // /proc refuses new files even to root, whom permission bits do
        // not stop.
        let path = Path::new("/proc/self/dm-files-test.json");
        let err = write_atomically(path, b"state").unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == path),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = scratch("missing");
        let path = dir.join("not-there").join("device.json");
        let err = write_atomically(&path, b"state").unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        for path in ["/", "..", "dir/.."] {
            let err = write_atomically(Path::new(path), b"x").unwrap_err();
            assert!(
                matches!(&err, Error::NoFileName { path: p } if p == Path::new(path)),
                "{err}"
            );
            assert!(err.to_string().contains("names no file"), "{err}");
        }
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(directory_of(Path::new("device.json")), Path::new("."));
        assert_eq!(directory_of(Path::new("a/device.json")), Path::new("a"));
    }
}
