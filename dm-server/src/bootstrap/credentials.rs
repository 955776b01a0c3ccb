//! The credentials a bootstrap makes for a device: notification secrets,
//! HTTP passwords and client certificates from the issuing CA, and the DMAcc
//! data that carries them to the device.

use std::fmt;

use dm_tree::{DmAcc, HttpAuth, NotificationAuth, TransportAuth};
use dm_types::DevId;

use super::profile::{AccountProfile, BootstrapProfile, RegistrationTarget};
use crate::Error;
use crate::store::PendingRegistration;
use crate::util::{random, sha256};

/// How long an issued client certificate is valid.
const CERTIFICATE_DAYS: i64 = 3650;

/// The CA that issues the client certificates of management accounts
/// (`Auth/Trsp`): CN = DevID, a fresh P-256 key per certificate.
///
/// ```
/// use dm_server::bootstrap::IssuingCa;
///
/// let key = rcgen::KeyPair::generate()?;
/// let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
/// params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// let certificate = params.self_signed(&key)?;
/// let ca = IssuingCa::from_pem(&certificate.pem(), &key.serialize_pem())?;
/// let (der, _key) = ca.issue(&dm_types::DevId::new("IMEI:1")?)?;
/// assert!(!der.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IssuingCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuingCa").finish_non_exhaustive()
    }
}

impl IssuingCa {
    /// The CA of this certificate and private key (PEM).
    pub fn from_pem(certificate_pem: &str, key_pem: &str) -> Result<IssuingCa, Error> {
        let tls = |problem: rcgen::Error| Error::Tls {
            part: "issuing CA",
            problem: problem.to_string(),
        };
        let key = rcgen::KeyPair::from_pem(key_pem).map_err(tls)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(certificate_pem, key).map_err(tls)?;
        Ok(IssuingCa { issuer })
    }

    /// The CA of an rcgen issuer.
    pub fn from_issuer(issuer: rcgen::Issuer<'static, rcgen::KeyPair>) -> IssuingCa {
        IssuingCa { issuer }
    }

    /// Issues a client certificate for `dev_id`: the certificate (DER) and
    /// its private key (PKCS#8 DER).
    pub fn issue(&self, dev_id: &DevId) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let tls = |problem: rcgen::Error| Error::Tls {
            part: "client certificate",
            problem: problem.to_string(),
        };
        let key = rcgen::KeyPair::generate().map_err(tls)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, dev_id.as_str());
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = std::time::SystemTime::now();
        params.not_before = now.into();
        params.not_after = (now
            + std::time::Duration::from_secs(
                u64::try_from(CERTIFICATE_DAYS).unwrap_or(0) * 86_400,
            ))
        .into();
        let certificate = params.signed_by(&key, &self.issuer).map_err(tls)?;
        Ok((certificate.der().to_vec(), key.serialize_der()))
    }
}

/// What a bootstrap provisions on one device: the DMAcc data the device
/// HGETs (secrets included), and the registrations to make once it has.
#[derive(Clone)]
#[non_exhaustive]
pub struct Provisioning {
    /// The MO serialization body of the DMAcc instances.
    pub account_data: Vec<u8>,
    /// One registration per account, in profile order.
    pub registrations: Vec<PendingRegistration>,
}

impl fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioning")
            .field(
                "account_data",
                &format_args!("{} bytes", self.account_data.len()),
            )
            .field("registrations", &self.registrations)
            .finish()
    }
}

/// Makes fresh credentials for every account of `profile` for `dev_id`
/// (client certificates from `ca`; [`Error::Config`] when the profile asks
/// for one and there is no issuing CA), and the DMAcc data carrying them.
///
/// ```
/// use dm_server::bootstrap::{BootstrapProfile, provision};
/// use dm_types::DevId;
///
/// let profile = BootstrapProfile::from_json(br#"{"name":"p","match":{"dev_id_pattern":"*"},
///     "accounts":[{"server_id":"dm","server_uri":"https://dm.example/dm",
///     "credentials":{"http_password":true,"notification_secret":true}}]}"#)?;
/// let provisioning = provision(&profile, &DevId::new("IMEI:1")?, None)?;
/// assert_eq!(provisioning.registrations.len(), 1);
/// assert!(provisioning.registrations[0].http.is_some());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn provision(
    profile: &BootstrapProfile,
    dev_id: &DevId,
    ca: Option<&IssuingCa>,
) -> Result<Provisioning, Error> {
    let mut accounts = Vec::with_capacity(profile.accounts.len());
    let mut registrations = Vec::with_capacity(profile.accounts.len());
    for account in &profile.accounts {
        let (dm_acc, registration) = provision_account(account, dev_id, ca)?;
        accounts.push(dm_acc);
        registrations.push(registration);
    }
    Ok(Provisioning {
        account_data: dm_session::bootstrap_server::account_data(&accounts),
        registrations,
    })
}

