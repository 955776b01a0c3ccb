//! [`DmServer`]: the server, its shared state, its accept loop and its
//! background maintenance.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::Error;
use crate::admin::Admin;
use crate::auth::ClientCertificate;
use crate::auth::ServerKey;
use crate::bootstrap::BootstrapCredential;
use crate::budget::{BodyBudget, DeviceRequests};
use crate::notify::{NotificationChannel, UdpChannel};
use crate::options::{ServerOptions, ServerTls};
use crate::shared::Shared;
#[cfg(feature = "openssl")]
use crate::store::PskCredentials;
use crate::store::{MemoryStore, PskIdentity, Store};

/// An OMA DM 2.0 management server: the session endpoint, the data
/// repository, the admin API, authentication and the notification sender,
/// over a [`Store`] and a [`NotificationChannel`].
///
/// - [`DmServer::serve`] runs it on a listener (HTTP, or HTTPS when the
///   options have TLS), with the connection limits, background session
///   expiry and a graceful shutdown.
/// - [`DmServer::router`] gives the routes as an axum `Router` to embed in an
///   application (plain HTTP; run [`DmServer::run_maintenance`] beside it).
/// - [`DmServer::admin`] queues commands and reads results in-process.
///
/// Routes: `POST /dm` (Package#1, or a Package#3 of a session without CONT),
/// `POST /dm/s/{token}` (Package#3 after CONT), `GET|PUT|POST /repo/{path}`
/// (data repository), `/admin/...` (admin API, see `docs/admin-api.md`).
///
/// ```no_run
/// use dm_server::{DmServer, MemoryStore, ServerOptions, UdpChannel};
///
/// # async fn run() -> Result<(), dm_server::Error> {
/// let options = ServerOptions::builder()
///     .server_id("dm.example.com")
///     .admin_token("change me")
///     .build()?;
/// let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
/// let listener = server.bind().await?;
/// server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct DmServer<S: Store = MemoryStore, C: NotificationChannel = UdpChannel> {
    shared: Arc<Shared<S, C>>,
}

