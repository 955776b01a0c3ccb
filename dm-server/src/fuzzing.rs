//! Entry points for the fuzz targets of `fuzz/`: the decoders of network
//! input that are private to this crate, reachable without copying them.
//! Not part of the supported API; it may change in any release.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, HeaderValue};

use dm_types::DevId;

use crate::auth::{self, AuthFailure, RequestAuth};
use crate::options::ServerOptions;
use crate::store::Store;

/// The auth-params of an `Authorization` value (the text after the scheme):
/// `(name, value)` pairs with lower-cased names, `None` when malformed.
pub fn parse_auth_params(text: &str) -> Option<Vec<(String, String)>> {
    auth::parse_params(text)
}

/// Authenticates a device request that carries `authorization` as its
/// `Authorization` header (raw bytes, as received), the way the session and
/// repository endpoints do: `Ok(Some(dev_id))` when the credentials are
/// right, `Ok(None)` when the header is absent (`authorization` is `None`),
/// `Err(reason)` otherwise. `target` is the request target Digest signs.
pub async fn authenticate_device<S: Store>(
    options: &ServerOptions,
    store: &S,
    method: &str,
    target: &str,
    authorization: Option<&[u8]>,
    now_ms: u64,
) -> Result<Option<DevId>, String> {
    let mut headers = HeaderMap::new();
    if let Some(bytes) = authorization {
        let value = HeaderValue::from_bytes(bytes)
            .map_err(|_| "not a valid header value (refused by the HTTP layer)".to_owned())?;
        headers.insert(AUTHORIZATION, value);
    }
    let request = RequestAuth {
        method,
        target,
        headers: &headers,
        certificate: None,
    };
    auth::authenticate_device(options, store, &request, now_ms)
        .await
        .map_err(|failure| match failure {
            AuthFailure::Unauthorized { reason, .. } => reason,
            AuthFailure::Store(e) => format!("store: {e}"),
        })
}

/// The `WWW-Authenticate` values a `401` carries at `now_ms` (with a
/// nonce under the store's key).
pub async fn challenges<S: Store>(
    options: &ServerOptions,
    store: &S,
    now_ms: u64,
) -> Result<Vec<String>, crate::Error> {
    let key = store.server_key().await?;
    Ok(auth::challenges(options, &key, now_ms, false)?
        .into_iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect())
}
