//! End-to-end tests of the DM SDK live in `tests/`: a device and a server,
//! each really started, talking over loopback. The library itself holds no
//! code, only the workspace README's quickstarts as doc tests (below).

/// The workspace README's quickstarts (a device talking to an in-process
/// server), compiled and run as doc tests: device and server together.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct WorkspaceReadmeDoctests;
