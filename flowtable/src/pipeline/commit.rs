//! Folding the translation's field writes into explicit datapath sets.
//!
//! OpenFlow actions change the key seen by later tables at once, but the packet only needs to
//! change before it leaves (output, controller), before conntrack looks at it, or before a
//! recirculation re-reads it. The translation keeps two keys: `base`, the packet as the
//! datapath actions emitted so far leave it, and `key`, the packet as OpenFlow sees it now,
//! plus `written`, the header bits the actions wrote since the last commit. [`Commit::commit`]
//! emits one masked set per written field and makes `base` equal to `key` again.
//!
//! Writes are emitted with the mask of the bits *written*, not of the bits that differ: whether
//! a written bit differs from the packet's depends on a packet bit the megaflow may not
//! examine, so a diff would be right for this packet and wrong for the next one of the same
//! megaflow.

use crate::field::Field;
use crate::key::{FlowKey, FlowMask, VLAN_PRESENT};

use super::DpAction;

/// Header fields whose writes are committed as sets, in the order the sets are emitted.
const COMMITTED: &[Field] = &[
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::TunFlags,
    Field::PktMark,
    Field::DlDst,
    Field::DlSrc,
    Field::NwSrc,
    Field::NwDst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::Ipv6Label,
    Field::NwTos,
    Field::NwEcn,
    Field::NwTtl,
    Field::ArpOp,
    Field::ArpSha,
    Field::ArpTha,
    Field::TpSrc,
    Field::TpDst,
    Field::IcmpType,
    Field::IcmpCode,
    Field::NdTarget,
    Field::NdSll,
    Field::NdTll,
];

/// The VLAN tags of a key, outermost first, as (TPID, TCI without the present bit).
fn tags(key: &FlowKey) -> Vec<(u16, u16)> {
    let mut tags = Vec::with_capacity(2);
    if key.vlan_tci & VLAN_PRESENT != 0 {
        tags.push((tpid_or_default(key.vlan_tpid), key.vlan_tci & !VLAN_PRESENT));
        if key.inner_vlan_tci & VLAN_PRESENT != 0 {
            tags.push((
                tpid_or_default(key.inner_vlan_tpid),
                key.inner_vlan_tci & !VLAN_PRESENT,
            ));
        }
    }
    tags
}

fn tpid_or_default(tpid: u16) -> u16 {
    if tpid == 0 {
        crate::ethertype::VLAN
    } else {
        tpid
    }
}

/// The name under which a write to `field` is emitted for this packet: the storage twins of
/// shared fields are named after the protocol the packet has.
fn emitted_name(field: Field, key: &FlowKey) -> Field {
    match field {
        Field::NwSrc if key.is_arp() => Field::ArpSpa,
        Field::NwDst if key.is_arp() => Field::ArpTpa,
        Field::IcmpType if key.is_ipv6() => Field::Icmpv6Type,
        Field::IcmpCode if key.is_ipv6() => Field::Icmpv6Code,
        other => other,
    }
}

/// The packet state of a translation, and what its actions changed since the last commit.
#[derive(Clone, Debug)]
pub(super) struct Commit {
    /// The packet as OpenFlow actions see it now.
    pub key: FlowKey,
    /// The packet as the datapath actions emitted so far leave it.
    pub base: FlowKey,
    /// Header bits written since the last commit.
    pub written: FlowMask,
    /// Whether tags were pushed or popped since the last commit.
    pub vlan_restructured: bool,
}

impl Commit {
    pub fn new(key: FlowKey) -> Commit {
        Commit {
            key,
            base: key,
            written: FlowMask::none(),
            vlan_restructured: false,
        }
    }

    /// Writes the bits `mask` of `field` in the key and remembers them for the next commit.
    pub fn write(&mut self, field: Field, value: u128, mask: u128) {
        field.set(&mut self.key, value, mask);
        field.unwildcard(&mut self.written, mask & field.full_mask());
    }

    /// Emits the sets, pushes and pops that turn `base` into `key`, onto `out`. The VLAN
    /// fields are made exact in `megaflow` when tags were restructured, since the pushes then
    /// carry the packet's own tag values.
    pub fn commit(&mut self, out: &mut Vec<DpAction>, megaflow: &mut FlowMask) {
        self.commit_vlan(out, megaflow);
        for &field in COMMITTED {
            let bits = field.get_mask(&self.written);
            if bits == 0 {
                continue;
            }
            let value = field.get(&self.key) & bits;
            out.push(DpAction::SetField {
                field: emitted_name(field, &self.key),
                value,
                mask: bits,
            });
            field.set(&mut self.base, value, bits);
        }
        self.written = FlowMask::none();
    }

