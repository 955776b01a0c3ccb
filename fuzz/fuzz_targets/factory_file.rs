//! Factory files (docs/protocol.md section 11.2): arbitrary bytes decoded
//! with `FactoryAccounts::decode`. Must never panic; whatever decodes must
//! hold distinct SrvIDs, valid bootstrap accounts (https ServerURI), survive
//! a DMAcc instance round trip unchanged, validate against the DMAcc DDF,
//! and install into an empty tree, one MIID per account.
#![no_main]

use dm_tree::{DmAcc, FactoryAccounts, MoTree, NodeId};
use dm_types::Miid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(accounts) = FactoryAccounts::decode(data, &dm_codec::Limits::default()) else {
        return;
    };
    let mut ids: Vec<_> = accounts.iter().map(|a| a.server_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), accounts.len(), "SrvIDs are unique");
    for account in &accounts {
        if let Some(bootstrap) = &account.bootstrap {
            assert!(bootstrap.server_uri.is_https());
        }
        let instance = account.to_instance(Miid::new("x").expect("valid MIID"));
        assert_eq!(DmAcc::from_instance(&instance).as_ref(), Ok(account));
        let data = instance.to_mo_data(NodeId::ROOT).expect("a root");
        assert!(dm_ddf::standard::dmacc().validate(&data).is_ok());
    }
    let mut tree = MoTree::new();
    let miids = tree
        .install_factory_accounts(&accounts)
        .expect("decoded accounts install");
    assert_eq!(miids.len(), accounts.len());
});
