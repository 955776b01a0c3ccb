//! The registry of the admin API: every admin route is registered once,
//! as an [`AdminRoute`] pairing its documentation ([`Doc`]) with its
//! handler, in the file that owns the handler. The axum router of the
//! admin API is built from the registry ([`router`]) and so is its OpenAPI
//! 3.1 document ([`document`], served at `GET /admin/openapi.json`): a
//! route cannot exist undocumented, nor a documented route be missing.
//!
//! To add a route, add to the `routes()` of the file that owns it:
//!
//! ```text
//! AdminRoute::new(
//!     Doc::new(Method::GET, "/admin/things/{id}", "One thing")
//!         .path_param("id", schemas::name(), "the thing's id")
//!         .response(200, "the thing", schemas::reference("Thing"), json!({...}))
//!         .errors(&[400, 404]),
//!     thing::<S, C>,
//! )
//! ```
//!
//! with its schema in `http/schemas.rs`; `cargo test -p dm-server --test
//! openapi` then checks the document against the server, and
//! `DM_UPDATE_OPENAPI=1` rewrites `docs/openapi.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde_json::{Map, Value, json};

use super::schemas;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::Store;

/// Which server an admin API belongs to: the management server's or the
/// bootstrap server's (docs/bootstrap.md); each has its own document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    /// A DM server managing devices (`dm serve`).
    Management,
    /// A bootstrap server (`dm serve` with `bootstrap` settings).
    Bootstrap,
}

/// One parameter of an operation (path or query).
#[derive(Debug, Clone)]
struct Param {
    name: &'static str,
    description: &'static str,
    schema: Value,
    example: Option<Value>,
    required: bool,
}

/// A body of a request or a response: media type, schema, example.
#[derive(Debug, Clone)]
struct Content {
    media_type: &'static str,
    schema: Value,
    example: Option<Value>,
}

/// One documented answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    description: &'static str,
    content: Option<Content>,
}

/// The documentation of one operation (method and route) of the admin
/// API, built with chained calls and turned into an OpenAPI operation.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) method: Method,
    /// The axum route template (`{*path}` for a rest of path).
    pub(crate) route: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    path_params: Vec<Param>,
    query: Vec<Param>,
    bodies: Vec<Content>,
    answers: Vec<Answer>,
    public: bool,
}

impl Doc {
    /// An operation: `method` on `route` (an axum template such as
    /// `/admin/devices/{dev_id}`), with a one-line summary.
    pub(crate) fn new(method: Method, route: &'static str, summary: &'static str) -> Doc {
        Doc {
            method,
            route,
            summary,
            description: None,
            path_params: Vec::new(),
            query: Vec::new(),
            bodies: Vec::new(),
            answers: Vec::new(),
            public: false,
        }
    }

    /// A longer description (Markdown).
    pub(crate) fn describe(mut self, text: &'static str) -> Doc {
        self.description = Some(text);
        self
    }

    /// Documents the path parameter `name` of the template, with an
    /// example value (what the walk and the fuzzer of the tests use).
    pub(crate) fn path_param(
        mut self,
        name: &'static str,
        schema: Value,
        example: Value,
        description: &'static str,
    ) -> Doc {
        self.path_params.push(Param {
            name,
            description,
            schema,
            example: Some(example),
            required: true,
        });
        self
    }

    /// Documents an optional query parameter.
    pub(crate) fn query(
        mut self,
        name: &'static str,
        schema: Value,
        description: &'static str,
    ) -> Doc {
        self.query.push(Param {
            name,
            description,
            schema,
            example: None,
            required: false,
        });
        self
    }

    /// Documents a required query parameter with an example.
    pub(crate) fn required_query(
        mut self,
        name: &'static str,
        schema: Value,
        example: Value,
        description: &'static str,
    ) -> Doc {
        self.query.push(Param {
            name,
            description,
            schema,
            example: Some(example),
            required: true,
        });
        self
    }

    /// A JSON request body.
    pub(crate) fn body(self, schema: Value, example: Value) -> Doc {
        self.body_in("application/json", schema, example)
    }

    /// A request body of another media type (one per call; an operation
    /// may take several: the first given is the one the tests' walk sends).
    pub(crate) fn body_in(
        mut self,
        media_type: &'static str,
        schema: Value,
        example: Value,
    ) -> Doc {
        self.bodies.push(Content {
            media_type,
            schema,
            example: Some(example),
        });
        self
    }

