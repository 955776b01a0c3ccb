//! Codec figures, each with its ratio to a baseline measured in the same run:
//! - typed decode of a 256-command Package#2 and of a 1 MiB MO serialization
//!   vs `serde_json::from_slice::<Value>` on the same bytes (target >= 1.0x);
//! - encoding vs `serde_json::to_vec(&Value)` of the same document (>= 1.0x);
//! - `ClientUri` parse + display vs `url::Url::parse` of the same string
//!   (>= 2.0x);
//! - notification decode + digest verification vs a bare SHA-256 of the same
//!   bytes the digest covers (`secret || notification || auth_data`), so the
//!   ratio shows what decoding and checking add to the hashing (>= 0.8x).
#![allow(missing_docs, clippy::cast_precision_loss)]

mod support;
use support as ratio;

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dm_codec::Limits;
use dm_types::ClientUri;

/// A realistic Package#2: a mix of every command kind, 256 in all.
fn package2_256() -> Vec<u8> {
    let mut commands = Vec::new();
    for i in 0..255 {
        let cmd = match i % 8 {
            0 => {
                r#"["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID","urn:oma:mo:oma-dm-devinfo:1.0//Man"]"#
                    .to_owned()
            }
            1 => format!(r#"["GET","urn:oma:mo:moid:1.0/(x)/Data/*/Value?nv=(x)/ID:GPS{i}"]"#),
            2 => format!(
                r#"["HGET","https://repo.example.com/mo/{i}","urn:oma:mo:moid:1.0/left/Data/{i}"]"#
            ),
            3 => format!(
                r#"["HPUT","https://repo.example.com/up/{i}","urn:oma:mo:moid:1.0/*/Setting"]"#
            ),
            4 => format!(r#"["DELETE","urn:oma:mo:moid:1.0/left/Data/{i}"]"#),
            5 => format!(
                r#"["EXEC","urn:oma:mo:oma-fumo:1.0/fw/Update","https://dm.example.com/async/{i}"]"#
            ),
            6 => format!(
                r#"["SUB","urn:oma:mo:moid:1.0/left/Setting","https://dm.example.com/changes/{i}"]"#
            ),
            _ => format!(r#"["GET","urn:oma:mo:oma-sessioninfomo:1.0/sessioninfo/CBT?cv={i}"]"#),
        };
        commands.push(cmd);
    }
    commands.push(r#"["END"]"#.to_owned());
    format!(r#"{{"CMD":[{}]}}"#, commands.join(",")).into_bytes()
}

/// An MO serialization of about 1 MiB: instances with nested interior nodes
/// and leaves of every JSON type.
fn mo_serialization_1mib() -> Vec<u8> {
    let mut out = String::from("[");
    let mut instance = 0;
    while out.len() < (1 << 20) {
        if instance > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"{{"ClientURI":"urn:oma:mo:moid:1.0/i{instance}/","CV":"cv{instance}","MOData":{{"Root":{{"ID":"sensor-{instance}","Enabled":true,"Ratio":0.25,"Nothing":null,"Data":{{"#
        )
        .ok();
        for d in 0..16 {
            if d > 0 {
                out.push(',');
            }
            write!(
                out,
                r#""{d}":{{"Date":"2026-11-{:02}","Value":{},"Unit":"celsius","Raw":"AAECAwQFBgc="}}"#,
                d % 28 + 1,
                instance * 16 + d
            )
            .ok();
        }
        out.push_str("}}}}");
        instance += 1;
    }
    out.push(']');
    out.into_bytes()
}

fn decode(c: &mut Criterion) {
    let limits = Limits::default();
    let p2 = package2_256();
    ratio::compare(
        c,
        "decode_package2_256_commands",
        Some(p2.len()),
        1.0,
        || {
            black_box(dm_codec::decode_package2(black_box(&p2), &limits).ok());
        },
        || {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&p2)).ok());
        },
    );
    let mos = mo_serialization_1mib();
    ratio::compare(
        c,
        "decode_mo_serialization_1mib",
        Some(mos.len()),
        1.0,
        || {
            black_box(dm_codec::decode_mo_serialization(black_box(&mos), &limits).ok());
        },
        || {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&mos)).ok());
        },
    );
}

fn encode(c: &mut Criterion) {
    let limits = Limits::default();
    let p2_bytes = package2_256();
    let p2 = dm_codec::decode_package2(&p2_bytes, &limits).expect("bench package decodes");
    let p2_value: serde_json::Value =
        serde_json::from_slice(&p2_bytes).expect("bench package is JSON");
    ratio::compare(
        c,
        "encode_package2_256_commands",
        Some(p2_bytes.len()),
        1.0,
        || {
            black_box(dm_codec::encode_package2(black_box(&p2)));
        },
        || {
            black_box(serde_json::to_vec(black_box(&p2_value)).ok());
        },
    );
    let mos_bytes = mo_serialization_1mib();
    let mos =
        dm_codec::decode_mo_serialization(&mos_bytes, &limits).expect("bench MO data decodes");
    let mos_value: serde_json::Value =
        serde_json::from_slice(&mos_bytes).expect("bench MO data is JSON");
    ratio::compare(
        c,
        "encode_mo_serialization_1mib",
        Some(mos_bytes.len()),
        1.0,
        || {
            black_box(dm_codec::encode_mo_serialization(black_box(&mos)));
        },
        || {
            black_box(serde_json::to_vec(black_box(&mos_value)).ok());
        },
    );
}

fn client_uri(c: &mut Criterion) {
    let uris = [
        "urn:oma:mo:oma-dm-devinfo:1.0//DevID",
        "urn:oma:mo:moid:1.0/left/Data/1/Value",
        "urn:oma:mo:moid:1.0/(x)/Data/*/Value?nv=(x)/ID:GPS",
        "urn:oma:mo:oma-sessioninfomo:1.0/sessioninfo/CBT?cv=686897696a7c876b7e",
        "urn:oma:mo:moid:1.0/left/a%20b/%2A",
    ];
    ratio::compare(
        c,
        "client_uri_parse_display",
        None,
        2.0,
        || {
            for uri in &uris {
                let parsed = ClientUri::parse(black_box(uri)).ok();
                black_box(parsed.map(|u| u.to_string()));
            }
        },
        || {
            for uri in &uris {
                black_box(url::Url::parse(black_box(uri)).ok());
            }
        },
    );
}

fn notification(c: &mut Criterion) {
    use dm_types::{ConnectionType, Notification, ServerId};
    use sha2::Digest as _;

    let mut n = Notification::new(
        ServerId::new("dm.example.com").expect("valid server id"),
        ConnectionType::Wlan,
    );
    n.notification_id = Some(4660);
    n.timestamp = Some(1_764_000_000);
    n.req_mos = true;
    let secret = b"s3cr3t-notification-key";
    let auth_data = b"srv-auth-data";
    let bytes = dm_codec::notification::encode_signed(&n, secret, auth_data).expect("encodes");
    ratio::compare(
        c,
        "notification_verify",
        Some(bytes.len()),
        0.8,
        || {
            black_box(dm_codec::notification::verify_digest(
                black_box(&bytes),
                black_box(secret),
                black_box(auth_data),
            ))
            .ok();
        },
        || {
            let mut hash = sha2::Sha256::new();
            hash.update(black_box(secret));
            hash.update(black_box(&bytes));
            hash.update(black_box(auth_data));
            black_box(hash.finalize());
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(20);
    targets = decode, encode, client_uri, notification
}
criterion_main!(benches);
