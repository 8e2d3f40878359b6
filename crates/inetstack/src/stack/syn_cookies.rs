//! SYN cookies (RFC 4987 §3.6): a listener whose backlog is full answers a SYN with a SYN-ACK whose initial
//! sequence number encodes the handshake, and keeps nothing; the ACK that completes it brings the number back,
//! and the connection is made from it then. A SYN flood then costs the listener no memory and no longer locks out
//! the clients that really connect (without cookies, their SYNs are dropped until the flood's half-open
//! connections time out, minutes later).
//!
//! The cookie, as Linux lays it out: the top 5 bits are a counter that ticks every 64 s, the next 3 an index
//! into a table of MSS values (the largest not above the MSS agreed), the low 24 a keyed hash of the two
//! addresses and ports, the peer's initial sequence number and the counter. A cookie of this tick or the last
//! is taken (so it lives 64 to 128 s); a forged ACK must guess 24 bits.
//!
//! While a listener's cookies may be out (128 s after it last sent one), an ACK to it that brings no valid cookie
//! is dropped, as Linux drops it, rather than answered with a RST: a peer whose ACK was lost sends segments that
//! cannot bring the cookie back (their sequence numbers are not the ISN's next) until it resends its first one.
//!
//! The other options cannot ride in the sequence number: when the SYN carried timestamps, they ride in the low
//! 6 bits of our TSval, which the ACK echoes (the peer's window scale, 4 bits, 15 for none; SACK permitted; ECN
//! agreed), as Linux encodes them; without timestamps the SYN-ACK offers no window scaling, no SACK and no ECN.
//! `StackConfig::syn_cookies` (on by default, as Linux's `tcp_syncookies = 1`) turns them off: the SYN is then
//! dropped as before.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddrV4;

use crate::tcp::{Nanos, TcpConfig};
use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// The MSS values a cookie can name (3 bits).
const MSS_TABLE: [u16; 8] = [216, 536, 1200, 1360, 1400, 1440, 1460, 8960];
/// How often the cookie's counter ticks.
const TICK: Nanos = Nanos::from_secs(64);
/// The longest a cookie stays valid (this tick and the next).
pub(super) const LIFETIME: Nanos = Nanos::from_secs(128);
/// The bits of our TSval that carry the options.
const TS_OPTION_BITS: u32 = 0x3f;
const NO_WINDOW_SCALE: u32 = 0xf;
const SACK_BIT: u32 = 0x10;
const ECN_BIT: u32 = 0x20;

/// What a cookie keeps of a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Handshake {
    pub(super) mss: u16,
    /// The peer's window scale shift, if it offered scaling and we take it.
    pub(super) window_scale: Option<u8>,
    pub(super) sack: bool,
    pub(super) ecn: bool,
}

/// The keys of one cookie: the connection's addresses and the peer's initial sequence number.
#[derive(Clone, Copy, Debug)]
pub(super) struct CookieKey {
    pub(super) secret: u64,
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
    pub(super) peer_isn: SeqNumber,
}

impl CookieKey {
    fn hash(&self, tick: u64) -> u32 {
        let mut hasher = DefaultHasher::new();
        (self.secret, "syn cookie", self.local, self.remote, self.peer_isn.0, tick).hash(&mut hasher);
        hasher.finish() as u32 & 0x00ff_ffff
    }

    /// The cookie for a SYN whose handshake agreed `mss`, at `now`: our initial sequence number.
    pub(super) fn cookie(&self, mss: u16, now: Nanos) -> SeqNumber {
        let tick = now.as_nanos() / TICK.as_nanos();
        let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
        SeqNumber(((tick as u32 & 0x1f) << 27) | (index << 24) | self.hash(tick))
    }

    /// The MSS `cookie` names, if it is one of ours of this tick or the last.
    pub(super) fn check(&self, cookie: SeqNumber, now: Nanos) -> Option<u16> {
        let tick = now.as_nanos() / TICK.as_nanos();
        let valid = [tick, tick.wrapping_sub(1)]
            .into_iter()
            .any(|t| (t as u32 & 0x1f) == cookie.0 >> 27 && self.hash(t) == cookie.0 & 0x00ff_ffff);
        valid.then(|| MSS_TABLE[((cookie.0 >> 24) & 0x7) as usize])
    }
}

/// Our answer to `syn` under cookies: what the SYN-ACK agrees to (the options our configuration and the SYN
/// both have, those beyond the MSS only with timestamps to carry them) and its flags and options, given the
/// clock of our timestamps (`tsval`).
pub(super) fn syn_ack(config: &TcpConfig, syn: &TcpRepr<'_>, tsval: u32) -> (Handshake, TcpFlags, TcpOptions) {
    let peer_mss = syn.options.mss.unwrap_or(536).max(64);
    let timestamps = config.timestamps && syn.options.timestamps.is_some();
    let agreed = Handshake {
        mss: peer_mss.min(config.effective_mss()),
        window_scale: syn.options.window_scale.filter(|_| timestamps && config.window_scale).map(|s| s.min(14)),
        sack: timestamps && config.sack && syn.options.sack_permitted,
        ecn: timestamps
            && config.asks_for_ecn()
            && syn.flags.contains(TcpFlags::ECE)
            && syn.flags.contains(TcpFlags::CWR),
    };
    let options = TcpOptions {
        mss: Some(config.effective_mss()),
        window_scale: agreed.window_scale.map(|_| config.receive_window_shift()),
        sack_permitted: agreed.sack,
        timestamps: syn
            .options
            .timestamps
            .filter(|_| timestamps)
            .map(|theirs| TcpTimestamps { value: encode_tsval(tsval, &agreed), echo_reply: theirs.value }),
        ..TcpOptions::default()
    };
    let flags = if agreed.ecn { TcpFlags::SYN | TcpFlags::ECE } else { TcpFlags::SYN };
    (agreed, flags, options)
}

