//! The process-wide monotonic clock, in milliseconds.
//!
//! Every part of the switch that stamps time (rule creation and use, megaflow use, expiry) reads
//! this one clock, so times from the datapath and from vswitchd compare meaningfully. It starts
//! at 1 ms on first use, so that 0 can keep meaning "never" in counters.

use std::sync::OnceLock;
use std::time::Instant;

use flowtable::table::Millis;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the process-wide epoch (the first call), plus one.
pub fn now_ms() -> Millis {
    let epoch = EPOCH.get_or_init(Instant::now);
    let ms = epoch.elapsed().as_millis();
    Millis::try_from(ms)
        .unwrap_or(Millis::MAX)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_monotonic_and_nonzero() {
        let a = now_ms();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = now_ms();
        assert!(a >= 1);
        assert!(b >= a + 2, "{a} then {b}");
    }
}
