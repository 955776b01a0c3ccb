//! The bootstrap state of a [`MemoryStore`](super::MemoryStore): profiles,
//! bootstrap devices, open bootstrap sessions and outcomes.

use std::collections::{BTreeMap, HashMap, VecDeque};

use dm_types::DevId;

use crate::Error;
use crate::bootstrap::BootstrapProfile;
use crate::store::{
    BOOTSTRAP_OUTCOMES_PER_DEVICE, BootstrapDevice, BootstrapOutcomeRecord, BootstrapResult,
    BootstrapSessionRecord, SessionToken,
};

#[derive(Debug, Default)]
pub(super) struct BootstrapState {
    profiles: BTreeMap<String, BootstrapProfile>,
    devices: BTreeMap<DevId, BootstrapDevice>,
    sessions: HashMap<SessionToken, BootstrapSessionRecord>,
    outcomes: HashMap<DevId, VecDeque<BootstrapOutcomeRecord>>,
}

impl BootstrapState {
    pub(super) fn put_profile(&mut self, profile: BootstrapProfile) -> bool {
        self.profiles
            .insert(profile.name.clone(), profile)
            .is_some()
    }

    pub(super) fn profiles(&self) -> Vec<BootstrapProfile> {
        self.profiles.values().cloned().collect()
    }

    pub(super) fn remove_profile(&mut self, name: &str) -> bool {
        self.profiles.remove(name).is_some()
    }

    pub(super) fn put_device(&mut self, mut device: BootstrapDevice) -> Result<(), Error> {
        if let Some(psk) = &device.psk
            && let Some(owner) = self.devices.values().find(|d| {
                d.dev_id != device.dev_id
                    && d.psk.as_ref().is_some_and(|p| p.identity == psk.identity)
            })
        {
            return Err(Error::PskIdentityTaken {
                identity: psk.identity.clone(),
                owner: owner.dev_id.clone(),
            });
        }
        if let Some(old) = self.devices.get(&device.dev_id) {
            device.last_notification_id = old.last_notification_id;
            if device.notification_address.is_none() {
                device
                    .notification_address
                    .clone_from(&old.notification_address);
            }
        }
        self.devices.insert(device.dev_id.clone(), device);
        Ok(())
    }

    pub(super) fn device(&self, dev_id: &DevId) -> Option<BootstrapDevice> {
        self.devices.get(dev_id).cloned()
    }

    pub(super) fn device_by_psk_identity(&self, identity: &str) -> Option<BootstrapDevice> {
        self.devices
            .values()
            .find(|d| d.psk.as_ref().is_some_and(|p| p.identity == identity))
            .cloned()
    }

    pub(super) fn remove_device(&mut self, dev_id: &DevId) -> bool {
        self.outcomes.remove(dev_id);
        self.devices.remove(dev_id).is_some()
    }

    pub(super) fn set_address(&mut self, dev_id: &DevId, address: &str) -> bool {
        match self.devices.get_mut(dev_id) {
            Some(device) => {
                device.notification_address = Some(address.to_owned());
                true
            }
            None => false,
        }
    }

    pub(super) fn next_notification_id(&mut self, dev_id: &DevId) -> Result<u16, Error> {
        let device = self
            .devices
            .get_mut(dev_id)
            .ok_or_else(|| Error::DeviceNotFound(dev_id.clone()))?;
        let id = match device.last_notification_id {
            None | Some(u16::MAX) => 1,
            Some(last) => last + 1,
        };
        device.last_notification_id = Some(id);
        Ok(id)
    }

    pub(super) fn save_session(&mut self, session: BootstrapSessionRecord) {
        self.sessions.insert(session.token, session);
    }

    pub(super) fn session(&self, token: SessionToken) -> Option<BootstrapSessionRecord> {
        self.sessions.get(&token).cloned()
    }

    pub(super) fn take_account_data(
        &mut self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> Option<(DevId, String)> {
        let session = self
            .sessions
            .values_mut()
            .find(|s| s.data_token == data_token)?;
        if session.binding != binding || now_ms > session.expires_ms {
            return None;
        }
        let data = session.account_data.take()?;
        Some((session.dev_id.clone(), data))
    }

    pub(super) fn end_session(
        &mut self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> bool {
        if self.sessions.remove(&token).is_none() {
            return false;
        }
        let outcomes = self.outcomes.entry(outcome.dev_id.clone()).or_default();
        outcomes.push_front(outcome);
        outcomes.truncate(BOOTSTRAP_OUTCOMES_PER_DEVICE);
        true
    }

    pub(super) fn expire_sessions(&mut self, now_ms: u64) -> Vec<BootstrapSessionRecord> {
        let expired: Vec<SessionToken> = self
            .sessions
            .values()
            .filter(|s| now_ms > s.expires_ms)
            .map(|s| s.token)
            .collect();
        let mut ended = Vec::with_capacity(expired.len());
        for token in expired {
            if let Some(session) = self.sessions.get(&token).cloned() {
                let outcome = BootstrapOutcomeRecord::of_session(
                    &session,
                    BootstrapResult::Abandoned {
                        reason: "the session expired".into(),
                    },
                    now_ms,
                );
                self.end_session(token, outcome);
                ended.push(session);
            }
        }
        ended
    }

    pub(super) fn outcomes(&self, dev_id: &DevId) -> Vec<BootstrapOutcomeRecord> {
        self.outcomes
            .get(dev_id)
            .map(|o| o.iter().cloned().collect())
            .unwrap_or_default()
    }
}
