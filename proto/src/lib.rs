//! The controller API (`vswitch.v1`): `.proto` files and the generated `prost`/`tonic` code.
//!
//! Not built yet: see `docs/ARCHITECTURE.md`. The member exists now so the workspace layout is final.
