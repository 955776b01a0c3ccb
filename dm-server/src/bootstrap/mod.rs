//! The bootstrap role (docs/bootstrap.md, docs/protocol.md section 11.5):
//! bootstrap profiles, the credentials a bootstrap makes, and who a
//! bootstrap connection is.
//!
//! - [`BootstrapProfile`]: which devices get which management accounts
//!   ([`select_profile`]: the most specific profile that matches).
//! - [`provision`]: fresh credentials for every account of a profile
//!   (notification secret, HTTP password, client certificate from the
//!   [`IssuingCa`]), the DMAcc data the device HGETs, and the
//!   [`PendingRegistration`]s to make with the management servers.
//! - [`BootstrapCredential`]: the bootstrap credential of a connection
//!   (certificate subject CN, or PSK identity).

mod admin;
mod credentials;
mod device_config;
mod identity;
mod profile;
mod settings;

pub use credentials::{IssuingCa, Provisioning, provision};
pub use device_config::parse_bootstrap_device;
pub use identity::BootstrapCredential;
pub use profile::{
    AccountProfile, BootstrapProfile, CredentialKinds, MAX_PERM_MOIDS, MAX_PROFILE_ACCOUNTS,
    MAX_PROFILE_TEXT, ProfileMatch, RegistrationTarget, select_profile,
};
pub(crate) use settings::send as send_http;
pub use settings::{AdminClient, BootstrapSettings, RemoteManagement};
