//! In-memory ports, for tests and the simulator.
//!
//! A [`MemPort`] has a receive queue and a transmit queue, both bounded (`ring` packets, 4096 by
//! default). [`pair`] makes two ports whose queues are crossed: what one sends, the other
//! receives, like the two ends of a veth. [`MemPort::handle`] gives a cloneable
//! [`MemHandle`] that keeps access to the queues after the port itself is handed to a datapath:
//! tests inject frames with it and take what the datapath sent.
//!
//! Each queue carries an eventfd that is readable exactly while the queue is non-empty (both are
//! changed under the queue's lock), so a PMD thread can sleep in `poll(2)` on a mem port like on
//! a kernel one.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Port, PortError, PortKind};
use crate::packet::Packet;

/// Default queue capacity in packets.
pub const DEFAULT_RING: usize = 4096;

/// Default MTU.
pub const DEFAULT_MTU: usize = 1500;

/// A bounded packet queue with a readiness eventfd.
struct Queue {
    pkts: Mutex<VecDeque<Packet>>,
    capacity: usize,
    /// Readable while `pkts` is non-empty; `None` if the eventfd could not be created.
    efd: Option<OwnedFd>,
}

impl Queue {
    fn new(capacity: usize) -> Arc<Queue> {
        // SAFETY: eventfd has no memory-safety preconditions; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        let efd = (fd >= 0).then(|| {
            // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        Arc::new(Queue {
            pkts: Mutex::new(VecDeque::new()),
            capacity,
            efd,
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Packet>> {
        // A panic while holding the lock cannot leave the queue inconsistent: recover it.
        self.pkts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends packets while there is room; returns how many were queued.
    fn push(&self, pkts: impl IntoIterator<Item = Packet>) -> usize {
        let mut q = self.lock();
        let was_empty = q.is_empty();
        let mut n = 0;
        for p in pkts {
            if q.len() >= self.capacity {
                break;
            }
            q.push_back(p);
            n += 1;
        }
        if was_empty && !q.is_empty() {
            self.signal(1);
        }
        n
    }

    /// Moves up to `max` packets to `out`; returns how many.
    fn pop(&self, out: &mut Vec<Packet>, max: usize) -> usize {
        let mut q = self.lock();
        let n = max.min(q.len());
        out.extend(q.drain(..n));
        if n > 0 && q.is_empty() {
            self.signal(0);
        }
        n
    }

    /// Makes the eventfd readable (`on` = 1) or not (0).
    fn signal(&self, on: u64) {
        let Some(fd) = &self.efd else { return };
        if on == 0 {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a valid u64; the fd is a nonblocking eventfd.
            let _ = unsafe { libc::read(fd.as_raw_fd(), (&raw mut v).cast(), 8) };
        } else {
            // SAFETY: writes 8 bytes from a valid u64 to an eventfd.
            let _ = unsafe { libc::write(fd.as_raw_fd(), (&raw const on).cast(), 8) };
        }
    }
}

/// An in-memory port.
pub struct MemPort {
    name: String,
    mtu: usize,
    mac: Option<[u8; 6]>,
    rx: Arc<Queue>,
    tx: Arc<Queue>,
}

/// Access to a [`MemPort`]'s queues that survives handing the port over.
#[derive(Clone)]
pub struct MemHandle {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
}

/// Two connected ports named `a` and `b`: what one sends, the other receives.
pub fn pair(a: &str, b: &str) -> (MemPort, MemPort) {
    let q1 = Queue::new(DEFAULT_RING);
    let q2 = Queue::new(DEFAULT_RING);
    (
        MemPort::with_queues(a, q1.clone(), q2.clone()),
        MemPort::with_queues(b, q2, q1),
    )
}

impl MemPort {
    /// A port with no peer, default MTU and queue sizes.
    pub fn new(name: &str) -> MemPort {
        MemPort::with_queues(name, Queue::new(DEFAULT_RING), Queue::new(DEFAULT_RING))
    }

    fn with_queues(name: &str, rx: Arc<Queue>, tx: Arc<Queue>) -> MemPort {
        MemPort {
            name: name.to_string(),
            mtu: DEFAULT_MTU,
            mac: None,
            rx,
            tx,
        }
    }

    /// A port with no peer, configured by `options`: `mtu`, `ring` (queue capacity), `mac`
    /// (`aa:bb:cc:dd:ee:ff`).
    pub fn open(name: &str, options: &BTreeMap<String, String>) -> Result<MemPort, PortError> {
        let bad = |option: &str, why: &str| PortError::BadOption {
            iface: name.to_string(),
            option: option.to_string(),
            why: why.to_string(),
        };
        let mut ring = DEFAULT_RING;
        let mut port = MemPort::new(name);
        for (k, v) in options {
            match k.as_str() {
                "mtu" => {
                    port.mtu = v
                        .parse()
                        .ok()
                        .filter(|m| (68..=65_535).contains(m))
                        .ok_or_else(|| bad(k, "expected 68..=65535"))?
                }
                "ring" => {
                    ring = v
                        .parse()
                        .ok()
                        .filter(|r| *r > 0)
                        .ok_or_else(|| bad(k, "expected a positive count"))?
                }
                "mac" => port.mac = Some(parse_mac(v).ok_or_else(|| bad(k, "expected a MAC"))?),
                _ => return Err(bad(k, "unknown option for a mem port")),
            }
        }
        port.rx = Queue::new(ring);
        port.tx = Queue::new(ring);
        Ok(port)
    }

    /// Sets the MTU.
    pub fn with_mtu(mut self, mtu: usize) -> MemPort {
        self.mtu = mtu;
        self
    }

    /// Sets the MAC address.
    pub fn with_mac(mut self, mac: [u8; 6]) -> MemPort {
        self.mac = Some(mac);
        self
    }

    /// A handle to this port's queues.
    pub fn handle(&self) -> MemHandle {
        MemHandle {
            rx: self.rx.clone(),
            tx: self.tx.clone(),
        }
    }

    /// Queues frames for this port to receive; returns how many fitted.
    pub fn inject(&self, frames: &[&[u8]]) -> usize {
        self.handle().inject(frames)
    }

    /// Takes the frames this port sent (that a peer has not received).
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        self.handle().take_sent()
    }
}

impl MemHandle {
    /// Queues frames for the port to receive; returns how many fitted.
    pub fn inject(&self, frames: &[&[u8]]) -> usize {
        self.rx.push(frames.iter().map(|f| Packet::from_slice(f)))
    }