    /// A JSON answer.
    pub(crate) fn response(
        self,
        status: u16,
        description: &'static str,
        schema: Value,
        example: Value,
    ) -> Doc {
        self.response_in(status, description, "application/json", schema, example)
    }

    /// An answer of another media type.
    pub(crate) fn response_in(
        mut self,
        status: u16,
        description: &'static str,
        media_type: &'static str,
        schema: Value,
        example: Value,
    ) -> Doc {
        self.answers.push(Answer {
            status,
            description,
            content: Some(Content {
                media_type,
                schema,
                example: Some(example),
            }),
        });
        self
    }

    /// An answer without a body (`204`).
    pub(crate) fn empty(mut self, status: u16, description: &'static str) -> Doc {
        self.answers.push(Answer {
            status,
            description,
            content: None,
        });
        self
    }

    /// Refusals particular to the operation (each `{"error": ...}`); those
    /// of every admin request (401, 403, and for writes 408, 413, 415)
    /// are added by the document.
    pub(crate) fn errors(mut self, statuses: &[u16]) -> Doc {
        for status in statuses {
            self.answers.push(Answer {
                status: *status,
                description: error_description(*status),
                content: None,
            });
        }
        self
    }

    /// Served without authentication (it reveals nothing secret).
    pub(crate) fn public(mut self) -> Doc {
        self.public = true;
        self
    }

    /// The OpenAPI path of the route (`{*path}` becomes `{path}`).
    fn openapi_path(&self) -> String {
        self.route.replace("{*", "{")
    }

    /// The OpenAPI operation object.
    fn operation(&self) -> Value {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(operation_id(self)));
        operation.insert("summary".into(), json!(self.summary));
        if let Some(description) = self.description {
            operation.insert("description".into(), json!(description));
        }
        operation.insert("tags".into(), json!([tag(self.route)]));
        let mut parameters = Vec::new();
        for (place, params) in [("path", &self.path_params), ("query", &self.query)] {
            for param in params {
                let mut value = json!({
                    "name": param.name,
                    "in": place,
                    "required": param.required,
                    "description": param.description,
                    "schema": param.schema,
                });
                if let Some(example) = &param.example {
                    value["example"] = example.clone();
                }
                parameters.push(value);
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if !self.bodies.is_empty() {
            let mut content = Map::new();
            for body in &self.bodies {
                content.insert(body.media_type.into(), content_json(body));
            }
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": content }),
            );
        }
        let mut answers = BTreeMap::new();
        for answer in &self.answers {
            answers.insert(answer.status, answer.clone());
        }
        let mut common = vec![400, 401, 403, 431];
        if self.public {
            common = vec![431];
        } else if self.method != Method::GET {
            common.extend([408, 413, 415]);
        }
        if !self.public {
            common.push(503);
        }
        for status in common {
            answers.entry(status).or_insert(Answer {
                status,
                description: error_description(status),
                content: None,
            });
        }
        let mut responses = Map::new();
        for (status, answer) in answers {
            let content = match &answer.content {
                Some(content) => json!({ content.media_type: content_json(content) }),
                // The HTTP layer refuses an oversized head before any
                // route sees it, without a body.
                None if status == 431 => Value::Null,
                None if status >= 400 => json!({ "application/json": {
                    "schema": schemas::reference("Error")
                }}),
                None => Value::Null,
            };
            let mut value = json!({ "description": answer.description });
            if !content.is_null() {
                value["content"] = content;
            }
            responses.insert(status.to_string(), value);
        }
        operation.insert("responses".into(), Value::Object(responses));
        if self.public {
            operation.insert("security".into(), json!([]));
        } else {
            operation.insert(
                "x-dm-scope".into(),
                json!(crate::access::required_scope(&self.method, self.route).as_str()),
            );
        }
        Value::Object(operation)
    }
}

fn content_json(content: &Content) -> Value {
    let mut value = json!({ "schema": content.schema });
    if let Some(example) = &content.example {
        value["example"] = example.clone();
    }
    value
}

/// `get_admin_devices_dev_id`-like ids: method and path words.
fn operation_id(doc: &Doc) -> String {
    let mut id = doc.method.as_str().to_ascii_lowercase();
    for word in doc
        .route
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
    {
        id.push('_');
        id.push_str(word);
    }
    id
}

