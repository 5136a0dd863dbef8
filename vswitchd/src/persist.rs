//! The state directory: bridges, ports and flows kept across restarts.
//!
//! Layout of the state directory:
//!
//! * `bridges.toml`: every bridge with its ports (name, type, OpenFlow port number, options).
//! * `flows/<bridge>.flows`: a snapshot of the bridge's flows, one per line, in the text
//!   `add-flow` accepts, with table, priority, cookie, timeouts and flags (see
//!   [`crate::convert::rule_text`]), and its generation number.
//! * `flows/<bridge>.journal`: the flow changes since that snapshot (see [`FlowLog`]), so that a
//!   single flow mod does not rewrite every flow.
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

use flowtable::table::{Millis, Tables};
use serde::{Deserialize, Serialize};

use flowtable::syntax::flow::{parse_flow_mod, FlowCommand, FlowMod};

use crate::convert::{flow_mod_text, rule_line, TextCache};

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

    fn journal_path(&self, bridge: &str) -> PathBuf {
        self.dir.join("flows").join(format!("{bridge}.journal"))
    }

    /// Reads the saved flows of `bridge`: the snapshot and the journal batches recorded after
    /// it. Nothing is saved yet when neither file exists.
    pub fn load_flows(&self, bridge: &str) -> Result<SavedFlows, PersistError> {
        let mut saved = SavedFlows::default();
        let path = self.flows_path(bridge);
        if let Some(text) = read_optional(&path)? {
            saved.generation = generation_of(&text);
            saved.rules = text
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .map(|(i, l)| (i, l.to_string()))
                .collect();
        }
        let path = self.journal_path(bridge);
        let Some(text) = read_optional(&path)? else {
            return Ok(saved);
        };
        if generation_of(&text) != saved.generation {
            // A journal from before the last snapshot: its changes are in the snapshot.
            return Ok(saved);
        }
        let mut batch = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line == "commit" {
                saved.journal.push(std::mem::take(&mut batch));
                continue;
            }
            let (op, flow) = line.split_once(' ').unwrap_or((line, ""));
            match JournalOp::parse(op) {
                Some(op) => batch.push((i + 1, op, flow.to_string())),
                None => {
                    return Err(PersistError::Format {
                        path,
                        why: format!("line {}: unknown operation \"{op}\"", i + 1),
                    })
                }
            }
        }
        // A batch without its commit line was being written when the daemon stopped, and was
        // never acknowledged: it is dropped.
        Ok(saved)
    }

    /// Replaces the saved flows of `bridge` with the rules of `tables`, as snapshot
    /// `generation`, formatting only the rules `cache` does not know yet.
    pub fn save_flows(
        &self,
        bridge: &str,
        generation: u64,
        tables: &Tables,
        cache: &mut TextCache,
    ) -> Result<(), PersistError> {
        cache.prune();
        let mut text = String::with_capacity(tables.len() * 96 + 64);
        text.push_str(&format!(
            "# Written by vswitchd: the flows to restore at start.\n{GENERATION}{generation}\n"
        ));
        let mut rules: Vec<_> = tables.rules().collect();
        // Stable order (table, then priority high to low) keeps the file readable and diffable.
        rules.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)));
        cache.fill(&rules);
        for rule in rules {
            text.push_str(&rule_line(rule, &cache.text(rule)));
            text.push('\n');
        }
        write_atomic(&self.flows_path(bridge), text.as_bytes())
    }

    /// Starts an empty journal after snapshot `generation`; returns it open for appending.
    fn start_journal(&self, bridge: &str, generation: u64) -> Result<File, PersistError> {
        let path = self.journal_path(bridge);
        let header = format!(
            "# Written by vswitchd: flow changes after the snapshot, replayed at start.\n{GENERATION}{generation}\n"
        );
        write_atomic(&path, header.as_bytes())?;
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(&path))
    }

    /// Forgets the flows of a deleted bridge.
    pub fn remove_flows(&self, bridge: &str) -> Result<(), PersistError> {
        for path in [self.flows_path(bridge), self.journal_path(bridge)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Ok(())
    }
}

