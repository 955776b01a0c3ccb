//! The bootstrap part of `cargo xtask demo` (docs/bootstrap.md): devices
//! that leave the factory with nothing but a bootstrap account get their
//! management account over the air.
//!
//! - The demo makes its certificates: the bootstrap server's (from a CA the
//!   devices' factory files name as `ServerPubKey`), and the factory CA
//!   that issued each device's bootstrap certificate and the operator's.
//! - `dm serve` runs a bootstrap listener beside the management server, on
//!   the same store; the demo adds a profile and the bootstrap devices with
//!   `dm bootstrap`.
//! - Device #4 bootstraps over mutually authenticated TLS with X.509
//!   certificates (client-initiated), delivers `BootstrapComplete` to the
//!   management server, and is then re-keyed by a server-initiated
//!   bootstrap (a notification signed with its bootstrap account's secret).
//! - Device #5, when `dm` is built with the OpenSSL backend (as CI does),
//!   bootstraps over PSK-TLS.
//!
//! The caller then manages both with the credentials they received.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::demo_process::{Process, spawn, wait_for};

/// The SrvID of the bootstrap server.
pub(crate) const BOOTSTRAP_SERVER_ID: &str = "demo-bootstrap";

/// One device that starts with a bootstrap account only.
pub(crate) struct BootstrapDeviceSpec {
    /// Its DevID.
    pub(crate) dev_id: &'static str,
    /// PSK-TLS (needs the OpenSSL backend) instead of X.509.
    pub(crate) psk: bool,
}

/// Device #4 (X.509) and #5 (PSK-TLS).
pub(crate) const BOOTSTRAP_DEVICES: [BootstrapDeviceSpec; 2] = [
    BootstrapDeviceSpec {
        dev_id: "IMEI:493005100592884",
        psk: false,
    },
    BootstrapDeviceSpec {
        dev_id: "IMEI:493005100592885",
        psk: true,
    },
];

/// The PSK of device #5 (its factory file and its bootstrap registration).
const PSK_IDENTITY: &str = "demo-device-5";
const PSK_KEY_HEX: &str = "5fd3c0b8e1a24a7f9c3d2e1f00112233";

/// The notification secret and data of the devices' bootstrap account
/// (`Auth/Noti`), as the bootstrap server signs its Package#0 with them.
const BOOTSTRAP_NOTI_SECRET_HEX: &str = "626f6f7473747261702d6e6f7469";
const BOOTSTRAP_NOTI_DATA_HEX: &str = "62732d64617461";

