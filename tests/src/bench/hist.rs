//! A fixed-size log-linear latency histogram.
//!
//! Values (nanoseconds) are bucketed by their power of two and, inside it, by the next
//! [`SUB_BITS`] bits, so every bucket is at most 1/16 (6.25%) wide relative to its values. 64
//! powers x 16 sub-buckets cover the whole `u64` range in 8 KiB, recording costs a few
//! instructions, and percentiles are read back as the upper bound of their bucket.

/// Bits of resolution below the leading one.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = 64 * SUB;

/// Counts of latency samples by bucket.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    // Both conversions are of values below 64 * SUB.
    if v < SUB as u64 {
        return usize::try_from(v).unwrap_or(0);
    }
    let power = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = usize::try_from((v >> (power - SUB_BITS)) & (SUB as u64 - 1)).unwrap_or(0);
    usize::try_from(power - SUB_BITS + 1).unwrap_or(0) * SUB + sub
}

/// The largest value that falls in `bucket`.
fn upper_bound(bucket: usize) -> u64 {
    let (row, sub) = (bucket / SUB, (bucket % SUB) as u64);
    if row == 0 {
        return sub;
    }
    let power = u32::try_from(row).unwrap_or(63) + SUB_BITS - 1;
    let low = (1u64 << power) | (sub << (power - SUB_BITS));
    low.saturating_add((1u64 << (power - SUB_BITS)) - 1)
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&mut self, value: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(value)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The largest sample.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value below which a fraction `q` (0..=1) of the samples fall, to the bucket's
    /// precision (never above the maximum); `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // A float in 0..=total converts exactly enough; `as` saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper_bound(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_within_one_sixteenth() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let b = bucket_of(v);
            let hi = upper_bound(b);
            assert!(hi >= v, "{v} above its bucket's bound {hi}");
            assert!(hi - v <= v / 16, "bucket of {v} too wide: {hi}");
            if b > 0 {
                assert!(upper_bound(b - 1) < v, "{v} belongs to an earlier bucket");
            }
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap_or(0);
        let p99 = h.quantile(0.99).unwrap_or(0);
        assert!((5_000_000..=5_400_000).contains(&p50), "p50 {p50}");
        assert!((9_900_000..=10_000_000).contains(&p99), "p99 {p99}");
        assert_eq!(h.quantile(1.0), Some(10_000_000));
        assert_eq!(h.len(), 10_000);
    }
}
