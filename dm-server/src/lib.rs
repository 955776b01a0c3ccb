//! The OMA DM 2.0 management server that server vendors embed.
//!
//! `dm-server` will be a thin async facade over `dm-session`: an HTTP(S)
//! endpoint for sessions, a data repository, device registry and command queues
//! behind a `Store` trait, a notification sender, device authentication and an
//! admin API.
//!
//! This crate is a skeleton until that work lands; it has no API yet.
#![forbid(unsafe_code)]
