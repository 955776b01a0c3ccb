//! `GET|PUT|POST /repo/{path}`: the data repository devices HGET from and
//! HPUT/HPOST (and send SUB change reports) to.
//!
//! Objects the server stored (admin API) are readable by every device and
//! writable by none; objects a device stored are readable and replaceable
//! by that device only. Another device's object does not exist for a device
//! (404 on read, 403 on write).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use dm_codec::mime;

use super::refusal::{Refusal, refuse};
use super::request::{
    authenticate, check_accept, check_dev_id_header, check_length, declared_length, enter, header,
    read_device_body,
};
use crate::admin::{canonical_mo_data, check_repository_path};
use crate::budget::hold_until_sent;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{ObjectOwner, RepositoryObject, Store};
use crate::util::now_ms;

/// `GET /repo/{path}` (HGET, DEFAULT fetches).
pub(crate) async fn read<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    let (parts, _body) = request.into_parts();
    let result = async {
        check_accept(&parts.headers, mime::MO_DATA)?;
        let dev_id = authenticate(&shared, &parts).await?;
        let slot = enter(&shared, &dev_id)?;
        check_dev_id_header(&parts.headers, &dev_id)?;
        let path = check_repository_path(&path)?;
        let object = shared
            .store
            .object(path)
            .await?
            .filter(|o| match &o.owner {
                ObjectOwner::Server => true,
                ObjectOwner::Device(owner) => *owner == dev_id,
            })
            .ok_or_else(|| refuse(404, format!("no repository object at {path}")))?;
        tracing::info!(%dev_id, path, "repository read");
        let response = ([(CONTENT_TYPE, mime::MO_DATA)], object.body).into_response();
        Ok::<_, Refusal>(hold_until_sent(response, slot))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PUT|POST /repo/{path}` (HPUT, HPOST, SUB change reports): stores the
/// MO serialization at `path`, replacing the device's previous one.
pub(crate) async fn write<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let limits = &shared.options.limits;
        check_length(&parts.headers, limits.codec.mo_data_bytes)?;
        let dev_id = authenticate(&shared, &parts).await?;
        let slot = enter(&shared, &dev_id)?;
        check_dev_id_header(&parts.headers, &dev_id)?;
        let path = check_repository_path(&path)?;
        let content_type = header(&parts.headers, CONTENT_TYPE.as_str()).unwrap_or("");
        if !mime::content_type_matches(content_type, mime::MO_DATA) {
            return Err(refuse(
                415,
                format!("Content-Type {content_type:?} is not {}", mime::MO_DATA),
            )
            .with_header(
                HeaderName::from_static("omadm-accept"),
                HeaderValue::from_static(mime::MO_DATA),
            ));
        }
        // What the device may still store here, checked before a byte of
        // the body is read (the body as sent against the room its
        // canonical form would take; the store has the last word).
        let mut limit = limits.codec.mo_data_bytes;
        if let Some(room) = shared.store.repository_room(&dev_id, path).await? {
            if let Some(length) = declared_length(&parts.headers)
                && length > room
            {
                tracing::info!(%dev_id, path, length, room, "repository write over the device's room");
                return Err(refuse(
                    413,
                    format!(
                        "a body of {length} bytes does not fit in the {room} bytes of repository \
                         storage the device has left"
                    ),
                ));
            }
            limit = limit.min(room);
        }
        let body = read_device_body(&shared, &parts.headers, body, limit).await?;
        let canonical = canonical_mo_data(&body, &limits.codec)?;
        let object =
            RepositoryObject::new(canonical, ObjectOwner::Device(dev_id.clone()), now_ms());
        let created = shared.store.put_object(path, object).await?;
        tracing::info!(%dev_id, path, method = %parts.method, "repository write");
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        };
        Ok(hold_until_sent(status.into_response(), slot))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
