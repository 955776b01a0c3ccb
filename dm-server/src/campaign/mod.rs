//! The campaign engine (docs/updates.md, "Server side: campaigns"): the
//! pure [`policy`], the background driver that starts devices, and the
//! hooks of the session path that advance each device's row.

// Wired into the driver and the session path by the next commits.
#[allow(dead_code)]
pub(crate) mod policy;
