//! `GET|HEAD /artifacts/{id}?token=<t>`: devices download stored artifacts
//! (docs/updates.md). The token is a capability
//! ([`crate::artifact`]): a request without a valid one for this artifact,
//! expired, tampered with, or for another artifact or device, is answered
//! exactly as an unknown artifact is (404), so nothing tells which.
//!
//! One `Range` (`bytes=a-b`, `a-`, `-n`) is answered 206 with
//! `Content-Range`, an unsatisfiable one 416 with `Content-Range: bytes
//! */size`; several ranges, or a `Range` whose `If-Range` is not the
//! current `ETag`, are answered 200 with the whole content. The `ETag` is
//! the SHA-256 of the content in hex. The body is read from the store one
//! chunk ([`ARTIFACT_CHUNK`]) at a time as the device reads it, never
//! whole in memory, and the request holds one of the device's request
//! slots until it is sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, Request, State};
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderValue, IF_RANGE, RANGE,
};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use serde::Deserialize;

use super::refusal::{Refusal, refuse};
use super::request::{enter, header};
use crate::artifact::{RangeRequest, check_token, parse_range};
use crate::budget::hold_until_sent;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{ARTIFACT_CHUNK, ArtifactId, ArtifactSource, Store};
use crate::util::now_ms;

/// [`ARTIFACT_CHUNK`] as a `u64`.
const CHUNK: u64 = ARTIFACT_CHUNK as u64;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The one refusal of a download that is not allowed, whatever the
/// reason.
fn not_found() -> Refusal {
    refuse(404, "no such artifact")
}

/// `GET|HEAD /artifacts/{id}?token=<t>`.
pub(crate) async fn download<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let (parts, _body) = request.into_parts();
    let result = async {
        let query = axum::extract::Query::<TokenQuery>::try_from_uri(&parts.uri)
            .map_err(|_| not_found())?;
        let id = ArtifactId::new(id).map_err(|_| not_found())?;
        let token = query.0.token.ok_or_else(not_found)?;
        let key = shared.server_key.get(&shared.store).await?;
        let Some(dev_id) = check_token(&key, &id, &token, now_ms()) else {
            tracing::info!(artifact = %id, "artifact download refused: no valid token");
            return Err(not_found());
        };
        let slot = enter(&shared, &dev_id)?;
        let record = shared
            .store
            .artifact(&id)
            .await?
            .filter(|r| r.source == ArtifactSource::Stored)
            .ok_or_else(not_found)?;
        let size = record.size;
        let etag = format!("\"{}\"", record.sha256_hex());
        let mut range = parse_range(header(&parts.headers, RANGE.as_str()), size);
        if range != RangeRequest::Full
            && let Some(if_range) = header(&parts.headers, IF_RANGE.as_str())
            && if_range.trim() != etag
        {
            range = RangeRequest::Full;
        }
        let etag = HeaderValue::from_str(&etag).map_err(|e| refuse(500, e))?;
        let (status, start, end) = match range {
            RangeRequest::Full => (StatusCode::OK, 0, size),
            RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
            RangeRequest::Unsatisfiable => {
                let response = Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(CONTENT_RANGE, format!("bytes */{size}"))
                    .header(ACCEPT_RANGES, "bytes")
                    .header(ETAG, etag)
                    .body(Body::empty())
                    .map_err(|e| refuse(500, e))?;
                return Ok(response);
            }
        };
        let mut builder = Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, end - start)
            .header(ACCEPT_RANGES, "bytes")
            .header(ETAG, etag);
        if status == StatusCode::PARTIAL_CONTENT {
            builder = builder.header(CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1));
        }
        let body = if parts.method == Method::HEAD {
            Body::empty()
        } else {
            Body::new(ArtifactBody {
                shared: shared.clone(),
                id: id.clone(),
                at: start,
                end,
                reading: None,
            })
        };
        tracing::info!(%dev_id, artifact = %id, start, end, size, "artifact download");
        let response = builder.body(body).map_err(|e| refuse(500, e))?;
        Ok::<_, Refusal>(hold_until_sent(response, slot))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A read of the store in progress.
type Reading = Pin<Box<dyn Future<Output = Result<Option<Bytes>, crate::Error>> + Send>>;

/// The body of a download: bytes `at..end` of an artifact, read from the
/// store one chunk at a time, each when the previous one was taken.
struct ArtifactBody<S, C> {
    shared: Arc<Shared<S, C>>,
    id: ArtifactId,
    at: u64,
    end: u64,
    reading: Option<Reading>,
}

impl<S: Store, C: NotificationChannel> HttpBody for ArtifactBody<S, C> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.at >= this.end {
            return Poll::Ready(None);
        }
        let reading = this.reading.get_or_insert_with(|| {
            // To the end of the chunk `at` is in: aligned reads after the
            // first, one chunk each.
            let to = this.end.min((this.at / CHUNK + 1) * CHUNK);
            let (shared, id, from) = (this.shared.clone(), this.id.clone(), this.at);
            Box::pin(async move { shared.store.artifact_range(&id, from, to).await })
        });
        let Poll::Ready(read) = reading.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        this.reading = None;
        match read {
            Ok(Some(bytes)) if !bytes.is_empty() => {
                this.at += bytes.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Ok(_) => {
                // Removed or replaced by a shorter one meanwhile.
                this.at = this.end;
                tracing::warn!(artifact = %this.id, "artifact changed during a download");
                Poll::Ready(Some(Err(axum::Error::new("the artifact changed"))))
            }
            Err(error) => {
                this.at = this.end;
                tracing::warn!(artifact = %this.id, %error, "artifact read failed");
                Poll::Ready(Some(Err(axum::Error::new(error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.at >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end.saturating_sub(self.at))
    }
}
