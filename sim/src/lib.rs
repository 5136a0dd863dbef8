//! A deterministic in-process network that runs the real pipeline over in-memory ports.
//!
//! Not built yet: see `docs/ARCHITECTURE.md`. The member exists now so the workspace layout is final.