/// The tag grouping an operation: the first segment after `/admin`
/// (`bootstrap` for the bootstrap role's).
fn tag(route: &str) -> &str {
    route
        .trim_start_matches("/admin/")
        .split('/')
        .next()
        .unwrap_or("admin")
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "malformed request: JSON, path parameter, query or member",
        401 => "missing or wrong bearer token (`WWW-Authenticate: Bearer`)",
        403 => {
            "admin API disabled, non-loopback Host in dev mode, or cross-origin without the token"
        }
        404 => "no such resource",
        408 => "the request body did not arrive in time",
        409 => "conflicts with the current state",
        413 => "body over the limit",
        415 => "wrong Content-Type for a write",
        431 => "request head (URI and headers) over the server's limit; no body",
        422 => "understood but not applicable",
        502 => "the notification channel could not deliver",
        503 => "the store is unavailable or a limit is reached for now (`Retry-After`)",
        _ => "refused",
    }
}

/// One admin route: its documentation and its handler.
pub(crate) struct AdminRoute<S: Store, C: NotificationChannel> {
    pub(crate) doc: Doc,
    endpoint: MethodRouter<Arc<Shared<S, C>>>,
}

impl<S: Store, C: NotificationChannel> AdminRoute<S, C> {
    /// Registers `handler` for the method and route of `doc`.
    #[allow(
        clippy::panic,
        reason = "registrations are constants: a method axum cannot route fails every test"
    )]
    pub(crate) fn new<H, T>(doc: Doc, handler: H) -> Self
    where
        H: Handler<T, Arc<Shared<S, C>>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(doc.method.clone())
            .unwrap_or_else(|_| panic!("{} is not a method axum routes", doc.method));
        AdminRoute {
            endpoint: on(filter, handler),
            doc,
        }
    }
}

/// The document of `docs`.
pub(super) fn document(role: ServerRole, docs: &[&Doc]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for doc in docs {
        paths
            .entry(doc.openapi_path())
            .or_default()
            .insert(doc.method.as_str().to_ascii_lowercase(), doc.operation());
    }
    let mut paths_json = Map::new();
    for (path, operations) in paths {
        paths_json.insert(path, Value::Object(operations));
    }
    let (title, description) = match role {
        ServerRole::Management => (
            "dm-server admin API",
            "The admin API of an OMA DM 2.0 management server (docs/admin-api.md). \
             Every operation but this document's needs `Authorization: Bearer <admin token or \
             API key>`; `x-dm-scope` names the scope of key it needs. Errors are \
             `{\"error\": \"...\"}`. A `GET` also answers `HEAD`.",
        ),
        ServerRole::Bootstrap => (
            "dm-server bootstrap admin API",
            "The admin API of an OMA DM 2.0 bootstrap server (docs/admin-api.md, \
             docs/bootstrap.md). Every operation but this document's needs \
             `Authorization: Bearer <admin token or API key>`; `x-dm-scope` names the scope of \
             key it needs. Errors are `{\"error\": \"...\"}`. A `GET` also answers `HEAD`.",
        ),
    };
    let mut document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": description,
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "security": [{"bearer": []}],
        "paths": paths_json,
    });
    let components = schemas::components_used_by(&document);
    document["components"] = json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "the admin token, or an API key `dmk_<id>_<secret>`"}
        },
        "schemas": components,
    });
    document
}

/// A router of admin routes.
pub(crate) type AdminRouter<S, C> = Router<Arc<Shared<S, C>>>;

/// The admin router of `routes`: one axum route per template, with the
/// methods registered for it; the public ones outside `admit`.
pub(crate) fn build<S: Store, C: NotificationChannel>(
    routes: Vec<AdminRoute<S, C>>,
) -> (AdminRouter<S, C>, AdminRouter<S, C>) {
    let mut guarded: BTreeMap<&'static str, MethodRouter<Arc<Shared<S, C>>>> = BTreeMap::new();
    let mut public: BTreeMap<&'static str, MethodRouter<Arc<Shared<S, C>>>> = BTreeMap::new();
    for route in routes {
        let table = if route.doc.public {
            &mut public
        } else {
            &mut guarded
        };
        let endpoint = match table.remove(route.doc.route) {
            Some(existing) => existing.merge(route.endpoint),
            None => route.endpoint,
        };
        table.insert(route.doc.route, endpoint);
    }
    let to_router = |table: BTreeMap<&'static str, MethodRouter<Arc<Shared<S, C>>>>| {
        table
            .into_iter()
            .fold(Router::new(), |router, (template, endpoint)| {
                router.route(template, endpoint)
            })
    };
    (to_router(guarded), to_router(public))
}
