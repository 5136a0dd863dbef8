//! Flow syntax: matches.
