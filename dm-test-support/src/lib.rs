//! Helpers shared by the test suites of the DM SDK: one copy of what the
//! suites of several crates need. Not published; a dev-dependency only.

pub mod store;
