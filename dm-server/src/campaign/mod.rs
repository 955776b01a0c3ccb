//! The campaign engine (docs/updates.md, "Server side: campaigns"): the
//! pure [`policy`], the commands a campaign queues ([`commands`]), the
//! background [`driver`] that starts devices and moves campaigns through
//! their stages, the [`hooks`] of the session path that advance each
//! device's row, and the operator's side ([`admin`]).

pub(crate) mod admin;
pub(crate) mod commands;
pub(crate) mod driver;
pub(crate) mod hooks;
pub(crate) mod policy;
