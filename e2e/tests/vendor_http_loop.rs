//! A vendor's own HTTP stack around the sans-IO engines: a `ClientSession`
//! and a `ServerSession` talk through a hand-written HTTP/1.1 loop over
//! `std::net::TcpStream` on loopback — no `dm-client`, no `dm-server`, no
//! HTTP library. The server thread parses the request line, headers and
//! body itself and feeds the `ServerSession` (and serves a repository for
//! HGET); the device runs a full session against a `MoTree` holding DevInfo
//! and a DMAcc: Package#1, a GET and an HGET (the write of DM 2.0, which has
//! no REPLACE), CONT to the session URI, Package#3, END. Every socket has a
//! timeout, so a broken engine fails the test instead of hanging it.
//!
//! The code that touches the engines sits in the few small functions under
//! "Engine-facing code"; the HTTP code knows nothing of them.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dm_codec::mime;
use dm_session::{
    ClientConfig, ClientEnd, ClientEvent, ClientSession, Failure, Method, PackageRequest, Request,
    Response, ServerConfig, ServerEvent, ServerSession, TransportFailure, Trigger,
};
use dm_tree::{DevInfo, DmAcc, MoTree};
use dm_types::{ClientUri, Command, DevId, LeafValue, Moid, ServerId, ServerUri, StatusCode};

/// Every read and write on a socket gives up after this long.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// The most requests one session may take (a loop guard).
const MAX_REQUESTS: usize = 16;
/// The largest head or body either side accepts.
const MAX_BYTES: usize = 1 << 20;

const DEV_ID: &str = "IMEI:493005100592800";
const SERVER_ID: &str = "vendor.test";
const VENDOR_MOID: &str = "urn:x:vendor:settings:1.0";
/// Where the server takes Package#1.
const PACKAGE1_PATH: &str = "/dm";
/// The session URI the server sends with CONT; Package#3 goes there.
const SESSION_PATH: &str = "/dm/session/1";
/// The repository document HGET fetches.
const REPOSITORY_PATH: &str = "/repository/settings";
/// The headers of the repository document.
const REPOSITORY_HEADERS: [(&str, &str); 1] = [("Content-Type", mime::MO_DATA)];
const SETTINGS: &str =
    r#"[{"ClientURI":"urn:x:vendor:settings:1.0//","MOData":{"settings":{"Volume":"7"}}}]"#;

// ---------------------------------------------------------------------------
// HTTP/1.1 by hand
// ---------------------------------------------------------------------------

