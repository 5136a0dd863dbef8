//! Fuzz target: any byte string is a frame that flow extraction must survive.
//!
//! `extract_into` may reject a frame with an error naming the layer, but it must never panic,
//! whatever the bytes (architecture invariant 3: no panic on any input in the datapath).

#![no_main]

use flowtable::extract::extract_into;
use flowtable::FlowKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let mut key = FlowKey::zero();
    // Both outcomes are fine; only a panic is a finding.
    let _ = extract_into(frame, &mut key);
});
