//! IPv4 reassembly (RFC 791 §3.2; RFC 815's holes kept as the received ranges): fragments are collected per
//! (source, destination, protocol, identification) until the one without More Fragments has fixed the length
//! and every byte before it has arrived; the datagram is then rebuilt with a plain 20-byte header and handed
//! back to the IPv4 receive path as if it had arrived whole.
//!
//! Bounded, since anyone can send fragments: at most [`MAX_DATAGRAMS`] datagrams in progress (a new one evicts
//! the oldest), [`MAX_RANGES`] disjoint pieces per datagram, each given up [`TIMEOUT`] after its first fragment
//! (Linux's `ipfrag_time`). A fragment that partly overlaps what arrived, contradicts the length, or would end past
//! 65 535 bytes discards its datagram (RFC 5722's rule for IPv6, as Linux also applies to IPv4 overlaps); an
//! exact or contained repeat (a network duplicate) is ignored. Every fragment dropped is counted
//! (`drop_fragment`), every datagram rebuilt too (`ip_reassembled`).
//!
//! A datagram given up for time whose first fragment arrived is reported by [`IpReassembly::expire`] with that
//! fragment's header and first payload bytes, for the ICMP time-exceeded error RFC 1122 §3.3.2 asks for
//! (`Stack::send_reassembly_time_exceeded`; Linux sends it under the same condition). A datagram evicted to
//! make room, or discarded as inconsistent, is not reported (as Linux).
//!
//! Not here: IP options of the first fragment (the rebuilt header has none).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use runtime::DemiBuffer;

use crate::wire::{
    ICMPV4_ERROR_QUOTE_LEN, IPV4_MIN_HEADER_LEN, Ipv4Packet, Ipv4Repr, checksum_from_sum, ones_complement_sum,
};

/// Most datagrams being reassembled at once.
pub(super) const MAX_DATAGRAMS: usize = 16;
/// Most disjoint pieces one datagram may be in (merged as they join): bounds the bookkeeping that many tiny
/// fragments would make.
pub(super) const MAX_RANGES: usize = 64;
/// How long a datagram may take to arrive whole.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest IPv4 payload (65 535 less a 20-byte header).
const MAX_PAYLOAD: usize = 65_535 - IPV4_MIN_HEADER_LEN;

/// What one datagram's fragments are keyed by (RFC 791).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Partial {
    key: Key,
    /// The payload so far, as long as the furthest fragment's end.
    data: Vec<u8>,
    /// The ranges received, sorted and disjoint (adjacent ones merged).
    ranges: Vec<(usize, usize)>,
    /// The fragments kept (repeats not counted).
    fragments: usize,
    /// The payload's length, once the last fragment (no More Fragments) arrived.
    total: Option<usize>,
    tos: u8,
    ttl: u8,
    expires: Instant,
    /// The header of the first fragment (offset 0), once it arrived: what an ICMP error about the datagram
    /// quotes, with the first bytes of `data`.
    first: Option<Ipv4Repr>,
}

/// A datagram given up for time after its first fragment arrived: what the ICMP time-exceeded error quotes.
#[derive(Debug)]
pub(super) struct GivenUp {
    /// The first fragment's header (its payload length is the fragment's).
    pub(super) first: Ipv4Repr,
    /// The first bytes of the datagram's payload (at most [`ICMPV4_ERROR_QUOTE_LEN`]).
    pub(super) quote: Vec<u8>,
}

/// The datagrams in progress.
#[derive(Debug, Default)]
pub(super) struct IpReassembly {
    partials: Vec<Partial>,
}

/// What became of a fragment.
#[derive(Debug)]
pub(super) enum Fragment {
    /// Kept (or a repeat, ignored): the datagram is not whole yet.
    Kept,
    /// It completed its datagram: the whole datagram, header included.
    Completed(DemiBuffer),
    /// Discarded, with this many fragments kept before for the same datagram (now discarded too).
    Dropped(usize),
}