/// The files the demo made for the bootstrap role.
pub(crate) struct Materials {
    dir: PathBuf,
    /// DER of the CA that issued the bootstrap server's certificate: the
    /// devices' `ServerPubKey`.
    server_ca_der: Vec<u8>,
    /// Each X.509 device's bootstrap certificate and PKCS#8 key, DER.
    device_identities: Vec<(Vec<u8>, Vec<u8>)>,
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn ca(name: &str) -> Result<(rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>), String> {
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let certificate = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((certificate, rcgen::Issuer::new(params, key)))
}

fn signed(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: Vec<String>,
    common_name: &str,
) -> Result<(rcgen::Certificate, rcgen::KeyPair), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let certificate = params.signed_by(&key, issuer).map_err(|e| e.to_string())?;
    Ok((certificate, key))
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Makes the certificates and keys, in `work/bootstrap`.
///
/// `admin_token` is the server's (the bootstrap listener shares it).
pub(crate) fn prepare(work: &Path, admin_token: &str) -> Result<Materials, String> {
    let dir = work.join("bootstrap");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (server_ca, server_issuer) = ca("demo bootstrap server CA")?;
    let (server, server_key) = signed(
        &server_issuer,
        vec!["127.0.0.1".into()],
        "demo bootstrap server",
    )?;
    let (factory_ca, factory_issuer) = ca("demo factory CA")?;
    let (operator, operator_key) = signed(&factory_issuer, Vec::new(), "demo operator")?;
    write(&dir.join("server-ca.pem"), server_ca.pem())?;
    write(&dir.join("server.pem"), server.pem())?;
    write(&dir.join("server.key"), server_key.serialize_pem())?;
    write(&dir.join("factory-ca.pem"), factory_ca.pem())?;
    write(&dir.join("operator.pem"), operator.pem())?;
    write(&dir.join("operator.key"), operator_key.serialize_pem())?;
    write(&dir.join("admin-token"), format!("{admin_token}\n"))?;
    let mut device_identities = Vec::new();
    for device in BOOTSTRAP_DEVICES.iter().filter(|d| !d.psk) {
        let (certificate, key) = signed(&factory_issuer, Vec::new(), device.dev_id)?;
        device_identities.push((certificate.der().to_vec(), key.serialize_der()));
    }
    Ok(Materials {
        dir,
        server_ca_der: server_ca.der().to_vec(),
        device_identities,
    })
}

/// The `bootstrap` member of the server's configuration: a listener on
/// loopback with its own certificate, requiring a certificate of the
/// factory CA (or, with `psk`, a PSK of a registered bootstrap device:
/// the OpenSSL backend).
pub(crate) fn server_config(materials: &Materials, psk: bool) -> Value {
    let file = |name: &str| materials.dir.join(name).display().to_string();
    let mut tls = json!({
        "cert": file("server.pem"),
        "key": file("server.key"),
        "client_ca": file("factory-ca.pem"),
    });
    if psk {
        tls["backend"] = json!("openssl");
        tls["psk"] = json!(true);
    }
    json!({
        "listen": "127.0.0.1:0",
        "server_id": BOOTSTRAP_SERVER_ID,
        "tls": tls,
    })
}

/// What the bootstrap part leaves for the rest of the demo.
pub(crate) struct Outcome {
    /// `(what, ok, detail)` lines for the summary.
    pub(crate) checks: Vec<(String, bool, String)>,
    /// The devices now managed by the management server (running).
    pub(crate) devices: Vec<(usize, &'static str, Process)>,
}

/// Runs `dm bootstrap` against the bootstrap listener; its JSON answer.
fn cli(dm: &Path, materials: &Materials, admin: &str, args: &[&str]) -> Result<String, String> {
    let file = |name: &str| materials.dir.join(name).display().to_string();
    let output = Command::new(dm)
        .arg("bootstrap")
        .args(["--admin", admin])
        .args(["--token-file", &file("admin-token")])
        .args(["--ca", &file("server-ca.pem")])
        .args(["--cert", &file("operator.pem")])
        .args(["--key", &file("operator.key")])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run dm bootstrap: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "dm bootstrap {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The factory file of a device: one bootstrap account (docs/protocol.md
/// section 11.2), its TLS material in `Auth/Bootstrap` and the secret of
/// the bootstrap server's notifications in `Auth/Noti`.
fn factory_file(
    spec: &BootstrapDeviceSpec,
    identity: Option<&(Vec<u8>, Vec<u8>)>,
    materials: &Materials,
    bootstrap_uri: &str,
) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let bootstrap = if spec.psk {
        json!({
            "ServerURI": bootstrap_uri,
            "SecMode": b64(&[1]),
            "ClientPubKey": b64(PSK_IDENTITY.as_bytes()),
            "ClientSecretKey": b64(&hex_decode(PSK_KEY_HEX)),
            "ServerPubKey": "",
        })
    } else {
        let (certificate, key) = identity.cloned().unwrap_or_default();
        json!({
            "ServerURI": bootstrap_uri,
            "SecMode": b64(&[0]),
            "ClientPubKey": b64(&certificate),
            "ClientSecretKey": b64(&key),
            "ServerPubKey": b64(&materials.server_ca_der),
        })
    };
    json!([{
        "ClientURI": "urn:oma:mo:oma-dm-dmacc:1.2//",
        "MOData": { "DMAcc": {
            "SrvID": BOOTSTRAP_SERVER_ID,
            "SrvURI": bootstrap_uri,
            "Name": "Demo bootstrap server",
            "Perm": {},
            "Auth": {
                "Bootstrap": bootstrap,
                "Noti": {
                    "Type": 1,
                    "Secret": b64(&hex_decode(BOOTSTRAP_NOTI_SECRET_HEX)),
                    "Data": b64(&hex_decode(BOOTSTRAP_NOTI_DATA_HEX)),
                },
            },
        }},
    }])
}

/// How many lines of `log` contain every one of `words`.
fn count_lines(log: &Path, words: &[&str]) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| words.iter().all(|w| line.contains(w)))
        .count()
}

/// Prints the bootstrap lines `dm device` wrote to `log` after the first
/// `skip` of them, for the transcript; how many it printed.
fn print_new_lines(log: &Path, skip: usize) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.starts_with("dm device: ")
                && (line.contains("bootstrap") || line.contains("BootstrapComplete"))
        })
        .skip(skip)
        .collect();
    for line in &lines {
        println!("  {}", line.trim());
    }
    lines.len()
}

/// The management server the profile gives the devices.
pub(crate) struct Management<'a> {
    /// Its base URI (`/dm` is its session endpoint).
    pub(crate) base: &'a str,
    /// Its SrvID.
    pub(crate) server_id: &'a str,
    /// The MOIDs it may manage.
    pub(crate) perm: &'a [&'a str],
}

