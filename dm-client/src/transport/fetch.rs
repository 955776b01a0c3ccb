//! A package download's GET as the update downloader sees it
//! ([`crate::update::Downloader`]): one request, optionally from a byte
//! offset (`Range: bytes=<n>-`), whose body is read chunk by chunk. No
//! retry here: the downloader resumes with a new range instead.

use std::time::Duration;

use bytes::Bytes;
use dm_session::TransportFailure;
use reqwest::header::{self, HeaderMap, HeaderValue};

use super::Transport;
use super::exchange::{AnswerBody, Outgoing};

/// Why a fetch got no answer, or its body could not be read to its end.
#[derive(Debug)]
pub(crate) struct FetchFailure {
    pub(crate) kind: TransportFailure,
    /// The failure and its causes, on one line.
    pub(crate) reason: String,
}

/// The answer to a fetch: status, the headers a download checks, and the
/// body still to be read.
pub(crate) struct Fetched {
    pub(crate) status: u16,
    /// `Content-Length`, when present and a number.
    pub(crate) content_length: Option<u64>,
    /// `Content-Range`, when present and text.
    pub(crate) content_range: Option<String>,
    body: AnswerBody,
}

impl Fetched {
    /// The next chunk of the body (`None` at its end).
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, FetchFailure> {
        self.body.chunk().await.map_err(|e| FetchFailure {
            kind: e.kind,
            reason: e.reason,
        })
    }
}

impl Transport {
    /// GETs `uri` once, asking for the bytes from `from` on when it is not
    /// zero (`Range: bytes=<from>-`), the whole exchange within `timeout`.
    pub(crate) async fn fetch(
        &self,
        uri: &str,
        from: u64,
        timeout: Duration,
    ) -> Result<Fetched, FetchFailure> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if from > 0 {
            let range =
                HeaderValue::from_str(&format!("bytes={from}-")).map_err(|e| FetchFailure {
                    kind: TransportFailure::Interrupted,
                    reason: e.to_string(),
                })?;
            headers.insert(header::RANGE, range);
        }
        let outgoing = Outgoing {
            method: reqwest::Method::GET,
            uri,
            headers,
            body: None,
            timeout,
        };
        let answer = self
            .inner
            .backend
            .send(outgoing)
            .await
            .map_err(|f| FetchFailure {
                kind: f.kind,
                reason: f.reason,
            })?;
        let text = |name: header::HeaderName| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Fetched {
            status: answer.status,
            content_length: text(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
            content_range: text(header::CONTENT_RANGE),
            body: answer.body,
        })
    }
}
