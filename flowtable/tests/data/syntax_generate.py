#!/usr/bin/env python3
"""Generates candidate flows for syntax_generated.txt: random combinations of every match field,
shorthand and mask form, with values at the edges (0, 1, all ones) and random ones. Seeded, so
the output is reproducible. Usage: python3 syntax_generate.py > candidates.txt; then keep the
flows that `ovs-ofctl -O OpenFlow13 parse-flow` accepts unchanged (no "normalization changed"
log) and record its canonical text as syntax_generated.expected."""
import random
random.seed(7)
def mac(): return ":".join("%02x"%random.choice([0,1,0xff,random.randrange(256)]) for _ in range(6))
def macmask(): return random.choice(["ff:ff:ff:ff:ff:ff","ff:ff:ff:00:00:00","01:00:00:00:00:00","00:00:00:00:00:00","fe:ff:ff:ff:ff:ff",mac()])
def ip4(): return ".".join(str(random.choice([0,1,10,255,random.randrange(256)])) for _ in range(4))
def ip4v(): 
    r=random.random()
    if r<0.4: return ip4()
    if r<0.8: return ip4()+"/"+str(random.randrange(33))
    return ip4()+"/"+ip4()
def ip6():
    return random.choice(["::","::1","2001:db8::1","fe80::1:2","::ffff:1.2.3.4","::1.2.3.4","1:0:0:1::1","0:0:1::","1::","1:2:3:4:5:6:7:8","ff02::1:ff00:0","::0.0.1.0","::1:0","0:0:0:0:0:1:0:0", "1:0:0:0:1:0:0:0"])
def ip6v():
    r=random.random()
    if r<0.4: return ip6()
    if r<0.8: return ip6()+"/"+str(random.randrange(129))
    return ip6()+"/"+ip6()
def num(bits, mask=True):
    v=random.choice([0,1,random.randrange(1<<bits),(1<<bits)-1])
    f=random.choice(["%d","0x%x"])%v
    if mask and random.random()<0.5:
        m=random.choice([0,(1<<bits)-1,random.randrange(1<<bits)])
        f+="/"+"0x%x"%m
    return f
pre={"ip":["nw_src","nw_dst","nw_tos","nw_ecn","nw_ttl","nw_frag","ip_dscp"],
"ipv6":["ipv6_src","ipv6_dst","ipv6_label","nw_tos","nw_ttl","nw_frag"],
"tcp":["tp_src","tp_dst","tcp_flags","nw_src"],"udp":["tp_src","tp_dst"],"sctp":["tp_src","tp_dst"],
"tcp6":["tp_src","tp_dst","tcp_flags","ipv6_src"],"udp6":["tp_dst"],"icmp":["icmp_type","icmp_code"],
"icmp6":["icmp_type","icmp_code"],"arp":["arp_op","arp_spa","arp_tpa","arp_sha","arp_tha"],"rarp":["arp_op","arp_spa"],"":[]}
common=["in_port","dl_src","dl_dst","reg0","reg5","metadata","tun_id","tun_src","tun_dst","tun_flags","ct_state","ct_zone","ct_mark","ct_label","pkt_mark","recirc_id","dl_vlan","dl_vlan_pcp","vlan_tci","vlan_vid"]
def val(f):
    if f in("nw_src","nw_dst","arp_spa","arp_tpa","tun_src","tun_dst"): return ip4v()
    if f in("ipv6_src","ipv6_dst"): return ip6v()
    if f in("dl_src","dl_dst","arp_sha","arp_tha"): return mac()+("/"+macmask() if random.random()<0.4 else "")
    if f=="in_port": return random.choice(["1","LOCAL","65534","100","CONTROLLER","IN_PORT"])
    if f in("reg0","reg5","pkt_mark","ct_mark"): return num(32)
    if f in("metadata","tun_id"): return num(64)
    if f=="ct_label": return num(128 if random.random()<0.3 else 16)
    if f=="tun_flags": return random.choice(["+oam","-oam","0","1","1/1","0/1"])
    if f=="ct_state": 
        fl=random.sample(["new","est","rel","rpl","inv","trk","snat","dnat"],random.randrange(1,4))
        return random.choice(["".join(random.choice("+-")+x for x in fl), num(8)])
    if f=="tcp_flags":
        fl=random.sample(["fin","syn","rst","psh","ack","urg","ece","cwr","ns"],random.randrange(1,4))
        return random.choice(["".join(random.choice("+-")+x for x in fl), num(12)])
    if f=="ct_zone": return num(16,False)
    if f=="recirc_id": return num(32,False)
    if f=="dl_vlan": return str(random.randrange(4096))
    if f=="dl_vlan_pcp": return str(random.randrange(8))
    if f=="vlan_tci": return num(16)
    if f=="vlan_vid": return num(13)
    if f in("tp_src","tp_dst"): return num(16)
    if f=="ipv6_label": return num(20)
    if f in("nw_tos",): return str(random.randrange(256))
    if f=="ip_dscp": return str(random.randrange(64))
    if f=="nw_ecn": return str(random.randrange(4))
    if f=="nw_ttl": return str(random.randrange(256))
    if f=="nw_frag": return random.choice(["no","yes","first","later","not_later"])
    if f in("icmp_type","icmp_code"): return str(random.randrange(256))
    if f=="arp_op": return str(random.randrange(256))
    raise Exception(f)
for i in range(1500):
    sh=random.choice(list(pre))
    fields=random.sample(common,random.randrange(0,4))+random.sample(pre[sh],random.randrange(0,len(pre[sh])+1))
    items=[f+"="+val(f) for f in fields]
    if sh: items.insert(random.randrange(len(items)+1),sh)
    if random.random()<0.2: items.insert(0,"priority=%d"%random.randrange(65536))
    print(",".join(items+["actions=drop"]))