/// The bootstrap part: profile, devices, client-initiated bootstraps,
/// BootstrapComplete, and a server-initiated re-keying of device #4.
pub(crate) fn run(
    dm: &Path,
    work: &Path,
    materials: &Materials,
    bootstrap_base: &str,
    management: &Management<'_>,
    psk: bool,
) -> Result<Outcome, String> {
    let server_id = management.server_id;
    let bootstrap_uri = format!("{bootstrap_base}/dm");
    let profile = json!({
        "name": "demo-fleet",
        "match": { "dev_id_pattern": "IMEI:49300510059288*" },
        "accounts": [{
            "server_id": server_id,
            "server_uri": format!("{}/dm", management.base),
            "name": "Demo DM server",
            "perm": management.perm,
            "credentials": { "notification_secret": true, "http_password": true },
            "register": "local",
        }],
    });
    write(&materials.dir.join("profile.json"), profile.to_string())?;
    let profile_path = materials.dir.join("profile.json").display().to_string();
    cli(
        dm,
        materials,
        bootstrap_base,
        &["profile", "add", &profile_path],
    )?;
    println!(
        "bootstrap {bootstrap_base}  (dm serve's bootstrap listener: mutual TLS, {}; profile demo-fleet: IMEI:49300510059288* get an account on {} with a fresh HTTP password and notification secret)",
        if psk {
            "OpenSSL backend, X.509 and PSK-TLS"
        } else {
            "rustls, X.509"
        },
        server_id
    );
    let mut checks = Vec::new();
    let mut devices = Vec::new();
    let mut identities = materials.device_identities.iter();
    for (offset, spec) in BOOTSTRAP_DEVICES.iter().enumerate() {
        let number = 4 + offset;
        let identity = if spec.psk { None } else { identities.next() };
        if spec.psk && !psk {
            println!(
                "device #{number}  {}  skipped: PSK-TLS needs dm built with the OpenSSL backend (libssl-dev)",
                spec.dev_id
            );
            continue;
        }
        let mut registration = json!({
            "dev_id": spec.dev_id,
            "notification": {
                "secret_hex": BOOTSTRAP_NOTI_SECRET_HEX,
                "data_hex": BOOTSTRAP_NOTI_DATA_HEX,
            },
        });
        if spec.psk {
            registration["psk"] = json!({ "identity": PSK_IDENTITY, "key_hex": PSK_KEY_HEX });
        }
        let registration_path = materials.dir.join(format!("device-{number}.json"));
        write(&registration_path, registration.to_string())?;
        cli(
            dm,
            materials,
            bootstrap_base,
            &["device", "add", &registration_path.display().to_string()],
        )?;
        let factory = materials.dir.join(format!("factory-{number}.json"));
        write(
            &factory,
            serde_json::to_vec_pretty(&factory_file(spec, identity, materials, &bootstrap_uri))
                .map_err(|e| e.to_string())?,
        )?;
        let log = work.join(format!("device-{number}.log"));
        let args: Vec<String> = [
            "device",
            "--factory",
            &factory.display().to_string(),
            "--state",
            &work
                .join(format!("device-{number}.json"))
                .display()
                .to_string(),
            "--dev-id",
            spec.dev_id,
            "--notify-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        println!();
        println!(
            "-- device #{number}: leaves the factory with a bootstrap account only; client-initiated bootstrap over {}",
            if spec.psk {
                "PSK-TLS (RFC 4279)"
            } else {
                "TLS with X.509 certificates on both sides"
            }
        );
        let (process, address) = spawn(
            dm,
            &format!("device {number}"),
            &args,
            &log,
            "dm device: listening for notifications on ",
        )?;
        let delivered = wait_for("BootstrapComplete", || {
            Ok((count_lines(&log, &["BootstrapComplete", server_id]) >= 1).then_some(()))
        });
        let printed = print_new_lines(&log, 0);
        checks.push((
            format!("#{number} bootstrap, then BootstrapComplete"),
            delivered.is_ok(),
            format!("notifications on {address}"),
        ));
        if !spec.psk {
            // Server-initiated bootstrap: the bootstrap server's signed
            // notification makes the device bootstrap again: re-keyed.
            println!();
            println!(
                "-- device #{number}: re-keyed by a server-initiated bootstrap (Package#0 from {BOOTSTRAP_SERVER_ID}, signed with the bootstrap account's secret)"
            );
            let before = count_lines(&log, &["BootstrapComplete", server_id]);
            let sent = cli(dm, materials, bootstrap_base, &["notify", spec.dev_id])?;
            let again = wait_for("the second BootstrapComplete", || {
                Ok((count_lines(&log, &["BootstrapComplete", server_id]) > before).then_some(()))
            });
            print_new_lines(&log, printed);
            let shown = cli(
                dm,
                materials,
                bootstrap_base,
                &["device", "show", spec.dev_id],
            )?;
            let provisioned = shown.matches("provisioned").count();
            checks.push((
                format!("#{number} re-keyed by a server-initiated bootstrap"),
                again.is_ok() && provisioned >= 2,
                format!("{sent}; {provisioned} bootstraps provisioned"),
            ));
        }
        devices.push((number, spec.dev_id, process));
    }
    Ok(Outcome { checks, devices })
}

/// Whether `dm` should be built with the OpenSSL backend: the system has
/// OpenSSL's development files (pkg-config finds them). A fresh machine with
/// only a Rust toolchain builds without it and runs the X.509 part; so does
/// `DM_DEMO_TLS=rustls`, to see that part on a machine that has OpenSSL.
pub(crate) fn openssl_available() -> bool {
    if std::env::var("DM_DEMO_TLS").is_ok_and(|tls| tls == "rustls") {
        return false;
    }
    Command::new("pkg-config")
        .args(["--exists", "openssl"])
        .status()
        .is_ok_and(|status| status.success())
}
