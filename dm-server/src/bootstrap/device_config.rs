//! The JSON form of a bootstrap device registration (the body of
//! `POST /admin/bootstrap/devices`).

use serde::Deserialize;

use dm_types::DevId;

use crate::Error;
use crate::store::BootstrapDevice;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceJson {
    dev_id: String,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    psk: Option<PskJson>,
    #[serde(default)]
    notification: Option<NotificationJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PskJson {
    identity: String,
    key_hex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationJson {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    secret_hex: Option<String>,
    #[serde(default)]
    data_hex: Option<String>,
}

fn invalid(member: &'static str, expected: &'static str) -> Error {
    Error::InvalidMember { member, expected }
}

/// Decodes a bootstrap device registration as strictly as the admin API
/// decodes its bodies ([`crate::decode_admin_json`]; unknown members are
/// refused): `dev_id`, optional `identity` (the certificate CN or PSK
/// identity its bootstrap credential carries), `psk` (`identity`,
/// `key_hex`: 16 to 64 bytes), `notification` (`address`, `secret_hex`,
/// `data_hex`).
///
/// ```
/// use dm_server::bootstrap::parse_bootstrap_device;
///
/// let device = parse_bootstrap_device(br#"{"dev_id":"IMEI:1",
///     "psk":{"identity":"dev-1","key_hex":"000102030405060708090a0b0c0d0e0f"},
///     "notification":{"address":"udp://192.0.2.1:9443","secret_hex":"01ff"}}"#)?;
/// assert_eq!(device.psk.map(|p| p.identity).as_deref(), Some("dev-1"));
/// assert!(parse_bootstrap_device(br#"{"dev_id":"IMEI:1","psk":{"identity":"a","key_hex":"zz"}}"#).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_bootstrap_device(body: &[u8]) -> Result<BootstrapDevice, Error> {
    let value = dm_codec::decode_json(body, &dm_codec::Limits::default())?;
    crate::admin::check_objects("device", &value, &["psk", "notification"])?;
    let json: DeviceJson = serde_json::from_value(value)
        .map_err(|_| invalid("device", "a bootstrap device (docs/admin-api.md)"))?;
    let mut device = BootstrapDevice::new(DevId::new(json.dev_id)?);
    if let Some(identity) = json.identity {
        check_identity(&identity, "identity")?;
        device.identity = Some(identity);
    }
    if let Some(psk) = json.psk {
        check_identity(&psk.identity, "psk.identity")?;
        let key = dm_codec::hex::decode(&psk.key_hex)
            .filter(|k| (16..=64).contains(&k.len()))
            .ok_or(invalid("psk.key_hex", "16 to 64 bytes in hex"))?;
        device = device.with_psk(psk.identity, key);
    }
    if let Some(notification) = json.notification {
        let hex = |text: Option<String>, member| {
            text.map(|t| {
                dm_codec::hex::decode(&t)
                    .filter(|b| b.len() <= 256)
                    .ok_or(invalid(member, "at most 256 bytes in hex"))
            })
            .transpose()
        };
        let secret = hex(notification.secret_hex, "notification.secret_hex")?;
        let data = hex(notification.data_hex, "notification.data_hex")?;
        match (secret, data) {
            (Some(secret), data) => {
                device = device.with_notification_secret(secret, data.unwrap_or_default());
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "notification.data_hex",
                    "given with notification.secret_hex",
                ));
            }
            (None, None) => {}
        }
        if let Some(address) = notification.address {
            if !crate::notify::is_valid_address(&address) {
                return Err(Error::InvalidNotificationAddress(address));
            }
            device = device.with_notification_address(address);
        }
    }
    Ok(device)
}

fn check_identity(identity: &str, member: &'static str) -> Result<(), Error> {
    if identity.is_empty()
        || identity.len() > super::MAX_PROFILE_TEXT
        || identity.chars().any(char::is_control)
    {
        return Err(invalid(
            member,
            "1 to 256 bytes of text without control characters",
        ));
    }
    Ok(())
}
