//! [`FileConfig`]: the JSON configuration file of `dm serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use dm_types::DevId;

use crate::Error;
use crate::options::{
    DEFAULT_REALM, ServerLimits, ServerOptions, ServerOptionsBuilder, SessionSettings, TlsBackend,
    TlsOptions,
};
use crate::store::{DeviceRegistration, NotificationSecret, PskCredentials, StoreLocation};

/// The configuration file of a server (JSON). Every member is optional;
/// unknown members are an error (they are usually typos). Relative paths
/// are relative to the file's directory.
///
/// ```json
/// {
///   "listen": "0.0.0.0:8443",
///   "public_uri": "https://dm.example.com:8443",
///   "server_id": "dm.example.com",
///   "realm": "oma-dm",
///   "admin_token": "change me",
///   "tls": { "backend": "openssl", "cert": "rsa.pem", "key": "rsa.key",
///            "ecdsa_cert": "ecdsa.pem", "ecdsa_key": "ecdsa.key",
///            "client_ca": "devices-ca.pem", "client_certificate_required": false,
///            "psk": true },
///   "store": "sqlite:dm-store.sqlite",
///   "allow_shared_permissions": false,
///   "limits": { "body_bytes": 4194304, "repository_bytes": 16777216,
///               "header_bytes": 65536, "header_timeout_secs": 10, "body_timeout_secs": 30,
///               "body_budget_bytes": 268435456, "body_budget_wait_ms": 1000,
///               "requests_per_device": 4,
///               "max_sessions": 10000, "max_connections": 16384, "session_idle_secs": 300,
///               "commands_per_package": 64, "packages_per_session": 64,
///               "shutdown_grace_secs": 10 },
///   "dev_notification": { "secret_hex": "...", "data_hex": "..." },
///   "devices": [
///     { "dev_id": "IMEI:493005100592800", "username": "device-1", "password": "secret",
///       "certificate_sha256": null,
///       "psk": { "identity": "device-1", "key_hex": "000102030405060708090a0b0c0d0e0f" },
///       "notification": { "address": "udp://192.0.2.10:9443",
///                         "secret_hex": "6e6f7469", "data_hex": "64617461" } }
///   ],
///   "bootstrap": { "listen": "0.0.0.0:8444", "server_id": "bootstrap.example.com",
///                  "tls": { "cert": "bs.pem", "key": "bs.key", "client_ca": "bootstrap-ca.pem" },
///                  "issuing_ca": { "cert": "issuing-ca.pem", "key": "issuing-ca.key" },
///                  "profiles": [], "remotes": {} }
/// }
/// ```
///
/// ```
/// use dm_server::FileConfig;
///
/// let config = FileConfig::from_json(br#"{"server_id":"dm.example","devices":[
///     {"dev_id":"IMEI:1","username":"d1","password":"pw"}]}"#, ".")?;
/// let options = config.options()?.build()?;
/// assert_eq!(options.server_id().as_str(), "dm.example");
/// let registrations = config.registrations(options.realm())?;
/// assert_eq!(registrations.len(), 1);
/// assert!(FileConfig::from_json(br#"{"sever_id":"typo"}"#, ".").is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileConfig {
    /// Listen address (`dm serve --listen` overrides it).
    pub listen: Option<SocketAddr>,
    /// Base URI devices reach the server at.
    pub public_uri: Option<String>,
    /// The server's id.
    pub server_id: Option<String>,
    /// The Basic/Digest realm.
    pub realm: Option<String>,
    /// Bearer token of the admin API.
    pub admin_token: Option<String>,
    /// HTTPS certificate files.
    pub tls: Option<TlsFiles>,
    /// The store ([`StoreLocation`]: `sqlite:PATH`, a PostgreSQL URL, or
    /// `memory`). [`FileConfig::load`] fills in, when the file names none,
    /// the SQLite file [`StoreLocation::DEFAULT_SQLITE_FILE`] beside it.
    pub store: Option<StoreLocation>,
    /// Opens the SQLite store file even when group or others can read or
    /// write it (default `false`: refused); for file systems without Unix
    /// permissions. `dm serve --allow-shared-permissions` sets it too.
    #[serde(default)]
    pub allow_shared_permissions: bool,
    /// Limits and session settings.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Notification credentials for devices registered by dev mode.
    pub dev_notification: Option<NotificationConfig>,
    /// Devices to register (their credentials replace stored ones).
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    /// A bootstrap server beside the management server, on its own
    /// listener and the same store (docs/bootstrap.md).
    pub bootstrap: Option<BootstrapConfig>,
    /// Whether `GET /metrics` is served (default `true`).
    pub metrics: Option<bool>,
    /// Whether the web console is served at `/console/` (default `true`;
    /// docs/console.md).
    pub console: Option<bool>,
    /// The event stream and webhooks ([`EventsConfig`]).
    #[serde(default)]
    pub events: EventsConfig,
}

