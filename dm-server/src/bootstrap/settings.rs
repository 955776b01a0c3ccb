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
use rustls_pki_types::{CertificateDer, ServerName};

use dm_types::{DevId, ServerUri};

use super::IssuingCa;
use crate::Error;
use crate::config::DeviceConfig;

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
    /// local store: the management server's realm (`oma-dm` by default).
    pub management_realm: String,
    /// How long a bootstrap session and its DMAcc data live (5 minutes by
    /// default): the data is served once, within this time.
    pub data_lifetime: Duration,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        BootstrapSettings {
            issuing_ca: None,
            remotes: BTreeMap::new(),
            management_realm: crate::DEFAULT_REALM.to_owned(),
            data_lifetime: Duration::from_secs(300),
        }
    }
}

impl BootstrapSettings {
    /// The defaults: no issuing CA, no remote, realm `oma-dm`, 5 minutes.
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
        self.management_realm = realm.into();
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
/// with the admin token. `Debug` hides the token.
#[derive(Clone)]
pub struct RemoteManagement {
    admin_uri: ServerUri,
    token: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
}

impl fmt::Debug for RemoteManagement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteManagement")
            .field("admin_uri", &self.admin_uri)
            .finish_non_exhaustive()
    }
}

impl RemoteManagement {
    /// The management server whose admin API is at `admin_uri` (its base,
    /// e.g. `https://dm.example:8443`), with this admin token. An `https`
    /// URI needs the CA certificates (PEM) its server certificate is
    /// checked against: [`RemoteManagement::with_ca_pem`].
    pub fn new(admin_uri: &str, token: impl Into<String>) -> Result<RemoteManagement, Error> {
        let trimmed = admin_uri.trim_end_matches('/');
        let admin_uri = ServerUri::new(trimmed)
            .map_err(|e| Error::config(format!("remote admin URI {admin_uri:?}"), e))?;
        Ok(RemoteManagement {
            admin_uri,
            token: token.into(),
            tls: None,
            timeout: Duration::from_secs(10),
        })
    }

    /// Checks the remote's server certificate against these CA
    /// certificates (PEM).
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<RemoteManagement, Error> {
        let tls = |problem: &dyn fmt::Display| Error::Tls {
            part: "remote management CA",
            problem: problem.to_string(),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
        }
        if roots.is_empty() {
            return Err(tls(&"no certificate in the PEM"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Arc::new(config));
        Ok(self)
    }

    /// The admin URI.
    pub fn admin_uri(&self) -> &ServerUri {
        &self.admin_uri
    }

    /// Registers `dev_id` with these credentials, replacing the ones it had
    /// (its history is kept). [`Error::Delivery`] when the remote cannot be
    /// reached or does not answer 2xx (the answer's status only: no body is
    /// echoed).
    pub(crate) async fn register(
        &self,
        dev_id: &DevId,
        config: &DeviceConfig,
    ) -> Result<(), Error> {
        let failed = |message: String| Error::Delivery {
            address: self.admin_uri.as_str().to_owned(),
            message,
        };
        let body = serde_json::to_vec(config).map_err(|e| failed(e.to_string()))?;
        let path = format!(
            "{}/admin/devices/{}/credentials",
            self.admin_uri.path_and_query().trim_end_matches('/'),
            percent_encode(dev_id.as_str())
        );
        let host = self.admin_uri.host();
        let port = self.admin_uri.port_or_default();
        let authority = match self.admin_uri.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let request = Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header("host", authority)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let address = host.trim_start_matches('[').trim_end_matches(']');
            let stream = tokio::net::TcpStream::connect((address, port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = if self.admin_uri.is_https() {
                let config = self.tls.clone().ok_or_else(|| {
                    failed("an https admin URI needs the remote's CA (ca_file)".into())
                })?;
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
            status.map_err(failed)
        };
        let status = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed("no answer in time".into()))??;
        if status.is_success() {
            Ok(())
        } else {
            Err(failed(format!("the admin API answered {status}")))
        }
    }
}

async fn send<I>(io: I, request: Request<Full<bytes::Bytes>>) -> Result<StatusCode, String>
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
            // Read (and drop) a bounded answer so the connection ends cleanly.
            let _ = http_body_util::Limited::new(response.into_body(), 64 << 10)
                .collect()
                .await;
            Ok(status)
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
