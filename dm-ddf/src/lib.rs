//! OMA DM Device Description Framework (DDF) support.
//!
//! `dm-ddf` will parse DDF XML files into typed MO definitions and validate MO
//! data against them.
//!
//! This crate is a skeleton until that work lands; it has no API yet.
#![forbid(unsafe_code)]
