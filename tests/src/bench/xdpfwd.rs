//! The test bed's ceiling (`scripts/bench.sh`'s `xdp-fwd`): two XDP programs that redirect
//! every frame arriving on one interface out of the other, in the kernel, with no lookup.
//!
//! It is not a switch (no rules, no learning, no counters): it is the least work any forwarder
//! between two veth ports can do on this machine, so what it forwards is the most any switch
//! could show in the benchmark. A veth runs the receiving port's XDP program on the CPU that
//! transmitted the frame, here the generator's, and the redirected frame goes to the peer's
//! XDP ring as an `xdp_frame` without a socket buffer; the sink's XDP counter then runs on that
//! CPU too. If this forwards little more than a switch, the generator is the limit of the
//! measurement, not the switch.
//!
//! Each program is three instructions (hand-assembled, as the benchmark's others):
//!
//! ```text
//! r1 = OTHER_IFINDEX
//! r2 = 0
//! call bpf_redirect          ; r0 = XDP_REDIRECT
//! exit
//! ```

use std::io;
use std::os::fd::OwnedFd;

use datapath::port::afxdp::xdp::bpf_sys::{insn, Insn};

use super::bpf::{attach_xdp, load_xdp, FUNC_REDIRECT, XDP_FLAGS_DRV_MODE};
use super::sys;

/// The two programs, attached in native mode; detached when dropped (or the process ends).
#[derive(Debug)]
pub struct XdpForward {
    _links: [OwnedFd; 2],
}

impl XdpForward {
    /// Forwards between interfaces `a` and `b` of the calling thread's namespace, both ways.
    pub fn attach(a: &str, b: &str) -> io::Result<XdpForward> {
        let index = |name: &str| {
            u32::try_from(sys::ifindex(name)?)
                .map_err(|_| io::Error::other(format!("{name}: negative interface index")))
        };
        let (ia, ib) = (index(a)?, index(b)?);
        let link = |from: &str, ifindex: u32, to: u32| -> io::Result<OwnedFd> {
            let prog = load_xdp("vsbench_fwd", &program(to))?;
            attach_xdp(&prog, ifindex, XDP_FLAGS_DRV_MODE).map_err(|e| {
                io::Error::new(e.kind(), format!("attaching the forwarder to {from}: {e}"))
            })
        };
        let ab = link(a, ia, ib)?;
        let ba = link(b, ib, ia)?;
        Ok(XdpForward { _links: [ab, ba] })
    }
}

/// The program of the module documentation, redirecting to interface `to`.
fn program(to: u32) -> Vec<Insn> {
    // Codes: ALU64 mov K (0xb7), CALL (0x85), EXIT (0x95). An interface index fits 31 bits.
    let to = i32::try_from(to).unwrap_or(i32::MAX);
    vec![
        insn(0xb7, 1, 0, 0, to),
        insn(0xb7, 2, 0, 0, 0),
        insn(0x85, 0, 0, 0, FUNC_REDIRECT),
        insn(0x95, 0, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run, tx, RxSide};
    use std::process::Command;
    use std::time::Duration;

    /// Three namespaces in a line, `<tag>a` (vfa) - `<tag>m` (vfm0, vfm1) - `<tag>b` (vfb),
    /// removed on drop.
    struct Line {
        names: [String; 3],
    }

    impl Drop for Line {
        fn drop(&mut self) {
            for ns in &self.names {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }

    fn line() -> Option<Line> {
        let tag = format!("vsf{}", std::process::id() % 100_000);
        let line = Line {
            names: [format!("{tag}a"), format!("{tag}m"), format!("{tag}b")],
        };
        let [a, m, b] = &line.names;
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = line.names.iter().all(|ns| ip(&["netns", "add", ns]))
            && ip(&[
                "link", "add", "vfa", "netns", a, "type", "veth", "peer", "name", "vfm0", "netns",
                m,
            ])
            && ip(&[
                "link", "add", "vfb", "netns", b, "type", "veth", "peer", "name", "vfm1", "netns",
                m,
            ])
            && [(a, "vfa"), (m, "vfm0"), (m, "vfm1"), (b, "vfb")]
                .iter()
                .all(|(ns, dev)| ip(&["-n", ns, "link", "set", dev, "up"]));
        ok.then_some(line)
    }

    /// The ceiling forwards: XDP frames sent into one port of the middle namespace all reach
    /// the far end through the other, counted by the sink's XDP counter (which gives the far
    /// veth the NAPI a redirected frame needs). Needs root and Linux 5.18+.
    #[test]
    fn every_frame_crosses_the_forwarder() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for network namespaces and BPF");
            return;
        }
        let Some(line) = line() else {
            panic!("cannot create the namespaces and veth pairs");
        };
        let [a, m, b] = line.names.clone();
        // Attach inside the middle namespace; the links stay valid wherever they are held.
        let fwd = std::thread::spawn(move || {
            sys::enter_netns(&m)?;
            XdpForward::attach("vfm0", "vfm1")
        })
        .join()
        .unwrap_or_else(|_| panic!("attaching thread panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
        let cfg = tx::TxConfig {
            iface: "vfa".into(),
            dst_mac: [2, 0x56, 0x53, 0x42, 0, 2],
            size: 64,
            flows: 100,
            rate: 50_000,
            duration: Duration::from_secs(10),
            count: 5_000,
            batch: 64,
            run_id: 44,
            threads: 1,
            cpus: Vec::new(),
            mode: tx::TxMode::Xdp,
        };
        let rx = RxSide {
            netns: Some(b),
            iface: "vfb".into(),
            drain: Duration::from_millis(300),
            sample: Some(64),
        };
        let report = run(Some(a), cfg, Some(rx)).unwrap_or_else(|e| panic!("{e}"));
        drop(fwd);
        let received = report.rx.as_ref().map_or(0, |r| r.received);
        assert_eq!(report.tx.sent, 5_000, "{}", report.to_line());
        assert_eq!(received, 5_000, "{}", report.to_line());
    }

    #[test]
    fn redirects_to_the_other_interface() {
        let prog = program(42);
        assert_eq!(
            prog.first().map(|i| (i.code, i.regs & 0xf, i.imm)),
            Some((0xb7, 1, 42))
        );
        assert_eq!(
            prog.get(2).map(|i| (i.code, i.imm)),
            Some((0x85, FUNC_REDIRECT))
        );
        assert_eq!(prog.last().map(|i| i.code), Some(0x95));
    }
}
