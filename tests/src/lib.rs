//! End-to-end tests through real namespaces and binaries, and the benchmark harness.
//!
//! The end-to-end suites live under `tests/tests/`. Helpers shared by them live here.
