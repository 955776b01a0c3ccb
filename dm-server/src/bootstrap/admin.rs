//! The bootstrap operations of [`Admin`]: profiles, bootstrap devices,
//! outcomes, server-initiated bootstrap.

use dm_types::DevId;

use super::BootstrapProfile;
use crate::Error;
use crate::admin::{Admin, NotificationSent};
use crate::notify::{self, NotificationChannel};
use crate::store::{BootstrapDevice, BootstrapOutcomeRecord, Store};

impl<S: Store, C: NotificationChannel> Admin<S, C> {
    /// Adds or replaces (by name) a bootstrap profile; `true` when it
    /// replaced one.
    pub async fn put_bootstrap_profile(&self, profile: BootstrapProfile) -> Result<bool, Error> {
        let name = profile.name.clone();
        let replaced = self.shared.store.put_bootstrap_profile(profile).await?;
        tracing::info!(profile = %name, replaced, "bootstrap profile stored");
        Ok(replaced)
    }

    /// Every bootstrap profile, in name order.
    pub async fn bootstrap_profiles(&self) -> Result<Vec<BootstrapProfile>, Error> {
        self.shared.store.bootstrap_profiles().await
    }

    /// Removes a bootstrap profile; `false` when there was none.
    pub async fn remove_bootstrap_profile(&self, name: &str) -> Result<bool, Error> {
        self.shared.store.remove_bootstrap_profile(name).await
    }

    /// Registers (or replaces) a device with the bootstrap server: its
    /// bootstrap notification secret and address (server-initiated
    /// bootstrap), its PSK (PSK-TLS). A notification address that is not
    /// `scheme://...` is [`Error::InvalidNotificationAddress`].
    pub async fn register_bootstrap_device(&self, device: BootstrapDevice) -> Result<(), Error> {
        if let Some(address) = &device.notification_address
            && !notify::is_valid_address(address)
        {
            return Err(Error::InvalidNotificationAddress(address.clone()));
        }
        let dev_id = device.dev_id.clone();
        self.shared.store.put_bootstrap_device(device).await?;
        tracing::info!(%dev_id, "bootstrap device registered");
        Ok(())
    }

    /// A device of the bootstrap server ([`Error::DeviceNotFound`] when
    /// unknown).
    pub async fn bootstrap_device(&self, dev_id: &DevId) -> Result<BootstrapDevice, Error> {
        self.shared
            .store
            .bootstrap_device(dev_id)
            .await?
            .ok_or_else(|| Error::DeviceNotFound(dev_id.clone()))
    }

    /// Removes a device of the bootstrap server with its outcomes; `false`
    /// when it was not registered.
    pub async fn remove_bootstrap_device(&self, dev_id: &DevId) -> Result<bool, Error> {
        self.shared.store.remove_bootstrap_device(dev_id).await
    }

    /// A device's bootstrap outcomes, newest first (none for a device
    /// never bootstrapped).
    pub async fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> Result<Vec<BootstrapOutcomeRecord>, Error> {
        self.shared.store.bootstrap_outcomes(dev_id).await
    }

    /// The device and pre-shared key of a PSK identity: what a PSK-TLS
    /// layer's callback looks up (`None`: refuse the handshake).
    pub async fn bootstrap_psk(&self, identity: &str) -> Result<Option<(DevId, Vec<u8>)>, Error> {
        let device = self
            .shared
            .store
            .bootstrap_device_by_psk_identity(identity)
            .await?;
        Ok(device.and_then(|d| d.psk.map(|psk| (d.dev_id, psk.key))))
    }

    /// Server-initiated bootstrap (docs/protocol.md section 11.4): sends
    /// the device a Package#0 whose SERVER-ID is this bootstrap server's
    /// SrvID, signed with the device's bootstrap notification secret.
    /// [`Error::DeviceNotFound`] for a device not registered with the
    /// bootstrap server, [`Error::NoNotificationAddress`] /
    /// [`Error::NoNotificationSecret`] when it lacks either,
    /// [`Error::Delivery`] when the channel fails.
    pub async fn notify_bootstrap(&self, dev_id: &DevId) -> Result<NotificationSent, Error> {
        let device = self.bootstrap_device(dev_id).await?;
        let address = device
            .notification_address
            .ok_or_else(|| Error::NoNotificationAddress(dev_id.clone()))?;
        let secret = device
            .notification_secret
            .ok_or_else(|| Error::NoNotificationSecret(dev_id.clone()))?;
        let notification_id = self
            .shared
            .store
            .next_bootstrap_notification_id(dev_id)
            .await?;
        self.deliver_notification(dev_id, address, &secret, notification_id)
            .await
    }
}
