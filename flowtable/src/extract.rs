//! Packet bytes to [`crate::FlowKey`].