/// The `events` member of [`FileConfig`] (docs/operations.md, "Events and
/// webhooks"); what is not given keeps its default
/// ([`EventSettings`](crate::EventSettings)).
///
/// ```
/// use dm_server::FileConfig;
///
/// let config = FileConfig::from_json(br#"{"events":{"keep_events":5000,"max_age_secs":3600,"webhook_attempts":3}}"#, ".")?;
/// let options = config.options()?.build()?;
/// assert_eq!(options.events().keep_events, 5000);
/// assert_eq!(options.events().webhook_attempts, 3);
/// assert!(FileConfig::from_json(br#"{"events":{"keep":1}}"#, ".").is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EventsConfig {
    /// Whether events are recorded (default `true`).
    pub enabled: Option<bool>,
    /// Most events kept (default 100,000).
    pub keep_events: Option<u64>,
    /// Events older than this are pruned (default 7 days).
    pub max_age_secs: Option<u64>,
    /// How often a node reads the other nodes' events (default 200 ms).
    pub poll_interval_ms: Option<u64>,
    /// The keep-alive comment of an idle stream (default 15 s).
    pub keep_alive_secs: Option<u64>,
    /// Most attempts per webhook delivery (default 6).
    pub webhook_attempts: Option<u32>,
    /// The first wait between attempts, doubled each time (default 1 s).
    pub webhook_backoff_ms: Option<u64>,
    /// How long one delivery may take (default 10 s).
    pub webhook_timeout_secs: Option<u64>,
}

impl EventsConfig {
    /// The settings it gives.
    pub fn settings(&self) -> crate::EventSettings {
        let mut settings = crate::EventSettings::default();
        if let Some(on) = self.enabled {
            settings = settings.with_enabled(on);
        }
        if let Some(n) = self.keep_events {
            settings = settings.with_keep_events(n);
        }
        if let Some(s) = self.max_age_secs {
            settings = settings.with_max_age(Duration::from_secs(s));
        }
        if let Some(ms) = self.poll_interval_ms {
            settings = settings.with_poll_interval(Duration::from_millis(ms));
        }
        if let Some(s) = self.keep_alive_secs {
            settings = settings.with_keep_alive(Duration::from_secs(s));
        }
        if let Some(n) = self.webhook_attempts {
            settings = settings.with_webhook_attempts(n);
        }
        if let Some(ms) = self.webhook_backoff_ms {
            settings = settings.with_webhook_backoff(Duration::from_millis(ms));
        }
        if let Some(s) = self.webhook_timeout_secs {
            settings = settings.with_webhook_timeout(Duration::from_secs(s));
        }
        settings
    }
}

/// The `bootstrap` member of [`FileConfig`]: the bootstrap role's listener,
/// TLS (its `client_ca` is the bootstrap CA), issuing CA, profiles and
/// remote management servers.
///
/// ```
/// use dm_server::FileConfig;
///
/// let config = FileConfig::from_json(br#"{"bootstrap":{
///     "listen":"127.0.0.1:8444","server_id":"bootstrap.example",
///     "tls":{"cert":"bs.pem","key":"bs.key","client_ca":"bootstrap-ca.pem"},
///     "issuing_ca":{"cert":"issuing.pem","key":"issuing.key"},
///     "profiles":[{"name":"all","match":{"dev_id_pattern":"*"},"accounts":[
///         {"server_id":"dm.example","server_uri":"https://dm.example/dm",
///          "credentials":{"http_password":true}}]}],
///     "remotes":{"central":{"admin_uri":"https://dm.example:8443","admin_token":"t","ca":"ca.pem"}}}}"#, "/etc/dm")?;
/// let bootstrap = config.bootstrap.as_ref().expect("bootstrap");
/// assert_eq!(bootstrap.profiles[0].name, "all");
/// assert_eq!(bootstrap.tls.client_ca.as_deref(), Some(std::path::Path::new("/etc/dm/bootstrap-ca.pem")));
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BootstrapConfig {
    /// Listen address of the bootstrap listener.
    pub listen: SocketAddr,
    /// Base URI devices reach the bootstrap server at.
    pub public_uri: Option<String>,
    /// The bootstrap server's SrvID (SERVER-ID of its notifications).
    pub server_id: String,
    /// HTTPS files; `client_ca` (the bootstrap CA) is required.
    pub tls: TlsFiles,
    /// The CA that issues management client certificates.
    pub issuing_ca: Option<CaFiles>,
    /// The realm HTTP passwords are registered for (default: the
    /// configuration's `realm`).
    pub management_realm: Option<String>,
    /// How long a bootstrap session and its DMAcc data live (default 300).
    pub data_lifetime_secs: Option<u64>,
    /// Profiles stored at start (replacing those of the same name).
    #[serde(default)]
    pub profiles: Vec<crate::bootstrap::BootstrapProfile>,
    /// Remote management servers, by the name profiles give them.
    #[serde(default)]
    pub remotes: std::collections::BTreeMap<String, RemoteConfig>,
}

