//! The switch daemon: bridges, ports, table snapshots, the gRPC service and persistence.
//!
//! Not built yet: see `docs/ARCHITECTURE.md` for what this crate will own. The member exists now
//! so the workspace layout is final.
