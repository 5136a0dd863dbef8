//! Fuzz target: the flow parser on arbitrary text, and the parse/format round trip.
//!
//! For any UTF-8 input, `parse_flow` must return without panicking. When it accepts the text,
//! the canonical form it formats must parse again, to the same flow mod, and format to the same
//! text: the formatter never writes text the parser refuses or reads differently.
//!
//! "The same flow mod" allows exactly the two differences that the canonical text (Open
//! vSwitch's OpenFlow 1.3 form) makes by design: `importance` is not printed (OpenFlow 1.3 cannot
//! carry it), and an explicit `table=0` of an add is printed as no table, which means table 0.

#![no_main]

use flowtable::syntax::flow::{parse_flow, FlowCommand, FlowMod};
use libfuzzer_sys::fuzz_target;

/// `fm` with the information the canonical text leaves out reset to what parsing that text gives.
fn as_printed(fm: &FlowMod) -> FlowMod {
    let mut fm = fm.clone();
    fm.importance = 0;
    if fm.command == FlowCommand::Add && fm.table == Some(0) {
        fm.table = None;
    }
    fm
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(flow) = parse_flow(text) else {
        return;
    };
    let canonical = flow.to_string();
    let again = match parse_flow(&canonical) {
        Ok(again) => again,
        Err(e) => panic!("the canonical text {canonical:?} of {text:?} does not parse: {e}"),
    };
    assert_eq!(
        as_printed(&flow),
        as_printed(&again),
        "re-parsing the canonical text {canonical:?} of {text:?} gave another flow mod"
    );
    assert_eq!(
        again.to_string(),
        canonical,
        "the canonical text {canonical:?} of {text:?} is not a fixed point"
    );
});
