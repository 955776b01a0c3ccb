//! The binary form: decoding rules, their offsets, encoding.

use super::*;

#[test]
fn decodes_minimal() {
    let n = decode(&minimal(2)).expect("valid");
    assert_eq!(n.server_id, "dm");
    assert_eq!(n.preferred_con_type, ConnectionType::Wlan);
    assert_eq!(n.notification_id, None);
    assert_eq!(n.digest, None);
    assert_eq!(n.timestamp, None);
    assert!(!n.req_mos);
}

#[test]
fn header_errors() {
    assert_eq!(
        reason(&[]),
        (0, "truncated header: a notification starts with 2 bytes")
    );
    assert_eq!(
        reason(&[0x11]),
        (1, "truncated header: a notification starts with 2 bytes")
    );
    let mut bytes = minimal(2);
    bytes[0] = 0x21;
    assert_eq!(reason(&bytes), (0, "unknown notification version"));
    bytes[0] = 0x01;
    assert_eq!(reason(&bytes), (0, "unknown notification version"));
}

#[test]
fn reserved_bits_ignored() {
    let mut bytes = minimal(2);
    bytes[1] = 0x7f;
    assert!(decode(&bytes).is_ok());
    // The low bit of OC is the high bit of byte 1: OC 3 with one option missing.
    bytes[1] = 0xff;
    assert_eq!(
        reason(&bytes),
        (7, "truncated: fewer options than the option count")
    );
}

#[test]
fn option_count_must_match() {
    assert_eq!(
        reason(&minimal(3)),
        (7, "truncated: fewer options than the option count")
    );
    let mut bytes = minimal(1);
    assert_eq!(reason(&bytes), (5, "trailing bytes after the last option"));
    bytes = minimal(2);
    bytes.push(0x40);
    assert_eq!(reason(&bytes), (7, "trailing bytes after the last option"));
    assert_eq!(reason(&[0x10, 0x00]), (2, "SERVER-ID is missing"));
}

#[test]
fn delta_rules() {
    // First delta 0.
    assert_eq!(
        reason(&[0x10, 0x80, 0x01, b'a']),
        (2, "option number 0 is invalid (first option delta is 0)")
    );
    // SERVER-ID twice.
    let mut bytes = vec![0x11, 0x80, 0x11, b'a', 0x01, b'b', 0x11, 0x00];
    assert_eq!(reason(&bytes), (4, "option repeated (option delta 0)"));
    // Out of order cannot be written (deltas are unsigned): REQ-MOS then SERVER-ID
    // is SERVER-ID missing.
    bytes = vec![0x11, 0x00, 0x60, 0x11, b'a'];
    assert_eq!(reason(&bytes), (5, "SERVER-ID is missing"));
}

#[test]
fn missing_con_type() {
    assert_eq!(
        reason(&[0x10, 0x80, 0x11, b'a']),
        (4, "PREFERRED-CON-TYPE is missing")
    );
    // Skipped option 7 does not stand in for it.
    assert_eq!(
        reason(&[0x11, 0x00, 0x11, b'a', 0x60]),
        (5, "PREFERRED-CON-TYPE is missing")
    );
}

#[test]
fn truncations() {
    let full = {
        let mut n = Notification::new(
            ServerId::new("x".repeat(20)).expect("valid"),
            ConnectionType::Any,
        );
        n.notification_id = Some(1);
        n.digest = Some([7; 32]);
        n.timestamp = Some(2);
        n.req_mos = true;
        encode(&n).expect("encodes")
    };
    assert!(decode(&full).is_ok());
    for len in 0..full.len() {
        let err = decode(&full[..len]).expect_err("truncated");
        let offset = err.offset().expect("has an offset");
        assert!(offset <= len, "offset {offset} beyond the input of {len}");
    }
    // Extended length byte missing.
    assert_eq!(
        reason(&[0x10, 0x80, 0x1f]),
        (3, "truncated: extended length byte missing")
    );
    // Value shorter than its length.
    assert_eq!(
        reason(&[0x10, 0x80, 0x13, b'a']),
        (4, "truncated: option value runs past the end of the input")
    );
}

