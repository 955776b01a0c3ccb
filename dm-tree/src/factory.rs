//! Factory and smartcard bootstrap (docs/protocol.md section 11.2): the
//! DMAcc instances a factory image carries, as an MO serialization, and
//! their installation into the tree.

use std::collections::BTreeSet;

use dm_types::{Instance, Miid, Moid};

use crate::{DMACC_MOID, DmAcc, Error, MoInstance, MoTree};

/// The accounts of a factory image or smartcard: an MO serialization
/// (docs/protocol.md section 3.4) whose items are whole DMAcc instances.
///
/// ```
/// use dm_tree::{FactoryAccounts, MoTree};
///
/// let file = br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"bs":{
///     "SrvID":"bs.example","SrvURI":"https://bs.example/dm","Perm":{},
///     "Auth":{"Bootstrap":{"ServerURI":"https://bs.example/bootstrap","SecMode":"AQ==",
///             "ClientPubKey":"ZGV2aWNl","ClientSecretKey":"cHNr"}}}}}]"#;
/// let accounts = FactoryAccounts::decode(file, &dm_codec::Limits::default())?;
/// assert!(accounts[0].is_bootstrap_account());
/// let mut tree = MoTree::new();
/// let miids = tree.install_factory_accounts(&accounts)?;
/// assert_eq!(miids[0].as_str(), "acc1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FactoryAccounts;

impl FactoryAccounts {
    /// Decodes a factory file: `bytes` read with `limits` (depth, sizes,
    /// item count, as every MO serialization), each item a whole DMAcc
    /// instance (ClientURI MOID `urn:oma:mo:oma-dm-dmacc:1.2`, instance
    /// part a MIID or empty, no path) that validates against the DMAcc DDF
    /// and reads as a [`DmAcc`] (`SrvID` and `SrvURI` present, `SecMode` one
    /// byte 0 or 1); a bootstrap account's `Auth/Bootstrap/ServerURI` must be
    /// `https`, and no two accounts share a `SrvID`.
    ///
    /// Errors: [`Error::InvalidData`] at `factory file` (not an MO
    /// serialization, or beyond `limits`) or at `factory item N` (N from 0)
    /// naming the node concerned.
    ///
    /// ```
    /// use dm_tree::{Error, FactoryAccounts};
    ///
    /// let file = br#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0//","MOData":{"DevInfo":{}}}]"#;
    /// let Err(Error::InvalidData { at, reason }) = FactoryAccounts::decode(file, &dm_codec::Limits::default()) else {
    ///     panic!("a DevInfo item is no account");
    /// };
    /// assert_eq!(at, "factory item 0");
    /// assert!(reason.contains("urn:oma:mo:oma-dm-devinfo:1.0"));
    /// ```
    pub fn decode(bytes: &[u8], limits: &dm_codec::Limits) -> Result<Vec<DmAcc>, Error> {
        let items = dm_codec::decode_mo_serialization(bytes, limits)
            .map_err(|e| Error::invalid_data("factory file", e.to_string()))?;
        let moid = Moid::new(DMACC_MOID).unwrap_or_else(|_| unreachable!("constant MOID"));
        let mut seen = BTreeSet::new();
        let mut accounts = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let at = format!("factory item {index}");
            let bad = |reason: String| Error::invalid_data(&at, reason);
            let uri = &item.client_uri;
            if uri.moid() != DMACC_MOID {
                return Err(bad(format!(
                    "ClientURI {uri} is not a DMAcc ({DMACC_MOID}) instance"
                )));
            }
            let miid = match uri.instance() {
                Instance::Sole => Miid::new(format!("factory{index}"))
                    .unwrap_or_else(|_| unreachable!("a valid MIID")),
                Instance::Miid(text) => Miid::new(text.into_owned())
                    .map_err(|e| bad(format!("ClientURI {uri}: {e}")))?,
                _ => {
                    return Err(bad(format!(
                        "ClientURI {uri}: the instance part must be a MIID or empty"
                    )));
                }
            };
            if uri.path_len() != 0 {
                return Err(bad(format!(
                    "ClientURI {uri}: an account is a whole instance (no path)"
                )));
            }
            dm_ddf::standard::dmacc()
                .validate(&item.data)
                .map_err(|e| bad(e.to_string()))?;
            let instance = MoInstance::new(moid.clone(), miid, &item.data);
            let account = DmAcc::from_instance(&instance).map_err(|e| match e {
                Error::InvalidData { reason, .. } => bad(reason),
                other => other,
            })?;
            if let Some(bootstrap) = &account.bootstrap
                && !bootstrap.server_uri.is_https()
            {
                return Err(bad(format!(
                    "Auth/Bootstrap/ServerURI {} is not https",
                    bootstrap.server_uri
                )));
            }
            if !seen.insert(account.server_id.clone()) {
                return Err(bad(format!(
                    "SrvID {} appears in an earlier item",
                    account.server_id
                )));
            }
            accounts.push(account);
        }
        Ok(accounts)
    }
}

