//! The OpenFlow actions a rule can carry, typed, with their validation against the rule's match.
