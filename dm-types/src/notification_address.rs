//! The project's `NotificationAddress` alert (docs/protocol.md section 3.1):
//! where a device listens for Package#0.

use std::fmt;

use crate::{Alert, AlertType, Error, JsonObject};

/// Longest notification address accepted, in bytes.
pub const MAX_NOTIFICATION_ADDRESS_LEN: usize = 512;

/// Where a device listens for Package#0, as it announces it in Package#1
/// with the alert type [`AlertType::NOTIFICATION_ADDRESS`]: `scheme://rest`
/// (such as `udp://192.0.2.7:9443` or `sms://+4912345`), printable (no
/// control character, no white space) and at most
/// [`MAX_NOTIFICATION_ADDRESS_LEN`] bytes.
///
/// The alert carries the address both as `TargetURI` and as `Data`
/// `{"Address": ...}` ([`NotificationAddress::to_alert`]); a server reads it
/// back from either ([`NotificationAddress::from_alert`]).
///
/// ```
/// use dm_types::{AlertType, NotificationAddress};
///
/// let address = NotificationAddress::new("udp://192.0.2.7:9443")?;
/// let alert = address.to_alert();
/// assert_eq!(alert.alert_type.as_str(), AlertType::NOTIFICATION_ADDRESS);
/// assert_eq!(alert.target_uri.as_deref(), Some("udp://192.0.2.7:9443"));
/// assert_eq!(NotificationAddress::from_alert(&alert)?, address);
///
/// assert!(NotificationAddress::new("192.0.2.7:9443").is_err());
/// assert!(NotificationAddress::new("udp://a b").is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationAddress(Box<str>);

fn invalid(reason: &'static str) -> Error {
    Error::NotificationAddress { reason }
}