/// One HTTP message as parsed from the wire: the start line split into its
/// words, the headers and the body (`Content-Length` framing only).
#[derive(Debug)]
struct Message {
    start: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    /// The first header `name` (any case).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one message: the start line, headers up to the empty line, then
/// `Content-Length` bytes of body.
fn read_message(stream: &TcpStream) -> std::io::Result<Message> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut head_bytes = 0;
    let mut read_line = |reader: &mut BufReader<&TcpStream>, line: &mut String| {
        line.clear();
        let n = reader.read_line(line)?;
        head_bytes += n;
        if n == 0 || head_bytes > MAX_BYTES || !line.ends_with("\r\n") {
            return Err(invalid("truncated or oversized head"));
        }
        line.truncate(line.len() - 2);
        Ok(())
    };
    read_line(&mut reader, &mut line)?;
    let start: Vec<String> = line.splitn(3, ' ').map(str::to_owned).collect();
    if start.len() != 3 {
        return Err(invalid("malformed start line"));
    }
    let mut headers = Vec::new();
    loop {
        read_line(&mut reader, &mut line)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut message = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let length: usize = match message.header("Content-Length") {
        Some(text) => text.parse().map_err(|_| invalid("bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_BYTES {
        return Err(invalid("body too large"));
    }
    message.body = vec![0; length];
    reader.read_exact(&mut message.body)?;
    Ok(message)
}

/// Writes a message with `Content-Length` framing and `Connection: close`.
fn write_message(
    mut stream: &TcpStream,
    start: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("{start}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// A stream with both timeouts set.
fn bounded(stream: TcpStream) -> std::io::Result<TcpStream> {
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    Ok(stream)
}

/// The client side of one exchange: a new connection to `address`, one
/// request, the whole response.
fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Message> {
    let stream = bounded(TcpStream::connect_timeout(&address, SOCKET_TIMEOUT)?)?;
    let host = address.to_string();
    let mut all = vec![("Host", host.as_str())];
    all.extend_from_slice(headers);
    write_message(&stream, &format!("{method} {path} HTTP/1.1"), &all, body)?;
    read_message(&stream)
}

/// What the server thread reports when the session is over.
#[derive(Debug, Default)]
struct ServerRun {
    /// `METHOD PATH` of every request, in order.
    requests: Vec<String>,
    /// `(tag, status)` of every result, in order.
    results: Vec<(usize, StatusCode)>,
    /// The data of the GET result, as `(ClientURI, text value)`.
    get_data: Vec<(String, String)>,
    ended: bool,
}

/// The vendor's DM server: accepts connections one at a time until the
/// session has ended, answering each request by hand.
fn serve(listener: &TcpListener, commands: Vec<Command>, session_uri: &ServerUri) -> ServerRun {
    let mut run = ServerRun::default();
    let mut session: Option<ServerSession<usize>> = None;
    let mut commands = Some(commands);
    for _ in 0..MAX_REQUESTS {
        let Ok((stream, _)) = listener.accept() else {
            break;
        };
        let Ok(stream) = bounded(stream) else {
            break;
        };
        let Ok(request) = read_message(&stream) else {
            break;
        };
        let (method, path) = (request.start[0].clone(), request.start[1].clone());
        run.requests.push(format!("{method} {path}"));
        let (status, headers, body) = if method == "GET" && path == REPOSITORY_PATH {
            (200, &REPOSITORY_HEADERS[..], SETTINGS.as_bytes().to_vec())
        } else if method == "POST" && (path == PACKAGE1_PATH || path == SESSION_PATH) {
            match server_package(&mut session, &mut commands, session_uri, &request, &mut run) {
                Ok((body, headers)) => (200, headers, body),
                Err(status) => (status, &[][..], Vec::new()),
            }
        } else {
            (404, &[][..], Vec::new())
        };
        let reason = if status == 200 { "OK" } else { "Error" };
        if write_message(
            &stream,
            &format!("HTTP/1.1 {status} {reason}"),
            headers,
            &body,
        )
        .is_err()
        {
            break;
        }
        if session.as_ref().is_some_and(ServerSession::is_ended) {
            run.ended = true;
            break;
        }
    }
    run
}

/// The vendor's device: runs `session` to its end, sending each request the
/// engine asks for over its own HTTP code.
fn drive(session: &mut ClientSession, tree: &mut MoTree, address: SocketAddr) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    for _ in 0..MAX_REQUESTS {
        let Some(request) = session.poll_request() else {
            break;
        };
        match send(address, &request) {
            Ok(response) => client_response(session, &request, &response, tree),
            // No HTTP answer: the engine decides what that means.
            Err(error) => client_failure(session, &request, &error, tree),
        }
        events.extend(std::iter::from_fn(|| session.poll_event()));
        if session.is_ended() {
            break;
        }
    }
    events
}

/// Sends one engine request over a new connection; the answer as the
/// engine takes it.
fn send(address: SocketAddr, request: &Request) -> std::io::Result<Response> {
    let url = request.uri.as_str();
    let path = url
        .strip_prefix(&format!("http://{address}"))
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| std::io::Error::other(format!("not on the test server: {url}")))?;
    let (method, headers, body) = http_request(request);
    let answer = exchange(address, method, path, &headers, body)?;
    let status = answer.start[1]
        .parse()
        .map_err(|_| std::io::Error::other("bad status"))?;
    Ok(Response {
        status,
        content_type: answer.header("Content-Type").map(str::to_owned),
        omadm_accept: answer.header(mime::OMADM_ACCEPT).map(str::to_owned),
        body: answer.body,
    })
}

// ---------------------------------------------------------------------------
// Engine-facing code
// ---------------------------------------------------------------------------

/// The device's tree: DevInfo and a DMAcc letting the server manage
/// DevInfo and the vendor MO.
fn device_tree(server_uri: &ServerUri) -> MoTree {
    let mut tree = MoTree::new();
    let devinfo = DevInfo::new(DevId::new(DEV_ID).expect("DevID"), "Acme", "X1");
    tree.insert(devinfo.to_instance()).expect("DevInfo");
    let mut account = DmAcc::new(
        ServerId::new(SERVER_ID).expect("ServerID"),
        server_uri.clone(),
    );
    account.perm_moids = vec![
        Moid::new(dm_tree::DEVINFO_MOID).expect("MOID"),
        Moid::new(VENDOR_MOID).expect("MOID"),
    ];
    tree.add_dm_acc(&account).expect("DMAcc");
    tree
}

/// A client-initiated session of the device to `server_uri`.
fn client_session(tree: &MoTree, server_uri: &ServerUri, now: Instant) -> ClientSession {
    let config = ClientConfig::new(
        DevId::new(DEV_ID).expect("DevID"),
        ServerId::new(SERVER_ID).expect("ServerID"),
        server_uri.clone(),
    );
    ClientSession::new(config, Trigger::Client, tree, Vec::new(), now)
}

/// The method, headers and body of an engine request on the wire.
fn http_request(request: &Request) -> (&'static str, Vec<(&'static str, &str)>, &[u8]) {
    let method = match request.method {
        Method::Post => "POST",
        Method::Get => "GET",
        Method::Put => "PUT",
    };
    let mut headers = vec![
        ("Accept", request.accept),
        (mime::OMADM_DEV_ID, request.dev_id.as_str()),
    ];
    if let Some(content_type) = request.content_type {
        headers.push(("Content-Type", content_type));
    }
    (method, headers, &request.body)
}

/// Tells the engine that `request` got no HTTP answer (here, every failure
/// counts as a broken connection).
fn client_failure(
    session: &mut ClientSession,
    request: &Request,
    error: &std::io::Error,
    tree: &mut MoTree,
) {
    let failure = Failure::NoAnswer {
        kind: TransportFailure::Interrupted,
        detail: error.to_string(),
    };
    session
        .handle_failure(request.id, failure, tree)
        .expect("the engine awaits the answer to the request it made");
}

/// Hands the HTTP answer to `request` to the engine (a body over the
/// request's `response_limit` is a failure the engine decides on).
fn client_response(
    session: &mut ClientSession,
    request: &Request,
    response: &Response,
    tree: &mut MoTree,
) {
    if request
        .response_limit
        .is_some_and(|limit| response.body.len() > limit)
    {
        session
            .handle_failure(request.id, Failure::BodyTooLarge, tree)
            .expect("the engine awaits the answer to the request it made");
        return;
    }
    session
        .handle_response(request.id, response, tree)
        .expect("the engine awaits the answer to the request it made");
}

/// Feeds a package to the server engine (Package#1 starts the session and
/// queues `commands`, later ones are Package#3) and answers the next
/// Package#2 with the headers the engine gives for it; results are
/// recorded in `run`. `Err` is the HTTP status of a refused package. The
/// engine's time is Unix milliseconds, so a session could continue in
/// another process.
fn server_package(
    session: &mut Option<ServerSession<usize>>,
    commands: &mut Option<Vec<Command>>,
    session_uri: &ServerUri,
    request: &Message,
    run: &mut ServerRun,
) -> Result<(Vec<u8>, Headers), u16> {
    let now = unix_ms();
    let package = PackageRequest {
        content_type: request.header("Content-Type"),
        dev_id: request.header(mime::OMADM_DEV_ID),
        authenticated: None,
        body: &request.body,
    };
    let server = match session {
        None => {
            let config = ServerConfig::default().with_session_uri(session_uri.clone());
            let started =
                ServerSession::start(config, &package, now).map_err(|e| e.status().as_u16())?;
            let server = session.insert(started);
            for (tag, command) in commands.take().unwrap_or_default().into_iter().enumerate() {
                server.enqueue(tag, command);
            }
            server
        }
        Some(server) => {
            server
                .handle_package3(&package, now)
                .map_err(|e| e.status().as_u16())?;
            server
        }
    };
    let body = server.respond(now);
    while let Some(event) = server.poll_event() {
        match event {
            ServerEvent::Result { tag, status, .. } => {
                run.results.push((tag, status.code));
                for item in &status.data {
                    run.get_data
                        .push((item.client_uri.to_string(), text_of(&item.data)));
                }
            }
            ServerEvent::Ended(_) => run.ended = true,
            _ => {}
        }
    }
    Ok((body, server.response_headers()))
}

/// Header names and values of an HTTP answer.
type Headers = &'static [(&'static str, &'static str)];

/// The wall-clock time in Unix milliseconds.
fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// The text of a leaf's MO data in a GET result.
fn text_of(data: &dm_types::MoData) -> String {
    format!("{data:?}")
}

/// The value of the one leaf `uri` designates in the device's tree.
fn leaf(tree: &MoTree, uri: &str) -> Option<LeafValue> {
    let nodes = tree.resolve(&ClientUri::parse(uri).ok()?).ok()?;
    let [node] = nodes.as_slice() else {
        return None;
    };
    node.instance.value(node.id).cloned()
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn a_vendor_http_stack_runs_a_full_session_through_the_engines() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let base = format!("http://{address}");
    let server_uri = ServerUri::new(format!("{base}{PACKAGE1_PATH}")).expect("SrvURI");
    let session_uri = ServerUri::new(format!("{base}{SESSION_PATH}")).expect("session URI");
    let commands = vec![
        Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]).expect("GET"),
        Command::from_words(&["HGET", &format!("{base}{REPOSITORY_PATH}")]).expect("HGET"),
    ];
    let (done, finished) = mpsc::channel();
    let server = thread::spawn(move || {
        let run = serve(&listener, commands, &session_uri);
        let _ = done.send(());
        run
    });

