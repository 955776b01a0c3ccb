//! Package#0: the binary DM notification (PROTOCOL.md section 3.6).
