//! Flow syntax: flow.
