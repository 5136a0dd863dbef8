//! Flow tables: rules with priorities, cookies, timeouts and counters, and the flow-mod semantics
//! of `ovs-ofctl` (add, modify and delete, strict and loose).