#[test]
fn extended_length() {
    for len in [14usize, 15, 16, 200, 270] {
        let id = "s".repeat(len);
        let n = Notification::new(
            ServerId::new(id.clone()).expect("valid"),
            ConnectionType::Any,
        );
        let bytes = encode(&n).expect("encodes");
        if len >= 15 {
            assert_eq!(bytes[2], 0x1f);
            assert_eq!(usize::from(bytes[3]), len - 15);
        } else {
            assert_eq!(usize::from(bytes[2] & 0x0f), len);
        }
        assert_eq!(decode(&bytes).expect("decodes").server_id, *id);
    }
    // Extension byte 0: length 15.
    let mut bytes = vec![0x11, 0x00, 0x1f, 0x00];
    bytes.extend_from_slice(&[b'a'; 15]);
    bytes.extend_from_slice(&[0x11, 0x01]);
    assert_eq!(
        decode(&bytes).expect("decodes").server_id.as_str().len(),
        15
    );
}

#[test]
fn server_id_values() {
    assert_eq!(
        reason(&[0x11, 0x00, 0x10, 0x11, 0x00]),
        (2, "SERVER-ID must not be empty")
    );
    assert_eq!(
        reason(&[0x11, 0x00, 0x13, b'a', 0xff, b'b', 0x11, 0x00]),
        (4, "SERVER-ID is not valid UTF-8")
    );
    assert_eq!(
        reason(&[0x11, 0x00, 0x13, b'a', b'b', 0x07, 0x11, 0x00]),
        (5, "SERVER-ID contains a control character")
    );
    let n = decode(&[0x11, 0x00, 0x12, 0xc3, 0xa9, 0x11, 0x00]).expect("UTF-8 accepted");
    assert_eq!(n.server_id, "é");
}

#[test]
fn fixed_lengths() {
    let with = |option: &[u8]| {
        let mut bytes = minimal(3);
        bytes.extend_from_slice(option);
        reason(&bytes)
    };
    assert_eq!(with(&[0x11, 0x00]), (7, "NOTIFICATION-ID must be 2 bytes"));
    assert_eq!(
        with(&[0x13, 0, 0, 0]),
        (7, "NOTIFICATION-ID must be 2 bytes")
    );
    assert_eq!(with(&[0x12, 0x12, 0x34]).1, "decoded");
    let mut digest = vec![0x2f, 31 - 15];
    digest.extend_from_slice(&[0; 31]);
    assert_eq!(with(&digest), (7, "SHA256-DIGEST must be 32 bytes"));
    assert_eq!(with(&[0x30]), (7, "TIMESTAMP must be 4 or 8 bytes"));
    assert_eq!(
        with(&[0x33, 0, 0, 0]),
        (7, "TIMESTAMP must be 4 or 8 bytes")
    );
    assert_eq!(
        with(&[0x35, 0, 0, 0, 0, 0]),
        (7, "TIMESTAMP must be 4 or 8 bytes")
    );
    assert_eq!(with(&[0x34, 0, 0, 0, 1]).1, "decoded");
    assert_eq!(with(&[0x41, 0x00]), (7, "REQ-MOS must be empty"));
    // Byte at 6 is PREFERRED-CON-TYPE; make it 2 bytes long.
    let bytes = [0x11, 0x00, 0x12, b'd', b'm', 0x12, 0x02, 0x02];
    assert_eq!(reason(&bytes), (5, "PREFERRED-CON-TYPE must be 1 byte"));
    let bytes = [0x11, 0x00, 0x12, b'd', b'm', 0x10];
    assert_eq!(reason(&bytes), (5, "PREFERRED-CON-TYPE must be 1 byte"));
}

