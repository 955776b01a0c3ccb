//! The HTTP exchanges of the client engine: what it asks the caller to
//! send ([`Request`], with what it is for and how much of the answer it
//! reads), and what the caller hands back ([`Response`], or a [`Failure`]
//! when no usable answer came).

use dm_codec::{Limits, mime};
use dm_tree::ChangeReport;
use dm_types::{DevId, ServerUri};

/// Identifies a request from
/// [`ClientSession::poll_request`](crate::ClientSession::poll_request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

impl RequestId {
    /// The id of request number `number` of a session (requests made
    /// outside a session, [`DefaultFetch`](crate::DefaultFetch) and
    /// [`Request::change_report`], have number 0).
    pub(crate) fn new(number: u64) -> RequestId {
        RequestId(number)
    }
}

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// POST (packages, HPOST).
    Post,
    /// GET (HGET).
    Get,
    /// PUT (HPUT).
    Put,
}

/// What a [`Request`] is for: the caller needs nothing else to perform it
/// (where credentials go, how much of the answer to read), never the
/// `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// A DM package of the session: Package#1 (to `SrvURI`, or to an
    /// asynchronous report's ServerURI) or Package#3 (where CONT moved the
    /// session). Its answer is a Package#2.
    Package,
    /// HGET: a repository GET whose MO data the engine writes into the
    /// tree.
    RepositoryRead,
    /// HPUT or HPOST: MO data uploaded to a repository; only the answer's
    /// status matters.
    RepositoryWrite,
    /// A SUB change report: HTTP PUT of the watched data to the
    /// subscription's ServerURI. Its answer is not awaited by the session.
    ChangeReport,
    /// The HGET a client performs on its own for a DEFAULT
    /// ([`DefaultFetch`](crate::DefaultFetch)), outside any session.
    DefaultFetch,
}

impl RequestKind {
    /// The most bytes of a `2xx` answer's body the engine reads for a
    /// request of this kind under `limits`: [`Limits::package_bytes`] for a
    /// Package#2, [`Limits::mo_data_bytes`] for MO data, `None` when the
    /// body is not used (uploads and change reports: the status alone
    /// counts).
    ///
    /// ```
    /// use dm_codec::Limits;
    /// use dm_session::RequestKind;
    ///
    /// let limits = Limits::default();
    /// assert_eq!(RequestKind::Package.response_limit(&limits), Some(limits.package_bytes));
    /// assert_eq!(RequestKind::RepositoryRead.response_limit(&limits), Some(limits.mo_data_bytes));
    /// assert_eq!(RequestKind::ChangeReport.response_limit(&limits), None);
    /// ```
    pub fn response_limit(self, limits: &Limits) -> Option<usize> {
        match self {
            RequestKind::Package => Some(limits.package_bytes),
            RequestKind::RepositoryRead | RequestKind::DefaultFetch => Some(limits.mo_data_bytes),
            RequestKind::RepositoryWrite | RequestKind::ChangeReport => None,
        }
    }
}

/// An HTTP request for the caller to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Pass it back with the response (or the failure).
    pub id: RequestId,
    /// What the request is for.
    pub kind: RequestKind,
    /// The method.
    pub method: Method,
    /// The target.
    pub uri: ServerUri,
    /// `Content-Type` of the body, when there is one.
    pub content_type: Option<&'static str>,
    /// `Accept`.
    pub accept: &'static str,
    /// `OMADM-DevID`.
    pub dev_id: DevId,
    /// The body (empty for GET).
    pub body: Vec<u8>,
    /// The most bytes of a `2xx` answer's body to read
    /// ([`RequestKind::response_limit`]): a longer body is reported as
    /// [`Failure::BodyTooLarge`] instead of a response, so the caller
    /// never holds more than the limit and one byte. `None`: the body is
    /// not used and need not be read.
    pub response_limit: Option<usize>,
}

impl Request {
    /// The HTTP PUT that delivers `report` (docs/protocol.md section 4,
    /// SUB): the watched data as MO serialization to the subscription's
    /// ServerURI. Sessions emit these themselves; a client sends those of
    /// the device's own changes with this, outside any session (id 0).
    ///
    /// ```
    /// use dm_session::{Method, Request, RequestKind};
    /// use dm_tree::ChangeReport;
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// let report = ChangeReport {
    ///     server: ServerId::new("srv1")?,
    ///     report_to: ServerUri::new("https://dm.example/reports")?,
    ///     items: Vec::new(),
    /// };
    /// let request = Request::change_report(&DevId::new("IMEI:1")?, &report);
    /// assert_eq!((request.kind, request.method), (RequestKind::ChangeReport, Method::Put));
    /// assert_eq!(request.body, b"[]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn change_report(dev_id: &DevId, report: &ChangeReport) -> Request {
        Request::new(
            RequestId::new(0),
            RequestKind::ChangeReport,
            Method::Put,
            report.report_to.clone(),
            dev_id,
            dm_codec::encode_mo_serialization(&report.items),
            &Limits::default(),
        )
    }

    /// A request of `kind`: `Content-Type` and `Accept` follow from the
    /// kind (a package is a Package#3 here: Package#1 changes its
    /// `Content-Type`), as does the response limit under `limits`.
    pub(crate) fn new(
        id: RequestId,
        kind: RequestKind,
        method: Method,
        uri: ServerUri,
        dev_id: &DevId,
        body: Vec<u8>,
        limits: &Limits,
    ) -> Request {
        let (content_type, accept) = match kind {
            RequestKind::Package => (Some(mime::RESPONSE), mime::REQUEST),
            RequestKind::RepositoryRead | RequestKind::DefaultFetch => (None, mime::MO_DATA),
            RequestKind::RepositoryWrite | RequestKind::ChangeReport => {
                (Some(mime::MO_DATA), mime::MO_DATA)
            }
        };
        Request {
            id,
            kind,
            method,
            uri,
            content_type,
            accept,
            dev_id: dev_id.clone(),
            body,
            response_limit: kind.response_limit(limits),
        }
    }
}

/// The HTTP answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `OMADM-Accept`, if any: on a Package#2 answer, the media types the
    /// server accepts for uploaded MO data (docs/protocol.md section 2.2).
    pub omadm_accept: Option<String>,
    /// The body (of a `2xx` answer; at most the request's
    /// `response_limit` bytes).
    pub body: Vec<u8>,
}

/// Why a request got no usable answer: what the caller reports with
/// [`ClientSession::handle_failure`](crate::ClientSession::handle_failure)
/// instead of a [`Response`]. The engine decides what follows: a package
/// without answer aborts the session, a repository request without one
/// answers its command (`502`, or `413` for MO data over the limit).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// No HTTP answer came, after the retries the caller allows.
    NoAnswer {
        /// What kind of failure.
        kind: TransportFailure,
        /// The failure as the caller describes it (method, URI, causes).
        detail: String,
    },
    /// A `2xx` answer's body is longer than the request's
    /// `response_limit`; the caller stopped reading it.
    BodyTooLarge,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoAnswer { detail, .. } => write!(f, "no answer: {detail}"),
            Failure::BodyTooLarge => f.write_str("the body of the answer exceeds its limit"),
        }
    }
}

/// The kinds of network failure behind [`Failure::NoAnswer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportFailure {
    /// No connection (refused, unreachable, DNS, connect timeout): nothing
    /// was sent.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The answer did not come in time.
    Timeout,
    /// The connection broke after the request may have left, or while the
    /// answer was read.
    Interrupted,
}
