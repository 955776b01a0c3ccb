//! The package downloader shared by the update MOs (FUMO, SCOMO): an
//! HTTP(S) GET of the package URL through the client's [`Transport`],
//! streamed into a [`PackageSink`] with the SHA-256 computed on the way,
//! resumed with `Range: bytes=<n>-` after a lost connection, and refused
//! past the announced size (`Ext/PkgSize`) or the product's limit.
//!
//! The rules (docs/protocol.md section 13):
//! - at most [`RetryPolicy::attempts`] tries in a row without progress
//!   (connection failures, broken or stalled bodies), waiting
//!   [`RetryPolicy::backoff`] between them; a try that brought bytes
//!   resumes from where it stopped;
//! - a resumed request must be answered `206` with a `Content-Range`
//!   starting at the offset asked for; a `200` (the server ignores ranges)
//!   or a range starting elsewhere restarts from byte 0 (the sink is
//!   discarded, the digest restarted);
//! - more bytes than announced is a corrupted package (`402`), detected as
//!   soon as `Content-Length` or the bytes read say so: the download stops
//!   at once; fewer bytes than announced, or another SHA-256, is `402` too;
//! - [`DownloadError::fumo_result`] gives the FUMO result code of a
//!   failure (SCOMO adds 1000).
//!
//! ```no_run
//! use dm_client::Transport;
//! use dm_client::update::{Downloader, MemorySink, PackageSource};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let downloader = Downloader::new(Transport::builder().build()?).max_size(64 << 20);
//! let source = PackageSource::new("https://updates.example/fw/2.1.bin")
//!     .size(1_048_576)
//!     .sha256_hex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")?;
//! let mut sink = MemorySink::new(64 << 20);
//! let done = downloader
//!     .download(&source, &mut sink, &mut |p| println!("{} of {:?} bytes", p.received, p.total))
//!     .await?;
//! assert_eq!(done.size, 1_048_576);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use dm_session::TransportFailure;
use dm_types::ServerUri;
use dm_types::update::{FumoResult, ScomoResult};
use sha2::{Digest as _, Sha256};

use crate::transport::fetch::{FetchFailure, Fetched};
use crate::{RetryPolicy, Transport};

/// Where a downloaded package goes (flash partition, file, memory): the
/// downloader appends the bytes in order, asks how many are held before
/// resuming, and discards them to start over.
///
/// Writes should be quick (they run on the download's task); a storage
/// failure ends the download with `501`.
pub trait PackageSink: Send {
    /// The bytes held so far (what a resumed download continues from).
    fn held(&self) -> u64;

    /// Appends `chunk` after the bytes held.
    fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError>;

    /// Drops every byte held (a download that starts over, a package
    /// refused).
    fn discard(&mut self) -> Result<(), SinkError>;
}

/// Why a [`PackageSink`] could not store or drop bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// No room for the package.
    #[error("no room for the package ({needed} bytes needed, {room} available)")]
    Full {
        /// Bytes the package would hold with the refused chunk.
        needed: u64,
        /// Bytes the storage can hold.
        room: u64,
    },
    /// The storage failed.
    #[error("the package storage failed: {0}")]
    Storage(String),
}

/// A [`PackageSink`] in memory, holding at most `capacity` bytes; the
/// bytes are read with [`MemorySink::bytes`].
///
/// ```
/// use dm_client::update::{MemorySink, PackageSink, SinkError};
///
/// let mut sink = MemorySink::new(4);
/// sink.append(b"abc")?;
/// assert_eq!(sink.held(), 3);
/// assert!(matches!(sink.append(b"de"), Err(SinkError::Full { needed: 5, room: 4 })));
/// sink.discard()?;
/// assert!(sink.bytes().is_empty());
/// # Ok::<(), SinkError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySink {
    bytes: Vec<u8>,
    capacity: u64,
}