impl NotificationAddress {
    /// Checks `address` against the rules above.
    ///
    /// Errors: [`Error::NotificationAddress`] saying which rule it breaks.
    pub fn new(address: impl Into<String>) -> Result<NotificationAddress, Error> {
        let address = address.into();
        if address.len() > MAX_NOTIFICATION_ADDRESS_LEN {
            return Err(invalid("longer than 512 bytes"));
        }
        let Some((scheme, rest)) = address.split_once("://") else {
            return Err(invalid("not of the form scheme://..."));
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(invalid(
                "the scheme is empty or holds other than letters, digits, '+', '-', '.'",
            ));
        }
        if rest.is_empty() {
            return Err(invalid("nothing follows the scheme"));
        }
        if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("holds a control character or white space"));
        }
        Ok(NotificationAddress(address.into_boxed_str()))
    }

    /// Reads the address of a `NotificationAddress` alert: the `Data` member
    /// `Address` (or `address`, `URI`), else the only text member of `Data`,
    /// else `TargetURI`; then checks it as [`NotificationAddress::new`] does.
    ///
    /// Errors: [`Error::NotificationAddress`] when the alert is of another
    /// type, carries no address, or the address breaks a rule.
    ///
    /// ```
    /// use dm_types::{Alert, AlertType, NotificationAddress};
    ///
    /// let mut alert = Alert::new(AlertType::new(AlertType::NOTIFICATION_ADDRESS)?);
    /// alert.target_uri = Some("udp://192.0.2.7:9443".into());
    /// assert_eq!(NotificationAddress::from_alert(&alert)?.as_str(), "udp://192.0.2.7:9443");
    ///
    /// assert!(NotificationAddress::from_alert(&Alert::client_initiated()).is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn from_alert(alert: &Alert) -> Result<NotificationAddress, Error> {
        if alert.alert_type.as_str() != AlertType::NOTIFICATION_ADDRESS {
            return Err(invalid("the alert is not of type NotificationAddress"));
        }
        let from_data = alert.data.as_ref().and_then(|data| {
            ["Address", "address", "URI"]
                .iter()
                .find_map(|k| data.get(*k).and_then(|v| v.as_str()))
                .or_else(|| {
                    let mut texts = data.values().filter_map(|v| v.as_str());
                    match (texts.next(), texts.next()) {
                        (Some(only), None) => Some(only),
                        _ => None,
                    }
                })
        });
        match from_data.or(alert.target_uri.as_deref()) {
            Some(address) => NotificationAddress::new(address),
            None => Err(invalid("the alert carries no address")),
        }
    }

    /// The alert announcing this address: type
    /// [`AlertType::NOTIFICATION_ADDRESS`], the address as `TargetURI` and as
    /// `Data` `{"Address": ...}` (`DataType` `text/plain`).
    pub fn to_alert(&self) -> Alert {
        let mut alert = Alert::new(
            AlertType::new(AlertType::NOTIFICATION_ADDRESS)
                .unwrap_or_else(|_| unreachable!("the constant is a valid alert type")),
        );
        alert.target_uri = Some(self.0.to_string());
        alert.data_type = Some("text/plain".to_owned());
        let mut data = JsonObject::new();
        data.insert("Address".to_owned(), self.as_str().into());
        alert.data = Some(data);
        alert
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NotificationAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NotificationAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for NotificationAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        NotificationAddress::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(NotificationAddress::new("udp://127.0.0.1:9443").is_ok());
        assert!(NotificationAddress::new("sms://+4912345").is_ok());
        assert!(NotificationAddress::new("udp://").is_err());
        assert!(NotificationAddress::new("127.0.0.1:9443").is_err());
        assert!(NotificationAddress::new("udp://a b").is_err());
        assert!(NotificationAddress::new("://a").is_err());
        assert!(NotificationAddress::new("u_p://a").is_err());
        assert!(NotificationAddress::new(format!("udp://{}", "a".repeat(600))).is_err());
        let longest = format!("udp://{}", "a".repeat(MAX_NOTIFICATION_ADDRESS_LEN - 6));
        assert!(NotificationAddress::new(longest).is_ok());
        assert_eq!(
            NotificationAddress::new("x").map_err(|e| e.status()),
            Err(crate::StatusCode::BAD_REQUEST)
        );
    }

    fn alert(target_uri: Option<&str>, data: &[(&str, serde_json::Value)]) -> Alert {
        let mut alert =
            Alert::new(AlertType::new(AlertType::NOTIFICATION_ADDRESS).expect("valid alert type"));
        alert.target_uri = target_uri.map(str::to_owned);
        if !data.is_empty() {
            alert.data = Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            );
        }
        alert
    }

    #[test]
    fn notification_address_forms() {
        let read = |alert: &Alert| {
            NotificationAddress::from_alert(alert)
                .ok()
                .map(|a| a.as_str().to_owned())
        };
        let cases = [
            (
                alert(None, &[("Address", "udp://a:1".into())]),
                Some("udp://a:1"),
            ),
            (
                alert(None, &[("address", "udp://a:2".into())]),
                Some("udp://a:2"),
            ),
            (
                alert(None, &[("URI", "udp://a:3".into())]),
                Some("udp://a:3"),
            ),
            (alert(None, &[("x", "udp://b:2".into())]), Some("udp://b:2")),
            (alert(None, &[("x", "a".into()), ("y", "b".into())]), None),
            (alert(Some("udp://c:3"), &[]), Some("udp://c:3")),
            (
                alert(Some("udp://c:3"), &[("x", "a".into()), ("y", "b".into())]),
                Some("udp://c:3"),
            ),
            (alert(None, &[]), None),
            // Found, but not an address.
            (
                alert(Some("udp://c:3"), &[("Address", "nowhere".into())]),
                None,
            ),
        ];
        for (alert, expected) in cases {
            assert_eq!(read(&alert).as_deref(), expected, "{alert:?}");
        }
        let address = NotificationAddress::new("udp://192.0.2.7:9443").expect("valid");
        let sent = address.to_alert();
        assert_eq!(sent.data_type.as_deref(), Some("text/plain"));
        assert_eq!(
            sent.data.as_ref().and_then(|d| d.get("Address")),
            Some(&serde_json::Value::from("udp://192.0.2.7:9443"))
        );
        assert_eq!(NotificationAddress::from_alert(&sent), Ok(address));
        assert!(NotificationAddress::from_alert(&Alert::client_initiated()).is_err());
    }
}