/// A CA certificate and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaFiles {
    /// The CA certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A remote management server of [`BootstrapConfig`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteConfig {
    /// The base URI of its admin API.
    pub admin_uri: String,
    /// Its admin token.
    pub admin_token: String,
    /// The CA certificates its server certificate is checked against
    /// (PEM; needed for `https`).
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("admin_uri", &self.admin_uri)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// The HTTPS configuration: the backend and PEM files (docs/tls.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsFiles {
    /// `"rustls"` (the default) or `"openssl"` (a build with the cargo
    /// feature `openssl`).
    #[serde(default)]
    pub backend: TlsBackend,
    /// Certificate chain, server certificate first (RSA or ECDSA).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// A second certificate chain, ECDSA, beside an RSA `cert` (OpenSSL
    /// only; with `ecdsa_key`).
    pub ecdsa_cert: Option<PathBuf>,
    /// The private key of `ecdsa_cert`.
    pub ecdsa_key: Option<PathBuf>,
    /// CA certificates that issue device client certificates.
    pub client_ca: Option<PathBuf>,
    /// Whether a handshake without a client certificate from `client_ca`
    /// fails (default `false`).
    #[serde(default)]
    pub client_certificate_required: bool,
    /// Whether devices may authenticate by PSK-TLS with their registered
    /// PSK (OpenSSL only; default `false`).
    #[serde(default)]
    pub psk: bool,
}

impl TlsFiles {
    /// The [`TlsOptions`] these files describe (reads them).
    pub fn options(&self) -> Result<TlsOptions, Error> {
        let mut options = TlsOptions::from_files(&self.cert, &self.key)?.with_backend(self.backend);
        match (&self.ecdsa_cert, &self.ecdsa_key) {
            (Some(cert), Some(key)) => options = options.with_ecdsa_files(cert, key)?,
            (None, None) => {}
            _ => {
                return Err(Error::config("tls", "ecdsa_cert and ecdsa_key go together"));
            }
        }
        if let Some(ca) = &self.client_ca {
            options = options.with_client_ca_file(ca)?;
        }
        Ok(options
            .with_client_certificate_required(self.client_certificate_required)
            .with_psk(self.psk))
    }
}

/// The `limits` member of [`FileConfig`]; absent members keep the defaults
/// of [`ServerLimits`] and [`SessionSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Largest Package#1/#3 body.
    pub body_bytes: Option<usize>,
    /// Largest repository body.
    pub repository_bytes: Option<usize>,
    /// Largest request head.
    pub header_bytes: Option<usize>,
    /// Time for a request head to arrive.
    pub header_timeout_secs: Option<u64>,
    /// Time for a request body to arrive.
    pub body_timeout_secs: Option<u64>,
    /// Most sessions open at once.
    pub max_sessions: Option<usize>,
    /// Most connections served at once.
    pub max_connections: Option<usize>,
    /// How long an open session waits for its next Package#3.
    pub session_idle_secs: Option<u64>,
    /// Most commands in one Package#2.
    pub commands_per_package: Option<usize>,
    /// Most Package#2 in one session.
    pub packages_per_session: Option<usize>,
    /// How long a graceful shutdown waits.
    pub shutdown_grace_secs: Option<u64>,
    /// Most bytes of request bodies held at once, all devices together.
    pub body_budget_bytes: Option<usize>,
    /// How long a request waits for room in the body budget, milliseconds.
    pub body_budget_wait_ms: Option<u64>,
    /// Most requests one device has in flight at once.
    pub requests_per_device: Option<usize>,
    /// Largest artifact uploaded through the admin API.
    pub artifact_bytes: Option<u64>,
    /// How often the campaign driver runs, milliseconds (default 1000,
    /// at least 10).
    pub campaign_tick_ms: Option<u64>,
}

/// Notification settings of a device (or the dev-mode default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NotificationConfig {
    /// Where the device listens, e.g. `udp://192.0.2.10:9443` (devices
    /// usually announce it themselves in Package#1).
    pub address: Option<String>,
    /// DMAcc `Auth/Noti/Secret`, hex.
    pub secret_hex: Option<String>,
    /// DMAcc `Auth/Noti/Data`, hex.
    pub data_hex: Option<String>,
}

/// A device entry of [`FileConfig`] (also the body of
/// `POST /admin/devices`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// DevInfo `DevID`.
    pub dev_id: String,
    /// Basic/Digest user name (with `password`).
    pub username: Option<String>,
    /// Basic/Digest password; only its Digest hashes are stored.
    pub password: Option<String>,
    /// SHA-256 of the DER of the device's client certificate, hex.
    pub certificate_sha256: Option<String>,
    /// PSK-TLS credentials (served by the OpenSSL backend, docs/tls.md).
    pub psk: Option<PskConfig>,
    /// Notification settings.
    pub notification: Option<NotificationConfig>,
}

/// The PSK-TLS credentials of a [`DeviceConfig`]: `{"identity": "...",
/// "key_hex": "..."}`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PskConfig {
    /// The PSK identity (1 to 128 bytes of UTF-8 without control
    /// characters).
    pub identity: String,
    /// The pre-shared key, hex (16 to 64 bytes).
    pub key_hex: String,
}

