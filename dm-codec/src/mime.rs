//! Media types and `Accept` / `OMADM-Accept` negotiation (PROTOCOL.md section 2.2).
