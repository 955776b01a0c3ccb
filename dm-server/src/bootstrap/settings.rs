//! [`BootstrapSettings`]: what puts a [`DmServer`](crate::DmServer) in the
//! bootstrap role, and [`RemoteManagement`]: a management server the
//! bootstrap server registers devices with through its admin API.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use dm_types::{DevId, ServerUri};

use super::IssuingCa;
use crate::Error;
use crate::store::PendingRegistration;

/// The bootstrap role of a server (docs/bootstrap.md): with these settings
/// ([`ServerOptionsBuilder::bootstrap`](crate::ServerOptionsBuilder::bootstrap)),
/// `POST /dm` runs bootstrap sessions on mutually authenticated TLS, and the
/// admin API manages bootstrap profiles and devices.
///
/// ```
/// use std::time::Duration;
/// use dm_server::BootstrapSettings;
///
/// let settings = BootstrapSettings::new()
///     .with_management_realm("oma-dm")
///     .with_data_lifetime(Duration::from_secs(60));
/// assert_eq!(settings.data_lifetime, Duration::from_secs(60));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BootstrapSettings {
    /// The CA client certificates are issued from, when profiles ask for
    /// them.
    pub issuing_ca: Option<Arc<IssuingCa>>,
    /// Remote management servers, by the name profiles give them.
    pub remotes: BTreeMap<String, RemoteManagement>,
    /// The realm HTTP passwords are hashed for when registering in the
    /// local store: the management server's realm (`None`: the bootstrap
    /// server's own realm).
    pub management_realm: Option<String>,
    /// How long a bootstrap session and its DMAcc data live (5 minutes by
    /// default): the data is served once, within this time.
    pub data_lifetime: Duration,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        BootstrapSettings {
            issuing_ca: None,
            remotes: BTreeMap::new(),
            management_realm: None,
            data_lifetime: Duration::from_secs(300),
        }
    }
}

impl BootstrapSettings {
    /// The defaults: no issuing CA, no remote, the server's realm, 5
    /// minutes.
    pub fn new() -> BootstrapSettings {
        BootstrapSettings::default()
    }

    /// Sets [`BootstrapSettings::issuing_ca`].
    #[must_use]
    pub fn with_issuing_ca(mut self, ca: IssuingCa) -> Self {
        self.issuing_ca = Some(Arc::new(ca));
        self
    }

    /// Adds a remote management server under `name`.
    #[must_use]
    pub fn with_remote(mut self, name: impl Into<String>, remote: RemoteManagement) -> Self {
        self.remotes.insert(name.into(), remote);
        self
    }

    /// Sets [`BootstrapSettings::management_realm`].
    #[must_use]
    pub fn with_management_realm(mut self, realm: impl Into<String>) -> Self {
        self.management_realm = Some(realm.into());
        self
    }

    /// Sets [`BootstrapSettings::data_lifetime`].
    #[must_use]
    pub fn with_data_lifetime(mut self, lifetime: Duration) -> Self {
        self.data_lifetime = lifetime;
        self
    }
}

/// A management server in another process: the bootstrap server registers
/// (or re-keys) devices with `PUT <admin_uri>/admin/devices/{DevID}/credentials`
/// with the admin token ([`AdminClient`]). `Debug` hides the token.
#[derive(Clone, Debug)]
pub struct RemoteManagement {
    client: AdminClient,
}

impl RemoteManagement {
    /// The management server whose admin API is at `admin_uri` (its base,
    /// e.g. `https://dm.example:8443`), with this admin token. An `https`
    /// URI needs the CA certificates (PEM) its server certificate is
    /// checked against: [`RemoteManagement::with_ca_pem`].
    pub fn new(admin_uri: &str, token: impl Into<String>) -> Result<RemoteManagement, Error> {
        Ok(RemoteManagement {
            client: AdminClient::new(admin_uri, token)?,
        })
    }

    /// Checks the remote's server certificate against these CA
    /// certificates (PEM).
    pub fn with_ca_pem(self, pem: &[u8]) -> Result<RemoteManagement, Error> {
        Ok(RemoteManagement {
            client: self.client.with_ca_pem(pem)?,
        })
    }

    /// The admin URI.
    pub fn admin_uri(&self) -> &ServerUri {
        self.client.base()
    }

    /// Registers `dev_id` with these credentials, replacing the ones it had
    /// (its history is kept). [`Error::Delivery`] when the remote cannot be
    /// reached or does not answer 2xx (the answer's status only: no body is
    /// echoed).
    pub(crate) async fn register(
        &self,
        dev_id: &DevId,
        pending: &PendingRegistration,
    ) -> Result<(), Error> {
        let body = pending.admin_body(dev_id).to_string().into_bytes();
        let path = format!(
            "/admin/devices/{}/credentials",
            percent_encode(dev_id.as_str())
        );
        let (status, _) = self.client.request("PUT", &path, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(Error::Delivery {
                address: self.client.base().as_str().to_owned(),
                message: format!("the admin API answered {status}"),
            })
        }
    }
}