impl MemorySink {
    /// An empty sink holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> MemorySink {
        MemorySink {
            bytes: Vec::new(),
            capacity,
        }
    }

    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes held, the sink emptied.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl PackageSink for MemorySink {
    fn held(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let needed = self.held().saturating_add(chunk.len() as u64);
        if needed > self.capacity {
            return Err(SinkError::Full {
                needed,
                room: self.capacity,
            });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    fn discard(&mut self) -> Result<(), SinkError> {
        self.bytes = Vec::new();
        Ok(())
    }
}

/// What to download: the URL (`PkgURL`) and what the server announced of
/// the package (`Ext/PkgSize`, `Ext/PkgSHA256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSource {
    /// The package URL.
    pub url: String,
    /// The announced size in bytes: more is refused while downloading,
    /// fewer at the end (both `402`).
    pub size: Option<u64>,
    /// The announced SHA-256, checked at the end (`402` on mismatch).
    pub sha256: Option<[u8; 32]>,
}

impl PackageSource {
    /// A package at `url`, nothing announced.
    pub fn new(url: impl Into<String>) -> PackageSource {
        PackageSource {
            url: url.into(),
            size: None,
            sha256: None,
        }
    }

    /// With its announced size.
    #[must_use]
    pub fn size(mut self, size: u64) -> PackageSource {
        self.size = Some(size);
        self
    }

    /// With its announced SHA-256 in hexadecimal (the `Ext/PkgSHA256`
    /// form; upper case accepted). Error: not 64 hexadecimal digits.
    ///
    /// ```
    /// use dm_client::update::PackageSource;
    ///
    /// let source = PackageSource::new("https://u.example/p").sha256_hex(&"ab".repeat(32))?;
    /// assert_eq!(source.sha256, Some([0xab; 32]));
    /// assert!(PackageSource::new("https://u.example/p").sha256_hex("abc").is_err());
    /// # Ok::<(), dm_client::update::DownloadError>(())
    /// ```
    pub fn sha256_hex(mut self, hex: &str) -> Result<PackageSource, DownloadError> {
        self.sha256 = Some(
            parse_sha256(hex).ok_or_else(|| DownloadError::InvalidDescription {
                reason: format!(
                    "{} is not a SHA-256 in hexadecimal",
                    dm_types::update::EXT_PKG_SHA256
                ),
            })?,
        );
        Ok(self)
    }
}

/// 64 hexadecimal digits as 32 bytes.
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

/// Lowercase hexadecimal of `bytes` (the `Ext/PkgSHA256` form).
///
/// ```
/// assert_eq!(dm_client::update::to_hex(&[0x0f, 0xa0]), "0fa0");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// How far a download got, for progress callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the package received and stored so far.
    pub received: u64,
    /// The announced size, when known.
    pub total: Option<u64>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes stored.
    pub size: u64,
    /// Their SHA-256.
    pub sha256: [u8; 32],
    /// HTTP requests made (1 when no resume was needed).
    pub requests: u32,
}

/// Why a download failed; [`DownloadError::fumo_result`] is the FUMO
/// result code it stands for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The URL is no http(s) URL (`411`).
    #[error("bad package URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// What the server announced of the package cannot be used (a
    /// malformed `Ext/PkgSHA256`, say): `400`.
    #[error("invalid package description: {reason}")]
    InvalidDescription {
        /// What is wrong.
        reason: String,
    },
    /// The package is larger than the product accepts (`501`).
    #[error("the package ({size} bytes or more) exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size announced, or the bytes seen.
        size: u64,
        /// The product's limit.
        limit: u64,
    },
    /// The package is not what was announced (`402`).
    #[error("corrupted package: {0}")]
    Corrupted(Corruption),
    /// The storage refused the bytes (`501`).
    #[error(transparent)]
    Storage(#[from] SinkError),
    /// The download server refused the request: HTTP 401, 403 or 407, or
    /// its TLS certificate was refused (`406`).
    #[error("the download server refused access: {detail}")]
    Refused {
        /// The HTTP status or the TLS failure.
        detail: String,
    },
    /// The download server is unavailable: HTTP 503 (`412`).
    #[error("the download server is unavailable (HTTP {status})")]
    Unavailable {
        /// The HTTP status.
        status: u16,
    },
    /// The download server answered with an error (any other status but
    /// 200 and 206): `500`.
    #[error("the download server answered HTTP {status}")]
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// No answer or no progress in time, after every try (`407`).
    #[error("download timed out after {tries} tries: {detail}")]
    TimedOut {
        /// Tries without progress.
        tries: u32,
        /// The last failure.
        detail: String,
    },
    /// The network failed, after every try (`503`).
    #[error("download failed after {tries} tries: {detail}")]
    Network {
        /// Tries without progress.
        tries: u32,
        /// The last failure.
        detail: String,
    },
}