impl MoTree {
    /// Installs factory or smartcard accounts (docs/protocol.md section
    /// 11.2) as the device, in order, and returns their MIIDs: a new
    /// `SrvID` is added ([`MoTree::add_dm_acc`]); an existing one is
    /// replaced in place (same MIID, content of `accounts`, the device as
    /// creator): a factory reset image wins over what the tree holds.
    ///
    /// Errors: [`Error::InvalidData`] when two of `accounts` share a
    /// `SrvID` (nothing is installed).
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree};
    /// use dm_types::{ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&DmAcc::new(ServerId::new("dm1")?, ServerUri::new("https://old.example/dm")?))?;
    /// let image = DmAcc::new(ServerId::new("dm1")?, ServerUri::new("https://new.example/dm")?);
    /// assert_eq!(tree.install_factory_accounts(&[image.clone()])?[0].as_str(), "acc1");
    /// assert_eq!(tree.dm_acc(&image.server_id)?, Some(image));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install_factory_accounts(&mut self, accounts: &[DmAcc]) -> Result<Vec<Miid>, Error> {
        let mut seen = BTreeSet::new();
        for account in accounts {
            if !seen.insert(&account.server_id) {
                return Err(Error::invalid_data(
                    "factory accounts",
                    format!("SrvID {} appears twice", account.server_id),
                ));
            }
        }
        let mut miids = Vec::with_capacity(accounts.len());
        for account in accounts {
            let existing = self
                .dm_acc_instance(&account.server_id)
                .map(|instance| instance.miid().clone());
            let miid = match existing {
                Some(miid) => {
                    self.remove(DMACC_MOID, miid.as_str());
                    self.insert(account.to_instance(miid.clone()))?;
                    miid
                }
                None => self.add_dm_acc(account)?,
            };
            miids.push(miid);
        }
        Ok(miids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Vec<DmAcc>, Error> {
        FactoryAccounts::decode(text.as_bytes(), &dm_codec::Limits::default())
    }

    fn error(text: &str) -> (String, String) {
        match decode(text) {
            Err(Error::InvalidData { at, reason }) => (at, reason),
            other => panic!("{text} gave {other:?}"),
        }
    }

    const GOOD: &str = r#"{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/a1/","MOData":{"a1":{"SrvID":"dm1","SrvURI":"https://dm1.example/dm","Perm":{},"Auth":{}}}}"#;

    #[test]
    fn every_error_names_the_item_and_the_node() {
        let cases = [
            ("[", "factory file", ""),
            (
                &format!(
                    r#"[{GOOD},{{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//x","MOData":{{"x":1}}}}]"#
                ),
                "factory item 1",
                "no path",
            ),
            (
                r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/*/","MOData":{"a":{}}}]"#,
                "factory item 0",
                "a MIID or empty",
            ),
            (
                r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvURI":"https://x.example/","Perm":{},"Auth":{}}}}]"#,
                "factory item 0",
                "SrvID",
            ),
            (
                r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"https://b.example/","SecMode":"Ag=="}}}}}]"#,
                "factory item 0",
                "Auth/Bootstrap/SecMode must be one byte",
            ),
            (
                r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"http://b.example/","SecMode":"AA=="}}}}}]"#,
                "factory item 0",
                "is not https",
            ),
            (
                r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{},"Color":"red"}}}]"#,
                "factory item 0",
                "a/Color",
            ),
            (&format!("[{GOOD},{GOOD}]"), "factory item 1", "SrvID dm1"),
        ];
        for (text, at, reason) in cases {
            let (got_at, got_reason) = error(text);
            assert_eq!(got_at, at, "{text}");
            assert!(got_reason.contains(reason), "{text}: {got_reason}");
        }
    }

    #[test]
    fn limits_apply_while_reading() {
        let mut limits = dm_codec::Limits::default();
        limits.mo_data_bytes = 16;
        let Err(Error::InvalidData { at, .. }) =
            FactoryAccounts::decode(format!("[{GOOD}]").as_bytes(), &limits)
        else {
            panic!("the limit did not apply");
        };
        assert_eq!(at, "factory file");
    }

    #[test]
    fn installing_adds_new_accounts_and_replaces_known_ones() {
        let mut tree = MoTree::new();
        let accounts = decode(&format!("[{GOOD}]")).expect("decodes");
        assert_eq!(
            tree.install_factory_accounts(&accounts)
                .expect("installed")
                .iter()
                .map(Miid::as_str)
                .collect::<Vec<_>>(),
            ["acc1"]
        );
        let mut image = accounts[0].clone();
        image.name = "Reset".into();
        let other = DmAcc::new(
            dm_types::ServerId::new("dm2").expect("id"),
            dm_types::ServerUri::new("https://dm2.example/dm").expect("uri"),
        );
        let miids = tree
            .install_factory_accounts(&[image.clone(), other])
            .expect("installed");
        assert_eq!(
            miids.iter().map(Miid::as_str).collect::<Vec<_>>(),
            ["acc1", "acc2"]
        );
        assert_eq!(tree.dm_acc(&image.server_id), Ok(Some(image.clone())));
        assert!(matches!(
            tree.install_factory_accounts(&[image.clone(), image]),
            Err(Error::InvalidData { .. })
        ));
        assert_eq!(tree.instances_of(DMACC_MOID).count(), 2);
    }
}