    let mut tree = device_tree(&server_uri);
    assert_eq!(leaf(&tree, "urn:x:vendor:settings:1.0//Volume"), None);
    let mut session = client_session(&tree, &server_uri, Instant::now());
    let events = drive(&mut session, &mut tree, address);

    // The server thread ends with the session; bounded in any case.
    finished
        .recv_timeout(SOCKET_TIMEOUT * 2)
        .expect("the server thread finished");
    let run = server.join().expect("server thread");

    assert!(session.is_ended(), "the client session ended: {events:?}");
    assert_eq!(
        events.last(),
        Some(&ClientEvent::Ended(ClientEnd::Completed)),
        "{events:?}"
    );
    assert!(run.ended, "the server session ended: {run:?}");
    // Package#1 at the SrvURI, the repository fetch of HGET, then Package#3
    // at the session URI the CONT named, answered with END.
    assert_eq!(
        run.requests,
        [
            format!("POST {PACKAGE1_PATH}"),
            format!("GET {REPOSITORY_PATH}"),
            format!("POST {SESSION_PATH}"),
        ],
        "{run:?}"
    );
    assert_eq!(
        run.results,
        [(0, StatusCode::OK), (1, StatusCode::OK)],
        "{run:?}"
    );
    assert_eq!(run.get_data.len(), 1, "{run:?}");
    assert!(
        run.get_data[0]
            .0
            .starts_with("urn:oma:mo:oma-dm-devinfo:1.0/")
            && run.get_data[0].1.contains("Acme"),
        "{run:?}"
    );
    // The HGET changed the device's tree.
    assert_eq!(
        leaf(&tree, "urn:x:vendor:settings:1.0//Volume"),
        Some(LeafValue::Text("7".into()))
    );
}