/// How a package differs from what was announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// More bytes than the announced size (seen in `Content-Length` or
    /// read).
    Longer {
        /// The announced size.
        announced: u64,
    },
    /// The body ended before the announced size.
    Shorter {
        /// The announced size.
        announced: u64,
        /// Bytes received.
        received: u64,
    },
    /// Another SHA-256.
    Digest {
        /// The announced digest, hexadecimal.
        expected: String,
        /// The digest of what was received, hexadecimal.
        actual: String,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Longer { announced } => {
                write!(f, "longer than the announced {announced} bytes")
            }
            Corruption::Shorter {
                announced,
                received,
            } => write!(f, "{received} bytes instead of the announced {announced}"),
            Corruption::Digest { expected, actual } => {
                write!(f, "SHA-256 {actual} instead of {expected}")
            }
        }
    }
}

impl DownloadError {
    /// The FUMO result code of the failure (section 13.1): 411 bad URL,
    /// 400 unusable description, 501 too large or no room, 402 corrupted,
    /// 406 access refused, 412 server unavailable, 500 server error, 407
    /// timed out, 503 network error.
    ///
    /// ```
    /// use dm_client::update::DownloadError;
    /// use dm_types::update::{FumoResult, ScomoResult};
    ///
    /// let e = DownloadError::Network { tries: 4, detail: "connection refused".into() };
    /// assert_eq!(e.fumo_result(), FumoResult::DOWNLOAD_NETWORK_ERROR);
    /// ```
    pub fn fumo_result(&self) -> FumoResult {
        match self {
            DownloadError::BadUrl { .. } => FumoResult::BAD_URL,
            DownloadError::InvalidDescription { .. } => FumoResult::CLIENT_ERROR,
            DownloadError::TooLarge { .. } | DownloadError::Storage(_) => {
                FumoResult::DOWNLOAD_OUT_OF_MEMORY
            }
            DownloadError::Corrupted(_) => FumoResult::CORRUPTED_PACKAGE,
            DownloadError::Refused { .. } => FumoResult::DOWNLOAD_AUTHENTICATION_FAILED,
            DownloadError::Unavailable { .. } => FumoResult::DOWNLOAD_SERVER_UNAVAILABLE,
            DownloadError::ServerError { .. } => FumoResult::DOWNLOAD_SERVER_ERROR,
            DownloadError::TimedOut { .. } => FumoResult::DOWNLOAD_TIMED_OUT,
            DownloadError::Network { .. } => FumoResult::DOWNLOAD_NETWORK_ERROR,
        }
    }

    /// The SCOMO result code of the failure: the FUMO code plus 1000
    /// (**[project decision]**, `ScomoResult::from_fumo`).
    ///
    /// ```
    /// use dm_client::update::{Corruption, DownloadError};
    ///
    /// let e = DownloadError::Corrupted(Corruption::Longer { announced: 10 });
    /// assert_eq!(e.scomo_result().code(), 1402);
    /// ```
    pub fn scomo_result(&self) -> ScomoResult {
        ScomoResult::from_fumo(self.fumo_result())
    }
}

/// Downloads packages through a [`Transport`] (cheap to clone).
#[derive(Debug, Clone)]
pub struct Downloader {
    transport: Transport,
    max_size: u64,
    retry: RetryPolicy,
    request_timeout: Duration,
    stall_timeout: Duration,
}

/// The default [`Downloader::max_size`]: 256 MiB.
pub const DEFAULT_MAX_PACKAGE_SIZE: u64 = 256 << 20;

impl Downloader {
    /// A downloader over `transport`, with its retry policy, packages of
    /// at most [`DEFAULT_MAX_PACKAGE_SIZE`], 30 minutes per request and 60
    /// seconds without a byte at most.
    pub fn new(transport: Transport) -> Downloader {
        Downloader {
            retry: transport.retry_policy(),
            transport,
            max_size: DEFAULT_MAX_PACKAGE_SIZE,
            request_timeout: Duration::from_secs(30 * 60),
            stall_timeout: Duration::from_secs(60),
        }
    }

    /// The largest package accepted, whatever the server announces.
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Downloader {
        self.max_size = bytes;
        self
    }

