//! The HTTP face of the server: routes, request admission (size, media
//! type, authentication, [`request`]), refusals ([`refusal`]) and body
//! reading.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::Store;

mod access;
mod admin;
pub(crate) mod admin_routes;
pub(crate) mod admin_updates;
mod artifacts;
mod bootstrap;
mod bootstrap_admin;
mod campaigns;
mod console;
mod events;
mod keys;
mod metrics;
pub(crate) mod openapi;
mod refusal;
mod repository;
mod request;
mod schemas;
mod session;

/// The routes of a server.
pub(crate) fn router<S: Store, C: NotificationChannel>(shared: Arc<Shared<S, C>>) -> Router {
    let observed = if shared.options.metrics {
        Router::new().route("/metrics", get(metrics::scrape::<S, C>))
    } else {
        Router::new()
    };
    let console = if shared.options.console {
        console::routes::<S, C>()
    } else {
        Router::new()
    };
    if shared.options.bootstrap.is_some() {
        return Router::new()
            .merge(observed)
            .route("/dm", post(bootstrap::initial::<S, C>))
            .route("/dm/s/{token}", post(bootstrap::continued::<S, C>))
            .route(
                "/bootstrap/accounts/{token}",
                get(bootstrap::account_data::<S, C>),
            )
            .merge(openapi::router(
                shared.clone(),
                admin_routes::ServerRole::Bootstrap,
            ))
            .merge(console)
            .with_state(shared);
    }
    Router::new()
        .merge(observed)
        .route("/dm", post(session::initial::<S, C>))
        .route("/dm/s/{token}", post(session::continued::<S, C>))
        .route(
            "/repo/{*path}",
            get(repository::read::<S, C>)
                .put(repository::write::<S, C>)
                .post(repository::write::<S, C>),
        )
        .route("/artifacts/{id}", get(artifacts::download::<S, C>))
        .merge(openapi::router(
            shared.clone(),
            admin_routes::ServerRole::Management,
        ))
        .merge(console)
        .with_state(shared)
}
