//! dm-client's state file loader: arbitrary bytes as the state file of a
//! client being built (one DevInfo, one account), as
//! [`DmClientBuilder::build`](dm_client::DmClientBuilder::build) loads it
//! ([`DmClientBuilder::build_with_state`]).
//!
//! Checks: never panics; a corrupt file is [`Error::StateCorrupt`]; the
//! state file a loaded client would write loads again and is then written
//! identically (a fixed point).
#![no_main]

use std::sync::OnceLock;

use dm_client::{Account, DmClient, DmClientBuilder, Error, Transport};
use dm_tree::{DevInfo, DmAcc};
use dm_types::{DevId, ServerId, ServerUri};
use libfuzzer_sys::fuzz_target;

fn builder() -> DmClientBuilder {
    static TRANSPORT: OnceLock<Transport> = OnceLock::new();
    let transport = TRANSPORT.get_or_init(|| Transport::builder().build().expect("a transport"));
    let devinfo = DevInfo::new(
        DevId::new("IMEI:493005100592800").expect("a DevID"),
        "Acme",
        "X1",
    );
    let account = DmAcc::new(
        ServerId::new("dm.example").expect("a server id"),
        ServerUri::new("http://127.0.0.1:8080/dm").expect("a SrvURI"),
    );
    DmClient::builder(devinfo)
        .account(Account::new(account).allow_every_moid(true))
        .transport(transport.clone())
        .state_file("fuzz-state.json")
}

fuzz_target!(|data: &[u8]| {
    let client = match builder().build_with_state(data) {
        Ok(client) => client,
        Err(Error::StateCorrupt { .. }) => return,
        // A stored DMAcc or DevInfo the builder cannot use.
        Err(Error::Tree(_) | Error::DuplicateAccount(_)) => return,
        Err(e) => panic!("a state file refused with {e:?}"),
    };
    let written = client.state_file_bytes();
    let again = builder().build_with_state(&written).unwrap_or_else(|e| {
        panic!(
            "the state file the client writes does not load: {e}\n{}",
            String::from_utf8_lossy(&written)
        )
    });
    let rewritten = again.state_file_bytes();
    assert!(
        rewritten == written,
        "loading changes the state file:\n{}\n---\n{}",
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&rewritten)
    );
});
