//! `dm serve` on the OpenSSL backend negotiates every cipher suite of
//! docs/protocol.md section 12 with the system `openssl s_client`, the
//! seven PSK-TLS suites and the six X.509 suites, and a real Package#1 over
//! each opens a session for the device the PSK or the client certificate
//! names. A wrong key, an unknown PSK identity and a client certificate of
//! another CA fail the handshake: no HTTP request, no session.
//!
//! With `--features postgres` too, a PSK handshake while the PostgreSQL
//! store is out of reach fails, logged, and works again once it is back.
//!
//! Needs `--features openssl`; skips (outside CI) without an `openssl`
//! binary, fails without one in CI (`CI` set).

#![cfg(feature = "openssl")]

#[cfg(feature = "postgres")]
mod faults;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use dm_test_support::process::DmServe;
use dm_test_support::s_client::{
    self, CertifiedKey, Exchange, KeyKind, exchange, http_request, issued, self_signed,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const TOKEN: &str = "tls-suites-admin-token";
const PSK_DEVICE: &str = "IMEI:493005100592810";
const PSK_IDENTITY: &str = "device-psk@dm.example";
const PSK_KEY: &str = "00112233445566778899aabbccddeeff0123456789abcdef";
const CERT_DEVICE: &str = "IMEI:493005100592811";

/// The PSK-TLS suites of section 12 (OpenSSL names).
const PSK_SUITES: [&str; 7] = [
    "PSK-AES128-GCM-SHA256",
    "DHE-PSK-AES128-GCM-SHA256",
    "RSA-PSK-AES128-GCM-SHA256",
    "PSK-AES128-CBC-SHA256",
    "DHE-PSK-AES128-CBC-SHA256",
    "RSA-PSK-AES128-CBC-SHA256",
    "ECDHE-PSK-AES128-CBC-SHA256",
];

/// The X.509 suites of section 12 (OpenSSL names).
const X509_SUITES: [&str; 6] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "DHE-RSA-AES128-GCM-SHA256",
    "AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "DHE-RSA-AES128-SHA256",
    "AES128-SHA256",
];

/// Package#1 of a client-initiated session with an MO list.
const P1: &str = r#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dm-cli-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `openssl` binary, or `None` (outside CI) to skip.
fn openssl_or_skip() -> Option<PathBuf> {
    let found = s_client::openssl();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the openssl binary is required in CI (set OPENSSL or put it on the PATH)"
        );
        eprintln!("skipped: no openssl binary (set OPENSSL or put it on the PATH)");
    }
    found
}

/// What the test's server and clients use.
struct Setup {
    openssl: PathBuf,
    server: DmServe,
    /// The server's certificates (RSA and ECDSA), for `-CAfile`.
    server_certificates: PathBuf,
    device_certificate: CertifiedKey,
    stranger_certificate: CertifiedKey,
    _scratch: Scratch,
}

