//! The MO instances of a device kept for caching (docs/protocol.md section
//! 8), within the retention's count and bytes.

use std::collections::VecDeque;

use dm_session::CachedInstance;
use dm_types::DevId;

use super::{KeptInstance, Retention};

/// The MO instances of a device kept for caching, least recently received
/// first.
#[derive(Debug, Default)]
pub(super) struct Cache {
    pub(super) instances: VecDeque<KeptInstance>,
    /// The sum of their encoded sizes.
    pub(super) bytes: usize,
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
