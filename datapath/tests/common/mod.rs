//! Test helpers: frames, tables from flow text, a datapath over mem ports.

#![allow(dead_code, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use datapath::port::mem::{MemHandle, MemPort};
use datapath::{Datapath, DatapathConfig};
use flowtable::pipeline::RecircIds;
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;
use flowtable::wire::{checksum, ethernet, ipv4::Ipv4Header, tcp::TcpHeader, udp, vlan};

pub const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
pub const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

/// Tables made of `flows` (Open vSwitch syntax); panics on a bad flow (test input).
pub fn tables(flows: &[&str]) -> Arc<Tables> {
    let mut t = Tables::new();
    for f in flows {
        let fm = parse_flow(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        t.apply(&fm, false, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    Arc::new(t)
}

/// An Ethernet/IPv4/UDP frame with a correct UDP checksum.
pub fn udp4(src: u32, dst: u32, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let data = vec![0xabu8; payload];
    let mut f = Vec::new();
    ethernet::emit(&mut f, MAC2, MAC1, 0x0800);
    let ulen = 8 + payload;
    let ip = Ipv4Header {
        src,
        dst,
        protocol: 17,
        ..Ipv4Header::default()
    };
    ip.emit(&mut f, ulen).unwrap_or_else(|e| panic!("{e}"));
    let pseudo = checksum::pseudo_header_v4(src, dst, 17, ulen as u16);
    udp::emit(&mut f, sport, dport, &data, Some(pseudo)).unwrap_or_else(|e| panic!("{e}"));
    f
}

/// An Ethernet/IPv4/TCP frame with correct checksums.
pub fn tcp4(src: u32, dst: u32, sport: u16, dport: u16, ttl: u8) -> Vec<u8> {
    let mut f = Vec::new();
    ethernet::emit(&mut f, MAC2, MAC1, 0x0800);
    let ip = Ipv4Header {
        src,
        dst,
        protocol: 6,
        ttl,
        ..Ipv4Header::default()
    };
    let payload = b"hello";
    ip.emit(&mut f, 20 + payload.len())
        .unwrap_or_else(|e| panic!("{e}"));
    let pseudo = checksum::pseudo_header_v4(src, dst, 6, (20 + payload.len()) as u16);
    TcpHeader {
        src_port: sport,
        dst_port: dport,
        seq: 1,
        flags: 0x18,
        window: 512,
        ..TcpHeader::default()
    }
    .emit(&mut f, payload, pseudo);
    f
}

/// `frame` with a VLAN tag pushed.
pub fn tagged(mut frame: Vec<u8>, vid: u16) -> Vec<u8> {
    vlan::push(&mut frame, 0x8100, vid).unwrap_or_else(|e| panic!("{e}"));
    frame
}

/// A datapath with mem ports 1..=n.
pub struct Bridge {
    pub dp: Datapath,
    pub ports: Vec<(u32, MemHandle)>,
}

impl Bridge {
    pub fn new(flows: &[&str], n: u32) -> Bridge {
        Bridge::with(flows, n, DatapathConfig::default(), &[])
    }

    /// With `cfg` and per-port MTUs `(ofport, mtu)`.
    pub fn with(flows: &[&str], n: u32, cfg: DatapathConfig, mtus: &[(u32, usize)]) -> Bridge {
        let dp = Datapath::start("br0", cfg, tables(flows), Arc::new(RecircIds::new()))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ports = Vec::new();
        for i in 1..=n {
            let mut p = MemPort::new(&format!("p{i}"));
            if let Some((_, mtu)) = mtus.iter().find(|(o, _)| *o == i) {
                p = p.with_mtu(*mtu);
            }
            ports.push((i, p.handle()));
            dp.add_port(i, Box::new(p))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        Bridge { dp, ports }
    }

    pub fn handle(&self, ofport: u32) -> &MemHandle {
        &self
            .ports
            .iter()
            .find(|(o, _)| *o == ofport)
            .unwrap_or_else(|| panic!("no port {ofport}"))
            .1
    }

    /// Injects frames on `ofport` and waits until the datapath has processed them.
    pub fn send(&self, ofport: u32, frames: &[Vec<u8>]) {
        let h = self.handle(ofport);
        for chunk in frames.chunks(1024) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            assert_eq!(h.inject(&refs), refs.len());
            wait(|| h.rx_pending() == 0);
            self.dp.quiesce();
        }
    }

    /// What the datapath sent on `ofport` since the last call.
    pub fn sent(&self, ofport: u32) -> Vec<Vec<u8>> {
        self.handle(ofport).take_sent()
    }

    pub fn drop_count(&self, name: &str) -> u64 {
        self.dp
            .drops()
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no drop reason {name}"))
            .1
    }
}

/// Waits (at most 10 s) for `cond`.
pub fn wait(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        std::thread::sleep(Duration::from_micros(200));
    }
}