impl Setup {
    /// `dm serve` on OpenSSL with both certificates, the devices' CA
    /// (client certificates required when `required`) and PSK-TLS, on the
    /// store `store`.
    fn start(openssl: PathBuf, required: bool, store: &str) -> Setup {
        let scratch = Scratch::new("tls-suites");
        let dir = scratch.0.as_path();
        let rsa = self_signed(&openssl, dir, "server-rsa", KeyKind::Rsa, false);
        let ecdsa = self_signed(&openssl, dir, "server-ecdsa", KeyKind::Ecdsa, false);
        let devices_ca = self_signed(&openssl, dir, "devices-ca", KeyKind::Ecdsa, true);
        let other_ca = self_signed(&openssl, dir, "other-ca", KeyKind::Ecdsa, true);
        let device_certificate = issued(&openssl, dir, "device-2", &devices_ca);
        // The same subject, from a CA the server does not trust.
        let stranger_certificate = issued(&openssl, dir, "stranger", &other_ca);
        let server_certificates = dir.join("server-certificates.pem");
        let mut both = std::fs::read(&rsa.cert).expect("RSA certificate");
        both.extend(std::fs::read(&ecdsa.cert).expect("ECDSA certificate"));
        std::fs::write(&server_certificates, both).expect("written");
        let fingerprint = Sha256::digest(s_client::der_of(&openssl, &device_certificate.cert));
        let config = json!({
            "server_id": "dm.example",
            "admin_token": TOKEN,
            "store": store,
            "tls": {
                "backend": "openssl",
                "cert": rsa.cert, "key": rsa.key,
                "ecdsa_cert": ecdsa.cert, "ecdsa_key": ecdsa.key,
                "client_ca": devices_ca.cert,
                "client_certificate_required": required,
                "psk": true
            },
            "devices": [
                {"dev_id": PSK_DEVICE, "psk": {"identity": PSK_IDENTITY, "key_hex": PSK_KEY}},
                {"dev_id": CERT_DEVICE, "certificate_sha256": dm_codec::hex::encode(&fingerprint)}
            ]
        });
        let path = dir.join("dm.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("written");
        let server = DmServe::start(
            env!("CARGO_BIN_EXE_dm"),
            &[
                "--config",
                path.to_str().expect("UTF-8"),
                "--listen",
                "127.0.0.1:0",
            ],
        );
        Setup {
            openssl,
            server,
            server_certificates,
            device_certificate,
            stranger_certificate,
            _scratch: scratch,
        }
    }

    fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// `openssl s_client -tls1_2 -cipher SUITE ARGS` sending `request`.
    fn over(&self, suite: &str, args: &[&str], request: &[u8]) -> Exchange {
        // The client's security level is the server's (2), whatever the
        // system configuration says.
        let cipher = format!("{suite}:@SECLEVEL=2");
        let ca = self.server_certificates.to_str().expect("UTF-8");
        let mut all = vec!["-tls1_2", "-cipher", &cipher];
        if !suite.starts_with("PSK-")
            && !suite.starts_with("DHE-PSK")
            && !suite.starts_with("ECDHE-PSK")
        {
            // Suites with a server certificate: check it.
            all.extend(["-CAfile", ca, "-verify_return_error"]);
        }
        all.extend(args);
        exchange(&self.openssl, self.address(), &all, request)
    }

    /// Package#1 of `dev_id` over `suite` with `credentials` (s_client
    /// arguments).
    fn package1(&self, suite: &str, credentials: &[&str], dev_id: &str) -> Exchange {
        let request = http_request(
            "POST",
            "/dm",
            &self.address().to_string(),
            &[
                ("Content-Type", "application/vnd.oma.dm.initiation+json"),
                ("Accept", "application/vnd.oma.dm.request+json"),
                ("OMADM-DevID", dev_id),
            ],
            P1.as_bytes(),
        );
        self.over(suite, credentials, &request)
    }

    /// The admin API's record of a device (`GET /admin/devices/{dev_id}`),
    /// over TLS without a client credential.
    fn device(&self, dev_id: &str) -> Value {
        let segment = dev_id.replace(':', "%3A");
        let request = http_request(
            "GET",
            &format!("/admin/devices/{segment}"),
            &self.address().to_string(),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        );
        let exchanged = self.over("ECDHE-ECDSA-AES128-GCM-SHA256", &[], &request);
        let answer = exchanged
            .answer
            .unwrap_or_else(|| panic!("no admin answer:\n{}", exchanged.output));
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).expect("JSON")
    }

    /// The id of a device's latest session.
    fn last_session(&self, dev_id: &str) -> Value {
        self.device(dev_id)["last_session"]["id"].clone()
    }
}

/// The `s_client` arguments of the PSK device's credentials.
const PSK_ARGUMENTS: [&str; 4] = ["-psk", PSK_KEY, "-psk_identity", PSK_IDENTITY];

/// The `s_client` arguments of a client certificate.
fn certificate_arguments(certified: &CertifiedKey) -> [&str; 4] {
    [
        "-cert",
        certified.cert.to_str().expect("UTF-8"),
        "-key",
        certified.key.to_str().expect("UTF-8"),
    ]
}

