//! Decoding limits, applied while reading.

/// Bounds applied while decoding, so that hostile input costs bounded time
/// and memory and fails with [`Error::TooLarge`](crate::Error::TooLarge) or
/// [`Error::Limit`](crate::Error::Limit) (status 413).
///
/// The defaults suit a management session on a capable device; embedded
/// clients lower them, servers handling bulk uploads raise `mo_data_bytes`.
///
/// ```
/// use dm_codec::Limits;
///
/// let limits = Limits::default().with_depth(16).with_commands(64);
/// assert_eq!(limits.depth, 16);
/// assert_eq!(limits.package_bytes, Limits::DEFAULT_PACKAGE_BYTES);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest Package#1, #2 or #3 body, in bytes.
    pub package_bytes: usize,
    /// Largest MO serialization body (HGET response, HPUT/HPOST/SUB body).
    pub mo_data_bytes: usize,
    /// Deepest nesting of objects inside MO data, alert `Data` and unknown
    /// members (the document's own structure does not count). At least 32 is
    /// required by the protocol.
    pub depth: usize,
    /// Most commands in one Package#2, and most status entries in a Package#3.
    pub commands: usize,
    /// Longest ClientURI or ServerURI, in bytes.
    pub uri_length: usize,
    /// Longest string value or member name, in bytes.
    pub string_length: usize,
}

impl Limits {
    /// Default for [`Limits::package_bytes`]: 4 MiB.
    pub const DEFAULT_PACKAGE_BYTES: usize = 4 << 20;
    /// Default for [`Limits::mo_data_bytes`]: 16 MiB.
    pub const DEFAULT_MO_DATA_BYTES: usize = 16 << 20;
    /// Default for [`Limits::depth`]: 64.
    pub const DEFAULT_DEPTH: usize = 64;
    /// Default for [`Limits::commands`]: 4096.
    pub const DEFAULT_COMMANDS: usize = 4096;
    /// Default for [`Limits::uri_length`]: 4096 bytes.
    pub const DEFAULT_URI_LENGTH: usize = 4096;
    /// Default for [`Limits::string_length`]: 1 MiB.
    pub const DEFAULT_STRING_LENGTH: usize = 1 << 20;

    /// Sets [`Limits::package_bytes`].
    #[must_use]
    pub fn with_package_bytes(mut self, bytes: usize) -> Self {
        self.package_bytes = bytes;
        self
    }

    /// Sets [`Limits::mo_data_bytes`].
    #[must_use]
    pub fn with_mo_data_bytes(mut self, bytes: usize) -> Self {
        self.mo_data_bytes = bytes;
        self
    }

    /// Sets [`Limits::depth`].
    #[must_use]
    pub fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Sets [`Limits::commands`].
    #[must_use]
    pub fn with_commands(mut self, commands: usize) -> Self {
        self.commands = commands;
        self
    }

    /// Sets [`Limits::uri_length`].
    #[must_use]
    pub fn with_uri_length(mut self, bytes: usize) -> Self {
        self.uri_length = bytes;
        self
    }

    /// Sets [`Limits::string_length`].
    #[must_use]
    pub fn with_string_length(mut self, bytes: usize) -> Self {
        self.string_length = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            package_bytes: Self::DEFAULT_PACKAGE_BYTES,
            mo_data_bytes: Self::DEFAULT_MO_DATA_BYTES,
            depth: Self::DEFAULT_DEPTH,
            commands: Self::DEFAULT_COMMANDS,
            uri_length: Self::DEFAULT_URI_LENGTH,
            string_length: Self::DEFAULT_STRING_LENGTH,
        }
    }
}
