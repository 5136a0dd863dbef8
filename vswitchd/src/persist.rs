//! The state directory: bridges, ports and flows kept across restarts.
//!
//! Layout of the state directory:
//!
//! * `bridges.toml`: every bridge with its ports (name, type, OpenFlow port number, options).
//! * `flows/<bridge>.flows`: the bridge's flows, one per line, in the text `add-flow` accepts,
//!   with table, priority, cookie, timeouts and flags (see [`crate::convert::rule_text`]).
//!
//! Every file is replaced atomically: the new contents go to a temporary file in the same
//! directory, which is synced, renamed over the old one, and the directory is synced, so a crash
//! (even `kill -9` or a power loss) leaves either the old or the new file, never a mix.
//!
//! Restoring parses the flow lines again, so a file edited by hand is checked as a request
//! would be; a line that no longer parses is reported and skipped rather than losing the rest.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use flowtable::table::Tables;
use serde::{Deserialize, Serialize};

use crate::convert::{rule_line, TextCache};

/// A port as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// Interface name.
    pub name: String,
    /// Port type (`afxdp`, `internal`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// Type-specific options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// A bridge as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// Bridge name.
    pub name: String,
    /// Ports in the order they were added.
    #[serde(default, rename = "port")]
    pub ports: Vec<PortConfig>,
}

/// The contents of `bridges.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBridges {
    /// Every bridge.
    #[serde(default, rename = "bridge")]
    pub bridges: Vec<BridgeConfig>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// `bridges.toml` is not valid.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` with `contents` atomically and durably.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), PersistError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(contents).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Store {
    /// Opens (creating if needed) the state directory `dir`.
    pub fn open(dir: &Path) -> Result<Store, PersistError> {
        fs::create_dir_all(dir.join("flows")).map_err(io_err(dir))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn bridges_path(&self) -> PathBuf {
        self.dir.join("bridges.toml")
    }

    fn flows_path(&self, bridge: &str) -> PathBuf {
        self.dir.join("flows").join(format!("{bridge}.flows"))
    }

    /// Reads the saved bridges; none when the file does not exist yet.
    pub fn load_bridges(&self) -> Result<SavedBridges, PersistError> {
        let path = self.bridges_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SavedBridges::default()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        toml::from_str(&text).map_err(|e| PersistError::Format {
            path: path.clone(),
            why: e.to_string(),
        })
    }

    /// Replaces the saved bridges.
    pub fn save_bridges(&self, bridges: &SavedBridges) -> Result<(), PersistError> {
        let path = self.bridges_path();
        let text = toml::to_string(bridges).map_err(|e| PersistError::Format {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let header = "# Written by vswitchd: the bridges and ports to restore at start.\n";
        write_atomic(&path, format!("{header}{text}").as_bytes())
    }

    /// Reads the saved flow lines of `bridge` (without comments and blank lines), with their
    /// line numbers; none when the file does not exist.
    pub fn load_flows(&self, bridge: &str) -> Result<Vec<(usize, String)>, PersistError> {
        let path = self.flows_path(bridge);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(|(i, l)| (i, l.to_string()))
            .collect())
    }

    /// Replaces the saved flows of `bridge` with the rules of `tables`, formatting only the
    /// rules `cache` does not know yet.
    pub fn save_flows(
        &self,
        bridge: &str,
        tables: &Tables,
        cache: &mut TextCache,
    ) -> Result<(), PersistError> {
        cache.prune();
        let mut text = String::with_capacity(tables.len() * 96 + 64);
        text.push_str("# Written by vswitchd: the flows to restore at start.\n");
        let mut rules: Vec<_> = tables.rules().collect();
        // Stable order (table, then priority high to low) keeps the file readable and diffable.
        rules.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)));
        for rule in rules {
            text.push_str(&rule_line(rule, &cache.text(rule)));
            text.push('\n');
        }
        write_atomic(&self.flows_path(bridge), text.as_bytes())
    }

    /// Forgets the flows of a deleted bridge.
    pub fn remove_flows(&self, bridge: &str) -> Result<(), PersistError> {
        let path = self.flows_path(bridge);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use flowtable::syntax::flow::{parse_flow, FlowCommand};

    use crate::convert::rule_text;

    use super::*;

    #[test]
    fn bridges_round_trip_and_missing_files_are_empty() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load_bridges().ok(), Some(SavedBridges::default()));
        assert_eq!(store.load_flows("br0").ok(), Some(Vec::new()));
        let saved = SavedBridges {
            bridges: vec![BridgeConfig {
                name: "br0".into(),
                ports: vec![PortConfig {
                    name: "eth0".into(),
                    kind: "afxdp".into(),
                    ofport: 7,
                    options: BTreeMap::from([("xdp-mode".into(), "skb".into())]),
                }],
            }],
        };
        store.save_bridges(&saved).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load_bridges().ok(), Some(saved));
    }

    #[test]
    fn flows_round_trip_through_text() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut tables = Tables::new();
        for text in [
            "table=3,priority=7,cookie=0x1f,idle_timeout=10,hard_timeout=20,send_flow_rem,ip,nw_dst=10.0.0.0/8,actions=dec_ttl,output:2",
            "priority=0,actions=drop",
            "tcp,tp_dst=80,actions=resubmit(,3)",
        ] {
            let fm = parse_flow(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            tables
                .apply(&fm, false, 0)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        store
            .save_flows("br0", &tables, &mut TextCache::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let lines = store.load_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines.len(), 3);
        let mut back = Tables::new();
        for (_, line) in &lines {
            let fm = flowtable::syntax::flow::parse_flow_mod(line, FlowCommand::Add)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            back.apply(&fm, false, 0)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let texts = |t: &Tables| {
            let mut v: Vec<String> = t.rules().map(|r| rule_text(r)).collect();
            v.sort();
            v
        };
        assert_eq!(texts(&back), texts(&tables));
        let rule = back
            .rules()
            .find(|r| r.table == 3)
            .unwrap_or_else(|| panic!("table 3 rule lost"));
        assert_eq!(
            (
                rule.cookie,
                rule.idle_timeout,
                rule.hard_timeout,
                rule.flags.send_flow_rem
            ),
            (0x1f, 10, 20, true)
        );
        store.remove_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load_flows("br0").ok(), Some(Vec::new()));
    }
}