/// Asserts that `exchanged` negotiated `suite` and that its Package#1 got
/// a Package#2 (HTTP 200, the DM request type).
fn assert_session(exchanged: &Exchange, suite: &str) {
    assert_eq!(
        exchanged.cipher.as_deref(),
        Some(suite),
        "negotiated suite:\n{}",
        exchanged.output
    );
    let answer = exchanged
        .answer
        .as_ref()
        .unwrap_or_else(|| panic!("{suite}: no HTTP answer:\n{}", exchanged.output));
    assert_eq!(
        answer.status,
        200,
        "{suite}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.oma.dm.request+json"),
        "{suite}"
    );
}

/// Asserts that the server failed the handshake of `exchanged` with an
/// alert (no HTTP request went through); the alert.
fn assert_refused(exchanged: &Exchange, what: &str) -> u8 {
    assert!(
        exchanged.answer.is_none(),
        "{what}: an HTTP answer came:\n{}",
        exchanged.output
    );
    exchanged
        .alert
        .unwrap_or_else(|| panic!("{what}: no alert from the server:\n{}", exchanged.output))
}

#[test]
fn every_suite_of_the_specification_opens_a_session_for_its_device() {
    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let setup = Setup::start(openssl, false, "memory");
    let psk = PSK_ARGUMENTS;
    for suite in PSK_SUITES {
        let before = setup.last_session(PSK_DEVICE);
        let exchanged = setup.package1(suite, &psk, PSK_DEVICE);
        assert_session(&exchanged, suite);
        let after = setup.last_session(PSK_DEVICE);
        assert!(after.is_string(), "{suite}: no session recorded");
        assert_ne!(after, before, "{suite}: no new session for the PSK device");
    }
    let certificate = certificate_arguments(&setup.device_certificate);
    for suite in X509_SUITES {
        let before = setup.last_session(CERT_DEVICE);
        let exchanged = setup.package1(suite, &certificate, CERT_DEVICE);
        assert_session(&exchanged, suite);
        let after = setup.last_session(CERT_DEVICE);
        assert!(after.is_string(), "{suite}: no session recorded");
        assert_ne!(
            after, before,
            "{suite}: no new session for the certified device"
        );
    }
    // The PSK names its device: another device's DevID over it is refused
    // (403), and opens nothing for either.
    let before = (setup.device(PSK_DEVICE), setup.device(CERT_DEVICE));
    let exchanged = setup.package1("PSK-AES128-GCM-SHA256", &psk, CERT_DEVICE);
    let answer = exchanged.answer.expect("an HTTP answer");
    assert_eq!(
        answer.status,
        403,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        (setup.device(PSK_DEVICE), setup.device(CERT_DEVICE)),
        before
    );
    // The key is never shown.
    let shown = setup.device(PSK_DEVICE);
    assert_eq!(shown["psk_identity"], PSK_IDENTITY);
    assert!(!shown.to_string().contains(PSK_KEY));
}

