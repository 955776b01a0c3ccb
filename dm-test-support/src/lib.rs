//! Helpers shared by the test suites of the DM SDK: one copy of what the
//! suites of several crates need. Not published; a dev-dependency only.
//!
//! Each module serves one kind of test and sits behind the feature of the
//! crate under test, so that a suite builds only what it uses:
//! - `device` (feature `device`): a scripted DM server on loopback HTTP(S)
//!   that records every request, accounts, device builders, a test CA;
//! - `hostile_server` (feature `device`): a server on a raw socket that
//!   answers with whatever bytes a test wants, or stalls;
//! - `server` (feature `server`): a running `DmServer` with its admin
//!   interface, HTTP clients speaking Basic and Digest, package helpers;
//! - `hostile_client` (feature `server`): raw TCP clients that send what a
//!   test wants and read what the server answers;
//! - `campaign` (feature `server`): devices speaking the protocol of a FUMO
//!   device, the artifact, group and admin calls of campaign tests;
//! - `store` (feature `server`): the conformance suite every `Store`
//!   implementation must pass;
//! - `postgres` (feature `postgres`): a fresh PostgreSQL database per
//!   test, dropped after; skipped without a server, required in CI;
//! - `process`: running a built binary of the workspace (the `dm` tool),
//!   `dm serve` as a child a test can kill (SIGKILL) and restart;
//! - `file_server`: a package file server with ranges that can cut a
//!   connection mid-body, for update downloads;
//! - `proxy`: a round-robin TCP proxy on loopback a test can cut;
//! - `s_client`: the system `openssl s_client` as a TLS client (a named
//!   suite, PSK or client certificate) sending one HTTP request, and test
//!   certificates made with `openssl`;
//! - `fleet` (feature `fleet`): simulated devices that log every command
//!   they execute;
//! - `admin_api` (feature `fleet` or `browser`): the admin API of a running
//!   server over HTTP;
//! - `browser` (feature `browser`): headless Chromium over WebDriver
//!   (`chromedriver`), for tests of the web console, skipped without a
//!   browser outside CI;
//! - `prometheus`: a strict reader of the Prometheus text format, for
//!   tests of `GET /metrics`;
//! - `json_schema`: a JSON Schema validator for the subset the admin API's
//!   OpenAPI document uses;
//! - `api_fuzz` (feature `server`): requests generated from the OpenAPI
//!   document, checked against it, and the fleet its examples name.

// Helpers stop the test that calls them with a panic naming what failed:
// that is their error reporting.
#![allow(clippy::missing_panics_doc, clippy::return_self_not_must_use)]

#[cfg(any(feature = "fleet", feature = "browser"))]
pub mod admin_api;
#[cfg(feature = "server")]
pub mod api_fuzz;
#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "server")]
pub mod campaign;
#[cfg(feature = "device")]
pub mod device;
#[cfg(feature = "server")]
pub mod events;
pub mod file_server;
#[cfg(feature = "fleet")]
pub mod fleet;
#[cfg(feature = "server")]
pub mod hostile_client;
#[cfg(feature = "device")]
pub mod hostile_server;
pub mod json_schema;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod s_client;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod store_defaults;
