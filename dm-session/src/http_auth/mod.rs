//! HTTP authentication of devices, sans I/O: Basic (RFC 7617) and Digest
//! (RFC 7616, `qop=auth`), for clients and servers with their own HTTP
//! stack (docs/protocol.md section 12, "Authentication").
//!
//! Nothing here draws randomness or reads a clock: the server passes in
//! the nonce it minted, the client the `cnonce` it drew.
//!
//! - A **client** splits and parses the `WWW-Authenticate` values of a
//!   `401` and chooses the challenge its credentials answer
//!   ([`Challenge::choose`]: Digest SHA-256, then MD5, then other Digest
//!   algorithms, then Basic), then writes the `Authorization` value of each
//!   request ([`Challenge::authorization`]), counting the answers to a
//!   Digest nonce.
//! - A **server** writes its challenges ([`DigestChallenge`],
//!   [`BasicChallenge`]), parses the `Authorization` value strictly and
//!   within a length limit ([`Authorization::parse`]), and checks a Digest
//!   `response` against the stored `H(A1)` in constant time
//!   ([`DigestCredentials::verify`]). Minting and checking nonces, the
//!   replay of nonce counts, and looking up users remain the server's.
//!
//! ```
//! use dm_session::http_auth::{
//!     AcceptedSchemes, Authorization, Challenge, DigestAlgorithm, DigestChallenge,
//! };
//!
//! // The server challenges with a nonce it minted.
//! let offered = DigestChallenge::new("oma-dm", "bm9uY2U", DigestAlgorithm::Sha256).to_string();
//! // The client answers.
//! let mut chosen = Challenge::choose([offered.as_str()], AcceptedSchemes::DigestOrBasic)
//!     .expect("an answerable challenge");
//! let value = chosen.authorization("device-1", "secret", "POST", "/dm", "Y25vbmNl")?;
//! // The server checks the answer against what it stored for device-1.
//! let Authorization::Digest(credentials) = Authorization::parse(&value)? else {
//!     panic!("Digest credentials");
//! };
//! let stored = DigestAlgorithm::Sha256.ha1("device-1", "oma-dm", "secret");
//! assert_eq!(credentials.username, "device-1");
//! assert!(credentials.verify(&stored, "POST"));
//! # Ok::<(), dm_session::http_auth::HttpAuthError>(())
//! ```

mod algorithm;
mod challenge;
mod credentials;
mod error;
mod params;

pub use algorithm::{DigestAlgorithm, ha1_md5, ha1_sha256};
pub use challenge::{AcceptedSchemes, BasicChallenge, Challenge, DigestChallenge};
pub use credentials::{
    Authorization, BasicCredentials, DigestCredentials, MAX_AUTHORIZATION_LEN, QopAuth,
};
pub use error::HttpAuthError;
pub use params::{parse_auth_params, split_challenges};
