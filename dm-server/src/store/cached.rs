//! An MO instance kept for caching, as the stores keep it: `KeptInstance`
//! (docs/protocol.md section 8).

use dm_session::CachedInstance;
use dm_types::{Miid, Moid};

use super::wire;

/// One kept instance: its MO serialization (one item, with its ClientURI
/// and `CV`), which is what it costs.
#[derive(Debug)]
pub(super) struct KeptInstance {
    pub(super) moid: Moid,
    pub(super) miid: Miid,
    pub(super) encoded: Box<[u8]>,
}

impl KeptInstance {
    pub(super) fn new(instance: &CachedInstance) -> KeptInstance {
        KeptInstance {
            moid: instance.moid.clone(),
            miid: instance.miid.clone(),
            encoded: dm_codec::encode_mo_serialization(std::slice::from_ref(&instance.item))
                .into_boxed_slice(),
        }
    }

    /// The kept instance, decoded (`None` if the bytes no longer decode,
    /// which the encoder never lets happen).
    pub(super) fn instance(&self) -> Option<CachedInstance> {
        let items =
            dm_codec::decode_mo_serialization(&self.encoded, &wire::stored_limits()).ok()?;
        let item = items.into_iter().next()?;
        Some(CachedInstance {
            moid: self.moid.clone(),
            miid: self.miid.clone(),
            cache_validator: item.cache_validator.clone()?,
            item,
        })
    }
}
