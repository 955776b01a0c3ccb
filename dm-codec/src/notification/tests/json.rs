//! The JSON form: round trip, errors and their offsets, size limit.

use super::*;

#[test]
fn json_round_trip() {
    let mut n = Notification::new(
        ServerId::new("dm \"é\" \\").expect("valid"),
        ConnectionType::Wireline,
    );
    n.notification_id = Some(65535);
    n.digest = Some([0xa5; 32]);
    n.timestamp = Some(u64::MAX);
    n.req_mos = true;
    let text = to_json_string(&n);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).ok(),
        Some(to_json(&n))
    );
    assert_eq!(from_json(text.as_bytes()), Ok(n.clone()));
    assert_eq!(from_json(to_json(&n).to_string().as_bytes()), Ok(n));
}

fn json_err(json: &str) -> (String, String) {
    match from_json(json.as_bytes()) {
        Err(Error::Invalid {
            path,
            message,
            offset,
        }) => {
            assert!(offset <= json.len());
            (path, message)
        }
        Err(Error::Syntax { message, offset }) => {
            assert!(offset <= json.len());
            ("syntax".to_owned(), message)
        }
        other => ("unexpected".to_owned(), format!("{other:?}")),
    }
}

#[test]
fn json_errors() {
    const BASE: &str = r#""VER":1,"SERVER-ID":"dm","PREFERRED-CON-TYPE":1"#;
    let with = |extra: &str| json_err(&format!("{{{BASE},{extra}}}"));
    let pair = |path: &str, message: &str| (path.to_owned(), message.to_owned());
    assert_eq!(json_err("[]").0, "$");
    assert_eq!(json_err("{}"), pair("$", "missing member `VER`"));
    assert_eq!(
        json_err(r#"{"VER":1,"PREFERRED-CON-TYPE":1}"#),
        pair("$", "missing member `SERVER-ID`")
    );
    assert_eq!(
        json_err(r#"{"VER":1,"SERVER-ID":"a"}"#),
        pair("$", "missing member `PREFERRED-CON-TYPE`")
    );
    assert_eq!(
        json_err(r#"{"VER":2,"SERVER-ID":"dm","PREFERRED-CON-TYPE":1}"#),
        pair("$.VER", "VER must be the integer 1, found 2")
    );
    assert_eq!(with(r#""VER":1"#), pair("$", "duplicate member name `VER`"));
    assert_eq!(
        with(r#""x":{"a":1,"a":2}"#),
        pair("$.x", "duplicate member name `a`")
    );
    assert_eq!(
        with(r#""x":[{"a":1,"a":2}]"#),
        pair("$.x", "duplicate member name `a`")
    );
    assert_eq!(
        with(r#""NOTIFICATION-ID":65536"#),
        pair(
            "$.NOTIFICATION-ID",
            "NOTIFICATION-ID must be an integer from 0 to 65535, found 65536"
        )
    );
    assert_eq!(
        with(r#""NOTIFICATION-ID":-1"#).1,
        "NOTIFICATION-ID must be an integer from 0 to 65535, found -1"
    );
    assert_eq!(
        with(r#""TIMESTAMP":1.5"#).1,
        "TIMESTAMP must be an unsigned 64-bit integer, found the non-integer number 1.5"
    );
    assert_eq!(
        with(r#""TIMESTAMP":null"#).1,
        "TIMESTAMP must be an unsigned 64-bit integer, found null"
    );
    assert_eq!(
        with(r#""TIMESTAMP":"1""#).1,
        "TIMESTAMP must be an unsigned 64-bit integer, found a string"
    );
    assert_eq!(
        with(r#""REQ-MOS":false"#),
        pair(
            "$.REQ-MOS",
            "REQ-MOS must be true when present, found false"
        )
    );
    assert_eq!(
        with(r#""REQ-MOS":[]"#).1,
        "REQ-MOS must be true when present, found an array"
    );
    let upper = "AB".repeat(32);
    assert_eq!(
        with(&format!(r#""SHA256-DIGEST":"{upper}""#)),
        pair(
            "$.SHA256-DIGEST",
            "SHA256-DIGEST must be a string of 64 lowercase hex digits"
        )
    );
    assert_eq!(with(r#""SHA256-DIGEST":"00""#).0, "$.SHA256-DIGEST");
    assert_eq!(
        with(r#""SHA256-DIGEST":{}"#).1,
        "SHA256-DIGEST must be a string of 64 lowercase hex digits, found an object"
    );
    assert_eq!(
        json_err(r#"{"VER":1,"SERVER-ID":"","PREFERRED-CON-TYPE":1}"#).0,
        "$.SERVER-ID"
    );
    assert_eq!(
        json_err(r#"{"VER":1,"SERVER-ID":"a","PREFERRED-CON-TYPE":4}"#),
        pair(
            "$.PREFERRED-CON-TYPE",
            "PREFERRED-CON-TYPE must be an integer from 0 to 3, found 4"
        )
    );
    assert_eq!(
        json_err(r#"{"VER":1,"SERVER-ID":7,"PREFERRED-CON-TYPE":1}"#),
        pair("$.SERVER-ID", "SERVER-ID must be a string, found 7")
    );
    assert_eq!(json_err(&format!("{{{BASE}}} x")).0, "syntax");
    assert_eq!(json_err(&format!("{{{BASE}")).0, "syntax");
    assert_eq!(
        json_err(&format!("{{{BASE},\"x\":\"\\ud800\"}}")).0,
        "syntax"
    );
    assert_eq!(json_err(&format!("\u{feff}{{{BASE}}}")).0, "syntax");
    assert!(from_json(&[b'{', 0xff, b'}']).is_err());
    // Unknown members of any shape are ignored.
    let ok = format!(r#"{{{BASE},"x":{{"y":[1,-2,3.5,null,true,"s",{{}}]}},"REQ":false}}"#);
    assert!(from_json(ok.as_bytes()).is_ok());
}

#[test]
fn json_error_offsets() {
    let json = "{\"VER\":1,\n\"SERVER-ID\":\"dm\",\n\"PREFERRED-CON-TYPE\":9}";
    let err = from_json(json.as_bytes()).expect_err("out of range");
    let offset = err.offset().expect("offset");
    // The last byte read: the offending value's.
    assert_eq!(&json[offset..=offset], "9");
    let json = "{\"VER\":1,\n\"SERVER-ID\":\"dm\",\n\"PREFERRED-CON-TYPE\":77}";
    let err = from_json(json.as_bytes()).expect_err("out of range");
    assert_eq!(err.offset(), Some(json.len() - 2));
    // A duplicate name: its closing quote.
    let json = r#"{"VER":1, "VER":1}"#;
    let err = from_json(json.as_bytes()).expect_err("duplicate");
    assert_eq!(err.offset(), Some(14));
    assert_eq!(&json[14..15], "\"");
    // Missing members: the end of the object.
    let err = from_json(b"{ }").expect_err("missing");
    assert_eq!(err.offset(), Some(2));
    // A syntax error on line 1 and on a later line: the offending byte.
    let json = r#"{"VER":1,"SERVER-ID":"a","PREFERRED-CON-TYPE":1} x"#;
    let err = from_json(json.as_bytes()).expect_err("trailing");
    assert_eq!(err.offset(), json.find('x'));
    let json = "{\"VER\":1,\n\"SERVER-ID\":\"a\",\n  x}";
    let err = from_json(json.as_bytes()).expect_err("not a name");
    assert_eq!(err.offset(), json.find('x'));
}

#[test]
fn json_size_limit() {
    let pad = " ".repeat(MAX_JSON_LEN);
    let json = format!(r#"{{"VER":1,"SERVER-ID":"a","PREFERRED-CON-TYPE":1}}{pad}"#);
    assert!(matches!(
        from_json(json.as_bytes()),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn digest_hex_is_lowercase_only() {
    use super::super::json::parse_digest_hex;
    assert_eq!(crate::hex::encode(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    let text = crate::hex::encode(&[0x3c; 32]);
    assert_eq!(parse_digest_hex(&text), Some([0x3c; 32]));
    assert_eq!(parse_digest_hex(&text[1..]), None);
    assert_eq!(parse_digest_hex(&"g0".repeat(32)), None);
    assert_eq!(parse_digest_hex(&"aB".repeat(32)), None, "uppercase");
    assert_eq!(parse_digest_hex(&"+1".repeat(32)), None, "a sign");
}
