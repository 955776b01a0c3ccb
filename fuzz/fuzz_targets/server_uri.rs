//! Parses arbitrary text as a ServerURI (absolute http/https) and as a DDF
//! URI (absolute, any scheme). Both keep the text exactly as received and
//! re-parse to themselves; every ServerURI is also a valid DDF URI, and the
//! ServerURI accessors give slices that are consistent with the text.
#![no_main]

use dm_types::{DdfUri, ServerUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ddf = DdfUri::new(text);
    if let Ok(ddf) = &ddf {
        assert_eq!(ddf.as_str(), text, "a DDF URI is kept as received");
        assert_eq!(DdfUri::new(ddf.as_str()).as_ref(), Ok(ddf));
    }
    let Ok(uri) = ServerUri::new(text) else {
        return;
    };
    assert_eq!(
        uri.as_str(),
        text,
        "a ServerURI is kept exactly as received"
    );
    assert_eq!(uri.to_string(), text);
    assert!(
        ddf.is_ok(),
        "ServerURI {text:?} is not accepted as a DDF URI"
    );

    let lower = text.to_ascii_lowercase();
    assert_eq!(uri.is_https(), lower.starts_with("https://"));
    assert!(uri.is_https() || lower.starts_with("http://"));

    let host = uri.host();
    assert!(!host.is_empty(), "a ServerURI has a host");
    assert!(text.contains(host));
    assert!(
        !host.contains(['/', '?', '@', '#']),
        "host {host:?} of {text:?}"
    );
    if !host.starts_with('[') {
        assert!(
            !host.contains(':'),
            "host {host:?} of {text:?} holds the port"
        );
    }

    let path = uri.path_and_query();
    assert!(text.ends_with(path));
    assert!(
        path.is_empty() || path.starts_with(['/', '?']),
        "path {path:?} of {text:?}"
    );
    let authority = &text[text.find("//").map_or(0, |i| i + 2)..text.len() - path.len()];
    assert!(
        authority.ends_with(host) || authority.contains(&format!("{host}:")),
        "host {host:?} is not at the end of authority {authority:?}"
    );
    match uri.port() {
        Some(port) => assert_eq!(uri.port_or_default(), port),
        None => assert_eq!(uri.port_or_default(), if uri.is_https() { 443 } else { 80 }),
    }

    let again = ServerUri::new(uri.as_str()).expect("a ServerURI re-parses");
    assert_eq!(again, uri);
    assert_eq!(
        (again.host(), again.port(), again.path_and_query()),
        (host, uri.port(), path)
    );
    assert!(uri.same_origin(&again));
});