impl IpReassembly {
    /// Whether no datagram is in progress.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// When the first datagram in progress is given up.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.partials.iter().map(|p| p.expires).min()
    }

    /// Gives up the datagrams whose time ran out: returns how many fragments that discarded, and appends to
    /// `given_up` each of those datagrams whose first fragment had arrived.
    pub(super) fn expire(&mut self, now: Instant, given_up: &mut Vec<GivenUp>) -> usize {
        let mut dropped = 0;
        self.partials.retain(|p| {
            let keep = p.expires > now;
            if !keep {
                dropped += p.fragments;
                if let Some(first) = p.first {
                    let quote = p.data[..p.data.len().min(ICMPV4_ERROR_QUOTE_LEN)].to_vec();
                    given_up.push(GivenUp { first, quote });
                }
            }
            keep
        });
        dropped
    }

    /// Takes the fragment `packet` (its checksum already checked, addressed to us) at `now`.
    pub(super) fn add<T: AsRef<[u8]>>(&mut self, now: Instant, packet: &Ipv4Packet<T>) -> Fragment {
        let payload = packet.payload();
        let (start, more) = (packet.fragment_offset(), packet.more_fragments());
        let end = start + payload.len();
        // Every fragment but the last carries a multiple of 8 bytes; none reaches past the largest datagram.
        if end > MAX_PAYLOAD || (more && payload.len() % 8 != 0) || payload.is_empty() {
            return Fragment::Dropped(0);
        }
        let key = Key {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: u8::from(packet.protocol()),
            ident: packet.ident(),
        };
        let index = match self.partials.iter().position(|p| p.key == key) {
            Some(index) => index,
            None => self.start(key, now, packet.tos(), packet.ttl()),
        };
        let partial = &mut self.partials[index];
        let placed = partial.place(start, end, more, payload);
        if start == 0 && matches!(placed, Placed::Kept) && partial.first.is_none() {
            partial.first = Some(Ipv4Repr {
                src_addr: key.src,
                dst_addr: key.dst,
                protocol: key.protocol.into(),
                payload_len: payload.len(),
                ttl: packet.ttl(),
                tos: packet.tos(),
                ident: key.ident,
                dont_fragment: false,
            });
        }
        match placed {
            Placed::Kept if partial.is_whole() => {
                let whole = self.partials.swap_remove(index).rebuild();
                whole.map_or(Fragment::Dropped(0), Fragment::Completed)
            }
            Placed::Kept => Fragment::Kept,
            Placed::Inconsistent => {
                let discarded = self.partials.swap_remove(index).fragments;
                Fragment::Dropped(discarded)
            }
        }
    }

    /// A new datagram in progress (evicting the oldest if [`MAX_DATAGRAMS`] are): its index.
    fn start(&mut self, key: Key, now: Instant, tos: u8, ttl: u8) -> usize {
        if self.partials.len() == MAX_DATAGRAMS
            && let Some(oldest) = (0..self.partials.len()).min_by_key(|&i| self.partials[i].expires)
        {
            self.partials.swap_remove(oldest);
        }
        let expires = now + TIMEOUT;
        let partial = Partial {
            key,
            data: Vec::new(),
            ranges: Vec::new(),
            fragments: 0,
            total: None,
            tos,
            ttl,
            expires,
            first: None,
        };
        self.partials.push(partial);
        self.partials.len() - 1
    }
}

/// What [`Partial::place`] did.
enum Placed {
    Kept,
    /// The fragment contradicts the datagram (a partial overlap, a second end, data past the end, too many
    /// pieces): the datagram is discarded.
    Inconsistent,
}