/// The line of a snapshot or journal that names its generation.
const GENERATION: &str = "# generation=";

fn generation_of(text: &str) -> u64 {
    text.lines()
        .take(4)
        .find_map(|l| l.strip_prefix(GENERATION))
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or(0)
}

fn read_optional(path: &Path) -> Result<Option<String>, PersistError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// A flow change recorded in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOp {
    /// Add, modify or delete.
    pub command: FlowCommand,
    /// Strict modify or delete.
    pub strict: bool,
}

impl JournalOp {
    const NAMES: [(FlowCommand, bool, &'static str); 5] = [
        (FlowCommand::Add, false, "add"),
        (FlowCommand::Modify, false, "modify"),
        (FlowCommand::Modify, true, "modify-strict"),
        (FlowCommand::Delete, false, "delete"),
        (FlowCommand::Delete, true, "delete-strict"),
    ];

    fn name(self) -> &'static str {
        let strict = self.strict && self.command != FlowCommand::Add;
        JournalOp::NAMES
            .iter()
            .find(|(c, s, _)| *c == self.command && *s == strict)
            .map_or("add", |(_, _, n)| n)
    }

    fn parse(name: &str) -> Option<JournalOp> {
        JournalOp::NAMES
            .iter()
            .find(|(_, _, n)| *n == name)
            .map(|&(command, strict, _)| JournalOp { command, strict })
    }
}

/// The saved flows of a bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedFlows {
    /// The snapshot's generation (0 when there is none).
    pub generation: u64,
    /// The snapshot: one rule per line, with line numbers.
    pub rules: Vec<(usize, String)>,
    /// The committed journal batches after the snapshot, in order: each is one change (a
    /// bundle, a flow mod, an expiry), its flow mods with line numbers.
    pub journal: Vec<Vec<(usize, JournalOp, String)>>,
}

impl SavedFlows {
    /// The tables the saved flows describe: the snapshot's rules, then the journal's changes
    /// in order, at time `now`. A line that no longer parses or applies is passed to `skipped`
    /// (with its line number and the reason) and left out.
    pub fn replay(&self, now: Millis, mut skipped: impl FnMut(usize, String)) -> Tables {
        let mut tables = Tables::new();
        let ops = self
            .rules
            .iter()
            .map(|(n, line)| {
                (
                    *n,
                    JournalOp {
                        command: FlowCommand::Add,
                        strict: false,
                    },
                    line,
                )
            })
            .chain(
                self.journal
                    .iter()
                    .flatten()
                    .map(|(n, op, line)| (*n, *op, line)),
            );
        for (n, op, line) in ops {
            let applied = parse_flow_mod(line, op.command)
                .map_err(|e| e.to_string())
                .and_then(|fm| tables.apply(&fm, op.strict, now).map_err(|e| e.to_string()));
            if let Err(e) = applied {
                skipped(n, e);
            }
        }
        tables
    }
}

/// One flow mod of a change, as the journal records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The flow mod.
    pub flow_mod: FlowMod,
    /// Strict modify or delete.
    pub strict: bool,
    /// The text the flow mod was parsed from (with its command), when it came as text: the
    /// journal keeps it as it is rather than formatting the flow mod again.
    pub text: Option<String>,
}

impl Change {
    /// Appends the change's journal line to `out`: its operation, then its text as the client
    /// sent it (or the flow mod formatted, when it came structured).
    pub fn journal_line(&self, out: &mut String) {
        let op = JournalOp {
            command: self.flow_mod.command,
            strict: self.strict,
        };
        out.push_str(op.name());
        out.push(' ');
        match &self.text {
            // Line breaks separate items like spaces do, so folding them keeps the meaning.
            Some(t) if t.contains(['\n', '\r']) => {
                out.extend(
                    t.chars()
                        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
                );
            }
            Some(t) => out.push_str(t),
            None => out.push_str(&flow_mod_text(&self.flow_mod)),
        }
        out.push('\n');
    }