impl PskConfig {
    /// The credentials this entry describes (see
    /// [`PskCredentials::from_hex`]).
    ///
    /// ```
    /// use dm_server::PskConfig;
    ///
    /// let config: PskConfig = serde_json::from_str(
    ///     r#"{"identity":"device-1","key_hex":"000102030405060708090a0b0c0d0e0f"}"#,
    /// )?;
    /// assert_eq!(config.credentials()?.identity.as_str(), "device-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn credentials(&self) -> Result<PskCredentials, Error> {
        PskCredentials::from_hex(&self.identity, &self.key_hex)
    }
}

impl std::fmt::Debug for PskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskConfig")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl NotificationConfig {
    /// The secret and auth data, when a secret is given (auth data defaults
    /// to empty).
    fn secret(&self, what: &str) -> Result<Option<NotificationSecret>, Error> {
        let decode = |text: &Option<String>, name: &str| {
            text.as_deref()
                .map(|t| {
                    dm_codec::hex::decode(t)
                        .ok_or_else(|| Error::config(format!("{what}: {name}"), "not hex"))
                })
                .transpose()
        };
        let secret = decode(&self.secret_hex, "secret_hex")?;
        let data = decode(&self.data_hex, "data_hex")?;
        match (secret, data) {
            (Some(secret), data) => Ok(Some(NotificationSecret {
                secret,
                auth_data: data.unwrap_or_default(),
            })),
            (None, Some(_)) => Err(Error::config(
                format!("{what}: data_hex"),
                "given without secret_hex",
            )),
            (None, None) => Ok(None),
        }
    }
}

impl DeviceConfig {
    /// The registration this entry describes, with credentials hashed for
    /// `realm`.
    pub fn registration(&self, realm: &str) -> Result<DeviceRegistration, Error> {
        let dev_id = DevId::new(self.dev_id.as_str())
            .map_err(|e| Error::config(format!("device {:?}", self.dev_id), e))?;
        let what = format!("device {dev_id}");
        let mut registration = DeviceRegistration::new(dev_id);
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                if username.is_empty() || username.contains(':') {
                    return Err(Error::config(
                        format!("{what}: username"),
                        "must be non-empty and without ':'",
                    ));
                }
                registration = registration.with_password(username, password, realm);
            }
            (None, None) => {}
            _ => {
                return Err(Error::config(what, "username and password go together"));
            }
        }
        if let Some(fingerprint) = &self.certificate_sha256 {
            let sha256 = dm_codec::hex::decode_array(fingerprint.trim()).ok_or_else(|| {
                Error::config(format!("{what}: certificate_sha256"), "not 64 hex digits")
            })?;
            registration = registration.with_certificate_sha256(sha256);
        }
        if let Some(psk) = &self.psk {
            let credentials = psk
                .credentials()
                .map_err(|e| Error::config(format!("{what}: psk"), e))?;
            registration = registration.with_psk(credentials);
        }
        if let Some(notification) = &self.notification {
            if let Some(address) = &notification.address {
                if !crate::notify::is_valid_address(address) {
                    return Err(Error::config(
                        format!("{what}: notification address {address:?}"),
                        "not scheme://...",
                    ));
                }
                registration = registration.with_notification_address(address.as_str());
            }
            registration.notification_secret = notification.secret(&what)?;
        }
        Ok(registration)
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

