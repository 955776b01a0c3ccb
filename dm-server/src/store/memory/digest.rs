//! The Digest nonces and nonce counts a device used most recently.

use super::DIGEST_NONCES_PER_DEVICE;

/// The Digest nonces a device used most recently, and the issue time of
/// the newest one forgotten.
#[derive(Debug, Default)]
pub(super) struct DigestUse {
    pub(super) recent: Vec<RecentNonce>,
    pub(super) floor_ms: u64,
}

#[derive(Debug)]
pub(super) struct RecentNonce {
    pub(super) nonce: Box<str>,
    pub(super) issued_ms: u64,
    /// The highest nonce count used with it.
    pub(super) last_nc: u32,
}

impl DigestUse {
    /// See [`Store::use_digest_nonce`].
    pub(super) fn record(
        &mut self,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
        store_floor_ms: u64,
    ) -> bool {
        if let Some(recent) = self.recent.iter_mut().find(|r| *r.nonce == *nonce) {
            if nc <= recent.last_nc {
                return false;
            }
            recent.last_nc = nc;
            return true;
        }
        if issued_ms <= self.floor_ms || issued_ms < store_floor_ms {
            return false;
        }
        if self.recent.len() == DIGEST_NONCES_PER_DEVICE
            && let Some(oldest) = (0..self.recent.len()).min_by_key(|&i| self.recent[i].issued_ms)
        {
            let forgotten = self.recent.swap_remove(oldest);
            self.floor_ms = self.floor_ms.max(forgotten.issued_ms);
        }
        self.recent.push(RecentNonce {
            nonce: nonce.into(),
            issued_ms,
            last_nc: nc,
        });
        true
    }
}