    /// A change without source text.
    pub fn new(flow_mod: FlowMod, strict: bool) -> Change {
        Change {
            flow_mod,
            strict,
            text: None,
        }
    }
}

/// Journal batches are never fewer than this before a compaction.
const COMPACT_MIN: usize = 1024;

/// The saved flows of one bridge, kept up to date change by change.
///
/// A change is appended to the journal (its flow mods in text, as the client sent them when it
/// sent text, then `commit`, then one `fdatasync`), so a single flow mod costs a few hundred
/// bytes of I/O whatever the size of the tables, and a bundle is saved without formatting its
/// flows again. When the journal would hold more than twice as many flow mods as the tables
/// hold rules (and at least [`COMPACT_MIN`]), the tables are written as a new snapshot
/// of the next generation and a new, empty journal of that generation is started: a journal
/// whose generation is not the snapshot's is ignored at restore, so a crash between the two
/// writes loses nothing and replays nothing twice. A batch without its `commit` line was never
/// acknowledged and is ignored.
#[derive(Debug)]
pub struct FlowLog {
    store: Store,
    bridge: String,
    generation: u64,
    journal: Option<File>,
    entries: usize,
}

impl FlowLog {
    /// The log of `bridge`, continuing after snapshot `generation` (0 for a new bridge). The
    /// first change writes a snapshot.
    pub fn new(store: Store, bridge: &str, generation: u64) -> FlowLog {
        FlowLog {
            store,
            bridge: bridge.to_string(),
            generation,
            journal: None,
            entries: 0,
        }
    }

    /// Records `mods`, which turned the tables into `tables`. On error the change must not be
    /// made: the saved state is still the one before it.
    pub fn record(
        &mut self,
        mods: &[Change],
        tables: &Tables,
        cache: &mut TextCache,
    ) -> Result<(), PersistError> {
        let mut lines = String::with_capacity(mods.len() * 96 + 8);
        for change in mods {
            change.journal_line(&mut lines);
        }
        self.record_lines(mods.len(), lines, tables, cache)
    }

    /// [`Self::record`] of `n` flow mods whose [`Change::journal_line`]s are `lines`, for a
    /// bundle that wrote each line as it applied the flow mod and then dropped it.
    pub fn record_lines(
        &mut self,
        n: usize,
        mut lines: String,
        tables: &Tables,
        cache: &mut TextCache,
    ) -> Result<(), PersistError> {
        let limit = COMPACT_MIN.max(tables.len().saturating_mul(2));
        let Some(journal) = self.journal.as_mut().filter(|_| self.entries + n <= limit) else {
            return self.compact(tables, cache);
        };
        lines.push_str("commit\n");
        let path = self.store.journal_path(&self.bridge);
        let written = journal
            .write_all(lines.as_bytes())
            .and_then(|()| journal.sync_data());
        if let Err(e) = written {
            // The journal may end with part of this batch (without its commit line, so it is
            // ignored); never append after it: the next change writes a snapshot.
            self.journal = None;
            return Err(io_err(&path)(e));
        }
        self.entries += n;
        Ok(())
    }

