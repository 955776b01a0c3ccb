//! The owner-only permission check of existing files.

use std::path::Path;

use crate::Error;

/// Who may read and write a file besides its owner, as
/// [`check_permissions`] enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Only the owner: a file group or others can read or write is refused.
    #[default]
    OwnerOnly,
    /// Anyone the file's permissions allow: for file systems without Unix
    /// permissions. What [`write_atomically`](crate::write_atomically)
    /// writes is still owner-only.
    SharedAllowed,
}

/// Checks that group and others can neither read nor write the file at
/// `path` (Unix permission bits `0o066`) when `access` is
/// [`Access::OwnerOnly`]: [`Error::SharedPermissions`] otherwise. A missing
/// file passes, and so does everything with [`Access::SharedAllowed`] and
/// on platforms without such bits.
///
/// ```
/// use dm_files::{Access, Error};
///
/// let dir = std::env::temp_dir().join(format!("dm-files-check-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("secrets.json");
/// dm_files::check_permissions(&path, Access::OwnerOnly)?; // missing: fine
/// dm_files::write_atomically(&path, b"secret")?;
/// dm_files::check_permissions(&path, Access::OwnerOnly)?; // mode 0600: fine
/// # #[cfg(unix)]
/// # {
/// use std::os::unix::fs::PermissionsExt as _;
/// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
/// let err = dm_files::check_permissions(&path, Access::OwnerOnly).unwrap_err();
/// assert!(matches!(err, Error::SharedPermissions { mode: 0o644, .. }));
/// dm_files::check_permissions(&path, Access::SharedAllowed)?;
/// # }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_permissions(path: &Path, access: Access) -> Result<(), Error> {
    if access == Access::SharedAllowed {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if mode & 0o066 != 0 {
            return Err(Error::SharedPermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::temporary::tests::scratch;

    #[test]
    fn group_or_other_bits_are_refused_unless_shared_is_allowed() {
        let dir = scratch("permissions");
        let path = dir.join("file.json");
        assert!(
            check_permissions(&path, Access::OwnerOnly).is_ok(),
            "missing"
        );
        crate::write_atomically(&path, b"secret").expect("written");
        assert!(check_permissions(&path, Access::OwnerOnly).is_ok());
        for mode in [0o640, 0o604, 0o620, 0o602, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = check_permissions(&path, Access::OwnerOnly).unwrap_err();
            assert!(
                matches!(&err, Error::SharedPermissions { path: p, mode: m } if *p == path && *m == mode),
                "{err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert!(check_permissions(&path, Access::SharedAllowed).is_ok());
        }
        // Execute bits and the owner's own bits are no exposure.
        for mode in [0o700, 0o611, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            assert!(
                check_permissions(&path, Access::OwnerOnly).is_ok(),
                "{mode:o}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_directory_is_an_io_error() {
        if running_as_root() {
            return;
        }
        let dir = scratch("unreadable");
        let inner = dir.join("closed");
        std::fs::create_dir(&inner).expect("dir");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let path = inner.join("file.json");
        let err = check_permissions(&path, Access::OwnerOnly).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err}"
        );
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Root ignores permission bits, so tests of refused access skip.
    pub(crate) fn running_as_root() -> bool {
        let dir = scratch("root-probe");
        let inner = dir.join("closed");
        let _ = std::fs::create_dir(&inner);
        let _ = std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o000));
        let root = std::fs::read_dir(&inner).is_ok();
        let _ = std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700));
        let _ = std::fs::remove_dir_all(&dir);
        root
    }
}
