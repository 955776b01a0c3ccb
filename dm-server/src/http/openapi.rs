//! The admin API as served: every route of the registry
//! ([`admin_routes`](super::admin_routes)) of a server's role, the router
//! built from them behind the admin checks, and the OpenAPI document
//! generated from the same list (`GET /admin/openapi.json`).

use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::admin;
use super::admin_routes::{AdminRoute, Doc, ServerRole, build, document};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::Store;

/// The admin router of a server in `role`: the routes of the registry
/// ([`admin_routes`](super::admin_routes)) behind the admin checks, the
/// public document beside them.
pub(crate) fn router<S: Store, C: NotificationChannel>(
    shared: Arc<Shared<S, C>>,
    role: ServerRole,
) -> Router<Arc<Shared<S, C>>> {
    let (guarded, public) = build(routes::<S, C>(role));
    guarded
        .route("/admin", any(admin::no_such_resource))
        // `/admin/{*rest}` takes no empty rest: `/admin/` on its own.
        .route("/admin/", any(admin::no_such_resource))
        .route("/admin/{*rest}", any(admin::no_such_resource))
        .route_layer(middleware::from_fn_with_state(shared, admin::admit::<S, C>))
        .merge(public)
        .layer(middleware::map_response(admin::json_errors))
}

/// The admin routes of a server in `role`, the document's own included.
pub(crate) fn routes<S: Store, C: NotificationChannel>(role: ServerRole) -> Vec<AdminRoute<S, C>> {
    let mut routes = match role {
        ServerRole::Management => {
            let mut routes = admin::routes::<S, C>();
            routes.extend(super::admin_updates::routes::<S, C>());
            routes.extend(super::campaigns::routes::<S, C>());
            routes.extend(super::events::routes::<S, C>());
            routes
        }
        ServerRole::Bootstrap => super::bootstrap_admin::routes::<S, C>(),
    };
    routes.extend(super::keys::routes::<S, C>());
    routes.push(AdminRoute::new(
        Doc::new(Method::GET, OPENAPI_ROUTE, "This document")
            .describe(
                "The OpenAPI 3.1 document of this server's admin API. Served without \
                 authentication: it describes the API and holds nothing secret.",
            )
            .public()
            .response(
                200,
                "the document",
                json!({"type": "object", "required": ["openapi", "paths"]}),
                json!({"openapi": "3.1.0", "info": {"title": "dm-server admin API"}, "paths": {}}),
            ),
        openapi_json,
    ));
    routes
}

/// The route of the document.
pub(crate) const OPENAPI_ROUTE: &str = "/admin/openapi.json";

async fn openapi_json(
    axum::extract::State(shared): axum::extract::State<
        Arc<Shared<impl Store, impl NotificationChannel>>,
    >,
) -> Response {
    let role = if shared.options.bootstrap.is_some() {
        ServerRole::Bootstrap
    } else {
        ServerRole::Management
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        openapi_text(role),
    )
        .into_response()
}

/// The document of `role` as served (built once).
fn openapi_text(role: ServerRole) -> &'static str {
    static MANAGEMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static BOOTSTRAP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cell = match role {
        ServerRole::Management => &MANAGEMENT,
        ServerRole::Bootstrap => &BOOTSTRAP,
    };
    cell.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&openapi_document(role)).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// The OpenAPI 3.1 document of the admin API of a server in `role`, as
/// `GET /admin/openapi.json` serves it and `docs/openapi.json` keeps it.
///
/// ```
/// use dm_server::{ServerRole, openapi_document};
///
/// let document = openapi_document(ServerRole::Management);
/// assert_eq!(document["openapi"], "3.1.0");
/// assert!(document["paths"]["/admin/devices/{dev_id}"]["get"].is_object());
/// let bootstrap = openapi_document(ServerRole::Bootstrap);
/// assert!(bootstrap["paths"]["/admin/devices/{dev_id}"].is_null());
/// ```
pub fn openapi_document(role: ServerRole) -> Value {
    let routes = routes::<crate::store::MemoryStore, crate::notify::UdpChannel>(role);
    let docs: Vec<&Doc> = routes.iter().map(|r| &r.doc).collect();
    document(role, &docs)
}

#[cfg(test)]
mod tests {
    use super::{OPENAPI_ROUTE, ServerRole, routes};
    use crate::access::{ROUTES, required_scope};
    use crate::notify::UdpChannel;
    use crate::store::MemoryStore;

    /// Every route of the registry, of both roles, has a deliberate entry
    /// in the scope table: a new route fails here until its scope is
    /// decided.
    #[test]
    fn every_registered_route_has_a_deliberate_scope() {
        let mut checked = 0;
        for role in [ServerRole::Management, ServerRole::Bootstrap] {
            for route in routes::<MemoryStore, UdpChannel>(role) {
                let doc = &route.doc;
                if doc.route == OPENAPI_ROUTE {
                    continue; // public
                }
                let (_, _, scope) = ROUTES
                    .iter()
                    .find(|(method, template, _)| {
                        *method == doc.method.as_str() && *template == doc.route
                    })
                    .unwrap_or_else(|| {
                        panic!("{} {} has no deliberate scope", doc.method, doc.route)
                    });
                assert_eq!(
                    required_scope(&doc.method, doc.route),
                    *scope,
                    "{} {}",
                    doc.method,
                    doc.route
                );
                checked += 1;
            }
        }
        assert!(checked >= 50, "only {checked} routes registered");
    }
}
