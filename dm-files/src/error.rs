//! The one error of the crate.

use std::path::PathBuf;

use dm_types::StatusCode;

/// A file could not be written, checked or cleaned up; every variant names
/// the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on the file (or its temporary file or
    /// directory) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file the operation was for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The path ends in no file name (`/`, `..`), so there is no file to
    /// write.
    #[error("{}: the path names no file", path.display())]
    NoFileName {
        /// The path.
        path: PathBuf,
    },
    /// Group or others can read or write the file (Unix permission bits
    /// `0o066`) and [`Access::OwnerOnly`](crate::Access::OwnerOnly) was
    /// asked for. The file is left as it is.
    #[error(
        "{} has mode {mode:04o}: group or others can read or write it; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    SharedPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl Error {
    /// The file the error is about.
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// let err = dm_files::write_atomically(Path::new("/"), b"x").unwrap_err();
    /// assert_eq!(err.path(), Path::new("/"));
    /// ```
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::NoFileName { path }
            | Error::SharedPermissions { path, .. } => path,
        }
    }

    /// The status a command that failed on this error answers with: `500`
    /// (the device or server could not keep what it was asked to).
    ///
    /// ```
    /// use dm_types::StatusCode;
    ///
    /// let err = dm_files::write_atomically(std::path::Path::new("/"), b"x").unwrap_err();
    /// assert_eq!(err.status(), StatusCode::INTERNAL_ERROR);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Io { .. } | Error::NoFileName { .. } | Error::SharedPermissions { .. } => {
                StatusCode::INTERNAL_ERROR
            }
        }
    }
}
