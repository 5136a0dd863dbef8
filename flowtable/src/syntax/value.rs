//! Flow syntax: value.
