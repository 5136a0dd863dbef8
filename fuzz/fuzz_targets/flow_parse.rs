//! Fuzz target: the flow parser on arbitrary text, and the parse/format round trip.
//!
//! For any UTF-8 input, `parse_flow` must return without panicking. When it accepts the text,
//! the canonical form it formats must parse again to the same flow mod: the formatter never
//! writes text the parser refuses or reads differently.

#![no_main]

use flowtable::syntax::flow::parse_flow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(flow) = parse_flow(text) else {
        return;
    };
    let canonical = flow.to_string();
    match parse_flow(&canonical) {
        Ok(again) => assert_eq!(
            flow, again,
            "re-parsing the canonical text {canonical:?} of {text:?} gave another flow mod"
        ),
        Err(e) => panic!("the canonical text {canonical:?} of {text:?} does not parse: {e}"),
    }
});
