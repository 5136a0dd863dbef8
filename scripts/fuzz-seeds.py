#!/usr/bin/env python3
"""Writes the fuzz seed corpora: fuzz/corpus/extract/ and fuzz/corpus/flow_parse/.

    scripts/fuzz-seeds.py

extract seeds are hand-built frames, one per header combination the extractor handles (Ethernet,
802.1Q, 802.1ad with two tags, ARP, IPv4 with options and fragments, IPv6 with extension headers
and fragments, TCP, UDP, SCTP, ICMP, ICMPv6 neighbor discovery, VXLAN), plus truncated copies, so
libFuzzer starts deep in each layer. flow_parse seeds are the flows of the syntax corpus
(flowtable/tests/data/ovs_flows*.txt). The seeds are committed; rerun this after changing it.
"""

import os
import shutil
import struct
import hashlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "flowtable", "tests", "data")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

DST = bytes.fromhex("020000000002")
SRC = bytes.fromhex("020000000001")


def eth(ethertype, payload, tags=()):
    """Ethernet II header, with optional VLAN tags given as (tpid, tci) from the outside in."""
    out = DST + SRC
    for tpid, tci in tags:
        out += struct.pack("!HH", tpid, tci)
    return out + struct.pack("!H", ethertype) + payload


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(proto, payload, src="10.0.0.1", dst="10.0.0.2", options=b"", frag=0, ttl=64, tos=0):
    ihl = 5 + len(options) // 4
    addr = lambda a: bytes(int(x) for x in a.split("."))
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(options) + len(payload), 1,
                      frag, ttl, proto, 0, addr(src), addr(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(next_header, payload, src="2001:db8::1", dst="2001:db8::2", label=0x12345, hlim=64):
    import ipaddress
    return struct.pack("!IHBB", (6 << 28) | label, len(payload), next_header, hlim) + \
        ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def tcp(sport=1234, dport=80, flags=0x02, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport=1234, dport=53, payload=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def sctp(sport=5060, dport=5060):
    return struct.pack("!HHII", sport, dport, 0, 0)


def icmp(typ=8, code=0, payload=b"\0\1\0\1"):
    return struct.pack("!BBH", typ, code, 0) + payload


def arp(op=1, sha=SRC, spa=b"\x0a\0\0\x01", tha=b"\0" * 6, tpa=b"\x0a\0\0\x02"):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def nd(typ, target="2001:db8::2", opt_type=1, lladdr=SRC):
    import ipaddress
    body = struct.pack("!BBHI", typ, 0, 0, 0) + ipaddress.IPv6Address(target).packed
    return body + struct.pack("!BB", opt_type, 1) + lladdr


def frames():
    inner = eth(0x0800, ipv4(17, udp(payload=b"hello")))
    yield "eth_ipv4_tcp_syn", eth(0x0800, ipv4(6, tcp()))
    yield "eth_ipv4_tcp_synack_payload", eth(0x0800, ipv4(6, tcp(80, 40000, 0x12, b"GET /")))
    yield "eth_ipv4_udp", eth(0x0800, ipv4(17, udp()))
    yield "eth_ipv4_sctp", eth(0x0800, ipv4(132, sctp()))
    yield "eth_ipv4_icmp_echo", eth(0x0800, ipv4(1, icmp()))
    yield "eth_ipv4_options", eth(0x0800, ipv4(6, tcp(), options=b"\x01\x01\x01\x00"))
    yield "eth_ipv4_frag_first", eth(0x0800, ipv4(17, udp(), frag=0x2000))
    yield "eth_ipv4_frag_later", eth(0x0800, ipv4(17, b"\0" * 16, frag=0x0010))
    yield "eth_ipv4_gre", eth(0x0800, ipv4(47, b"\0\0\x08\0", tos=0xb8, ttl=1))
    yield "eth_arp_request", eth(0x0806, arp())
    yield "eth_arp_reply", eth(0x0806, arp(op=2, tha=DST))
    yield "eth_rarp", eth(0x8035, arp(op=3))
    yield "eth_ipv6_tcp", eth(0x86DD, ipv6(6, tcp(dport=443)))
    yield "eth_ipv6_udp", eth(0x86DD, ipv6(17, udp(546, 547)))
    yield "eth_ipv6_icmp6_echo", eth(0x86DD, ipv6(58, icmp(128)))
    yield "eth_ipv6_nd_solicit", eth(0x86DD, ipv6(58, nd(135), dst="ff02::1:ff00:2", hlim=255))
    yield "eth_ipv6_nd_advert", eth(0x86DD, ipv6(58, nd(136, opt_type=2), hlim=255))
    hbh = struct.pack("!BB", 6, 0) + b"\x01\x04\0\0\0\0"
    yield "eth_ipv6_hopbyhop_tcp", eth(0x86DD, ipv6(0, hbh + tcp()))
    routing = struct.pack("!BBBB", 17, 0, 0, 0) + b"\0" * 4
    dstopt = struct.pack("!BB", 43, 0) + b"\x01\x04\0\0\0\0"
    yield "eth_ipv6_dstopt_routing_udp", eth(0x86DD, ipv6(60, dstopt + routing + udp()))
    yield "eth_ipv6_frag_first", eth(0x86DD, ipv6(44, struct.pack("!BBHI", 17, 0, 1, 7) + udp()))
    yield "eth_ipv6_frag_later", eth(0x86DD, ipv6(44, struct.pack("!BBHI", 17, 0, 0x100, 7) + b"\0" * 8))
    yield "vlan_ipv4_tcp", eth(0x0800, ipv4(6, tcp()), tags=[(0x8100, 0xA064)])
    yield "qinq_ipv4_udp", eth(0x0800, ipv4(17, udp()), tags=[(0x88A8, 0x0005), (0x8100, 0x0064)])
    yield "vlan_arp", eth(0x0806, arp(), tags=[(0x8100, 0x000A)])
    vxlan = struct.pack("!II", 0x08000000, 0x64 << 8) + inner
    yield "eth_ipv4_udp_vxlan", eth(0x0800, ipv4(17, udp(40000, 4789, vxlan)))
    yield "eth_lldp", eth(0x88CC, b"\x02\x07\x04" + SRC + b"\0\0")
    yield "llc_8023", DST + SRC + struct.pack("!H", 6) + b"\xaa\xaa\x03\0\0\0"
    yield "runt", DST + SRC
    yield "empty", b""


def write_extract():
    out = os.path.join(CORPUS, "extract")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, frame in frames():
        with open(os.path.join(out, name), "wb") as f:
            f.write(frame)
        # A copy cut inside the last header, so truncation paths are seeded too.
        if len(frame) > 20:
            with open(os.path.join(out, name + "_truncated"), "wb") as f:
                f.write(frame[: len(frame) - 3])


def write_flow_parse():
    out = os.path.join(CORPUS, "flow_parse")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for corpus in ("ovs_flows.txt", "ovs_flows_rejected.txt", "ovs_flows_stricter.txt"):
        with open(os.path.join(DATA, corpus)) as f:
            for line in f:
                flow = line.rstrip("\n")
                if not flow.strip() or flow.lstrip().startswith("#"):
                    continue
                name = hashlib.sha1(flow.encode()).hexdigest()[:16]
                with open(os.path.join(out, name), "w") as g:
                    g.write(flow)


if __name__ == "__main__":
    write_extract()
    write_flow_parse()
