//! A TCP proxy on loopback in front of several upstream addresses (server
//! nodes, a database), handing each new connection to the next upstream in
//! turn, that a test can cut (every open connection is closed and new ones
//! are refused until it heals) or stall (nothing passes any more, nothing
//! is closed: a network that drops every packet).
//!
//! It runs on a runtime of its own (one worker thread), so that it keeps
//! forwarding while the test blocks, whatever runtime the test uses.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long the proxy waits for an upstream to accept a connection before
/// trying the next one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A round-robin TCP proxy on `127.0.0.1:<free port>`; stops when dropped.
///
/// An upstream that refuses a connection (a killed node) is skipped: the
/// connection goes to the next one, as behind a load balancer with health
/// checks. A connection no upstream takes is closed.
///
/// ```
/// use std::io::{Read as _, Write as _};
/// use dm_test_support::proxy::Proxy;
///
/// let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let proxy = Proxy::start(&[upstream.local_addr()?]);
/// let mut client = std::net::TcpStream::connect(proxy.address())?;
/// let (mut server, _) = upstream.accept()?;
/// client.write_all(b"ping")?;
/// let mut seen = [0; 4];
/// server.read_exact(&mut seen)?;
/// assert_eq!(&seen, b"ping");
///
/// proxy.cut(); // the open connection is closed...
/// let mut rest = Vec::new();
/// client.read_to_end(&mut rest)?;
/// assert!(rest.is_empty());
/// proxy.heal(); // ...and new ones pass again
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Forwarding,
    Cut,
    Stalled,
}

struct Shared {
    upstreams: Mutex<Vec<SocketAddr>>,
    next: AtomicUsize,
    /// Connections watch it.
    state: watch::Sender<State>,
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Proxy {
    /// Starts a proxy to `upstreams` (at least one; see
    /// [`Proxy::set_upstreams`]).
    pub fn start(upstreams: &[SocketAddr]) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        // Bound here, without blocking on the runtime: the caller may be
        // inside one.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("the proxy binds a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        let address = listener.local_addr().expect("the proxy's address");
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).expect("a tokio listener")
        };
        let shared = Arc::new(Shared {
            upstreams: Mutex::new(upstreams.to_vec()),
            next: AtomicUsize::new(0),
            state: watch::Sender::new(State::Forwarding),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        runtime.spawn(accept_loop(listener, shared.clone()));
        Proxy {
            address,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Replaces the upstreams new connections go to (open ones stay).
    pub fn set_upstreams(&self, upstreams: &[SocketAddr]) {
        *self.shared.upstreams.lock().expect("lock") = upstreams.to_vec();
    }

    /// Closes every open connection and refuses new ones (accepted and
    /// closed at once) until [`Proxy::heal`].
    pub fn cut(&self) {
        self.shared.state.send_replace(State::Cut);
    }

    /// Stops forwarding anything without closing anything: open
    /// connections stay open and silent, new ones are accepted and never
    /// reach an upstream — until [`Proxy::heal`] (or [`Proxy::cut`]), which
    /// closes them all.
    pub fn stall(&self) {
        self.shared.state.send_replace(State::Stalled);
    }

    /// Lets connections through again (those a stall held are closed).
    pub fn heal(&self) {
        self.shared.state.send_replace(State::Forwarding);
    }

    /// Whether the proxy is cut.
    pub fn is_cut(&self) -> bool {
        *self.shared.state.borrow() == State::Cut
    }

    /// Connections being forwarded now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed at once so far (cut, or no upstream took them).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(runtime) = self.runtime.take() {
            // Allowed inside an async test, unlike dropping the runtime.
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, for example: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *shared.state.borrow() == State::Cut {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, shared.clone()));
    }
}

/// Connects to the upstreams in turn, starting with the next one, and
/// returns the first that accepts.
async fn connect_upstream(shared: &Shared) -> Option<TcpStream> {
    let upstreams = shared.upstreams.lock().expect("lock").clone();
    let first = shared.next.fetch_add(1, Ordering::SeqCst);
    for offset in 0..upstreams.len() {
        let address = upstreams[(first + offset) % upstreams.len()];
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
        {
            return Some(stream);
        }
    }
    None
}

