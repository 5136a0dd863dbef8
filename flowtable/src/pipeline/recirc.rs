//! Recirculation IDs: the state a translation freezes when it hands a packet to the datapath
//! for conntrack and resumes in a later table.
//!
//! The datapath key carries no registers or metadata (they are always zero there). When a
//! `ct(table=N)` ends a pass, the translation stores the table to resume in, the registers and
//! the metadata in a [`Frozen`] value and gets back a small ID; the datapath recirculates the
//! packet with that ID in `recirc_id`, and the next translation restores the frozen state from
//! it. Equal states share an ID, so the megaflows of the recirculated passes stay few.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The translation state carried across a recirculation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frozen {
    /// The table the next pass starts in.
    pub table: u8,
    /// OpenFlow metadata at the time of the freeze.
    pub metadata: u64,
    /// Registers at the time of the freeze.
    pub regs: [u32; 16],
}

#[derive(Debug, Default)]
struct Inner {
    by_state: HashMap<Frozen, u32>,
    by_id: HashMap<u32, Frozen>,
    next: u32,
}

/// The allocator of recirculation IDs of one bridge, shared by every table version.
///
/// IDs start at 1 (0 is "not recirculated") and are never reused while the allocator lives,
/// so a packet that recirculates across a table swap still finds its state.
#[derive(Debug, Default)]
pub struct RecircIds {
    inner: Mutex<Inner>,
}

impl RecircIds {
    /// An empty allocator.
    pub fn new() -> RecircIds {
        RecircIds::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps are consistent after every statement that changes them, so a panic in
        // another holder cannot leave them torn: recover the guard.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ID of `state`, allocating one if it is new; `None` when the ID space is exhausted.
    pub fn id_of(&self, state: Frozen) -> Option<u32> {
        let mut inner = self.lock();
        if let Some(&id) = inner.by_state.get(&state) {
            return Some(id);
        }
        let id = inner.next.checked_add(1)?;
        inner.next = id;
        inner.by_state.insert(state, id);
        inner.by_id.insert(id, state);
        Some(id)
    }

    /// The state frozen under `id`.
    pub fn state(&self, id: u32) -> Option<Frozen> {
        self.lock().by_id.get(&id).copied()
    }

    /// Number of IDs in use.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no ID is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_states_share_an_id_and_ids_start_at_one() {
        let ids = RecircIds::new();
        let a = Frozen {
            table: 1,
            metadata: 0,
            regs: [0; 16],
        };
        let mut b = a;
        b.regs[3] = 7;
        assert_eq!(ids.id_of(a), Some(1));
        assert_eq!(ids.id_of(b), Some(2));
        assert_eq!(ids.id_of(a), Some(1));
        assert_eq!(ids.state(2), Some(b));
        assert_eq!(ids.state(3), None);
        assert_eq!(ids.len(), 2);
    }
}
