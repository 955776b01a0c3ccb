//! The system `openssl` tool as a TLS client of a test server: one HTTP
//! request over `openssl s_client` with the suite, PSK or certificate a
//! test names, the suite the handshake negotiated and the HTTP answer.
//! Also the certificates such a test needs, made with `openssl req` and
//! `openssl x509`.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `openssl s_client` run may take.
const RUN_WAIT: Duration = Duration::from_secs(30);

/// The `openssl` binary, when one runs (`openssl version` succeeds):
/// `$OPENSSL` if set, else `openssl` on the `PATH`.
///
/// ```
/// if let Some(openssl) = dm_test_support::s_client::openssl() {
///     assert!(openssl.as_os_str().len() > 0);
/// }
/// ```
pub fn openssl() -> Option<PathBuf> {
    let program = std::env::var_os("OPENSSL").map_or_else(|| PathBuf::from("openssl"), Into::into);
    let ran = Command::new(&program)
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    matches!(ran, Ok(status) if status.success()).then_some(program)
}

/// Runs `openssl ARGS` to completion; panics with its output when it
/// fails.
pub fn run_openssl(openssl: &Path, args: &[&str]) {
    let output = Command::new(openssl)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A certificate and its key, PEM files.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, unencrypted).
    pub key: PathBuf,
}

/// The kind of key a certificate is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, 2048 bits.
    Rsa,
    /// ECDSA on P-256.
    Ecdsa,
}

fn key_args(kind: KeyKind) -> &'static [&'static str] {
    match kind {
        KeyKind::Rsa => &["-newkey", "rsa:2048"],
        KeyKind::Ecdsa => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    }
}

/// A self-signed certificate for `127.0.0.1` (a server's, or a CA's with
/// `ca`), written as `DIR/NAME.pem` and `DIR/NAME.key`.
pub fn self_signed(
    openssl: &Path,
    dir: &Path,
    name: &str,
    kind: KeyKind,
    ca: bool,
) -> CertifiedKey {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let (cert_arg, key_arg) = (path(&cert), path(&key));
    let subject = format!("/CN={name}");
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
    args.extend(key_args(kind));
    args.extend(["-keyout", &key_arg, "-out", &cert_arg, "-subj", &subject]);
    if ca {
        args.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    } else {
        args.extend(["-addext", "subjectAltName=IP:127.0.0.1"]);
    }
    run_openssl(openssl, &args);
    CertifiedKey { cert, key }
}

/// A client certificate `CN=NAME` (ECDSA P-256) issued by `ca`, written
/// as `DIR/NAME.pem` and `DIR/NAME.key`.
pub fn issued(openssl: &Path, dir: &Path, name: &str, ca: &CertifiedKey) -> CertifiedKey {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let request = dir.join(format!("{name}.csr"));
    let subject = format!("/CN={name}");
    let (cert_arg, key_arg, request_arg) = (path(&cert), path(&key), path(&request));
    let mut args = vec!["req", "-nodes"];
    args.extend(key_args(KeyKind::Ecdsa));
    args.extend(["-keyout", &key_arg, "-out", &request_arg, "-subj", &subject]);
    run_openssl(openssl, &args);
    let (ca_cert, ca_key) = (path(&ca.cert), path(&ca.key));
    run_openssl(
        openssl,
        &[
            "x509",
            "-req",
            "-in",
            &request_arg,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "2",
            "-days",
            "2",
            "-out",
            &cert_arg,
        ],
    );
    CertifiedKey { cert, key }
}

/// The DER of the (first) certificate of a PEM file.
pub fn der_of(openssl: &Path, pem: &Path) -> Vec<u8> {
    let output = Command::new(openssl)
        .args(["x509", "-outform", "DER", "-in", &path(pem)])
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "openssl x509 failed");
    output.stdout
}

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_owned()
}

/// An HTTP/1.1 request closing its connection, as bytes.
///
/// ```
/// let request = dm_test_support::s_client::http_request("GET", "/x", "h", &[], b"");
/// assert!(request.starts_with(b"GET /x HTTP/1.1\r\nHost: h\r\n"));
/// ```
pub fn http_request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = vec![
        format!("{method} {target} HTTP/1.1"),
        format!("Host: {host}"),
    ];
    head.extend(
        headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}")),
    );
    head.push(format!("Content-Length: {}", body.len()));
    head.push("Connection: close".to_owned());
    let mut bytes = format!("{}\r\n\r\n", head.join("\r\n")).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// An HTTP answer read from `s_client`'s output.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (as sent: a `Content-Length` body).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first value of a header (name lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What one `openssl s_client` run gave.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The suite `s_client` reports (OpenSSL name): the one the handshake
    /// negotiated when it succeeded (an HTTP answer came), the one the
    /// server chose when it failed late (at `Finished`). `None` when no
    /// suite was chosen.
    pub cipher: Option<String>,
    /// The number of the TLS alert the server sent (RFC 5246 7.2), if any:
    /// 20 `bad_record_mac`, 40 `handshake_failure`, 42 `bad_certificate`,
    /// 48 `unknown_ca`, 51 `decrypt_error`, 115 `unknown_psk_identity`.
    pub alert: Option<u8>,
    /// The HTTP answer, when one came.
    pub answer: Option<HttpAnswer>,
    /// Everything `s_client` printed (stdout, then stderr), for messages.
    pub output: String,
}

/// Connects to `address` with `openssl s_client ARGS` (give `-tls1_2`,
/// `-cipher`, `-psk`/`-psk_identity` or `-cert`/`-key` as the test needs),
/// sends `request` once the handshake is done, and reads until the server
/// closes (`-ign_eof`).
pub fn exchange(openssl: &Path, address: SocketAddr, args: &[&str], request: &[u8]) -> Exchange {
    let connect = address.to_string();
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect", &connect, "-ign_eof", "-no_ticket"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    if let Some(mut input) = child.stdin.take() {
        // A failed handshake ends s_client before it reads: that is its
        // answer.
        let _ = input.write_all(request);
    }
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if started.elapsed() > RUN_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&stdout);
    let cipher = text
        .lines()
        .find_map(|line| line.split_once(", Cipher is ").map(|(_, c)| c.trim()))
        .filter(|c| *c != "(NONE)")
        .map(str::to_owned);
    let answer = find(&stdout, b"HTTP/1.1 ").and_then(|at| parse_answer(&stdout[at..]));
    let alert = String::from_utf8_lossy(&stderr).lines().find_map(|line| {
        let (_, number) = line.split_once("SSL alert number ")?;
        number.trim().parse().ok()
    });
    Exchange {
        cipher,
        alert,
        answer,
        output: format!("{text}\n{}", String::from_utf8_lossy(&stderr)),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_answer(bytes: &[u8]) -> Option<HttpAnswer> {
    let end = find(bytes, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(rest.len());
    let body = rest.get(..length).unwrap_or(rest).to_vec();
    Some(HttpAnswer {
        status,
        headers,
        body,
    })
}
