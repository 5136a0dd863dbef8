//! internal (tap) ports (written by the dpxdp helper; this placeholder refuses to open).

use std::collections::BTreeMap;

use super::{Port, PortError};

/// Opens a internal (tap) port on `iface`: not available in this build yet.
pub fn open(iface: &str, _options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Err(PortError::Unsupported {
        iface: iface.to_string(),
        kind: "internal",
        why: "not built yet".to_string(),
    })
}
