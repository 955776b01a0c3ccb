//! `decode_command`: one command in the array form of Package#2, decoded
//! as inside `CMD`.

use dm_codec::{Error, Limits, decode_command, decode_package2};
use dm_types::CommandEntry;

/// The command as the only one of a Package#2.
fn in_package(words: &str) -> Result<CommandEntry, Error> {
    let package = format!(r#"{{"CMD":[{words}]}}"#);
    decode_package2(package.as_bytes(), &Limits::default()).map(|p| p.into_commands().remove(0))
}

#[test]
fn decodes_as_inside_a_package() {
    for words in [
        r#"["GET","urn:oma:mo:oma-dm-devinfo:1.0//FwV"]"#,
        r#"["HGET","https://dm.example/repo/wlan","urn:x-acme:mo:wlan:1.0//"]"#,
        r#"["EXEC","urn:x-acme:mo:diag:1.0//Run","https://dm.example/dm/results"]"#,
        r#"["DELETE","urn:oma:mo:moid:1.0/left/a/b"]"#,
        r#"["END"]"#,
        r#"["GET"]"#,
        r#"["FROB","x"]"#,
        r#"["get","urn:x:y//"]"#,
        r#"["GET","urn:x:y//a",  "urn:x:y//b"]"#,
    ] {
        let alone = decode_command(words.as_bytes(), &Limits::default());
        assert_eq!(alone, in_package(words), "{words}");
    }
    let frob = decode_command(br#"["FROB"]"#, &Limits::default()).expect("shape");
    assert!(matches!(frob, CommandEntry::Invalid(c) if c.status().as_u16() == 501));
    let short = decode_command(br#"["GET"]"#, &Limits::default()).expect("shape");
    assert!(matches!(short, CommandEntry::Invalid(c) if c.status().as_u16() == 400));
}

#[test]
fn shape_errors_name_their_place() {
    let error = |json: &str| decode_command(json.as_bytes(), &Limits::default()).expect_err(json);
    assert!(error("[]").to_string().contains("empty array"));
    assert!(error(r#"["GET",5]"#).to_string().contains("$[1]"));
    assert!(
        matches!(error(r#"{"CMD":[["GET","urn:x:y//"]]}"#), Error::Invalid { ref path, .. } if path == "$")
    );
    assert!(matches!(error(r#""GET""#), Error::Invalid { .. }));
    // One command, nothing after it: no second command can be smuggled.
    let trailing = error(r#"["GET","urn:x:y//"],["END"]"#);
    assert!(
        matches!(trailing, Error::Syntax { offset: 19, .. }),
        "{trailing:?}"
    );
    assert!(matches!(
        error(r#"["GET","urn:x:y//"#),
        Error::Syntax { .. }
    ));
    assert!(matches!(
        error("\u{feff}[\"END\"]"),
        Error::Syntax { offset: 0, .. }
    ));
    assert!(matches!(
        decode_command(&[b'[', 0xff, b']'], &Limits::default()),
        Err(Error::Utf8 { offset: 1 })
    ));
}

#[test]
fn limits_of_a_package_apply() {
    let long = format!(r#"["GET","urn:x:y//{}"]"#, "a".repeat(100));
    let limits = Limits::default().with_uri_length(50);
    let err = decode_command(long.as_bytes(), &limits).expect_err("URI too long");
    assert!(
        matches!(err, Error::Limit { ref path, .. } if path == "$[1]"),
        "{err:?}"
    );
    assert_eq!(err.status().as_u16(), 413);
    let limits = Limits::default().with_package_bytes(10);
    let err = decode_command(long.as_bytes(), &limits).expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }));
}
