//! The API key inputs the server reads from outside: the key text of an
//! `Authorization: Bearer` value ([`ApiKey::parse`]), and the body of
//! `POST /admin/keys` ([`parse_api_key_request`]). The first byte chooses
//! the reader (even: key text, odd: body); the rest is its input.
//!
//! Checks: never panics; a refused input is 400 and its message never
//! repeats the input; an accepted key text writes back to the same text;
//! an accepted body has a name of 1 to 64 bytes without control
//! characters.
//!
//! [`ApiKey::parse`]: dm_server::ApiKey::parse
//! [`parse_api_key_request`]: dm_server::access::parse_api_key_request
#![no_main]

use dm_server::access::parse_api_key_request;
use dm_server::{API_KEY_LEN, ApiKey, MAX_API_KEY_NAME_LEN, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        match ApiKey::parse(&text) {
            Ok(key) => assert_eq!(key.text(), text),
            Err(e) => {
                assert_eq!(e.status().as_u16(), 400, "{e}");
                let message = e.to_string();
                // A text shaped like a key is never repeated.
                if text.len() == API_KEY_LEN && text.starts_with("dmk_") {
                    assert!(!message.contains(text.as_ref()), "{message}");
                }
            }
        }
    } else {
        match parse_api_key_request(rest) {
            Ok((name, scope)) => {
                assert!((1..=MAX_API_KEY_NAME_LEN).contains(&name.len()));
                assert!(!name.chars().any(char::is_control));
                assert_eq!(scope.as_str().parse::<Scope>().ok(), Some(scope));
            }
            Err(e) => assert!(matches!(e.status().as_u16(), 400 | 413), "{e}"),
        }
    }
});
