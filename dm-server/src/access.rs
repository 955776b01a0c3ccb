//! Who may do what on the admin API: the three [`Scope`]s of API keys and
//! [`required_scope`], the one table of the scope each route needs
//! (docs/admin-api.md, "Authentication"). The configured admin token has
//! the [`Scope::Admin`] scope.

use axum::http::Method;

use crate::Error;
use crate::admin::Admin;
use crate::notify::NotificationChannel;
pub use crate::store::Scope;
use crate::store::{ApiKey, ApiKeyId, ApiKeyRecord, Store, check_api_key_name};
use crate::util::now_ms;

/// The routes an operator key may write to, besides what a read key may do.
const OPERATOR_WRITES: &[(Method, &str)] = &[
    (Method::POST, "/admin/devices/{dev_id}/commands"),
    (Method::POST, "/admin/devices/{dev_id}/notify"),
    (Method::POST, "/admin/bootstrap/devices/{dev_id}/notify"),
    (Method::PUT, "/admin/devices/{dev_id}/tags"),
    (Method::POST, "/admin/campaigns"),
    (Method::POST, "/admin/campaigns/{id}/{action}"),
];

/// The scope a request needs, by its method and the template of the route
/// it matched (`/admin/devices/{dev_id}/commands`, not the path sent):
///
/// - `read`: `GET` and `HEAD` of anything, except the API keys and the
///   webhooks (`/admin/keys...`, `/admin/webhooks...`: admin); and any
///   method on the admin API's "no such resource" fallbacks (`/admin`,
///   `/admin/`, `/admin/{*rest}`), which only answer 404;
/// - `operator`: queueing commands, notifying devices (of the management
///   and the bootstrap role), setting a device's tags, creating a campaign
///   and its actions (pause, resume, approve, cancel);
/// - `admin`: every other write (device registration and removal,
///   credentials, repository, artifacts, groups, bootstrap profiles and
///   devices, API keys, webhooks), and any route this table does not know.
///
/// ```
/// use axum::http::Method;
/// use dm_server::{Scope, required_scope};
///
/// assert_eq!(required_scope(&Method::GET, "/admin/devices/{dev_id}"), Scope::Read);
/// assert_eq!(required_scope(&Method::POST, "/admin/devices/{dev_id}/commands"), Scope::Operator);
/// assert_eq!(required_scope(&Method::POST, "/admin/devices"), Scope::Admin);
/// assert_eq!(required_scope(&Method::GET, "/admin/keys"), Scope::Admin);
/// assert_eq!(required_scope(&Method::GET, "/metrics"), Scope::Read);
/// ```
pub fn required_scope(method: &Method, route_template: &str) -> Scope {
    // The keys, and the webhooks (whose URLs may carry credentials of the
    // receiver), are read with the admin scope only.
    let keys = ["/admin/keys", "/admin/webhooks"].iter().any(|prefix| {
        route_template
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    let fallback = ["/admin", "/admin/", "/admin/{*rest}"].contains(&route_template);
    let reads = (method == Method::GET || method == Method::HEAD) && !keys;
    if fallback || reads {
        Scope::Read
    } else if OPERATOR_WRITES
        .iter()
        .any(|(m, template)| m == method && *template == route_template)
    {
        Scope::Operator
    } else {
        Scope::Admin
    }
}

/// The body of `POST /admin/keys`: `{"name": ..., "scope": ...}`, strict
/// JSON (a duplicate or unknown member is refused), the name checked by
/// [`check_api_key_name`]. Errors are 400.
///
/// ```
/// use dm_server::{Scope, access::parse_api_key_request};
///
/// let (name, scope) = parse_api_key_request(br#"{"name":"ci","scope":"read"}"#)?;
/// assert_eq!((name.as_str(), scope), ("ci", Scope::Read));
/// assert!(parse_api_key_request(br#"{"name":"ci","scope":"root"}"#).is_err());
/// assert!(parse_api_key_request(br#"{"name":"ci"}"#).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_api_key_request(body: &[u8]) -> Result<(String, Scope), Error> {
    let value = crate::admin::decode_admin_json(body)?;
    let serde_json::Value::Object(mut members) = value else {
        return Err(Error::InvalidMember {
            member: "body",
            expected: r#"an object {"name": ..., "scope": ...}"#,
        });
    };
    if let Some(unknown) = members.keys().find(|k| *k != "name" && *k != "scope") {
        return Err(Error::InvalidCommand {
            problem: format!(
                "unknown member {:?} (expected name and scope)",
                unknown
                    .chars()
                    .take(crate::MAX_NAME_LEN)
                    .collect::<String>()
            ),
        });
    }
    let Some(serde_json::Value::String(name)) = members.remove("name") else {
        return Err(Error::InvalidMember {
            member: "name",
            expected: "a string",
        });
    };
    check_api_key_name(&name)?;
    let Some(serde_json::Value::String(scope)) = members.remove("scope") else {
        return Err(Error::InvalidMember {
            member: "scope",
            expected: "one of \"read\", \"operator\", \"admin\"",
        });
    };
    Ok((name, scope.parse()?))
}

/// API keys through the library's admin interface, as the admin API's
/// `/admin/keys` routes manage them.
impl<S: Store, C: NotificationChannel> Admin<S, C> {
    /// Adds an API key named `name` with `scope`: its record and the key,
    /// whose text ([`ApiKey::text`]) is shown to nobody else, ever.
    ///
    /// ```
    /// # async fn example() -> Result<(), dm_server::Error> {
    /// use dm_server::{DmServer, MemoryStore, Scope, ServerOptions, UdpChannel};
    ///
    /// let options = ServerOptions::builder().build()?;
    /// let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
    /// let admin = server.admin();
    /// let (record, key) = admin.add_api_key("ci", Scope::Read).await?;
    /// assert_eq!(&record.id, key.id());
    /// assert!(admin.revoke_api_key(&record.id).await?);
    /// assert!(admin.api_key(&record.id).await?.unwrap().revoked_ms.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add_api_key(
        &self,
        name: &str,
        scope: Scope,
    ) -> Result<(ApiKeyRecord, ApiKey), Error> {
        check_api_key_name(name)?;
        // 80 random bits of id: a second draw when one is taken.
        for _ in 0..3 {
            let key = ApiKey::generate()?;
            let record = ApiKeyRecord::new(&key, name, scope, now_ms());
            if self.shared.store.put_api_key(record.clone()).await? {
                return Ok((record, key));
            }
        }
        Err(Error::store("add an API key", "every id drawn was taken"))
    }

    /// An API key, revoked or not.
    pub async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, Error> {
        self.shared.store.api_key(id).await
    }

    /// Every API key, in id order.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, Error> {
        self.shared.store.api_keys().await
    }

    /// Revokes an API key now, on every node sharing the store; `false`
    /// when there is none.
    pub async fn revoke_api_key(&self, id: &ApiKeyId) -> Result<bool, Error> {
        self.shared.store.revoke_api_key(id, now_ms()).await
    }
}

