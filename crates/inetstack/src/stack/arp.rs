//! ARP on the wire (RFC 826): answer requests for our address, learn from requests and replies addressed
//! to us and from gratuitous announcements about hosts we already know, send requests, and announce our own
//! address when the stack starts (RFC 5227 §2.3) and when another host claims it (§2.4).

use std::net::Ipv4Addr;

use runtime::Sga;

use super::Stack;
use super::output::NextHop;
use crate::wire::{
    ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr, ETHERNET_HEADER_LEN, EtherType, EthernetRepr, MacAddress,
    WireError,
};

impl Stack {
    pub(super) fn receive_arp(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let arp = ArpRepr::parse(&ArpPacket::new_checked(bytes)?)?;
        if !arp.sender_mac.is_unicast() || arp.sender_ip.is_unspecified() {
            return Err(WireError::Malformed);
        }
        if arp.sender_ip == self.config.ipv4 {
            // Another host claims our address (RFC 5227 §2.4): not learned, not answered; defended.
            if arp.sender_mac != self.config.mac {
                self.defend_address();
            }
            return Ok(());
        }
        let for_us = arp.target_ip == self.config.ipv4;
        // Learn from anything addressed to us; refresh (never add) from other traffic, so a chatty network
        // cannot fill the cache (RFC 826's merge rule).
        if for_us || self.arp.knows(arp.sender_ip) {
            let waiting = self.arp.insert(self.now, arp.sender_ip, arp.sender_mac);
            self.release_pending(arp.sender_mac, waiting);
        }
        if for_us && arp.operation == ArpOperation::Request {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                sender_mac: self.config.mac,
                sender_ip: self.config.ipv4,
                target_mac: arp.sender_mac,
                target_ip: arp.sender_ip,
            };
            self.send_arp(arp.sender_mac, &reply);
            self.counters.arp_replies_out += 1;
        }
        Ok(())
    }

    /// A transport's advice that delivery to `dst` is failing (a TCP retransmission timeout): a request about
    /// the next hop's learned entry, which a reply from another MAC address then corrects (see `ArpCache`).
    pub(super) fn advise_delivery_problem(&mut self, dst: Ipv4Addr) {
        let Ok(NextHop::Host(hop)) = self.route(dst) else { return };
        if self.arp.revalidation_due(self.now, hop) {
            self.send_arp_request(hop);
            self.counters.arp_revalidations += 1;
        }
    }

    pub(super) fn send_arp_request(&mut self, ip: Ipv4Addr) {
        self.send_arp(MacAddress::BROADCAST, &Self::arp_request(self.config.mac, self.config.ipv4, ip));
        self.counters.arp_requests_out += 1;
    }

    /// An ARP announcement of our own address (RFC 5227 §2.3): a broadcast request whose sender and target are
    /// both our address, which hosts that know the address update their caches from.
    pub(super) fn send_arp_announcement(&mut self) {
        let mut announcement = Self::arp_request(self.config.mac, self.config.ipv4, self.config.ipv4);
        announcement.target_mac = MacAddress::ZERO;
        self.send_arp(MacAddress::BROADCAST, &announcement);
        self.counters.arp_announcements_out += 1;
    }

    /// Another host sent ARP with our address as its own (RFC 5227 §2.4: a misconfigured host, or one taking
    /// the address over). Counted (`arp_conflicts`), and answered with an announcement of our own at most once
    /// per `DEFEND_INTERVAL` (10 s), so that the hosts that took the other MAC address take ours back, as
    /// §2.4 (b) does; two hosts defending forever never flood each other.
    fn defend_address(&mut self) {
        self.counters.arp_conflicts += 1;
        if self.arp.may_defend(self.now) {
            self.send_arp_announcement();
        }
    }

    /// A request about a stale entry in use, sent to the MAC address it holds (RFC 1122 §2.3.2.1, "unicast
    /// poll"; see `ArpCache`).
    pub(super) fn send_arp_poll(&mut self, ip: Ipv4Addr, mac: MacAddress) {
        self.send_arp(mac, &Self::arp_request(self.config.mac, self.config.ipv4, ip));
        self.counters.arp_polls += 1;
    }

    fn arp_request(sender_mac: MacAddress, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr { operation: ArpOperation::Request, sender_mac, sender_ip, target_mac: MacAddress::ZERO, target_ip }
    }

    fn send_arp(&mut self, dst: MacAddress, arp: &ArpRepr) {
        // Header buffers are sized for Ethernet + IPv4 + 60 bytes: an ARP packet (28) always fits.
        let Ok(mut buffer) = self.frame_pool.alloc(ETHERNET_HEADER_LEN + ARP_PACKET_LEN) else { return };
        let Some(bytes) = buffer.as_mut_slice() else { return };
        let ethernet = EthernetRepr { src_addr: self.config.mac, dst_addr: dst, ethertype: EtherType::Arp };
        if ethernet.emit(bytes).is_ok() && arp.emit(&mut bytes[ETHERNET_HEADER_LEN..]).is_ok() {
            self.outbox.push_back(Sga::from_buffer(buffer));
        }
    }
}
