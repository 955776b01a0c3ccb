//! Registering a batch of devices all or nothing
//! ([`Store::register_devices`](crate::Store::register_devices)): which
//! registration of a batch is refused, and why.

use std::collections::{HashMap, HashSet};

use dm_types::DevId;

use super::{DeviceRegistration, PskIdentity};
use crate::Error;

/// What a store already holds, as far as registering a batch is concerned.
pub(crate) trait Registered {
    /// Whether `dev_id` is registered.
    fn has_device(&self, dev_id: &DevId) -> bool;
    /// The device registered under `username`.
    fn username_owner(&self, username: &str) -> Option<DevId>;
    /// The device registered with this certificate fingerprint.
    fn certificate_owner(&self, sha256: &[u8; 32]) -> Option<DevId>;
    /// The device registered with this PSK identity.
    fn psk_owner(&self, identity: &PskIdentity) -> Option<DevId>;
}

/// The conflicts a store found for a batch: the registered devices, user
/// names and certificates the batch names (what a SQL store reads before
/// writing a batch).
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) devices: HashSet<DevId>,
    pub(crate) usernames: HashMap<String, DevId>,
    pub(crate) certificates: HashMap<[u8; 32], DevId>,
    pub(crate) psk_identities: HashMap<PskIdentity, DevId>,
}

impl Registered for Taken {
    fn has_device(&self, dev_id: &DevId) -> bool {
        self.devices.contains(dev_id)
    }

    fn username_owner(&self, username: &str) -> Option<DevId> {
        self.usernames.get(username).cloned()
    }

    fn certificate_owner(&self, sha256: &[u8; 32]) -> Option<DevId> {
        self.certificates.get(sha256).cloned()
    }

    fn psk_owner(&self, identity: &PskIdentity) -> Option<DevId> {
        self.psk_identities.get(identity).cloned()
    }
}

/// The error registering `batch` in order, one
/// [`Store::register_device`](crate::Store::register_device) (without
/// `replace`) each, would stop at: the first registration whose user name
/// certificate or PSK identity another device holds, or whose device exists, the earlier
/// registrations of the batch counting as registered. `None` when the whole
/// batch can be registered.
pub(crate) fn first_conflict(
    batch: &[DeviceRegistration],
    registered: &impl Registered,
) -> Option<Error> {
    let mut devices: HashSet<&DevId> = HashSet::with_capacity(batch.len());
    let mut usernames: HashMap<&str, &DevId> = HashMap::new();
    let mut certificates: HashMap<&[u8; 32], &DevId> = HashMap::new();
    let mut psk_identities: HashMap<&PskIdentity, &DevId> = HashMap::new();
    for registration in batch {
        let dev_id = &registration.dev_id;
        if let Some(credentials) = &registration.credentials {
            let username = credentials.username.as_str();
            let owner = usernames
                .get(username)
                .map(|owner| (*owner).clone())
                .or_else(|| registered.username_owner(username));
            if let Some(owner) = owner
                && owner != *dev_id
            {
                return Some(Error::UsernameTaken {
                    username: username.to_owned(),
                    owner,
                });
            }
            usernames.insert(username, dev_id);
        }
        if let Some(certificate) = &registration.certificate_sha256 {
            let owner = certificates
                .get(certificate)
                .map(|owner| (*owner).clone())
                .or_else(|| registered.certificate_owner(certificate));
            if let Some(owner) = owner
                && owner != *dev_id
            {
                return Some(Error::CertificateTaken { owner });
            }
            certificates.insert(certificate, dev_id);
        }
        if let Some(psk) = &registration.psk {
            let owner = psk_identities
                .get(&psk.identity)
                .map(|owner| (*owner).clone())
                .or_else(|| registered.psk_owner(&psk.identity));
            if let Some(owner) = owner
                && owner != *dev_id
            {
                return Some(Error::PskIdentityTaken {
                    identity: psk.identity.to_string(),
                    owner,
                });
            }
            psk_identities.insert(&psk.identity, dev_id);
        }
        if !devices.insert(dev_id) || registered.has_device(dev_id) {
            return Some(Error::DeviceExists(dev_id.clone()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> DevId {
        DevId::new(format!("IMEI:{n:015}")).expect("a DevID")
    }

    fn named(n: u32, username: &str) -> DeviceRegistration {
        DeviceRegistration::new(id(n)).with_password(username, "pw", "realm")
    }

    #[test]
    fn a_clean_batch_has_no_conflict() {
        let batch = [named(1, "a"), named(2, "b"), DeviceRegistration::new(id(3))];
        assert!(first_conflict(&batch, &Taken::default()).is_none());
    }

    #[test]
    fn conflicts_inside_the_batch_are_found_in_order() {
        let batch = [named(1, "a"), named(2, "a"), DeviceRegistration::new(id(1))];
        match first_conflict(&batch, &Taken::default()) {
            Some(Error::UsernameTaken { username, owner }) => {
                assert_eq!((username.as_str(), owner), ("a", id(1)));
            }
            other => panic!("{other:?}"),
        }
        let batch = [DeviceRegistration::new(id(1)), named(1, "b")];
        assert!(matches!(
            first_conflict(&batch, &Taken::default()),
            Some(Error::DeviceExists(d)) if d == id(1)
        ));
        let certified = |n| DeviceRegistration::new(id(n)).with_certificate_sha256([7; 32]);
        assert!(matches!(
            first_conflict(&[certified(1), certified(2)], &Taken::default()),
            Some(Error::CertificateTaken { owner }) if owner == id(1)
        ));
    }

    #[test]
    fn registered_conflicts_come_in_the_order_of_the_batch() {
        let mut taken = Taken::default();
        taken.devices.insert(id(9));
        taken.usernames.insert("z".into(), id(8));
        // The user name of the third comes after the device of the second.
        let batch = [named(1, "a"), DeviceRegistration::new(id(9)), named(3, "z")];
        assert!(matches!(
            first_conflict(&batch, &taken),
            Some(Error::DeviceExists(d)) if d == id(9)
        ));
        // A device's own user name is not taken by another: it exists.
        taken.usernames.insert("own".into(), id(9));
        assert!(matches!(
            first_conflict(&[named(9, "own")], &taken),
            Some(Error::DeviceExists(d)) if d == id(9)
        ));
    }
}
