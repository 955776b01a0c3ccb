//! Package#0 delivery: the [`NotificationChannel`] trait and [`UdpChannel`].

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use dm_types::{ConnectionType, Notification, ServerId};

use crate::Error;
use crate::store::NotificationSecret;

/// Carries a signed Package#0 to a device's notification address.
///
/// The server calls [`NotificationChannel::deliver`] with the address the
/// device announced (NotificationAddress alert) or was registered with, and
/// the binary notification. Ship your own for SMS or push gateways.
pub trait NotificationChannel: Send + Sync + 'static {
    /// Sends `bytes` to `address`; [`Error::Delivery`] when it cannot.
    fn deliver(
        &self,
        address: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Sends Package#0 as one UDP datagram to addresses of the form
/// `udp://host:port`.
///
/// ```no_run
/// use dm_server::{NotificationChannel, UdpChannel};
///
/// # async fn example() -> Result<(), dm_server::Error> {
/// UdpChannel.deliver("udp://127.0.0.1:9443", &[0x10, 0x00]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpChannel;

impl NotificationChannel for UdpChannel {
    async fn deliver(&self, address: &str, bytes: &[u8]) -> Result<(), Error> {
        let failed = |message: String| Error::Delivery {
            address: address.to_owned(),
            message,
        };
        let target = address
            .strip_prefix("udp://")
            .ok_or_else(|| failed("only udp://host:port addresses are supported".into()))?
            .trim_end_matches('/');
        let peer = tokio::net::lookup_host(target)
            .await
            .map_err(|e| failed(e.to_string()))?
            .next()
            .ok_or_else(|| failed("the host has no address".into()))?;
        let local: SocketAddr = if peer.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(local)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let sent = socket
            .send_to(bytes, peer)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if sent == bytes.len() {
            Ok(())
        } else {
            Err(failed(format!("sent {sent} of {} bytes", bytes.len())))
        }
    }
}

/// Builds the signed Package#0 the server sends: SERVER-ID, PREFERRED-CON-TYPE
/// any, NOTIFICATION-ID, TIMESTAMP, REQ-MOS, and the SHA256-DIGEST over them
/// with the device's notification secret and auth data.
pub(crate) fn build(
    server_id: &ServerId,
    notification_id: u16,
    timestamp: u64,
    secret: &NotificationSecret,
) -> Result<Vec<u8>, Error> {
    let mut notification = Notification::new(server_id.clone(), ConnectionType::Any);
    notification.notification_id = Some(notification_id);
    notification.timestamp = Some(timestamp);
    notification.req_mos = true;
    Ok(dm_codec::notification::encode_signed(
        &notification,
        &secret.secret,
        &secret.auth_data,
    )?)
}

/// Whether `address` is a notification address
/// ([`dm_types::NotificationAddress`]: `scheme://rest`, printable, bounded).
pub(crate) fn is_valid_address(address: &str) -> bool {
    dm_types::NotificationAddress::new(address).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(is_valid_address("udp://127.0.0.1:9443"));
        assert!(is_valid_address("sms://+4912345"));
        assert!(!is_valid_address("udp://"));
        assert!(!is_valid_address("127.0.0.1:9443"));
        assert!(!is_valid_address("udp://a b"));
        assert!(!is_valid_address(&format!("udp://{}", "a".repeat(600))));
    }

    #[tokio::test]
    async fn udp_channel_refuses_other_schemes() {
        let err = UdpChannel
            .deliver("http://127.0.0.1:1", b"x")
            .await
            .expect_err("not udp");
        assert!(matches!(err, Error::Delivery { .. }));
    }
}