impl FileConfig {
    /// Reads a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<FileConfig, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = FileConfig::from_json(&bytes, base)
            .map_err(|e| Error::config(path.display().to_string(), e))?;
        config.store.get_or_insert_with(|| {
            StoreLocation::Sqlite(base.join(StoreLocation::DEFAULT_SQLITE_FILE))
        });
        Ok(config)
    }

    /// Parses a configuration; relative paths are made relative to `base`.
    pub fn from_json(bytes: &[u8], base: impl AsRef<Path>) -> Result<FileConfig, Error> {
        let mut config: FileConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::config("configuration file", e))?;
        let base = base.as_ref();
        if let Some(tls) = &mut config.tls {
            tls.cert = resolve(base, &tls.cert);
            tls.key = resolve(base, &tls.key);
            tls.client_ca = tls.client_ca.as_deref().map(|p| resolve(base, p));
            tls.ecdsa_cert = tls.ecdsa_cert.as_deref().map(|p| resolve(base, p));
            tls.ecdsa_key = tls.ecdsa_key.as_deref().map(|p| resolve(base, p));
        }
        config.store = config.store.map(|s| s.relative_to(base));
        if let Some(bootstrap) = &mut config.bootstrap {
            let tls = &mut bootstrap.tls;
            tls.cert = resolve(base, &tls.cert);
            tls.key = resolve(base, &tls.key);
            tls.client_ca = tls.client_ca.as_deref().map(|p| resolve(base, p));
            tls.ecdsa_cert = tls.ecdsa_cert.as_deref().map(|p| resolve(base, p));
            tls.ecdsa_key = tls.ecdsa_key.as_deref().map(|p| resolve(base, p));
            if let Some(ca) = &mut bootstrap.issuing_ca {
                ca.cert = resolve(base, &ca.cert);
                ca.key = resolve(base, &ca.key);
            }
            for remote in bootstrap.remotes.values_mut() {
                remote.ca = remote.ca.as_deref().map(|p| resolve(base, p));
            }
        }
        Ok(config)
    }

    /// The options of the bootstrap server the `bootstrap` member describes
    /// (reads its TLS, CA and remote files), with the configuration's admin
    /// token, realm and limits; `None` without a `bootstrap` member.
    pub fn bootstrap_options(&self) -> Result<Option<ServerOptions>, Error> {
        let Some(bootstrap) = &self.bootstrap else {
            return Ok(None);
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::File {
                path: path.to_owned(),
                source,
            })
        };
        let mut settings = crate::BootstrapSettings::new();
        if let Some(realm) = &bootstrap.management_realm {
            settings = settings.with_management_realm(realm.as_str());
        }
        if let Some(secs) = bootstrap.data_lifetime_secs {
            settings = settings.with_data_lifetime(Duration::from_secs(secs));
        }
        if let Some(ca) = &bootstrap.issuing_ca {
            let text = |path: &Path| {
                String::from_utf8(read(path)?)
                    .map_err(|e| Error::config(path.display().to_string(), e))
            };
            let issuing = crate::bootstrap::IssuingCa::from_pem(&text(&ca.cert)?, &text(&ca.key)?)?;
            settings = settings.with_issuing_ca(issuing);
        }
        for (name, remote) in &bootstrap.remotes {
            let mut management = crate::bootstrap::RemoteManagement::new(
                &remote.admin_uri,
                remote.admin_token.as_str(),
            )?;
            if let Some(ca) = &remote.ca {
                management = management.with_ca_pem(&read(ca)?)?;
            }
            settings = settings.with_remote(name.as_str(), management);
        }
        // Every TLS key of the management listener applies (backend, ECDSA
        // certificate, PSK); the bootstrap role then requires a client
        // certificate of the X.509 suites.
        let tls = bootstrap.tls.options()?;
        let mut builder = self
            .options()?
            .listen(bootstrap.listen)
            .server_id(bootstrap.server_id.as_str())
            .tls(tls)
            .bootstrap(settings);
        builder = match &bootstrap.public_uri {
            Some(uri) => builder.public_uri(uri.as_str()),
            None => builder.no_public_uri(),
        };
        builder.build().map(Some)
    }

    /// A builder holding what the file says (reads the TLS files); finish
    /// it with [`ServerOptionsBuilder::build`], after overriding what the
    /// command line says.
    pub fn options(&self) -> Result<ServerOptionsBuilder, Error> {
        let mut builder = ServerOptions::builder();
        if let Some(listen) = self.listen {
            builder = builder.listen(listen);
        }
        if let Some(uri) = &self.public_uri {
            builder = builder.public_uri(uri.as_str());
        }
        if let Some(id) = &self.server_id {
            builder = builder.server_id(id.as_str());
        }
        if let Some(realm) = &self.realm {
            builder = builder.realm(realm.as_str());
        }
        if let Some(token) = &self.admin_token {
            builder = builder.admin_token(token.as_str());
        }
        if let Some(tls) = &self.tls {
            builder = builder.tls(tls.options()?);
        }
        if let Some(on) = self.metrics {
            builder = builder.metrics(on);
        }
        if let Some(on) = self.console {
            builder = builder.console(on);
        }
        if let Some(notification) = &self.dev_notification
            && let Some(secret) = notification.secret("dev_notification")?
        {
            builder = builder.dev_notification(secret.secret, secret.auth_data);
        }
        let l = &self.limits;
        let mut limits = ServerLimits::default();
        let mut session = SessionSettings::default();
        if let Some(n) = l.body_bytes {
            limits = limits.with_package_bytes(n);
        }
        if let Some(n) = l.repository_bytes {
            limits = limits.with_repository_bytes(n);
        }
        if let Some(n) = l.header_bytes {
            limits = limits.with_header_bytes(n);
        }
        if let Some(s) = l.header_timeout_secs {
            limits = limits.with_header_timeout(Duration::from_secs(s));
        }
        if let Some(s) = l.body_timeout_secs {
            limits = limits.with_body_timeout(Duration::from_secs(s));
        }
        if let Some(n) = l.max_sessions {
            limits = limits.with_max_sessions(n);
        }
        if let Some(n) = l.max_connections {
            limits = limits.with_max_connections(n);
        }
        if let Some(s) = l.shutdown_grace_secs {
            limits = limits.with_shutdown_grace(Duration::from_secs(s));
        }
        if let Some(n) = l.body_budget_bytes {
            limits = limits.with_body_budget_bytes(n);
        }
        if let Some(ms) = l.body_budget_wait_ms {
            limits = limits.with_body_budget_wait(Duration::from_millis(ms));
        }
        if let Some(n) = l.requests_per_device {
            limits = limits.with_requests_per_device(n);
        }
        if let Some(n) = l.artifact_bytes {
            limits = limits.with_artifact_bytes(n);
        }
        if let Some(s) = l.session_idle_secs {
            session = session.with_idle_timeout(Duration::from_secs(s));
        }
        if let Some(n) = l.commands_per_package {
            session = session.with_commands_per_package(n);
        }
        if let Some(n) = l.packages_per_session {
            session = session.with_packages_per_session(n);
        }
        if let Some(ms) = l.campaign_tick_ms {
            builder = builder.campaign_tick(Duration::from_millis(ms));
        }
        Ok(builder
            .limits(limits)
            .session(session)
            .events(self.events.settings()))
    }

    /// The registrations of the `devices` list, credentials hashed for
    /// `realm`. A DevID, user name or PSK identity listed twice is an
    /// error.
    pub fn registrations(&self, realm: &str) -> Result<Vec<DeviceRegistration>, Error> {
        let registrations = self
            .devices
            .iter()
            .map(|d| d.registration(realm))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, r) in registrations.iter().enumerate() {
            for other in &registrations[..i] {
                if other.dev_id == r.dev_id {
                    return Err(Error::config(
                        format!("device {}", r.dev_id),
                        "listed twice",
                    ));
                }
                if let (Some(a), Some(b)) = (&other.credentials, &r.credentials)
                    && a.username == b.username
                {
                    return Err(Error::config(
                        format!("user name {:?}", a.username),
                        "listed twice",
                    ));
                }
                if let (Some(a), Some(b)) = (&other.psk, &r.psk)
                    && a.identity == b.identity
                {
                    return Err(Error::config(
                        format!("PSK identity {:?}", a.identity.as_str()),
                        "listed twice",
                    ));
                }
            }
        }
        Ok(registrations)
    }

    /// The realm the file configures (or the default).
    pub fn realm(&self) -> &str {
        self.realm.as_deref().unwrap_or(DEFAULT_REALM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_notification_settings() {
        let config = FileConfig::from_json(
            br#"{"store":"sqlite:s.sqlite","tls":{"cert":"c.pem","key":"/k.pem"},"devices":[
              {"dev_id":"IMEI:1","username":"a","password":"p",
               "certificate_sha256":"00000000000000000000000000000000000000000000000000000000000000ff",
               "notification":{"address":"udp://127.0.0.1:9","secret_hex":"0102","data_hex":"03"}},
              {"dev_id":"IMEI:2"}]}"#,
            "/etc/dm",
        )
        .expect("valid");
        assert_eq!(
            config.store,
            Some(StoreLocation::Sqlite("/etc/dm/s.sqlite".into()))
        );
        let tls = config.tls.as_ref().expect("tls");
        assert_eq!(tls.cert, Path::new("/etc/dm/c.pem"));
        assert_eq!(tls.key, Path::new("/k.pem"));
        let registrations = config.registrations("r").expect("valid");
        let first = &registrations[0];
        assert!(
            first
                .credentials
                .as_ref()
                .is_some_and(|c| c.matches_password("p", "r"))
        );
        assert_eq!(first.certificate_sha256.map(|c| c[31]), Some(0xff));
        assert_eq!(
            first.notification_address.as_deref(),
            Some("udp://127.0.0.1:9")
        );
        assert_eq!(
            first
                .notification_secret
                .as_ref()
                .map(|s| (s.secret.clone(), s.auth_data.clone())),
            Some((vec![1, 2], vec![3]))
        );
        assert!(registrations[1].credentials.is_none());
    }

    #[test]
    fn mistakes_are_reported() {
        let bad = [
            r#"{"devices":[{"dev_id":"has space"}]}"#,
            r#"{"devices":[{"dev_id":"a","username":"u"}]}"#,
            r#"{"devices":[{"dev_id":"a","username":"u:v","password":"p"}]}"#,
            r#"{"devices":[{"dev_id":"a","certificate_sha256":"abc"}]}"#,
            r#"{"devices":[{"dev_id":"a","notification":{"secret_hex":"xyz"}}]}"#,
            r#"{"devices":[{"dev_id":"a","notification":{"data_hex":"00"}}]}"#,
            r#"{"devices":[{"dev_id":"a","notification":{"address":"nowhere"}}]}"#,
            r#"{"devices":[{"dev_id":"a"},{"dev_id":"a"}]}"#,
            r#"{"devices":[{"dev_id":"a","username":"u","password":"p"},{"dev_id":"b","username":"u","password":"q"}]}"#,
        ];
        for json in bad {
            let result =
                FileConfig::from_json(json.as_bytes(), ".").and_then(|c| c.registrations("r"));
            assert!(result.is_err(), "{json}");
        }
        assert!(FileConfig::from_json(br#"{"limits":{"max_session":1}}"#, ".").is_err());
        let config = FileConfig::from_json(
            br#"{"limits":{"session_idle_secs":7,"max_sessions":3,"max_connections":5}}"#,
            ".",
        )
        .expect("valid");
        let options = config.options().expect("no files").build().expect("valid");
        assert_eq!(
            options.session().engine.idle_timeout,
            Duration::from_secs(7)
        );
        assert_eq!(options.limits().max_sessions, 3);
        assert_eq!(options.limits().max_connections, 5);
    }

    #[test]
    fn psk_credentials_are_read_and_checked() {
        let key = "000102030405060708090a0b0c0d0e0f";
        let config = FileConfig::from_json(
            format!(
                r#"{{"devices":[{{"dev_id":"IMEI:1","psk":{{"identity":"device-1","key_hex":"{key}"}}}}]}}"#
            )
            .as_bytes(),
            ".",
        )
        .expect("valid");
        let registrations = config.registrations("r").expect("valid");
        let psk = registrations[0].psk.as_ref().expect("PSK credentials");
        assert_eq!(psk.identity.as_str(), "device-1");
        assert_eq!(psk.key(), (0..16).collect::<Vec<u8>>());
        // The key shows nowhere in the configuration's Debug form.
        assert!(!format!("{config:?}").contains(key));
        let bad = [
            // Empty identity, too long an identity, a control character.
            format!(r#"{{"identity":"","key_hex":"{key}"}}"#),
            format!(r#"{{"identity":"{}","key_hex":"{key}"}}"#, "x".repeat(129)),
            format!(r#"{{"identity":"a\u0007b","key_hex":"{key}"}}"#),
            // Too short, too long, not hex, odd.
            r#"{"identity":"d","key_hex":"0001020304050607"}"#.to_owned(),
            format!(r#"{{"identity":"d","key_hex":"{}"}}"#, "00".repeat(65)),
            r#"{"identity":"d","key_hex":"zz0102030405060708090a0b0c0d0e0f"}"#.to_owned(),
            r#"{"identity":"d","key_hex":"000102030405060708090a0b0c0d0e0"}"#.to_owned(),
        ];
        for psk in bad {
            let json = format!(r#"{{"devices":[{{"dev_id":"IMEI:1","psk":{psk}}}]}}"#);
            match FileConfig::from_json(json.as_bytes(), ".").and_then(|c| c.registrations("r")) {
                Err(Error::Config { setting, problem }) => {
                    assert_eq!(setting, "device IMEI:1: psk", "{json}");
                    assert!(
                        !problem.contains("0102030405"),
                        "the key is quoted: {problem}"
                    );
                }
                other => panic!("{json}: {other:?}"),
            }
        }
        for json in [
            // A member the PSK has not; a key not given.
            format!(r#"{{"devices":[{{"dev_id":"a","psk":{{"identity":"d","key":"{key}"}}}}]}}"#),
            r#"{"devices":[{"dev_id":"a","psk":{"identity":"d"}}]}"#.to_owned(),
            // The same identity twice.
            format!(
                r#"{{"devices":[{{"dev_id":"a","psk":{{"identity":"d","key_hex":"{key}"}}}},
                {{"dev_id":"b","psk":{{"identity":"d","key_hex":"{key}"}}}}]}}"#
            ),
        ] {
            let result =
                FileConfig::from_json(json.as_bytes(), ".").and_then(|c| c.registrations("r"));
            assert!(result.is_err(), "{json}");
        }
    }

    #[test]
    fn tls_files_name_the_backend_and_every_file() {
        let config = FileConfig::from_json(
            br#"{"tls":{"backend":"openssl","cert":"rsa.pem","key":"rsa.key",
                "ecdsa_cert":"ec.pem","ecdsa_key":"/keys/ec.key","client_ca":"ca.pem",
                "client_certificate_required":true,"psk":true}}"#,
            "/etc/dm",
        )
        .expect("valid");
        let tls = config.tls.as_ref().expect("tls");
        assert_eq!(tls.backend, TlsBackend::OpenSsl);
        assert_eq!(tls.ecdsa_cert.as_deref(), Some(Path::new("/etc/dm/ec.pem")));
        assert_eq!(tls.ecdsa_key.as_deref(), Some(Path::new("/keys/ec.key")));
        assert!(tls.client_certificate_required && tls.psk);
        let defaults =
            FileConfig::from_json(br#"{"tls":{"cert":"c","key":"k"}}"#, ".").expect("valid");
        let tls = defaults.tls.as_ref().expect("tls");
        assert_eq!(tls.backend, TlsBackend::Rustls);
        assert!(!tls.psk && !tls.client_certificate_required);
        // Files that are not there are named.
        assert!(
            matches!(config.options(), Err(Error::File { path, .. }) if path == Path::new("/etc/dm/rsa.pem"))
        );
        for bad in [
            r#"{"tls":{"backend":"boringssl","cert":"c","key":"k"}}"#,
            r#"{"tls":{"cert":"c","key":"k","psk":"yes"}}"#,
            r#"{"tls":{"cert":"c","key":"k","ecdsa":"e.pem"}}"#,
        ] {
            assert!(FileConfig::from_json(bad.as_bytes(), ".").is_err(), "{bad}");
        }
    }

    #[test]
    fn an_ecdsa_certificate_needs_its_key() {
        let dir = std::env::temp_dir().join(format!("dm-server-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        for name in ["c.pem", "k.pem", "e.pem"] {
            std::fs::write(dir.join(name), b"x").expect("written");
        }
        let config = FileConfig::from_json(
            br#"{"tls":{"backend":"openssl","cert":"c.pem","key":"k.pem","ecdsa_cert":"e.pem"}}"#,
            &dir,
        )
        .expect("valid JSON");
        let result = config.options();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(result, Err(Error::Config { problem, .. }) if problem.contains("ecdsa_key")),
        );
    }

    /// The bootstrap listener's `tls` takes every key the management
    /// listener's does: the backend, the ECDSA certificate and PSK.
    #[test]
    fn the_bootstrap_listener_takes_every_tls_key() {
        let dir = std::env::temp_dir().join(format!("dm-server-bs-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        std::fs::write(dir.join("c.pem"), certificate.pem()).expect("written");
        std::fs::write(dir.join("k.pem"), key.serialize_pem()).expect("written");
        let config = |tls: &str| {
            FileConfig::from_json(
                format!(
                    r#"{{"bootstrap":{{"listen":"127.0.0.1:0","server_id":"bs","tls":{tls}}}}}"#
                )
                .as_bytes(),
                &dir,
            )
            .expect("valid JSON")
            .bootstrap_options()
        };
        // rustls has no PSK suite: asking for PSK on the bootstrap listener
        // is refused, so the key is read there.
        let psk = config(r#"{"cert":"c.pem","key":"k.pem","client_ca":"c.pem","psk":true}"#);
        assert!(
            matches!(psk, Err(Error::Tls { part: "PSK", .. })),
            "{psk:?}"
        );
        let half =
            config(r#"{"cert":"c.pem","key":"k.pem","client_ca":"c.pem","ecdsa_cert":"c.pem"}"#);
        assert!(
            matches!(&half, Err(Error::Config { problem, .. }) if problem.contains("ecdsa_key")),
            "{half:?}"
        );
        let plain = config(r#"{"cert":"c.pem","key":"k.pem","client_ca":"c.pem"}"#);
        let _ = std::fs::remove_dir_all(&dir);
        let options = plain.expect("valid").expect("a bootstrap listener");
        assert_eq!(options.tls_backend(), Some(TlsBackend::Rustls));
    }

    #[test]
    fn the_campaign_tick_is_read() {
        let fast = FileConfig::from_json(br#"{"limits":{"campaign_tick_ms":50}}"#, ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build)
            .expect("valid");
        assert_eq!(fast.campaign_tick(), Duration::from_millis(50));
        let floor = FileConfig::from_json(br#"{"limits":{"campaign_tick_ms":0}}"#, ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build)
            .expect("valid");
        assert_eq!(floor.campaign_tick(), Duration::from_millis(10));
        let default = FileConfig::from_json(b"{}", ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build)
            .expect("valid");
        assert_eq!(default.campaign_tick(), crate::DEFAULT_CAMPAIGN_TICK);
    }

    #[test]
    fn the_console_setting_is_read() {
        let read = |json: &[u8]| {
            FileConfig::from_json(json, ".")
                .and_then(|c| c.options())
                .and_then(ServerOptionsBuilder::build)
                .expect("valid")
                .console()
        };
        assert!(read(b"{}"));
        assert!(read(br#"{"console":true}"#));
        assert!(!read(br#"{"console":false}"#));
        assert!(FileConfig::from_json(br#"{"console":"off"}"#, ".").is_err());
    }

    #[test]
    fn memory_limits_are_read_and_checked() {
        let config = FileConfig::from_json(
            br#"{"limits":{"header_bytes":20000,"repository_bytes":1048576,"body_bytes":65536,
                "body_budget_bytes":4194304,"body_budget_wait_ms":250,"requests_per_device":2}}"#,
            ".",
        )
        .expect("valid");
        let options = config.options().expect("no files").build().expect("valid");
        let limits = options.limits();
        assert_eq!(limits.header_bytes, 20_000);
        assert_eq!(limits.codec.mo_data_bytes, 1 << 20);
        assert_eq!(limits.codec.package_bytes, 64 << 10);
        assert_eq!(limits.body_budget_bytes, 4 << 20);
        assert_eq!(limits.body_budget_wait, Duration::from_millis(250));
        assert_eq!(limits.requests_per_device, 2);
        // Absent keys keep the defaults.
        let defaults = FileConfig::from_json(b"{}", ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build)
            .expect("valid");
        assert_eq!(defaults.limits(), &ServerLimits::default());
        let limits = defaults.limits();
        assert_eq!(
            (
                limits.header_bytes,
                limits.body_budget_bytes,
                limits.body_budget_wait,
                limits.requests_per_device
            ),
            (64 << 10, 256 << 20, Duration::from_secs(1), 4)
        );
        // Zero devices' requests means one; a budget under a body is refused.
        let one = FileConfig::from_json(br#"{"limits":{"requests_per_device":0}}"#, ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build)
            .expect("valid");
        assert_eq!(one.limits().requests_per_device, 1);
        let too_small = FileConfig::from_json(br#"{"limits":{"body_budget_bytes":1000}}"#, ".")
            .and_then(|c| c.options())
            .and_then(ServerOptionsBuilder::build);
        assert!(
            matches!(too_small, Err(Error::Config { setting, .. }) if setting == "body budget")
        );
        for bad in [
            r#"{"limits":{"body_budget_bytes":-1}}"#,
            r#"{"limits":{"body_budget_wait_ms":"1s"}}"#,
            r#"{"limits":{"requests_per_devices":4}}"#,
        ] {
            assert!(FileConfig::from_json(bad.as_bytes(), ".").is_err(), "{bad}");
        }
    }
}
