//! [`Match`]: which packets a rule applies to, as a key and a mask over [`FlowKey`].

use crate::field::Field;
use crate::key::{FlowKey, FlowMask};

/// A set of packets: those whose key agrees with `key` on every bit of `mask`.
///
/// Invariant: `key` has no bit set outside `mask` (constructors and setters keep it so), which
/// lets two matches be compared, hashed and used as classifier keys directly.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Match {
    /// The values of the examined bits; zero elsewhere.
    pub key: FlowKey,
    /// The examined bits.
    pub mask: FlowMask,
}

impl Match {
    /// The match of every packet.
    pub const fn any() -> Match {
        Match {
            key: FlowKey::zero(),
            mask: FlowMask::none(),
        }
    }

    /// Builds a match, clearing any bit of `key` outside `mask`.
    pub fn new(key: FlowKey, mask: FlowMask) -> Match {
        Match {
            key: key.masked(&mask),
            mask,
        }
    }

    /// Whether `key` is one of the packets of this match.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        key.equal_under(&self.key, &self.mask)
    }

    /// Adds `field == value` under `mask` (right-aligned values), replacing earlier bits of the
    /// field that `mask` covers.
    pub fn set_masked(&mut self, field: Field, value: u128, mask: u128) {
        field.set(&mut self.mask.0, mask, field.full_mask());
        field.set(&mut self.key, value & mask, field.full_mask());
    }

    /// Adds `field == value` on every bit of the field.
    pub fn set(&mut self, field: Field, value: u128) {
        self.set_masked(field, value, field.full_mask());
    }

    /// The value and mask of `field` in this match.
    pub fn get(&self, field: Field) -> (u128, u128) {
        (field.get(&self.key), field.get_mask(&self.mask))
    }

    /// Whether every packet of `other` is also a packet of `self`.
    pub fn covers(&self, other: &Match) -> bool {
        self.mask.is_subset_of(&other.mask) && other.key.equal_under(&self.key, &self.mask)
    }

    /// Whether some packet is a packet of both matches.
    pub fn overlaps(&self, other: &Match) -> bool {
        self.key
            .words()
            .iter()
            .zip(other.key.words())
            .zip(self.mask.words().iter().zip(other.mask.words()))
            .all(|((a, b), (ma, mb))| (a ^ b) & ma & mb == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dst(prefix: u32, len: u32) -> Match {
        let mut m = Match::any();
        m.set(Field::DlType, 0x0800);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        m.set_masked(Field::NwDst, prefix.into(), mask.into());
        m
    }

    #[test]
    fn covers_and_overlaps() {
        let wide = dst(0x0a00_0000, 8);
        let narrow = dst(0x0a01_0000, 16);
        let other = dst(0x0b00_0000, 8);
        assert!(wide.covers(&narrow));
        assert!(!narrow.covers(&wide));
        assert!(wide.overlaps(&narrow));
        assert!(!wide.overlaps(&other));
    }

    #[test]
    fn set_masked_keeps_key_within_mask() {
        let m = dst(0x0a00_00ff, 24);
        assert_eq!(m.key.nw_dst, 0x0a00_0000);
    }
}