fn provision_account(
    profile: &AccountProfile,
    dev_id: &DevId,
    ca: Option<&IssuingCa>,
) -> Result<(DmAcc, PendingRegistration), Error> {
    let mut account = DmAcc::new(profile.server_id.clone(), profile.server_uri.clone());
    account.name.clone_from(&profile.name);
    account.perm_moids.clone_from(&profile.perm_moids);
    let remote = match &profile.register {
        RegistrationTarget::Local => None,
        RegistrationTarget::Remote(name) => Some(name.clone()),
    };
    let mut registration = PendingRegistration::new(profile.server_id.as_str(), remote);
    let kinds = profile.credentials;
    if kinds.notification_secret {
        let secret: [u8; 32] = random()?;
        let data: [u8; 16] = random()?;
        account.notification = Some(NotificationAuth::sha256(secret.to_vec(), data.to_vec()));
        registration.notification =
            Some((dm_codec::hex::encode(&secret), dm_codec::hex::encode(&data)));
    }
    if kinds.http_password {
        let user: [u8; 8] = random()?;
        let password: [u8; 18] = random()?;
        let username = format!("bs-{}", dm_codec::hex::encode(&user));
        let password = dm_codec::hex::encode(&password);
        account.http = Some(HttpAuth {
            name: username.clone(),
            secret: password.clone().into_bytes(),
        });
        registration.http = Some((username, password));
    }
    if kinds.client_certificate {
        let ca = ca.ok_or_else(|| {
            Error::config(
                "bootstrap issuing CA",
                "a profile asks for a client certificate and no issuing CA is configured",
            )
        })?;
        let (certificate, key) = ca.issue(dev_id)?;
        registration.certificate_sha256 = Some(dm_codec::hex::encode(&sha256(&certificate)));
        account.transport = Some(TransportAuth {
            data: certificate,
            secret: key,
        });
    }
    Ok((account, registration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::MoTree;

    fn ca() -> IssuingCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "issuing");
        IssuingCa::from_issuer(rcgen::Issuer::new(params, key))
    }

    fn profile(credentials: &str) -> BootstrapProfile {
        BootstrapProfile::from_json(
            format!(
                r#"{{"name":"p","match":{{"dev_id_pattern":"*"}},"accounts":[{{"server_id":"dm","server_uri":"https://dm.example/dm","name":"DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{credentials}}},{{"server_id":"dm2","server_uri":"https://dm2.example/dm","credentials":{{"http_password":true}},"register":{{"remote":"central"}}}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn the_device_reads_back_every_credential_it_was_given() {
        let dev_id = DevId::new("IMEI:1").unwrap();
        let provisioning = provision(
            &profile(
                r#"{"notification_secret":true,"http_password":true,"client_certificate":true}"#,
            ),
            &dev_id,
            Some(&ca()),
        )
        .unwrap();
        let items = dm_codec::decode_mo_serialization(
            &provisioning.account_data,
            &dm_codec::Limits::default(),
        )
        .unwrap();
        assert_eq!(items.len(), 2);
        let instance = dm_tree::MoInstance::new(
            dm_types::Moid::new(dm_tree::DMACC_MOID).unwrap(),
            dm_types::Miid::new("acc1").unwrap(),
            &items[0].data,
        );
        let account = DmAcc::from_instance(&instance).unwrap();
        let pending = &provisioning.registrations[0];
        assert_eq!(account.name, "DM");
        let http = account.http.unwrap();
        assert_eq!(
            Some((http.name.clone(), String::from_utf8(http.secret).unwrap())),
            pending.http
        );
        let transport = account.transport.unwrap();
        assert_eq!(
            pending.certificate_sha256.as_deref(),
            Some(dm_codec::hex::encode(&sha256(&transport.data)).as_str())
        );
        // The certificate names the device.
        let credential = super::super::BootstrapCredential::from_certificate_der(&transport.data);
        assert_eq!(credential.identity(), Some("IMEI:1"));
        let noti = account.notification.unwrap();
        assert_eq!(pending.notification_secret().map(|n| n.secret), noti.secret);
        assert_eq!(
            provisioning.registrations[1].remote.as_deref(),
            Some("central")
        );
        // A registration for the local store checks the password.
        let registration = pending.registration(&dev_id, "oma-dm");
        let (username, password) = pending.http.clone().unwrap();
        let credentials = registration.credentials.unwrap();
        assert_eq!(credentials.username, username);
        assert!(credentials.matches_password(&password, "oma-dm"));
        // Secrets never show in Debug.
        let shown = format!("{provisioning:?}");
        assert!(!shown.contains(&password), "{shown}");
        let mut tree = MoTree::new();
        tree.add_dm_acc(&DmAcc::from_instance(&instance).unwrap())
            .unwrap();
    }

    #[test]
    fn fresh_secrets_every_time() {
        let dev_id = DevId::new("IMEI:1").unwrap();
        let kinds = r#"{"notification_secret":true,"http_password":true}"#;
        let a = provision(&profile(kinds), &dev_id, None).unwrap();
        let b = provision(&profile(kinds), &dev_id, None).unwrap();
        assert_ne!(a.registrations[0].http, b.registrations[0].http);
        assert_ne!(
            a.registrations[0].notification,
            b.registrations[0].notification
        );
    }

    #[test]
    fn a_certificate_without_a_ca_is_a_configuration_error() {
        let dev_id = DevId::new("IMEI:1").unwrap();
        let err = provision(&profile(r#"{"client_certificate":true}"#), &dev_id, None).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }
}
