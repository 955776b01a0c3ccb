//! Who sent a request and whether their scope allows it: the admin token
//! (the [`Scope::Admin`] scope) or an API key, checked by [`authorize`]
//! against [`required_scope`] of the route's template. The admin API's
//! admission calls it for every route under `/admin`; other routes that
//! need a scope (`/metrics`) call it too.

use axum::http::header::{HeaderValue, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method};

use super::refusal::{Refusal, refuse};
use crate::access::{Scope, required_scope};
use crate::auth::{bearer_token, check_api_key, is_admin_token};
use crate::metrics::AuthMethod;
use crate::shared::Shared;
use crate::store::{ApiKeyId, ApiKeyRecord, Store};
use crate::util::now_ms;

/// The refusal of a credential that is not the admin token nor a valid API
/// key: the same whether the key is unknown, revoked or has a wrong secret.
pub(crate) const WRONG_CREDENTIAL: &str = "wrong admin token or API key";

/// How often, at most, one node records that a key was used.
const USE_GRANULARITY_MS: u64 = 60_000;

/// Who sent a request, as [`authorize`] found: a request extension of
/// every admitted admin request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// What the caller may do.
    pub(crate) scope: Scope,
    /// The API key that authenticated the request (id and name); `None`
    /// for the admin token and for dev mode without a credential.
    pub(crate) key: Option<(ApiKeyId, String)>,
    /// Whether a credential was presented and checked; `false` only in
    /// dev mode, which admits requests without one.
    pub(crate) presented: bool,
}

/// A 401 with the admin API's challenge, counted among the authentication
/// failures.
fn unauthorized<S, C>(shared: &Shared<S, C>, message: &str) -> Refusal {
    shared.metrics.auth_failure(AuthMethod::Admin);
    refuse(401, message).json().with_header(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="dm-admin""#),
    )
}

/// Who sent the request: the admin token (admin scope), an API key (its
/// scope), or in dev mode nobody (admin scope, as dev mode needs no
/// token). Refused with 401 for a missing or wrong credential, 403 when
/// the admin API is disabled (no admin token outside dev mode).
pub(crate) async fn identify<S: Store, C>(
    shared: &Shared<S, C>,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let options = &shared.options;
    let unchecked = Caller {
        scope: Scope::Admin,
        key: None,
        presented: false,
    };
    if options.admin_token.is_none() && !options.dev_mode {
        return Err(refuse(
            403,
            "the admin API is disabled: no admin token is configured",
        )
        .json());
    }
    let Some(given) = bearer_token(headers) else {
        // Dev mode needs no token; one that is given must still be right.
        return if options.dev_mode {
            Ok(unchecked)
        } else {
            Err(unauthorized(
                shared,
                "the admin API needs a bearer token (the admin token or an API key)",
            ))
        };
    };
    if is_admin_token(options, given) {
        return Ok(Caller {
            scope: Scope::Admin,
            key: None,
            presented: true,
        });
    }
    match check_api_key(&shared.store, given)
        .await
        .map_err(|e| Refusal::from(e).json())?
    {
        Some(record) => {
            note_use(shared, &record).await;
            Ok(Caller {
                scope: record.scope,
                key: Some((record.id, record.name)),
                presented: true,
            })
        }
        // As before keys: dev mode without a configured token takes any.
        None if options.dev_mode && options.admin_token.is_none() => Ok(unchecked),
        None => Err(unauthorized(shared, WRONG_CREDENTIAL)),
    }
}

/// Records the use of a key when the time recorded is a minute old or
/// more: at most one write per key and node a minute, none per request.
async fn note_use<S: Store, C>(shared: &Shared<S, C>, record: &ApiKeyRecord) {
    let now = now_ms();
    if record
        .last_used_ms
        .is_some_and(|used| now.saturating_sub(used) < USE_GRANULARITY_MS)
    {
        return;
    }
    if let Err(error) = shared.store.record_api_key_use(&record.id, now).await {
        tracing::warn!(%error, id = %record.id, "the use of an API key was not recorded");
    }
}

/// 403 unless the caller's scope covers what `method` on the route
/// `template` needs.
pub(crate) fn permit(caller: &Caller, method: &Method, template: &str) -> Result<(), Refusal> {
    let needed = required_scope(method, template);
    if caller.scope >= needed {
        Ok(())
    } else {
        Err(refuse(
            403,
            format!(
                "this API key has scope {}; {method} {template} needs {needed}",
                caller.scope
            ),
        )
        .json())
    }
}

/// [`identify`], then [`permit`]: the caller, when the request may do what
/// it asks.
pub(crate) async fn authorize<S: Store, C>(
    shared: &Shared<S, C>,
    method: &Method,
    template: &str,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let caller = identify(shared, headers).await?;
    permit(&caller, method, template)?;
    Ok(caller)
}