    /// Takes the frames the port sent (that a peer has not received).
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.tx.pop(&mut out, usize::MAX);
        out.into_iter().map(|p| p.data().to_vec()).collect()
    }

    /// Frames waiting to be received by the port.
    pub fn rx_pending(&self) -> usize {
        self.rx.lock().len()
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl Port for MemPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::Mem
    }

    fn recv(&mut self, out: &mut Vec<Packet>, max: usize) -> Result<usize, PortError> {
        Ok(self.rx.pop(out, max))
    }

    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError> {
        // Kept until taken, maybe by another thread: on the heap, not in a UMEM frame.
        if pkts.iter().any(Packet::is_umem) {
            return Ok(self.tx.push(pkts.drain(..).map(Packet::into_heap)));
        }
        Ok(self.tx.push(pkts.drain(..)))
    }

    fn poll_fd(&self) -> Option<RawFd> {
        self.rx.efd.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    fn describe(&self) -> String {
        format!("mem, ring {}", self.rx.capacity)
    }
}

impl fmt::Debug for MemPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemPort")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for MemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemHandle").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn pair_crosses_queues_and_signals_readiness() {
        let (mut a, mut b) = pair("a", "b");
        let fd = b.poll_fd().map(|fd| fd as i64).unwrap_or(-1);
        assert!(fd >= 0);
        let fd = b.poll_fd().unwrap_or(-1);
        assert!(!readable(fd));
        let mut pkts = vec![Packet::from_slice(&[1; 60]), Packet::from_slice(&[2; 60])];
        assert_eq!(a.send(&mut pkts).ok(), Some(2));
        assert!(pkts.is_empty());
        assert!(readable(fd));
        let mut got = Vec::new();
        assert_eq!(b.recv(&mut got, 1).ok(), Some(1));
        assert!(readable(fd));
        assert_eq!(b.recv(&mut got, 64).ok(), Some(1));
        assert!(!readable(fd));
        assert_eq!(got[1].data(), &[2; 60]);
        assert_eq!(b.recv(&mut got, 64).ok(), Some(0));
    }

    #[test]
    fn bounded_ring_and_handle() {
        let opts: BTreeMap<String, String> = [("ring", "2"), ("mtu", "9000")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut p = MemPort::open("m", &opts).unwrap_or_else(|_| MemPort::new("bad"));
        assert_eq!(p.mtu(), 9000);
        let h = p.handle();
        assert_eq!(h.inject(&[&[1], &[2], &[3]]), 2);
        let mut pkts: Vec<Packet> = (0..3).map(|i| Packet::from_slice(&[i])).collect();
        assert_eq!(p.send(&mut pkts).ok(), Some(2));
        assert_eq!(h.take_sent(), vec![vec![0], vec![1]]);
        let bad: BTreeMap<String, String> = [("speed".to_string(), "1".to_string())].into();
        assert!(MemPort::open("m", &bad).is_err());
        assert_eq!(
            parse_mac("00:11:22:33:44:ff"),
            Some([0, 0x11, 0x22, 0x33, 0x44, 0xff])
        );
    }
}
