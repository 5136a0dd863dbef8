//! Validation of an action list against the rule's match and table, and normalization into the
//! form `ovs-ofctl -O OpenFlow13` prints.

use super::Action;
use crate::Match;

/// Why an action list is not valid for a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Placeholder replaced in the next commit.
    #[error("invalid actions")]
    Invalid,
}

/// Checks `actions` for a rule with match `m` in table `table`.
pub fn validate(actions: &[Action], m: &Match, table: u8) -> Result<(), ActionError> {
    let _ = (actions, m, table);
    Ok(())
}

/// Rewrites `actions` into their OpenFlow 1.3 form for a rule with match `m`.
pub fn normalize(actions: &mut Vec<Action>, m: &Match) {
    let _ = (actions, m);
}
