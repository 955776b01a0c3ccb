//! The inputs of the event routes the server reads from outside: the query
//! and `Last-Event-ID` of `GET /admin/events` ([`parse_event_request`])
//! and the JSON body of `POST /admin/webhooks` ([`parse_webhook_json`]).
//! The first byte chooses the reader (0: the stream request, the query
//! and the header split at the first `\n`; 1: a webhook); the rest is its
//! input.
//!
//! Checks: never panics; a refusal is 400; an accepted request names at
//! most every kind once; an accepted webhook has an http(s) URL of at most
//! 2048 bytes and a secret of 1 to 256 bytes.
//!
//! [`parse_event_request`]: dm_server::parse_event_request
//! [`parse_webhook_json`]: dm_server::parse_webhook_json
#![no_main]

use dm_server::{EventKind, parse_event_request, parse_webhook_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 2 {
        0 => {
            let (query, header) = match input.iter().position(|b| *b == b'\n') {
                Some(i) => (&input[..i], Some(&input[i + 1..])),
                None => (input, None),
            };
            let Ok(query) = std::str::from_utf8(query) else {
                return;
            };
            match parse_event_request(Some(query), header) {
                Ok(request) => {
                    assert!(request.filter.kinds.len() <= EventKind::ALL.len());
                }
                Err(e) => assert_eq!(e.status().as_u16(), 400, "{e}"),
            }
        }
        _ => match parse_webhook_json(input) {
            Ok(spec) => {
                assert!(spec.url.starts_with("http://") || spec.url.starts_with("https://"));
                assert!(spec.url.len() <= 2048);
                assert!(!spec.secret.is_empty() && spec.secret.len() <= 256);
            }
            Err(e) => assert!([400, 413].contains(&e.status().as_u16()), "{e}"),
        },
    }
});