    fn commit_vlan(&mut self, out: &mut Vec<DpAction>, megaflow: &mut FlowMask) {
        let written_tci = Field::VlanTci.get_mask(&self.written);
        if !self.vlan_restructured {
            // Only the bits of the existing outer tag changed: rewrite them in place.
            let bits = written_tci & u128::from(!VLAN_PRESENT);
            if bits != 0 && self.key.vlan_tci & VLAN_PRESENT != 0 {
                let value = Field::VlanTci.get(&self.key) & bits;
                out.push(DpAction::SetField {
                    field: Field::VlanTci,
                    value,
                    mask: bits,
                });
            }
            self.sync_vlan();
            return;
        }
        for field in [
            Field::VlanTci,
            Field::VlanTpid,
            Field::InnerVlanTci,
            Field::InnerVlanTpid,
        ] {
            field.set_all_bits(megaflow);
        }
        let base = tags(&self.base);
        let cur = tags(&self.key);
        // Keep the longest common run of innermost tags; pop the rest, push the new ones.
        let common = base
            .iter()
            .rev()
            .zip(cur.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        for _ in common..base.len() {
            out.push(DpAction::PopVlan);
        }
        for &(tpid, tci) in cur.iter().take(cur.len() - common).rev() {
            out.push(DpAction::PushVlan { tpid, tci });
        }
        self.vlan_restructured = false;
        self.sync_vlan();
    }

    fn sync_vlan(&mut self) {
        self.base.vlan_tci = self.key.vlan_tci;
        self.base.vlan_tpid = self.key.vlan_tpid;
        self.base.inner_vlan_tci = self.key.inner_vlan_tci;
        self.base.inner_vlan_tpid = self.key.inner_vlan_tpid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tci: u16) -> FlowKey {
        let mut k = FlowKey::zero();
        k.dl_type = crate::ethertype::IPV4;
        k.vlan_tci = VLAN_PRESENT | tci;
        k.vlan_tpid = crate::ethertype::VLAN;
        k
    }

    #[test]
    fn writes_are_committed_with_the_written_mask() {
        let mut c = Commit::new(tagged(5));
        c.write(Field::NwDst, 0x0a00_0001, 0xffff_ffff);
        c.write(Field::TpDst, 0x0050, 0x00ff);
        let mut out = Vec::new();
        let mut mf = FlowMask::none();
        c.commit(&mut out, &mut mf);
        assert_eq!(
            out,
            vec![
                DpAction::SetField {
                    field: Field::NwDst,
                    value: 0x0a00_0001,
                    mask: 0xffff_ffff
                },
                DpAction::SetField {
                    field: Field::TpDst,
                    value: 0x50,
                    mask: 0xff
                },
            ]
        );
        // A second commit has nothing left to do.
        out.clear();
        c.commit(&mut out, &mut mf);
        assert!(out.is_empty());
        assert_eq!(c.base, c.key);
    }

    #[test]
    fn a_pushed_tag_over_an_existing_one_is_one_push() {
        let mut c = Commit::new(tagged(5));
        c.key.inner_vlan_tci = c.key.vlan_tci;
        c.key.inner_vlan_tpid = c.key.vlan_tpid;
        c.key.vlan_tci = VLAN_PRESENT | 7;
        c.key.vlan_tpid = crate::ethertype::QINQ;
        c.vlan_restructured = true;
        let mut out = Vec::new();
        let mut mf = FlowMask::none();
        c.commit(&mut out, &mut mf);
        assert_eq!(
            out,
            vec![DpAction::PushVlan {
                tpid: crate::ethertype::QINQ,
                tci: 7
            }]
        );
        assert_eq!(Field::VlanTci.get_mask(&mf), 0xffff);
    }

    #[test]
    fn a_popped_and_replaced_tag_is_pop_then_push() {
        let mut c = Commit::new(tagged(5));
        c.key.vlan_tci = VLAN_PRESENT | 9;
        c.vlan_restructured = true;
        let mut out = Vec::new();
        c.commit(&mut out, &mut FlowMask::none());
        assert_eq!(
            out,
            vec![
                DpAction::PopVlan,
                DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: 9
                }
            ]
        );
    }

    #[test]
    fn arp_addresses_are_emitted_under_their_arp_names() {
        let mut k = FlowKey::zero();
        k.dl_type = crate::ethertype::ARP;
        let mut c = Commit::new(k);
        c.write(Field::ArpTpa, 0x0a00_0001, 0xffff_ffff);
        let mut out = Vec::new();
        c.commit(&mut out, &mut FlowMask::none());
        assert_eq!(
            out,
            vec![DpAction::SetField {
                field: Field::ArpTpa,
                value: 0x0a00_0001,
                mask: 0xffff_ffff
            }]
        );
    }
}