#[cfg(test)]
/// Every route of the server (both roles) with the scope each method
/// needs: the deliberate table [`required_scope`] must agree with, and
/// every route of the registry must be in (`http::access` tests).
pub(crate) const ROUTES: &[(&str, &str, Scope)] = &[
    ("GET", "/admin/devices", Scope::Read),
    ("POST", "/admin/devices", Scope::Admin),
    ("POST", "/admin/devices/bulk", Scope::Admin),
    ("GET", "/admin/devices/{dev_id}", Scope::Read),
    ("DELETE", "/admin/devices/{dev_id}", Scope::Admin),
    ("GET", "/admin/devices/{dev_id}/commands", Scope::Read),
    ("POST", "/admin/devices/{dev_id}/commands", Scope::Operator),
    ("GET", "/admin/devices/{dev_id}/commands/{id}", Scope::Read),
    ("GET", "/admin/devices/{dev_id}/alerts", Scope::Read),
    ("POST", "/admin/devices/{dev_id}/notify", Scope::Operator),
    ("GET", "/admin/repository/{*path}", Scope::Read),
    ("PUT", "/admin/repository/{*path}", Scope::Admin),
    ("DELETE", "/admin/repository/{*path}", Scope::Admin),
    ("PUT", "/admin/devices/{dev_id}/credentials", Scope::Admin),
    ("PUT", "/admin/devices/{dev_id}/tags", Scope::Operator),
    ("GET", "/admin/artifacts", Scope::Read),
    ("GET", "/admin/artifacts/{id}", Scope::Read),
    ("PUT", "/admin/artifacts/{id}", Scope::Admin),
    ("DELETE", "/admin/artifacts/{id}", Scope::Admin),
    ("GET", "/admin/artifacts/{id}/url", Scope::Read),
    ("GET", "/admin/groups", Scope::Read),
    ("GET", "/admin/groups/{id}", Scope::Read),
    ("PUT", "/admin/groups/{id}", Scope::Admin),
    ("DELETE", "/admin/groups/{id}", Scope::Admin),
    ("GET", "/admin/groups/{id}/devices", Scope::Read),
    ("GET", "/admin/campaigns", Scope::Read),
    ("POST", "/admin/campaigns", Scope::Operator),
    ("GET", "/admin/campaigns/{id}", Scope::Read),
    ("GET", "/admin/campaigns/{id}/devices", Scope::Read),
    ("POST", "/admin/campaigns/{id}/{action}", Scope::Operator),
    ("GET", "/admin/bootstrap/profiles", Scope::Read),
    ("POST", "/admin/bootstrap/profiles", Scope::Admin),
    ("GET", "/admin/bootstrap/profiles/{name}", Scope::Read),
    ("PUT", "/admin/bootstrap/profiles/{name}", Scope::Admin),
    ("DELETE", "/admin/bootstrap/profiles/{name}", Scope::Admin),
    ("POST", "/admin/bootstrap/devices", Scope::Admin),
    ("GET", "/admin/bootstrap/devices/{dev_id}", Scope::Read),
    ("DELETE", "/admin/bootstrap/devices/{dev_id}", Scope::Admin),
    (
        "GET",
        "/admin/bootstrap/devices/{dev_id}/outcomes",
        Scope::Read,
    ),
    (
        "POST",
        "/admin/bootstrap/devices/{dev_id}/notify",
        Scope::Operator,
    ),
    ("GET", "/admin/keys", Scope::Admin),
    ("POST", "/admin/keys", Scope::Admin),
    ("GET", "/admin/keys/{id}", Scope::Admin),
    ("DELETE", "/admin/keys/{id}", Scope::Admin),
    ("GET", "/admin/whoami", Scope::Read),
    ("GET", "/admin", Scope::Read),
    ("POST", "/admin/{*rest}", Scope::Read),
    ("GET", "/metrics", Scope::Read),
    // Routes of the operator's surface not (yet) in this tree.
    ("GET", "/admin/devices/{dev_id}/sessions", Scope::Read),
    ("GET", "/admin/events", Scope::Read),
    ("GET", "/admin/webhooks", Scope::Admin),
    ("POST", "/admin/webhooks", Scope::Admin),
    ("GET", "/admin/webhooks/{id}", Scope::Admin),
    ("DELETE", "/admin/webhooks/{id}", Scope::Admin),
    ("GET", "/admin/openapi.json", Scope::Read),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_needs_its_deliberate_scope() {
        for (method, template, scope) in ROUTES {
            let method: Method = method.parse().expect("method");
            assert_eq!(
                required_scope(&method, template),
                *scope,
                "{method} {template}"
            );
        }
        // HEAD reads like GET; unknown writes need admin.
        assert_eq!(required_scope(&Method::HEAD, "/admin/devices"), Scope::Read);
        assert_eq!(
            required_scope(&Method::HEAD, "/admin/keys/{id}"),
            Scope::Admin
        );
        assert_eq!(
            required_scope(&Method::PATCH, "/admin/devices/{dev_id}/commands"),
            Scope::Admin
        );
        assert_eq!(
            required_scope(&Method::POST, "/admin/webhooks"),
            Scope::Admin
        );
        assert_eq!(
            required_scope(&Method::POST, "/admin/keysmith"),
            Scope::Admin
        );
    }
}