impl Partial {
    fn place(&mut self, start: usize, end: usize, more: bool, payload: &[u8]) -> Placed {
        let furthest = self.ranges.last().map_or(0, |r| r.1);
        match (more, self.total) {
            (false, Some(total)) if total != end => return Placed::Inconsistent,
            (false, _) if end < furthest => return Placed::Inconsistent,
            (true, Some(total)) if end > total => return Placed::Inconsistent,
            _ => {}
        }
        if !more {
            self.total = Some(end);
        }
        if self.ranges.iter().any(|&(s, e)| s <= start && end <= e) {
            return Placed::Kept; // a repeat
        }
        if self.ranges.iter().any(|&(s, e)| start < e && s < end) {
            return Placed::Inconsistent;
        }
        let at = self.ranges.partition_point(|&(s, _)| s < start);
        self.ranges.insert(at, (start, end));
        // Merge with the neighbours it touches.
        if at + 1 < self.ranges.len() && self.ranges[at].1 == self.ranges[at + 1].0 {
            self.ranges[at].1 = self.ranges.remove(at + 1).1;
        }
        if at > 0 && self.ranges[at - 1].1 == self.ranges[at].0 {
            self.ranges[at - 1].1 = self.ranges.remove(at).1;
        }
        if self.ranges.len() > MAX_RANGES {
            return Placed::Inconsistent;
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(payload);
        self.fragments += 1;
        Placed::Kept
    }

    fn is_whole(&self) -> bool {
        self.total.is_some_and(|total| self.ranges == [(0, total)])
    }

    /// The whole datagram: a 20-byte header (no options, no fragment fields) and the payload.
    fn rebuild(self) -> Option<DemiBuffer> {
        let total_len = u16::try_from(IPV4_MIN_HEADER_LEN + self.data.len()).ok()?;
        let mut bytes = vec![0u8; usize::from(total_len)];
        let header = &mut bytes[..IPV4_MIN_HEADER_LEN];
        header[0] = 0x45;
        header[1] = self.tos;
        header[2..4].copy_from_slice(&total_len.to_be_bytes());
        header[4..6].copy_from_slice(&self.key.ident.to_be_bytes());
        header[8] = self.ttl;
        header[9] = self.key.protocol;
        header[12..16].copy_from_slice(&self.key.src.octets());
        header[16..20].copy_from_slice(&self.key.dst.octets());
        let checksum = checksum_from_sum(ones_complement_sum(header));
        header[10..12].copy_from_slice(&checksum.to_be_bytes());
        bytes[IPV4_MIN_HEADER_LEN..].copy_from_slice(&self.data);
        DemiBuffer::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ChecksumCapabilities, IpProtocol, Ipv4Repr};

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// The datagram `ident` of `len` bytes, its byte i being `i % 251`.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// The fragment of `data` at `[start, end)`, with More Fragments if `more`.
    fn fragment(ident: u16, data: &[u8], start: usize, end: usize, more: bool) -> Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: IpProtocol::Udp,
            payload_len: end - start,
            ttl: 64,
            tos: 0,
            ident,
            dont_fragment: false,
        };
        let mut bytes = vec![0u8; IPV4_MIN_HEADER_LEN + end - start];
        ip.emit_fragment(&mut bytes, start, more, &ChecksumCapabilities::software()).expect("header");
        bytes[IPV4_MIN_HEADER_LEN..].copy_from_slice(&data[start..end]);
        bytes
    }

    fn add(reassembly: &mut IpReassembly, now: Instant, bytes: &[u8]) -> Fragment {
        reassembly.add(now, &Ipv4Packet::new_checked(bytes).expect("fragment"))
    }

    fn completed(fragment: Fragment) -> Vec<u8> {
        let Fragment::Completed(datagram) = fragment else { panic!("not complete: {fragment:?}") };
        let view = Ipv4Packet::new_checked(&datagram[..]).expect("datagram");
        let ip = Ipv4Repr::parse(&view, &ChecksumCapabilities::software()).expect("a valid, whole datagram");
        assert_eq!((ip.src_addr, ip.dst_addr, ip.protocol, ip.ident), (SRC, DST, IpProtocol::Udp, 7));
        view.payload().to_vec()
    }

    #[test]
    fn fragments_in_any_order_with_repeats_make_the_datagram() {
        let now = Instant::now();
        let data = payload(4000);
        let pieces = [(0, 1480, true), (1480, 2960, true), (2960, 4000, false)];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut reassembly = IpReassembly::default();
            for (n, &i) in order.iter().enumerate() {
                let (start, end, more) = pieces[i];
                let bytes = fragment(7, &data, start, end, more);
                if n < 2 {
                    assert!(matches!(add(&mut reassembly, now, &bytes), Fragment::Kept));
                    assert!(matches!(add(&mut reassembly, now, &bytes), Fragment::Kept), "a repeat is ignored");
                } else {
                    assert_eq!(completed(add(&mut reassembly, now, &bytes)), data);
                }
            }
            assert!(reassembly.is_empty());
        }
    }

    #[test]
    fn contradictions_discard_the_datagram() {
        let now = Instant::now();
        let data = payload(6000);
        let cases: [&[(usize, usize, bool)]; 5] = [
            &[(0, 1480, true), (1000, 2480, true)],     // a partial overlap
            &[(2960, 4000, false), (0, 2000, false)],   // two different ends
            &[(2960, 4000, false), (4000, 5480, true)], // data past the end
            &[(2960, 4000, false), (0, 3960, true)],    // an overlap reaching the end
            &[(0, 1480, true), (1480, 1481, true)],     // not a multiple of 8, yet not the last
        ];
        for case in cases {
            let mut reassembly = IpReassembly::default();
            let outcomes: Vec<_> =
                case.iter().map(|&(s, e, more)| add(&mut reassembly, now, &fragment(7, &data, s, e, more))).collect();
            assert!(matches!(outcomes.last(), Some(Fragment::Dropped(_))), "{case:?}: {outcomes:?}");
        }
    }

    #[test]
    fn a_datagram_not_whole_in_time_is_given_up_and_memory_stays_bounded() {
        let now = Instant::now();
        let data = payload(4000);
        let mut reassembly = IpReassembly::default();
        assert!(matches!(add(&mut reassembly, now, &fragment(7, &data, 0, 1480, true)), Fragment::Kept));
        assert_eq!(reassembly.next_deadline(), Some(now + TIMEOUT));
        let mut given_up = Vec::new();
        assert_eq!(reassembly.expire(now + TIMEOUT - Duration::from_millis(1), &mut given_up), 0);
        assert_eq!(reassembly.expire(now + TIMEOUT, &mut given_up), 1, "one fragment given up");
        assert!(reassembly.is_empty());
        // Its first fragment had arrived: what the ICMP error quotes.
        let [GivenUp { first, quote }] = &given_up[..] else { panic!("{given_up:?}") };
        assert_eq!((first.src_addr, first.dst_addr, first.ident, first.payload_len), (SRC, DST, 7, 1480));
        assert_eq!(quote[..], data[..8]);
        // A datagram whose first fragment never came is given up without a report.
        given_up.clear();
        add(&mut reassembly, now, &fragment(8, &data, 1480, 2960, true));
        assert_eq!(reassembly.expire(now + TIMEOUT, &mut given_up), 1);
        assert!(given_up.is_empty());
        // More datagrams than the table holds: the oldest go.
        for ident in 0..(MAX_DATAGRAMS as u16 + 10) {
            let later = now + Duration::from_millis(u64::from(ident));
            add(&mut reassembly, later, &fragment(ident, &data, 0, 1480, true));
        }
        assert_eq!(reassembly.partials.len(), MAX_DATAGRAMS);
        assert!(reassembly.partials.iter().all(|p| p.key.ident >= 10), "the ten oldest evicted");
        // Many tiny pieces with gaps between them: beyond MAX_RANGES the datagram is discarded.
        let mut reassembly = IpReassembly::default();
        let mut last = Fragment::Kept;
        for i in 0..=MAX_RANGES {
            last = add(&mut reassembly, now, &fragment(9, &data, i * 16, i * 16 + 8, true));
        }
        assert!(matches!(last, Fragment::Dropped(n) if n > 0), "{last:?}");
        assert!(reassembly.is_empty());
    }
}