/// A client of a server's admin API (JSON, bearer token), over HTTP or
/// HTTPS checked against given CA certificates: what a bootstrap server
/// uses to register devices with a remote management server, and what
/// `dm bootstrap` uses. `Debug` hides the token.
///
/// ```
/// use dm_server::AdminClient;
///
/// let client = AdminClient::new("http://127.0.0.1:8080/", "token")?;
/// assert_eq!(client.base().as_str(), "http://127.0.0.1:8080");
/// assert!(!format!("{client:?}").contains("token"));
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone)]
pub struct AdminClient {
    base: ServerUri,
    token: String,
    roots: Option<Arc<rustls::RootCertStore>>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    timeout: Duration,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn tls_error(problem: &dyn fmt::Display) -> Error {
    Error::Tls {
        part: "admin API client",
        problem: problem.to_string(),
    }
}

/// The largest answer body an [`AdminClient`] reads.
const ADMIN_ANSWER_BYTES: usize = 4 << 20;

impl AdminClient {
    /// A client of the admin API at `base` (e.g. `https://dm.example:8443`)
    /// with this bearer token.
    pub fn new(base: &str, token: impl Into<String>) -> Result<AdminClient, Error> {
        let trimmed = base.trim_end_matches('/');
        let base =
            ServerUri::new(trimmed).map_err(|e| Error::config(format!("admin URI {base:?}"), e))?;
        Ok(AdminClient {
            base,
            token: token.into(),
            roots: None,
            identity: None,
            timeout: Duration::from_secs(10),
        })
    }

    /// Checks the server certificate against these CA certificates (PEM);
    /// needed for an `https` base.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<AdminClient, Error> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(cert.map_err(|e| tls_error(&e))?)
                .map_err(|e| tls_error(&e))?;
        }
        if roots.is_empty() {
            return Err(tls_error(&"no certificate in the PEM"));
        }
        self.roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// Presents this client certificate chain and key (PEM) in the TLS
    /// handshake: a bootstrap listener requires one of its bootstrap CA
    /// on every connection, the admin API's included.
    pub fn with_client_identity_pem(
        mut self,
        chain: &[u8],
        key: &[u8],
    ) -> Result<AdminClient, Error> {
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error(&e))?;
        if chain.is_empty() {
            return Err(tls_error(&"no client certificate in the PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| tls_error(&e))?;
        self.identity = Some((chain, Arc::new(key)));
        Ok(self)
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        let roots = self
            .roots
            .clone()
            .ok_or_else(|| tls_error(&"an https admin URI needs the server's CA"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(&e))?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| tls_error(&e))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// The base URI.
    pub fn base(&self) -> &ServerUri {
        &self.base
    }

    /// Sends `method path` (`GET`, `POST`, `PUT`, `DELETE`; a path of the
    /// admin API, e.g. `/admin/bootstrap/profiles`) with a JSON `body`, and
    /// returns the answer's status and body (at most 4 MiB).
    /// [`Error::Delivery`] when the server cannot be reached or answers in
    /// no time (10 s).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let content_type = body.as_ref().map(|_| "application/json");
        self.send_request(method, path, content_type, body).await
    }

    /// Like [`AdminClient::request`], with a body of another media type:
    /// `PUT /admin/artifacts/{id}` takes `application/octet-stream`.
    pub async fn request_with_type(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Error> {
        self.send_request(method, path, Some(content_type), Some(body))
            .await
    }

    /// Sets how long a request may take (10 s by default): an artifact
    /// upload needs longer.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> AdminClient {
        self.timeout = timeout;
        self
    }

    async fn send_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let failed = |message: String| Error::Delivery {
            address: self.base.as_str().to_owned(),
            message,
        };
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| failed(e.to_string()))?;
        let target = format!("{}{path}", self.base.path_and_query().trim_end_matches('/'));
        let host = self.base.host();
        let port = self.base.port_or_default();
        let authority = match self.base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header("host", authority)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let address = host.trim_start_matches('[').trim_end_matches(']');
            let stream = tokio::net::TcpStream::connect((address, port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            let answer = if self.base.is_https() {
                let config = self.tls_config().map_err(|e| failed(e.to_string()))?;
                let name =
                    ServerName::try_from(address.to_owned()).map_err(|e| failed(e.to_string()))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                send(TokioIo::new(tls), request).await
            } else {
                send(TokioIo::new(stream), request).await
            };
            answer.map_err(failed)
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed("no answer in time".into()))??;
        Ok((status.as_u16(), body))
    }
}

/// Sends `request` on a connection and reads the answer (at most 4 MiB):
/// the HTTP/1.1 exchange of [`AdminClient`], and of webhook deliveries.
pub(crate) async fn send<I>(
    io: I,
    request: Request<Full<bytes::Bytes>>,
) -> Result<(StatusCode, Vec<u8>), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    let status = match response {
        Ok(response) => {
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), ADMIN_ANSWER_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .map_err(|e| e.to_string());
            body.map(|body| (status, body))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
