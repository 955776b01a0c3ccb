//! The one error type of `dm-server`.

use std::path::PathBuf;

/// What went wrong in the server, its store, its configuration or the admin
/// operations. [`Error::http_status`] gives the status the admin API answers
/// with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options or the configuration file are not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store file can be read or written by group or others (Unix
    /// permission bits `0o066`): it holds Digest H(A1) values, the nonce
    /// key and notification secrets, so [`MemoryStore::open`](crate::MemoryStore::open)
    /// refuses it (see
    /// [`MemoryStore::open_allowing_shared_permissions`](crate::MemoryStore::open_allowing_shared_permissions)).
    /// The file is left as it is.
    #[error(
        "store file {} has mode {mode:04o}: group or others can read or write it, and it holds \
         password hashes and secrets; run `chmod 600 {}` (or allow shared permissions explicitly)",
        path.display(),
        path.display()
    )]
    FilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A network operation failed (binding, accepting, sending).
    #[error("network: {0}")]
    Network(#[from] std::io::Error),
    /// The TLS configuration is not usable (certificate, key, client CA).
    #[error("TLS: {0}")]
    Tls(String),
    /// The store failed (a backend error, a corrupt file).
    #[error("store: {0}")]
    Store(String),
    /// A concurrent change won (a session saved by another node, a device
    /// registered twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The device, command, session or repository object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller may not do this (a device writing another device's
    /// repository object).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Storing this would exceed what the store allows the device to keep
    /// (its repository byte budget, [`crate::Retention::repository_bytes`]
    /// for the embedded store): HTTP 507 Insufficient Storage.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// A limit of the server is reached for now (its open sessions): HTTP
    /// 503, try later.
    #[error("busy: {0}")]
    Busy(String),
    /// The request is malformed (admin API input, a command that does not
    /// parse).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The request is well-formed but cannot be carried out as asked: END or
    /// CONT queued by hand, a notification for a device without
    /// notification credentials.
    #[error("{0}")]
    Unprocessable(String),
    /// A Package#0 could not be delivered.
    #[error("notification delivery to {address}: {message}")]
    Delivery {
        /// The device's notification address.
        address: String,
        /// Why.
        message: String,
    },
    /// A package or wire format error.
    #[error(transparent)]
    Codec(#[from] dm_codec::Error),
    /// A protocol value was invalid.
    #[error(transparent)]
    Types(#[from] dm_types::Error),
}

impl Error {
    /// The HTTP status the admin API answers this error with.
    ///
    /// ```
    /// use dm_server::Error;
    ///
    /// assert_eq!(Error::NotFound("device IMEI:1".into()).http_status(), 404);
    /// assert_eq!(Error::Conflict("exists".into()).http_status(), 409);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid(_) | Error::Types(_) => 400,
            Error::Codec(e) => e.status().as_u16(),
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Unprocessable(_) => 422,
            Error::Delivery { .. } => 502,
            Error::Busy(_) => 503,
            Error::InsufficientStorage(_) => 507,
            Error::Config(_)
            | Error::File { .. }
            | Error::FilePermissions { .. }
            | Error::Network(_)
            | Error::Tls(_)
            | Error::Store(_) => 500,
        }
    }
}
