//! AF_XDP ports (written by the dpxdp helper; this placeholder refuses to open).

use std::collections::BTreeMap;

use super::{Port, PortError};

/// Opens a AF_XDP port on `iface`: not available in this build yet.
pub fn open(iface: &str, _options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Err(PortError::Unsupported {
        iface: iface.to_string(),
        kind: "afxdp",
        why: "not built yet".to_string(),
    })
}
