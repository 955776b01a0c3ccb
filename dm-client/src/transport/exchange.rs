//! One HTTP exchange as the backends see it: the request to send, the
//! answer (status, headers, a body read chunk by chunk) and how a send
//! failed. The request logic of [`Transport`](super::Transport) is written
//! once against these; only the connection differs between backends.

use std::time::Duration;

use bytes::Bytes;
use dm_session::TransportFailure;
use reqwest::header::HeaderMap;

/// A request ready to go: everything but the connection.
pub(super) struct Outgoing<'a> {
    pub(super) method: reqwest::Method,
    pub(super) uri: &'a str,
    pub(super) headers: HeaderMap,
    /// The body (none: no body, no `Content-Type`).
    pub(super) body: Option<Bytes>,
    /// Longest wait for the answer, body included, from the first byte of
    /// the connection on.
    pub(super) timeout: Duration,
}

/// Why a send got no HTTP answer.
#[derive(Debug)]
pub(super) struct SendFailure {
    pub(super) kind: TransportFailure,
    /// The failure happened while the request was being sent or its answer
    /// awaited on an established connection (an idempotent request may be
    /// tried again), not while building it.
    pub(super) while_sending: bool,
    /// The failure and its causes, on one line (never a secret).
    pub(super) reason: String,
}

/// An HTTP answer whose body is still to be read.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: AnswerBody,
}

/// The unread body of an [`Answer`], by backend.
pub(super) enum AnswerBody {
    /// reqwest's response (its request timeout covers the body).
    Reqwest(reqwest::Response),
    /// hyper's body, read until `deadline`.
    #[cfg(feature = "openssl")]
    Hyper {
        body: hyper::body::Incoming,
        deadline: tokio::time::Instant,
    },
}

/// Why a body could not be read to its end.
pub(super) struct BodyFailure {
    pub(super) kind: TransportFailure,
    pub(super) reason: String,
}

impl AnswerBody {
    /// The next chunk of data (`None` at the end).
    pub(super) async fn chunk(&mut self) -> Result<Option<Bytes>, BodyFailure> {
        match self {
            AnswerBody::Reqwest(response) => response.chunk().await.map_err(|e| BodyFailure {
                kind: if e.is_timeout() {
                    TransportFailure::Timeout
                } else {
                    TransportFailure::Interrupted
                },
                reason: describe(&e),
            }),
            #[cfg(feature = "openssl")]
            AnswerBody::Hyper { body, deadline } => {
                use http_body_util::BodyExt as _;
                loop {
                    let frame = tokio::time::timeout_at(*deadline, body.frame())
                        .await
                        .map_err(|_| BodyFailure {
                            kind: TransportFailure::Timeout,
                            reason: "operation timed out".into(),
                        })?;
                    match frame {
                        None => return Ok(None),
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                return Ok(Some(data));
                            }
                        }
                        Some(Err(e)) => {
                            return Err(BodyFailure {
                                kind: TransportFailure::Interrupted,
                                reason: describe(&e),
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The error and its causes on one line.
pub(super) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