#[test]
fn con_type_range() {
    for b in 0..=3u8 {
        let mut bytes = minimal(2);
        bytes[6] = b;
        assert!(decode(&bytes).is_ok());
    }
    for b in [4u8, 0x80, 0xff] {
        let mut bytes = minimal(2);
        bytes[6] = b;
        assert_eq!(reason(&bytes), (6, "PREFERRED-CON-TYPE must be 0 to 3"));
    }
}

#[test]
fn timestamps_four_and_eight_bytes() {
    let mut bytes = minimal(3);
    bytes.extend_from_slice(&[0x34, 0x69, 0x24, 0x81, 0x00]);
    assert_eq!(
        decode(&bytes).expect("decodes").timestamp,
        Some(1_764_000_000)
    );
    let mut bytes = minimal(3);
    bytes.extend_from_slice(&[0x38, 0xff, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        decode(&bytes).expect("decodes").timestamp,
        Some(0xff00_0000_0000_0001)
    );
}

#[test]
fn unknown_options_skipped_but_checked() {
    // Option 7 (delta 5 after PREFERRED-CON-TYPE) with 3 bytes, then option 22.
    let mut bytes = minimal(4);
    bytes.extend_from_slice(&[0x53, 1, 2, 3, 0xf0]);
    assert!(decode(&bytes).is_ok());
    // Its length is still checked.
    let mut bytes = minimal(3);
    bytes.extend_from_slice(&[0x53, 1, 2]);
    assert_eq!(
        reason(&bytes).1,
        "truncated: option value runs past the end of the input"
    );
    // Repeating it is still a delta 0.
    let mut bytes = minimal(4);
    bytes.extend_from_slice(&[0x50, 0x00]);
    assert_eq!(reason(&bytes), (8, "option repeated (option delta 0)"));
    // 31 options: the largest count; option numbers up to 2 + 29 * 15.
    let mut bytes = minimal(31);
    bytes.extend_from_slice(&[0xf0; 29]);
    assert!(decode(&bytes).is_ok());
    // A long unknown option with an extended length.
    let mut bytes = minimal(3);
    bytes.extend_from_slice(&[0x5f, 0xff]);
    bytes.extend_from_slice(&[0; 270]);
    assert!(decode(&bytes).is_ok());
}

#[test]
fn encode_round_trip_and_layout() {
    let mut n = Notification::new(
        ServerId::new("dm.example.com").expect("valid"),
        ConnectionType::Wlan,
    );
    n.notification_id = Some(0x1234);
    n.digest = Some([0x5a; 32]);
    n.timestamp = Some(1_764_000_000);
    n.req_mos = true;
    let bytes = encode(&n).expect("encodes");
    assert_eq!(&bytes[..2], &[0x13, 0x00]);
    assert_eq!(bytes.len(), 2 + 15 + 2 + 3 + 34 + 9 + 1);
    let received = Received::decode(&bytes).expect("decodes");
    assert_eq!(received.notification(), &n);
    assert_eq!(received.digest_offset(), Some(2 + 15 + 2 + 3 + 2));
    // 4-byte timestamps are widened to 8 on re-encoding.
    let mut four = minimal(3);
    four.extend_from_slice(&[0x34, 0, 0, 0, 9]);
    let reencoded = encode(&decode(&four).expect("decodes")).expect("encodes");
    assert_eq!(&reencoded[7..], &[0x38, 0, 0, 0, 0, 0, 0, 0, 9]);
}

#[test]
fn encode_rejects_unknown_version() {
    let mut n = Notification::new(ServerId::new("a").expect("valid"), ConnectionType::Any);
    n.version = 2;
    assert_eq!(encode(&n), Err(error(0, "unknown notification version")));
    n.notification_id = Some(1);
    n.timestamp = Some(1);
    assert!(encode_signed(&n, b"k", b"").is_err());
}