async fn forward(mut client: TcpStream, shared: Arc<Shared>) {
    let mut state = shared.state.subscribe();
    if *state.borrow_and_update() == State::Stalled {
        // Held open, silent, until the stall ends; then closed.
        let _ = state.wait_for(|s| *s != State::Stalled).await;
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let upstream = tokio::select! {
        upstream = connect_upstream(&shared) => upstream,
        _ = state.wait_for(|s| *s != State::Forwarding) => None,
    };
    let Some(mut upstream) = upstream else {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    shared.open.fetch_add(1, Ordering::SeqCst);
    let stopped = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => None,
        stopped = state.wait_for(|s| *s != State::Forwarding) => stopped.ok().map(|s| *s),
    };
    if stopped == Some(State::Stalled) {
        // Nothing passes; both sockets stay open until the stall ends.
        let _ = state.wait_for(|s| *s != State::Stalled).await;
    }
    // Both sockets close here.
    shared.open.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    /// An upstream that answers each connection with its own `name` and
    /// closes it.
    fn upstream(name: u8) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let serving = std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let _ = stream.expect("accepted").write_all(&[name]);
            }
        });
        (address, serving)
    }

    fn first_byte(proxy: &Proxy) -> Option<u8> {
        let mut stream = std::net::TcpStream::connect(proxy.address()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut byte = [0];
        match stream.read(&mut byte) {
            Ok(1) => Some(byte[0]),
            _ => None,
        }
    }

    #[test]
    fn connections_go_round_robin_and_skip_a_dead_upstream() {
        let (a, _) = upstream(b'a');
        let (b, _) = upstream(b'b');
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address");
        let proxy = Proxy::start(&[a, dead, b]);
        let seen: Vec<Option<u8>> = (0..4).map(|_| first_byte(&proxy)).collect();
        // a, (dead: the next one) b, b, a: each upstream took two.
        assert_eq!(seen, [Some(b'a'), Some(b'b'), Some(b'b'), Some(b'a')]);
        assert_eq!(proxy.accepted(), 4);
    }

    #[test]
    fn a_cut_proxy_refuses_until_healed() {
        let (a, _) = upstream(b'a');
        let proxy = Proxy::start(&[a]);
        proxy.cut();
        assert!(proxy.is_cut());
        assert_eq!(first_byte(&proxy), None);
        assert_eq!(proxy.refused(), 1);
        proxy.heal();
        assert_eq!(first_byte(&proxy), Some(b'a'));
        // No upstream at all: closed at once.
        proxy.set_upstreams(&[]);
        assert_eq!(first_byte(&proxy), None);
    }

    #[test]
    fn a_stalled_proxy_holds_connections_silent_until_healed() {
        /// Whether `stream` is closed (EOF or reset) within 5 s.
        fn closed(stream: &mut std::net::TcpStream) -> bool {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut byte = [0];
            match stream.read(&mut byte) {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(_) => false,
            }
        }
        /// Whether nothing arrives on `stream` for 300 ms (and it stays open).
        fn silent(stream: &mut std::net::TcpStream) -> bool {
            stream
                .set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
            let mut byte = [0];
            matches!(stream.read(&mut byte), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
        }
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy = Proxy::start(&[upstream.local_addr().expect("address")]);
        let mut client = std::net::TcpStream::connect(proxy.address()).expect("connect");
        let (mut server, _) = upstream.accept().expect("accepted");
        // Forwarding, end to end.
        client.write_all(b"a").expect("written");
        let mut byte = [0];
        server.read_exact(&mut byte).expect("forwarded");
        proxy.stall();
        std::thread::sleep(Duration::from_millis(100));
        client.write_all(b"lost").expect("written");
        assert!(silent(&mut server), "nothing passes");
        assert!(silent(&mut client), "nothing comes back, nothing closes");
        // A new connection is accepted and held, silent.
        let mut held = std::net::TcpStream::connect(proxy.address()).expect("connect");
        assert!(silent(&mut held));
        proxy.heal();
        assert!(closed(&mut held));
        assert!(closed(&mut client));
        assert!(closed(&mut server));
    }
}