#[test]
fn a_wrong_key_an_unknown_identity_and_a_foreign_certificate_open_nothing() {
    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let setup = Setup::start(openssl, false, "memory");
    let before = (setup.device(PSK_DEVICE), setup.device(CERT_DEVICE));
    assert!(before.0["last_session"].is_null());
    assert!(before.1["last_session"].is_null());

    let wrong_key = "ffeeddccbbaa99887766554433221100";
    for suite in ["PSK-AES128-GCM-SHA256", "ECDHE-PSK-AES128-CBC-SHA256"] {
        let exchanged = setup.package1(
            suite,
            &["-psk", wrong_key, "-psk_identity", PSK_IDENTITY],
            PSK_DEVICE,
        );
        let wrong = assert_refused(&exchanged, &format!("a wrong key over {suite}"));
        let exchanged = setup.package1(
            suite,
            &["-psk", PSK_KEY, "-psk_identity", "nobody@dm.example"],
            PSK_DEVICE,
        );
        let unknown = assert_refused(&exchanged, &format!("an unknown identity over {suite}"));
        // Both fail at Finished with the same alert: the failure does not
        // tell an unknown identity from a wrong key.
        assert_eq!(unknown, wrong, "{suite}");
        assert_eq!(wrong, 20, "bad_record_mac, {suite}");
    }
    let stranger = certificate_arguments(&setup.stranger_certificate);
    for suite in ["ECDHE-ECDSA-AES128-GCM-SHA256", "AES128-SHA256"] {
        let exchanged = setup.package1(suite, &stranger, CERT_DEVICE);
        assert_refused(&exchanged, &format!("a foreign certificate over {suite}"));
    }
    // Nothing was recorded for either device, and no device appeared.
    assert_eq!(
        (setup.device(PSK_DEVICE), setup.device(CERT_DEVICE)),
        before
    );
    let list = http_request(
        "GET",
        "/admin/devices",
        &setup.address().to_string(),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"",
    );
    let listed = setup.over("ECDHE-ECDSA-AES128-GCM-SHA256", &[], &list);
    let body: Value =
        serde_json::from_slice(&listed.answer.expect("an admin answer").body).expect("JSON");
    assert_eq!(body["devices"].as_array().map(Vec::len), Some(2), "{body}");
    // The server is still serving: the right key still works.
    let exchanged = setup.package1("PSK-AES128-GCM-SHA256", &PSK_ARGUMENTS, PSK_DEVICE);
    assert_session(&exchanged, "PSK-AES128-GCM-SHA256");
}

#[test]
fn a_required_client_certificate_is_required_of_x509_suites_only() {
    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let setup = Setup::start(openssl, true, "memory");
    // Without a certificate, an X.509 suite fails the handshake.
    let exchanged = setup.package1("ECDHE-ECDSA-AES128-GCM-SHA256", &[], CERT_DEVICE);
    assert_refused(&exchanged, "no client certificate");
    let certificate = certificate_arguments(&setup.device_certificate);
    let exchanged = setup.package1("AES128-GCM-SHA256", &certificate, CERT_DEVICE);
    assert_session(&exchanged, "AES128-GCM-SHA256");
    // PSK suites carry no certificate: the PSK authenticates.
    let exchanged = setup.package1("DHE-PSK-AES128-GCM-SHA256", &PSK_ARGUMENTS, PSK_DEVICE);
    assert_session(&exchanged, "DHE-PSK-AES128-GCM-SHA256");
}

/// The PSK callback reads the key from the store: when the store cannot be
/// reached, the handshake fails (within the store's pool timeout, logged),
/// and PSK-TLS works again once it is back.
#[cfg(feature = "postgres")]
#[test]
fn a_store_out_of_reach_fails_the_psk_handshake_and_is_logged() {
    use std::time::{Duration, Instant};

    use dm_test_support::proxy::Proxy;

    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(database) = runtime.block_on(faults::fresh_database("tls_suites store outage")) else {
        return;
    };
    let proxy = Proxy::start(&[faults::postgres_address(database.url())]);
    let store = faults::postgres_url_via(database.url(), proxy.address());
    let setup = Setup::start(openssl, false, &store);
    let suite = "PSK-AES128-GCM-SHA256";
    assert_session(&setup.package1(suite, &PSK_ARGUMENTS, PSK_DEVICE), suite);

    proxy.cut();
    let started = Instant::now();
    let exchanged = setup.package1(suite, &PSK_ARGUMENTS, PSK_DEVICE);
    let took = started.elapsed();
    let alert = assert_refused(&exchanged, "the store out of reach");
    assert_eq!(alert, 115, "unknown_psk_identity:\n{}", exchanged.output);
    // The pool's timeouts (5 s) and a margin for a loaded machine.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    assert!(
        setup
            .server
            .stderr()
            .contains("PSK handshake failed: the store could not be read"),
        "{}",
        setup.server.stderr()
    );

    proxy.heal();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exchanged = setup.package1(suite, &PSK_ARGUMENTS, PSK_DEVICE);
        if exchanged.answer.is_some() {
            assert_session(&exchanged, suite);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PSK-TLS did not come back:\n{}",
            exchanged.output
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