/// Our TSval `clock` with the handshake's options in its low bits, never above `clock` (the connection's later
/// TSvals must not go back).
fn encode_tsval(clock: u32, agreed: &Handshake) -> u32 {
    let mut bits = agreed.window_scale.map_or(NO_WINDOW_SCALE, u32::from);
    if agreed.sack {
        bits |= SACK_BIT;
    }
    if agreed.ecn {
        bits |= ECN_BIT;
    }
    let value = (clock & !TS_OPTION_BITS) | bits;
    if (value.wrapping_sub(clock) as i32) > 0 { value.wrapping_sub(TS_OPTION_BITS + 1) } else { value }
}

/// The handshake an ACK with a valid cookie naming `mss` completes: the options from the TSval it echoes, or
/// none without timestamps.
pub(super) fn handshake(mss: u16, ack: &TcpRepr<'_>) -> Handshake {
    let Some(echoed) = ack.options.timestamps.map(|ts| ts.echo_reply & TS_OPTION_BITS) else {
        return Handshake { mss, window_scale: None, sack: false, ecn: false };
    };
    let scale = echoed & NO_WINDOW_SCALE;
    Handshake {
        mss,
        window_scale: (scale != NO_WINDOW_SCALE).then_some(scale as u8),
        sack: echoed & SACK_BIT != 0,
        ecn: echoed & ECN_BIT != 0,
    }
}

/// The SYN that `ack` completes the handshake of, as the listener would have seen it: what the connection is
/// made from (its TSval is the ACK's: TS.Recent starts there).
pub(super) fn syn_for<'a>(ack: &TcpRepr<'a>, agreed: &Handshake) -> TcpRepr<'a> {
    let flags = if agreed.ecn { TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR } else { TcpFlags::SYN };
    TcpRepr {
        src_port: ack.src_port,
        dst_port: ack.dst_port,
        seq_number: ack.seq_number - 1,
        ack_number: None,
        flags,
        window_len: ack.window_len,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(agreed.mss),
            window_scale: agreed.window_scale,
            sack_permitted: agreed.sack,
            timestamps: ack.options.timestamps.map(|ts| TcpTimestamps { value: ts.value, echo_reply: 0 }),
            ..TcpOptions::default()
        },
        payload: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(peer_isn: u32) -> CookieKey {
        CookieKey {
            secret: 0x5eed,
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000),
            peer_isn: SeqNumber(peer_isn),
        }
    }

    #[test]
    fn a_cookie_names_its_mss_for_two_ticks_and_only_for_its_own_handshake() {
        let now = Nanos::from_secs(1000);
        for (mss, named) in [(1460, 1460), (1448, 1440), (536, 536), (100, 216), (9000, 8960), (1200, 1200)] {
            let cookie = key(7).cookie(mss, now);
            assert_eq!(key(7).check(cookie, now), Some(named), "MSS {mss}");
            assert_eq!(key(7).check(cookie, now.saturating_add(TICK)), Some(named), "one tick later");
            assert_eq!(key(7).check(cookie, now.saturating_add(Nanos::from_secs(128))), None, "two ticks later");
            assert_eq!(key(8).check(cookie, now), None, "another SYN");
            let other_port = CookieKey { remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40001), ..key(7) };
            assert_eq!(other_port.check(cookie, now), None, "another peer");
            assert_eq!(CookieKey { secret: 1, ..key(7) }.check(cookie, now), None, "another stack's secret");
            assert_eq!(key(7).check(SeqNumber(cookie.0 ^ 1), now), None, "one bit off");
        }
    }

    #[test]
    fn options_ride_in_the_tsval_and_it_never_runs_ahead_of_the_clock() {
        for agreed in [
            Handshake { mss: 1460, window_scale: Some(7), sack: true, ecn: false },
            Handshake { mss: 1460, window_scale: None, sack: false, ecn: true },
            Handshake { mss: 536, window_scale: Some(0), sack: true, ecn: true },
            Handshake { mss: 536, window_scale: Some(14), sack: false, ecn: false },
        ] {
            for clock in [0u32, 5, 63, 64, 1_000_000, u32::MAX] {
                let value = encode_tsval(clock, &agreed);
                assert!((clock.wrapping_sub(value) as i32) >= 0 && clock.wrapping_sub(value) < 64, "{clock} {value}");
                let ack = TcpRepr {
                    src_port: 1,
                    dst_port: 2,
                    seq_number: SeqNumber(1),
                    ack_number: Some(SeqNumber(1)),
                    flags: TcpFlags::empty(),
                    window_len: 0,
                    urgent_pointer: 0,
                    options: TcpOptions {
                        timestamps: Some(TcpTimestamps { value: 9, echo_reply: value }),
                        ..TcpOptions::default()
                    },
                    payload: &[],
                };
                assert_eq!(handshake(agreed.mss, &ack), agreed);
            }
        }
    }
}