impl<S: Store, C: NotificationChannel> Clone for DmServer<S, C> {
    fn clone(&self) -> Self {
        DmServer {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Store, C: NotificationChannel> std::fmt::Debug for DmServer<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmServer")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl<S: Store, C: NotificationChannel> DmServer<S, C> {
    /// A server with these options, store and notification channel.
    pub fn new(options: ServerOptions, store: S, channel: C) -> Self {
        let public_base = OnceLock::new();
        if let Some(uri) = &options.public_uri {
            let _ = public_base.set(uri.clone());
        }
        let options_events = options.events.clone();
        let bodies = Arc::new(BodyBudget::new(options.limits.body_budget_bytes));
        let requests = Arc::new(DeviceRequests::new(options.limits.requests_per_device));
        DmServer {
            shared: Arc::new(Shared {
                options,
                store,
                channel,
                public_base,
                bodies,
                requests,
                server_key: ServerKey::default(),
                metrics: crate::metrics::Metrics::default(),
                events: Arc::new(crate::events::EventHub::new(options_events)),
            }),
        }
    }

    /// The options.
    pub fn options(&self) -> &ServerOptions {
        &self.shared.options
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// The base URI devices reach the server at, once known (configured, or
    /// set by [`DmServer::serve`] from the bound address).
    pub fn public_uri(&self) -> Option<&str> {
        self.shared.public_base.get().map(String::as_str)
    }

    /// Bytes of device request bodies the server holds in memory now (or
    /// has reserved for bodies on their way), all connections together:
    /// never more than
    /// [`ServerLimits::body_budget_bytes`](crate::ServerLimits::body_budget_bytes).
    /// Back to 0 once no request is reading or handling a body.
    ///
    /// ```
    /// use dm_server::{DmServer, MemoryStore, ServerOptions, UdpChannel};
    ///
    /// let server = DmServer::new(ServerOptions::builder().build()?, MemoryStore::new(), UdpChannel);
    /// assert_eq!(server.buffered_body_bytes(), 0);
    /// assert_eq!(server.peak_buffered_body_bytes(), 0);
    /// # Ok::<(), dm_server::Error>(())
    /// ```
    pub fn buffered_body_bytes(&self) -> usize {
        self.shared.bodies.used()
    }

    /// The most bytes [`DmServer::buffered_body_bytes`] has ever been.
    pub fn peak_buffered_body_bytes(&self) -> usize {
        self.shared.bodies.peak()
    }

    /// The admin operations, in-process.
    pub fn admin(&self) -> Admin<S, C> {
        Admin::new(self.shared.clone())
    }

    /// The routes, to embed in an axum application. TLS, client
    /// certificates ([`ClientCertificate`] request extension), PSK-TLS
    /// ([`PskIdentity`](crate::PskIdentity) request extension), connection
    /// limits, the request-head limit and timeout (the application's HTTP
    /// server settings) and session expiry ([`DmServer::run_maintenance`])
    /// are then the application's job; body sizes and timeouts, the body
    /// budget and the requests in flight per device still apply. Without a
    /// configured public URI, session URIs are built from the request's
    /// `Host` header.
    pub fn router(&self) -> Router {
        crate::http::router(self.shared.clone())
    }

    /// Binds the configured listen address.
    pub async fn bind(&self) -> Result<TcpListener, Error> {
        Ok(TcpListener::bind(self.shared.options.listen).await?)
    }

    /// Runs forever: expires idle sessions every
    /// [`SessionSettings::expiry_interval`](crate::SessionSettings::expiry_interval),
    /// flushes the store every
    /// [`SessionSettings::flush_interval`](crate::SessionSettings::flush_interval),
    /// drives the update campaigns every
    /// [`ServerOptions::campaign_tick`](crate::ServerOptions::campaign_tick)
    /// (docs/updates.md), and appends, reads, prunes and delivers events
    /// ([`EventSettings`](crate::EventSettings)). [`DmServer::serve`] runs it
    /// itself.
    pub async fn run_maintenance(&self) {
        let campaigns = async {
            if self.shared.options.bootstrap.is_some() {
                return std::future::pending().await;
            }
            match crate::campaign::driver::Driver::new(self.shared.clone()) {
                Ok(driver) => driver.run().await,
                Err(error) => {
                    tracing::error!(%error, "the campaign driver cannot start");
                    std::future::pending::<()>().await;
                }
            }
        };
        let events = async {
            if self.shared.options.bootstrap.is_some() {
                return std::future::pending().await;
            }
            tokio::join!(
                self.shared.events.run(&self.shared.store),
                crate::events::webhook::run(self.shared.clone())
            );
        };
        tokio::join!(campaigns, events, self.run_housekeeping());
    }

    /// Session expiry and store flushes, forever.
    async fn run_housekeeping(&self) {
        let settings = &self.shared.options.session;
        let floor = Duration::from_millis(10);
        let mut expiry = tokio::time::interval(settings.expiry_interval.max(floor));
        let mut flush = tokio::time::interval(settings.flush_interval.max(floor));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = expiry.tick() => {
                    if let Err(error) = self.shared.expire().await {
                        tracing::error!(%error, "session expiry failed");
                    }
                    if self.shared.options.bootstrap.is_some() {
                        match self.shared.store.expire_bootstrap_sessions(crate::util::now_ms()).await {
                            Ok(expired) => for session in expired {
                                tracing::info!(dev_id = %session.dev_id, session = %session.token, "bootstrap session expired");
                            },
                            Err(error) => tracing::error!(%error, "bootstrap session expiry failed"),
                        }
                    }
                }
                _ = flush.tick() => {
                    if let Err(error) = self.shared.store.flush().await {
                        tracing::error!(%error, "flushing the store failed");
                    }
                }
            }
        }
    }

    /// Serves connections from `listener` until `shutdown` completes, then
    /// stops accepting, lets requests in flight finish (up to
    /// [`ServerLimits::shutdown_grace`](crate::ServerLimits::shutdown_grace))
    /// and flushes the store.
    ///
    /// Speaks HTTPS when the options have TLS. With the OpenSSL backend and
    /// PSK-TLS on, it must run on a multi-thread tokio runtime (the
    /// handshake reads keys from the store; [`Error::Tls`] otherwise).
    /// Refuses a non-loopback
    /// listener in dev mode. Without a configured public URI, the bound
    /// address becomes it (unless it is a wildcard address such as
    /// `0.0.0.0`: then each request's `Host` header is used).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let local = listener.local_addr()?;
        let options = &self.shared.options;
        if options.dev_mode {
            if !local.ip().is_loopback() {
                return Err(Error::config(
                    "dev mode",
                    format!("only listens on a loopback address, not {local}"),
                ));
            }
            tracing::warn!(
                "DEV MODE: devices without credentials are registered and the admin API needs no token"
            );
        }
        if !local.ip().is_unspecified() {
            let scheme = if options.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let _ = self.shared.public_base.set(format!("{scheme}://{local}"));
        }
        let router = self.router();
        let acceptor = self.acceptor()?;
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        let maintenance = {
            let server = self.clone();
            tokio::spawn(async move { server.run_maintenance().await })
        };
        tracing::info!(address = %local, tls = acceptor.is_some(), "serving");
        let mut shutdown = std::pin::pin!(shutdown);
        // A semaphore holds at most `MAX_PERMITS`; more is "unlimited".
        let slots = Arc::new(Semaphore::new(
            options
                .limits
                .max_connections
                .clamp(1, Semaphore::MAX_PERMITS),
        ));
        let mut slot: Option<OwnedSemaphorePermit> = None;
        loop {
            if slot.is_none() {
                slot = slots.clone().try_acquire_owned().ok();
                if slot.is_none() {
                    tracing::warn!(
                        limit = options.limits.max_connections,
                        "connection limit reached: not accepting until a connection closes"
                    );
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                permit = slots.clone().acquire_owned(), if slot.is_none() => slot = permit.ok(),
                accepted = listener.accept(), if slot.is_some() => match accepted {
                    Ok((stream, peer)) => {
                        let connection = Connection {
                            router: router.clone(),
                            acceptor: acceptor.clone(),
                            stopped: stopped.clone(),
                            header_timeout: options.limits.header_timeout,
                            header_bytes: options.limits.header_bytes,
                            bootstrap: options.bootstrap.is_some(),
                        };
                        let permit = slot.take();
                        connections.spawn(async move {
                            connection.run(stream, peer).await;
                            drop(permit);
                        });
                    }
                    Err(error) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        let _ = stop.send(true);
        // Event streams never end by themselves.
        self.shared.events.close();
        let drained = tokio::time::timeout(options.limits.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("requests still in flight at the end of the grace period were cut");
            connections.shutdown().await;
        }
        maintenance.abort();
        // The events still waiting to be appended.
        self.shared.events.flush(&self.shared.store).await;
        let flushed = self.shared.store.flush().await;
        tracing::info!("stopped");
        flushed
    }
}

impl<S: Store, C: NotificationChannel> DmServer<S, C> {
    /// The TLS acceptor of the options (`None`: plain HTTP). Without the
    /// `openssl` feature it cannot fail.
    #[cfg_attr(not(feature = "openssl"), allow(clippy::unnecessary_wraps))]
    fn acceptor(&self) -> Result<Option<Acceptor>, Error> {
        Ok(match &self.shared.options.tls {
            None => None,
            Some(ServerTls::Rustls(config)) => Some(Acceptor::Rustls(
                tokio_rustls::TlsAcceptor::from(config.clone()),
            )),
            #[cfg(feature = "openssl")]
            Some(ServerTls::OpenSsl(settings)) => {
                let lookup = if settings.psk() {
                    Some(self.psk_lookup()?)
                } else {
                    None
                };
                Some(Acceptor::OpenSsl(crate::tls_openssl::Acceptor::new(
                    settings.clone(),
                    lookup,
                )?))
            }
        })
    }

    /// How the OpenSSL handshake reads the key of a PSK identity: the
    /// handshake's callback is synchronous, so it blocks its worker thread
    /// on the store's look-up (`block_in_place`, which moves the thread's
    /// other tasks away first). That needs the multi-thread runtime.
    #[cfg(feature = "openssl")]
    fn psk_lookup(&self) -> Result<crate::tls_openssl::PskLookup, Error> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let handle = Handle::current();
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(Error::Tls {
                part: "PSK",
                problem: "PSK-TLS reads keys from the store during the handshake, which needs \
                          a multi-thread tokio runtime; this one is not"
                    .into(),
            });
        }
        let shared = self.shared.clone();
        if shared.options.bootstrap.is_some() {
            // The bootstrap role's PSK identities are bootstrap credentials
            // (registered with the bootstrap devices), not management ones.
            let admin = self.admin();
            return Ok(Arc::new(move |identity: &PskIdentity| {
                let found = tokio::task::block_in_place(|| {
                    handle.block_on(admin.bootstrap_psk(identity.as_str()))
                })?;
                found
                    .map(|(_, key)| PskCredentials::new(identity.clone(), key))
                    .transpose()
            }));
        }
        Ok(Arc::new(move |identity: &PskIdentity| {
            tokio::task::block_in_place(|| handle.block_on(shared.store.psk_by_identity(identity)))
                .map(|found| found.map(|(_, psk)| psk))
        }))
    }
}

/// The TLS side of accepted connections.
#[derive(Clone)]
enum Acceptor {
    Rustls(tokio_rustls::TlsAcceptor),
    #[cfg(feature = "openssl")]
    OpenSsl(crate::tls_openssl::Acceptor),
}

/// What TLS proved about a connection's client.
#[derive(Default)]
struct Peer {
    certificate: Option<ClientCertificate>,
    psk_identity: Option<PskIdentity>,
    /// In the bootstrap role: the bootstrap credential (certificate
    /// fingerprint and CN, or PSK identity).
    credential: Option<BootstrapCredential>,
}

/// One accepted connection.
struct Connection {
    router: Router,
    acceptor: Option<Acceptor>,
    stopped: watch::Receiver<bool>,
    header_timeout: Duration,
    header_bytes: usize,
    /// In the bootstrap role: the bootstrap credential (certificate CN) is
    /// read from the client certificate.
    bootstrap: bool,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        match self.acceptor.clone() {
            None => self.serve(stream, Peer::default(), peer).await,
            #[cfg(feature = "openssl")]
            Some(Acceptor::OpenSsl(acceptor)) => {
                let handshake =
                    tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await;
                let accepted = match handshake {
                    Ok(Ok(accepted)) => accepted,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let credential = if self.bootstrap {
                    match (&accepted.certificate, &accepted.psk_identity) {
                        (Some(der), _) => Some(BootstrapCredential::from_certificate_der(der)),
                        (None, Some(identity)) => Some(BootstrapCredential::Psk {
                            identity: identity.as_str().to_owned(),
                        }),
                        (None, None) => None,
                    }
                } else {
                    None
                };
                let client = Peer {
                    certificate: accepted
                        .certificate
                        .map(|der| ClientCertificate::from_der(&der)),
                    // In the bootstrap role a PSK identity is a bootstrap
                    // credential, not a management one.
                    psk_identity: accepted.psk_identity.filter(|_| !self.bootstrap),
                    credential,
                };
                self.serve(accepted.stream, client, peer).await;
            }
            Some(Acceptor::Rustls(acceptor)) => {
                let handshake =
                    tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await;
                let tls = match handshake {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let der = tls.get_ref().1.peer_certificates().and_then(<[_]>::first);
                let client = Peer {
                    certificate: der.map(|der| ClientCertificate::from_der(der)),
                    psk_identity: None,
                    credential: der
                        .filter(|_| self.bootstrap)
                        .map(|der| BootstrapCredential::from_certificate_der(der)),
                };
                self.serve(tls, client, peer).await;
            }
        }
    }

    async fn serve<I>(self, io: I, client: Peer, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            if let Some(certificate) = client.certificate {
                request.extensions_mut().insert(certificate);
            }
            if let Some(identity) = &client.psk_identity {
                request.extensions_mut().insert(identity.clone());
            }
            if let Some(credential) = &client.credential {
                request.extensions_mut().insert(credential.clone());
            }
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // The exact head limit: hyper checks the parsed head against it
            // however its bytes arrived (431), and a head still partial
            // when its bytes reach it.
            .max_header_size(self.header_bytes)
            // What the connection buffers at most (hyper refuses buffers
            // under 8 KiB).
            .max_buf_size(self.header_bytes.max(8 << 10));
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        let mut stopped = self.stopped;
        if *stopped.borrow() {
            connection.as_mut().graceful_shutdown();
        }
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
        }
        if let Err(error) = connection.await {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    }
}
