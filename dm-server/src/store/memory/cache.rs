//! The MO instances of a device kept for caching (docs/protocol.md section
//! 8), within the retention's count and bytes.

use std::collections::VecDeque;

use dm_session::CachedInstance;
use dm_types::{DevId, Miid, Moid};

use super::{Retention, wire};

/// The MO instances of a device kept for caching, least recently received
/// first.
#[derive(Debug, Default)]
pub(super) struct Cache {
    pub(super) instances: VecDeque<KeptInstance>,
    /// The sum of their encoded sizes.
    pub(super) bytes: usize,
}

/// One kept instance: its MO serialization (one item, with its ClientURI
/// and `CV`), which is what it costs.
#[derive(Debug)]
pub(in crate::store) struct KeptInstance {
    pub(in crate::store) moid: Moid,
    pub(in crate::store) miid: Miid,
    pub(in crate::store) encoded: Box<[u8]>,
}

impl KeptInstance {
    pub(in crate::store) fn new(instance: &CachedInstance) -> KeptInstance {
        KeptInstance {
            moid: instance.moid.clone(),
            miid: instance.miid.clone(),
            encoded: dm_codec::encode_mo_serialization(std::slice::from_ref(&instance.item))
                .into_boxed_slice(),
        }
    }

    /// The kept instance, decoded (`None` if the bytes no longer decode,
    /// which the encoder never lets happen).
    pub(in crate::store) fn instance(&self) -> Option<CachedInstance> {
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

impl Cache {
    /// Keeps `instance` in place of what was kept for it, then forgets the
    /// least recently received beyond the retention.
    pub(super) fn keep(
        &mut self,
        dev_id: &DevId,
        instance: &CachedInstance,
        retention: &Retention,
    ) {
        if let Some(index) = self
            .instances
            .iter()
            .position(|k| k.moid == instance.moid && k.miid == instance.miid)
            && let Some(old) = self.instances.remove(index)
        {
            self.bytes = self.bytes.saturating_sub(old.encoded.len());
        }
        if retention.cached_instances == 0 {
            // Caching is off.
            return;
        }
        let kept = KeptInstance::new(instance);
        if kept.encoded.len() > retention.cache_bytes {
            tracing::warn!(
                %dev_id,
                moid = %instance.moid,
                miid = %instance.miid,
                bytes = kept.encoded.len(),
                max_bytes = retention.cache_bytes,
                "MO instance too large to keep for caching"
            );
            return;
        }
        self.bytes = self.bytes.saturating_add(kept.encoded.len());
        self.instances.push_back(kept);
        self.trim(retention);
    }

    pub(super) fn trim(&mut self, retention: &Retention) {
        while self.instances.len() > retention.cached_instances
            || self.bytes > retention.cache_bytes
        {
            let Some(old) = self.instances.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.encoded.len());
        }
    }
}
