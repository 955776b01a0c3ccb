//! End-to-end tests of the DM SDK live in `tests/`: a device and a server,
//! each really started, talking over loopback. This library is empty.