    /// Writes `tables` as the next snapshot and starts its empty journal.
    pub fn compact(&mut self, tables: &Tables, cache: &mut TextCache) -> Result<(), PersistError> {
        self.journal = None;
        let generation = self.generation + 1;
        self.store
            .save_flows(&self.bridge, generation, tables, cache)?;
        self.generation = generation;
        self.entries = 0;
        self.journal = Some(self.store.start_journal(&self.bridge, generation)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::convert::rule_text;

    use super::*;

    #[test]
    fn bridges_round_trip_and_missing_files_are_empty() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load_bridges().ok(), Some(SavedBridges::default()));
        assert_eq!(store.load_flows("br0").ok(), Some(SavedFlows::default()));
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

    fn apply_text(tables: &mut Tables, command: FlowCommand, strict: bool, text: &str) -> FlowMod {
        let fm = parse_flow_mod(text, command).unwrap_or_else(|e| panic!("{text}: {e}"));
        tables
            .apply(&fm, strict, 0)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        fm
    }

    fn texts(t: &Tables) -> Vec<String> {
        let mut v: Vec<String> = t.rules().map(|r| rule_text(r)).collect();
        v.sort();
        v
    }

    fn reload(store: &Store) -> Tables {
        let saved = store.load_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        saved.replay(0, |n, e| panic!("line {n}: {e}"))
    }

    #[test]
    fn snapshot_and_journal_restore_the_tables() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut cache = TextCache::default();
        let mut log = FlowLog::new(store.clone(), "br0", 0);
        let mut tables = Tables::new();
        // The first change writes a snapshot.
        let fm = apply_text(
            &mut tables,
            FlowCommand::Add,
            false,
            "table=3,priority=7,cookie=0x1f,idle_timeout=10,hard_timeout=20,send_flow_rem,ip,nw_dst=10.0.0.0/8,actions=dec_ttl,output:2",
        );
        log.record(&[Change::new(fm, false)], &tables, &mut cache)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&reload(&store)), texts(&tables));
        // Later ones go to the journal.
        let mut batch = Vec::new();
        for (command, strict, text) in [
            (FlowCommand::Add, false, "priority=0,actions=drop"),
            (
                FlowCommand::Add,
                false,
                "tcp,tp_dst=80,actions=resubmit(,3)",
            ),
            (
                FlowCommand::Modify,
                true,
                "table=3,priority=7,ip,nw_dst=10.0.0.0/8,actions=output:5",
            ),
            (FlowCommand::Delete, true, "priority=0"),
        ] {
            // Flow mods that came as text are journaled as sent (with a line break, which
            // separates items like a space); the others are formatted.
            let sent = (command != FlowCommand::Modify).then(|| text.replacen(',', ",\n", 1));
            batch.push(Change {
                flow_mod: apply_text(&mut tables, command, strict, text),
                strict,
                text: sent,
            });
        }
        log.record(&batch, &tables, &mut cache)
            .unwrap_or_else(|e| panic!("{e}"));
        let saved = store.load_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (saved.generation, saved.rules.len(), saved.journal.len()),
            (1, 1, 1)
        );
        let back = reload(&store);
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

        // A torn batch (no commit line) is ignored.
        let journal = dir.path().join("flows").join("br0.journal");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"add priority=1,ip,nw_src=1.2.3.4,actions=drop\nadd priority=2,ip")
            .unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        assert_eq!(texts(&reload(&store)), texts(&tables));

        // A compaction makes a new generation; the old journal no longer counts.
        log.compact(&tables, &mut cache)
            .unwrap_or_else(|e| panic!("{e}"));
        let saved = store.load_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((saved.generation, saved.journal.len()), (2, 0));
        assert_eq!(texts(&reload(&store)), texts(&tables));

        store.remove_flows("br0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load_flows("br0").ok(), Some(SavedFlows::default()));
    }

    #[test]
    fn a_stale_journal_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut cache = TextCache::default();
        let mut tables = Tables::new();
        apply_text(
            &mut tables,
            FlowCommand::Add,
            false,
            "priority=5,actions=drop",
        );
        // Snapshot of generation 2 written, journal of generation 1 left behind (a crash
        // between the two writes of a compaction).
        store
            .save_flows("br0", 2, &tables, &mut cache)
            .unwrap_or_else(|e| panic!("{e}"));
        write_atomic(
            &dir.path().join("flows").join("br0.journal"),
            b"# generation=1\ndelete priority=5\ncommit\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&reload(&store)), texts(&tables));
    }
}
