//! The XDP hook of an interface, shared by the afxdp ports of its receive queues.
//!
//! An interface has one XDP program. The afxdp ports of one interface (one per queue) share
//! it and its `XSKMAP`: the first port to open attaches them, each port claims its queue and
//! puts its socket in the map, and the last port to close detaches the program. A process-wide
//! registry, keyed by network namespace and interface index, finds the hook of an interface
//! that already has one. Lock order: the registry, then a hook's queue list.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::bpf::{RedirectProgram, XskMap};
use super::netlink::{Netlink, XdpMode};
use super::offload;

/// Receive queues a hook can serve (`0..MAX_QUEUES`): the size of its `XSKMAP`.
pub const MAX_QUEUES: u32 = 256;

/// An interface, named so that it is unique in the process: interface indexes are per network
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HookKey {
    netns: u64,
    ifindex: u32,
}

/// The live hooks (dead entries are pruned when a hook is added).
static HOOKS: Mutex<Vec<(HookKey, Weak<Hook>)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data (lists of keys and queue numbers) stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a queue could not be claimed.
#[derive(Debug)]
pub enum HookError {
    /// Another port of this process attached the interface's program in another mode.
    ModeConflict {
        /// The mode the program is attached in.
        attached: XdpMode,
    },
    /// Another port of this process serves that queue.
    QueueTaken,
    /// The queue is not below [`MAX_QUEUES`].
    QueueRange,
    /// A system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// The program and map attached to one interface.
#[derive(Debug)]
pub struct Hook {
    iface: String,
    ifindex: u32,
    mode: XdpMode,
    map: XskMap,
    prog: RedirectProgram,
    /// The hook's id in offload keys, when its program offloads ([`offload`]).
    offload_id: Option<u32>,
    /// The offload its first port asked for (`Some(csum_check)`), which its program does.
    offload_cfg: Option<bool>,
    netns: u64,
    netlink: Netlink,
    queues: Mutex<Vec<u32>>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        // A netlink attachment outlives its descriptor: detach explicitly, and only if the
        // program is still ours (someone may have replaced it since).
        if let Err(e) = self
            .netlink
            .detach_if_ours(self.ifindex, self.prog.fd(), self.mode)
        {
            tracing::warn!(iface = %self.iface, error = %e, "detaching the XDP program failed");
        }
    }
}

/// The network namespace of the calling thread, as the inode of its namespace file.
fn current_netns() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// Loads the program and attaches it in the first of `modes` that works. With `offload`
/// (whether to leave partial checksums to the socket), a native-mode hook gets the offload
/// program ([`offload`]) if the kernel takes it; otherwise, and in skb mode, the plain one.
fn attach(
    iface: &str,
    ifindex: u32,
    modes: &[XdpMode],
    offload: Option<bool>,
    netns: u64,
) -> Result<Hook, HookError> {
    let io = |op: &'static str| move |source: io::Error| HookError::Io { op, source };
    let map = XskMap::create(MAX_QUEUES).map_err(io("creating the XSKMAP"))?;
    let netlink = Netlink::open().map_err(io("opening netlink"))?;
    let mut last_err = None;
    for &mode in modes {
        // In skb mode a sender's TSO super-frame reaches the program whole: a frags-aware
        // program (and a multi-buffer socket) receive it, to be segmented, instead of the
        // kernel dropping it. Native mode on veth turns the peer's segmentation offload off.
        let frags = mode == XdpMode::Skb;
        let offloading = offload
            .filter(|_| mode == XdpMode::Native)
            .and_then(|csum| Some((offload::maps()?, csum)))
            .and_then(|(maps, csum)| {
                let id = offload::next_hook_id();
                match RedirectProgram::load_offload(&map, maps, id, csum) {
                    Ok(prog) => Some((prog, id)),
                    Err(e) => {
                        tracing::warn!(iface, error = %e, "XDP offload program refused; plain redirect");
                        None
                    }
                }
            });
        let (prog, offload_id) = match offloading {
            Some((prog, id)) => (prog, Some(id)),
            None => (
                RedirectProgram::load(&map, frags)
                    .or_else(|e| {
                        if frags {
                            RedirectProgram::load(&map, false)
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(io("loading the XDP program"))?,
                None,
            ),
        };
        match netlink.attach(ifindex, prog.fd(), mode) {
            Ok(()) => {
                return Ok(Hook {
                    iface: iface.to_string(),
                    ifindex,
                    mode,
                    map,
                    prog,
                    offload_id,
                    offload_cfg: offload,
                    netns,
                    netlink,
                    queues: Mutex::new(Vec::new()),
                })
            }
            Err(e) => {
                tracing::info!(iface, mode = mode.name(), error = %e, "XDP attach failed");
                last_err = Some(e);
            }
        }
    }
    let source = last_err.unwrap_or_else(|| io::Error::other("no XDP mode to try"));
    Err(HookError::Io {
        op: "attaching the XDP program",
        source,
    })
}

/// One queue of a hook, claimed by one port; released on drop.
#[derive(Debug)]
pub struct Claim {
    hook: Arc<Hook>,
    queue: u32,
    /// The offload this claim's port asked for.
    offload: Option<bool>,
}

impl Claim {
    /// Claims `queue` of interface `ifindex` (`iface`), attaching the interface's program in
    /// the first of `modes` that works unless a port of this process already did.
    pub fn new(
        iface: &str,
        ifindex: u32,
        modes: &[XdpMode],
        queue: u32,
        offload: Option<bool>,
    ) -> Result<Claim, HookError> {
        if queue >= MAX_QUEUES {
            return Err(HookError::QueueRange);
        }
        let key = HookKey {
            netns: current_netns().map_err(|source| HookError::Io {
                op: "identifying the network namespace",
                source,
            })?,
            ifindex,
        };
        let mut hooks = lock(&HOOKS);
        let live = hooks
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade());
        let hook = match live {
            Some(hook) => {
                if !modes.contains(&hook.mode) {
                    return Err(HookError::ModeConflict {
                        attached: hook.mode,
                    });
                }
                hook
            }
            None => {
                let hook = Arc::new(attach(iface, ifindex, modes, offload, key.netns)?);
                hooks.retain(|(_, w)| w.strong_count() > 0);
                hooks.push((key, Arc::downgrade(&hook)));
                hook
            }
        };
        let mut queues = lock(&hook.queues);
        if queues.contains(&queue) {
            return Err(HookError::QueueTaken);
        }
        queues.push(queue);
        drop(queues);
        Ok(Claim {
            hook,
            queue,
            offload,
        })
    }

    /// The mode the interface's program is attached in.
    pub fn mode(&self) -> XdpMode {
        self.hook.mode
    }

    /// The hook's offload id, if its program offloads as this claim's port asked (another
    /// queue's port may have attached the program with other options: then this port's frames
    /// are never offloaded, since keys name their queue and only this port installs its own).
    pub fn offload_id(&self) -> Option<u32> {
        self.hook
            .offload_id
            .filter(|_| self.offload.is_some() && self.offload == self.hook.offload_cfg)
    }

    /// The interface's network namespace (inode number).
    pub fn netns(&self) -> u64 {
        self.hook.netns
    }

    /// Directs the frames of the claimed queue to the AF_XDP socket `xsk_fd`.
    pub fn insert(&self, xsk_fd: std::os::fd::RawFd) -> io::Result<()> {
        self.hook.map.insert(self.queue, xsk_fd)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = self.hook.map.remove(self.queue);
        lock(&self.hook.queues).retain(|&q| q != self.queue);
        // The hook itself (and the program) goes with the last claim.
    }
}
