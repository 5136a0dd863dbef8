//! The fast path: ports, PMD threads, exact-match and megaflow caches, upcalls, revalidation and
//! action execution.
//!
//! Not built yet: see `docs/ARCHITECTURE.md` for what this crate will own. The member exists now
//! so the workspace layout is final.