    /// The tries without progress and the waits between them.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Downloader {
        self.retry = retry;
        self
    }

    /// The longest a request may take, body included, and the longest
    /// wait for the next bytes of a body; past either the try failed
    /// (and is retried from where it stopped).
    #[must_use]
    pub fn timeouts(mut self, request: Duration, stall: Duration) -> Downloader {
        self.request_timeout = request;
        self.stall_timeout = stall;
        self
    }

    /// The product's package size limit.
    pub fn limit(&self) -> u64 {
        self.max_size
    }

    /// Downloads `source` into `sink` (discarded first), calling
    /// `progress` after each stored chunk; see the module documentation
    /// for the rules. On failure the sink may hold part of the package:
    /// the caller discards it.
    pub async fn download(
        &self,
        source: &PackageSource,
        sink: &mut dyn PackageSink,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Downloaded, DownloadError> {
        let url = ServerUri::new(source.url.as_str()).map_err(|e| DownloadError::BadUrl {
            url: source.url.clone(),
            reason: e.to_string(),
        })?;
        if let Some(size) = source.size
            && size > self.max_size
        {
            return Err(DownloadError::TooLarge {
                size,
                limit: self.max_size,
            });
        }
        let limit = source.size.unwrap_or(self.max_size).min(self.max_size);
        let too_much = |seen: u64| match source.size {
            Some(announced) if announced <= self.max_size => {
                DownloadError::Corrupted(Corruption::Longer { announced })
            }
            _ => DownloadError::TooLarge {
                size: seen,
                limit: self.max_size,
            },
        };
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        restart(sink, &mut hasher, &mut received)?;
        let mut failed = 0u32;
        let mut requests = 0u32;
        loop {
            if failed > 0 {
                tokio::time::sleep(self.retry.backoff(failed)).await;
            }
            if sink.held() != received {
                // The storage lost or kept bytes behind our back: start over.
                restart(sink, &mut hasher, &mut received)?;
            }
            requests += 1;
            let mut answer = match self
                .transport
                .fetch(url.as_str(), received, self.request_timeout)
                .await
            {
                Ok(answer) => answer,
                Err(failure) => {
                    failed += 1;
                    self.give_up(&failure, failed)?;
                    continue;
                }
            };
            match answer.status {
                200 => {
                    if received > 0 {
                        tracing::info!(url = url.as_str(), "range ignored: restarting from 0");
                        restart(sink, &mut hasher, &mut received)?;
                    }
                }
                206 => {
                    if !range_starts_at(answer.content_range.as_deref(), received) {
                        tracing::info!(
                            url = url.as_str(),
                            range = answer.content_range.as_deref(),
                            "unexpected Content-Range: restarting from 0"
                        );
                        restart(sink, &mut hasher, &mut received)?;
                        failed += 1;
                        self.give_up(
                            &FetchFailure {
                                kind: TransportFailure::Interrupted,
                                reason: "unexpected Content-Range".into(),
                            },
                            failed,
                        )?;
                        continue;
                    }
                }
                416 if received > 0 => {
                    restart(sink, &mut hasher, &mut received)?;
                    failed += 1;
                    self.give_up(
                        &FetchFailure {
                            kind: TransportFailure::Interrupted,
                            reason: "range not satisfiable".into(),
                        },
                        failed,
                    )?;
                    continue;
                }
                401 | 403 | 407 => {
                    return Err(DownloadError::Refused {
                        detail: format!("HTTP {}", answer.status),
                    });
                }
                503 => {
                    return Err(DownloadError::Unavailable {
                        status: answer.status,
                    });
                }
                status => return Err(DownloadError::ServerError { status }),
            }
            if let Some(length) = answer.content_length
                && received.saturating_add(length) > limit
            {
                return Err(too_much(received.saturating_add(length)));
            }
            let body = self
                .read_body(
                    &mut answer,
                    sink,
                    &mut hasher,
                    &mut received,
                    limit,
                    source.size,
                    progress,
                )
                .await?;
            match body {
                Body::Ended => break,
                Body::TooMuch(seen) => return Err(too_much(seen)),
                Body::Broken(failure, progressed) => {
                    failed = if progressed { 1 } else { failed + 1 };
                    self.give_up(&failure, failed)?;
                }
            }
        }
        if let Some(announced) = source.size
            && received != announced
        {
            return Err(DownloadError::Corrupted(Corruption::Shorter {
                announced,
                received,
            }));
        }
        let sha256: [u8; 32] = hasher.finalize().into();
        if let Some(expected) = source.sha256
            && expected != sha256
        {
            return Err(DownloadError::Corrupted(Corruption::Digest {
                expected: to_hex(&expected),
                actual: to_hex(&sha256),
            }));
        }
        Ok(Downloaded {
            size: received,
            sha256,
            requests,
        })
    }

    /// Reads a body into the sink until its end, a failure (with whether
    /// bytes came before it), or more than `limit` bytes in all; an error
    /// when the sink refuses bytes.
    #[allow(clippy::too_many_arguments)]
    async fn read_body(
        &self,
        answer: &mut Fetched,
        sink: &mut dyn PackageSink,
        hasher: &mut Sha256,
        received: &mut u64,
        limit: u64,
        total: Option<u64>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Body, SinkError> {
        let mut progressed = false;
        loop {
            let chunk = match tokio::time::timeout(self.stall_timeout, answer.chunk()).await {
                Err(_) => {
                    return Ok(Body::Broken(
                        FetchFailure {
                            kind: TransportFailure::Timeout,
                            reason: format!("no data for {:?}", self.stall_timeout),
                        },
                        progressed,
                    ));
                }
                Ok(Err(failure)) => return Ok(Body::Broken(failure, progressed)),
                Ok(Ok(None)) => return Ok(Body::Ended),
                Ok(Ok(Some(chunk))) => chunk,
            };
            let seen = received.saturating_add(chunk.len() as u64);
            if seen > limit {
                return Ok(Body::TooMuch(seen));
            }
            if chunk.is_empty() {
                continue;
            }
            sink.append(&chunk)?;
            hasher.update(&chunk);
            *received = seen;
            progressed = true;
            progress(Progress {
                received: seen,
                total,
            });
        }
    }

    /// The error ending the download after `failure`, the `failed`-th try
    /// in a row without progress, when no try is left (or a retry cannot
    /// help: TLS).
    fn give_up(&self, failure: &FetchFailure, failed: u32) -> Result<(), DownloadError> {
        let detail = failure.reason.clone();
        if failure.kind == TransportFailure::Tls {
            return Err(DownloadError::Refused { detail });
        }
        if failed < self.retry.attempts {
            tracing::info!(tries = failed, "download interrupted, resuming: {detail}");
            return Ok(());
        }
        Err(match failure.kind {
            TransportFailure::Timeout => DownloadError::TimedOut {
                tries: failed,
                detail,
            },
            _ => DownloadError::Network {
                tries: failed,
                detail,
            },
        })
    }
}

/// How reading a body ended.
enum Body {
    /// At its end.
    Ended,
    /// Past the limit, with this many bytes in all.
    TooMuch(u64),
    /// The connection failed or stalled; whether bytes came first.
    Broken(FetchFailure, bool),
}

/// Whether a `Content-Range` header (`bytes <first>-<last>/<total>`)
/// starts at `offset`.
/// Starts a download over: the sink emptied, the digest and the count of
/// bytes received reset.
fn restart(
    sink: &mut dyn PackageSink,
    hasher: &mut Sha256,
    received: &mut u64,
) -> Result<(), SinkError> {
    sink.discard()?;
    *hasher = Sha256::new();
    *received = 0;
    Ok(())
}

fn range_starts_at(content_range: Option<&str>, offset: u64) -> bool {
    content_range
        .and_then(|text| text.trim().strip_prefix("bytes "))
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(first, _)| first.trim().parse::<u64>().ok())
        == Some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_checked_against_the_offset() {
        assert!(range_starts_at(Some("bytes 100-199/200"), 100));
        assert!(range_starts_at(Some("bytes 0-9/*"), 0));
        assert!(!range_starts_at(Some("bytes 0-199/200"), 100));
        assert!(!range_starts_at(Some("items 100-199/200"), 100));
        assert!(!range_starts_at(None, 0));
    }

    #[test]
    fn digests_are_read_in_either_case() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_sha256(&hex), Some([0xab; 32]));
        assert_eq!(parse_sha256(&"g0".repeat(32)), None);
        assert_eq!(parse_sha256("ab"), None);
        assert_eq!(to_hex(&[0xab; 2]), "abab");
    }

    #[test]
    fn failures_map_to_fumo_results() {
        let cases = [
            (
                DownloadError::Corrupted(Corruption::Longer { announced: 1 }),
                402,
            ),
            (DownloadError::TooLarge { size: 2, limit: 1 }, 501),
            (DownloadError::Unavailable { status: 503 }, 412),
            (DownloadError::ServerError { status: 404 }, 500),
            (
                DownloadError::TimedOut {
                    tries: 1,
                    detail: String::new(),
                },
                407,
            ),
            (
                DownloadError::BadUrl {
                    url: String::new(),
                    reason: String::new(),
                },
                411,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.fumo_result().code(), code, "{error}");
        }
    }
}
