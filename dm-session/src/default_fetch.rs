//! The HGET a client performs on its own for a DEFAULT ([`DefaultFetch`]).

use dm_codec::{Limits, mime};
use dm_types::{DevId, Moid, ServerId, ServerUri, StatusCode};

use crate::ManagementTree;
use crate::request::{Failure, Method, Request, RequestId, RequestKind, Response};

/// The HGET a client performs on its own (docs/protocol.md section 4, DEFAULT):
/// when a local application needs configuration for `moid` and the tree has
/// none, fetch it from the `source` a server named with DEFAULT and write
/// it on that server's behalf, reporting no status to anyone.
///
/// ```
/// use dm_session::{DefaultFetch, Response};
/// use dm_tree::MoTree;
/// use dm_types::{DevId, Moid, ServerId, ServerUri, StatusCode};
///
/// let fetch = DefaultFetch {
///     server_id: ServerId::new("srv1")?,
///     moid: Moid::new("urn:x:wlan")?,
///     source: ServerUri::new("https://repo.example/wlan")?,
/// };
/// let request = fetch.request(&DevId::new("IMEI:1")?);
/// assert_eq!(request.kind, dm_session::RequestKind::DefaultFetch);
/// assert_eq!(request.uri.as_str(), "https://repo.example/wlan");
/// let answer = Response {
///     status: 200,
///     content_type: Some("application/dmmo+json".into()),
///     omadm_accept: None,
///     body: br#"[{"ClientURI":"urn:x:wlan//","MOData":{"W":{"SSID":"home"}}}]"#.to_vec(),
/// };
/// // On an empty device srv1 has no account, so it may not create the instance.
/// let mut tree = MoTree::new();
/// assert_eq!(fetch.apply(&answer, &mut tree), Err(StatusCode::FORBIDDEN));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultFetch {
    /// The server that sent DEFAULT (whose rights apply to the write).
    pub server_id: ServerId,
    /// The MO type the configuration is for.
    pub moid: Moid,
    /// Where to fetch it.
    pub source: ServerUri,
}

impl DefaultFetch {
    /// The HTTP GET to perform.
    pub fn request(&self, dev_id: &DevId) -> Request {
        self.request_with_limits(dev_id, &Limits::default())
    }

    /// [`DefaultFetch::request`] with the response limit of `limits` (the
    /// one [`DefaultFetch::apply_with_limits`] decodes with).
    pub fn request_with_limits(&self, dev_id: &DevId, limits: &Limits) -> Request {
        Request::new(
            RequestId::new(0),
            RequestKind::DefaultFetch,
            Method::Get,
            self.source.clone(),
            dev_id,
            Vec::new(),
            limits,
        )
    }

    /// The status of a fetch that got no usable answer (HGET semantics):
    /// `413` for MO data over the limit, `502` when no answer came.
    ///
    /// ```
    /// use dm_session::{DefaultFetch, Failure};
    /// use dm_types::StatusCode;
    ///
    /// assert_eq!(DefaultFetch::failed(&Failure::BodyTooLarge), StatusCode::PAYLOAD_TOO_LARGE);
    /// ```
    pub fn failed(failure: &Failure) -> StatusCode {
        match failure {
            Failure::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::NoAnswer { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// Writes the fetched data (HGET semantics): `502` for a failed fetch,
    /// `415`/`400` for a body that is not MO serialization, `400` for data of
    /// another MOID, or the tree's own refusal. Decodes with the default
    /// [`Limits`]; a client with limits of its own uses
    /// [`DefaultFetch::apply_with_limits`].
    pub fn apply(
        &self,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) -> Result<Vec<dm_types::ClientUri>, StatusCode> {
        self.apply_with_limits(response, &Limits::default(), tree)
    }

    /// [`DefaultFetch::apply`] decoding the body with `limits`, so that a
    /// body over the client's `mo_data_bytes` (or nesting depth, string
    /// length) is `413` like any HGET of the session.
    pub fn apply_with_limits(
        &self,
        response: &Response,
        limits: &Limits,
        tree: &mut impl ManagementTree,
    ) -> Result<Vec<dm_types::ClientUri>, StatusCode> {
        if !(200..300).contains(&response.status) {
            return Err(StatusCode::BAD_GATEWAY);
        }
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| mime::content_type_matches(t, mime::MO_DATA))
        {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let items =
            dm_codec::decode_mo_serialization(&response.body, limits).map_err(|e| e.status())?;
        if items
            .iter()
            .any(|item| item.client_uri.moid() != self.moid.as_str())
        {
            return Err(StatusCode::BAD_REQUEST);
        }
        tree.write(
            &dm_tree::Principal::Server(self.server_id.clone()),
            None,
            &items,
        )
    }
}
