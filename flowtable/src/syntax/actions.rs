//! Flow syntax: actions.
