//! A refused request ([`Refusal`]) and how each error is answered.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use axum::response::{IntoResponse, Response};

/// A refused request: status, message and extra headers. Device endpoints
/// answer it as text, the admin API as JSON `{"error": ...}`.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    json: bool,
}

pub(crate) fn refuse(status: u16, message: impl std::fmt::Display) -> Refusal {
    Refusal {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message: message.to_string(),
        headers: Vec::new(),
        json: false,
    }
}

/// A store failure: logged, answered 500 without details.
pub(crate) fn internal(error: &crate::Error) -> Refusal {
    tracing::error!(%error, "request failed");
    refuse(500, "internal error")
}

impl Refusal {
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn json(mut self) -> Self {
        self.json = true;
        self
    }
}

/// 503 with `Retry-After`: a limit of the server is reached for now.
pub(crate) fn busy(message: impl std::fmt::Display) -> Refusal {
    refuse(503, message).with_header(RETRY_AFTER, HeaderValue::from_static("60"))
}

impl From<crate::Error> for Refusal {
    fn from(error: crate::Error) -> Self {
        if let crate::Error::Busy { .. } = &error {
            return busy(&error);
        }
        if let crate::Error::StoreUnavailable { .. } = &error {
            // Logged with the database's address; the client only learns
            // that it may try again soon.
            tracing::warn!(%error, "request refused: the store is unavailable");
            return refuse(503, "the server's store is unavailable; try again later")
                .with_header(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        let status = error.status().as_u16();
        if status >= 500
            && !matches!(
                error,
                crate::Error::Delivery { .. } | crate::Error::InsufficientStorage { .. }
            )
        {
            internal(&error)
        } else {
            refuse(status, error)
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = if self.json {
            (
                self.status,
                axum::Json(serde_json::json!({ "error": self.message })),
            )
                .into_response()
        } else {
            (
                self.status,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{}\n", self.message),
            )
                .into_response()
        };
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}
