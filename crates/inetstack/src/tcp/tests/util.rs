//! Helpers shared by the scenario tests: configurations, an established harness, segment builders.

use std::time::Duration;

use runtime::{DemiBuffer, Sga};

use crate::tcp::harness::{Harness, LinkFaults, Side, TraceEntry};
use crate::tcp::{TcpConfig, TcpState};
use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

pub(crate) fn config() -> TcpConfig {
    TcpConfig::default()
}

/// A harness whose handshake has completed.
pub(crate) fn established(config_a: &TcpConfig, config_b: &TcpConfig, faults: LinkFaults, seed: u64) -> Harness {
    let mut harness = Harness::new(config_a, config_b, faults, seed);
    let done = harness.run_until(Duration::from_secs(60), |h| {
        h.a.state() == TcpState::Established && h.b.as_ref().is_some_and(|b| b.state() == TcpState::Established)
    });
    assert!(done, "handshake did not complete: {:?}", harness.states());
    harness
}

pub(crate) fn sga(bytes: &[u8]) -> Sga {
    Sga::from_slice(bytes).expect("alloc")
}

/// A segment to inject.
pub(crate) fn segment<'a>(seq: SeqNumber, ack: Option<SeqNumber>, flags: TcpFlags, payload: &'a [u8]) -> TcpRepr<'a> {
    TcpRepr {
        src_port: 0,
        dst_port: 0,
        seq_number: seq,
        ack_number: ack,
        flags,
        window_len: 1000,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload,
    }
}

pub(crate) fn buffer(bytes: &[u8]) -> DemiBuffer {
    DemiBuffer::from_slice(bytes).expect("alloc")
}

/// Segments `from` sent since trace index `since`.
pub(crate) fn sent_by(harness: &Harness, from: Side, since: usize) -> Vec<TraceEntry> {
    harness.trace[since..].iter().filter(|entry| entry.from == from).cloned().collect()
}

pub(crate) fn data_segments(entries: &[TraceEntry]) -> Vec<&TraceEntry> {
    entries.iter().filter(|entry| entry.len > 0).collect()
}

pub(crate) fn pure_acks(entries: &[TraceEntry]) -> Vec<&TraceEntry> {
    entries
        .iter()
        .filter(|entry| entry.len == 0 && !entry.flags.syn() && !entry.flags.fin() && !entry.flags.rst())
        .collect()
}

/// Runs until B's application has read `len` bytes (it reads whatever arrives), or `limit`; whether it did.
pub(crate) fn run_until_b_read(harness: &mut Harness, len: usize, limit: Duration) -> bool {
    let mut got = 0;
    harness.run_until(limit, |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got += data.len();
        }
        got == len
    })
}

/// A sends `len` bytes to B in writes of at most `write` bytes; returns when B has read them all and the last
/// ACKs have arrived (100 ms later).
pub(crate) fn transfer(harness: &mut Harness, len: usize, write: usize) {
    let data = vec![0x5a; len];
    let (mut sent, mut received) = (0, 0);
    let done = harness.run_until(Duration::from_secs(60), |h| {
        if sent < len {
            sent += h.a.send(&sga(&data[sent..len.min(sent.saturating_add(write))])).expect("send");
        }
        while let Some(got) = h.b_mut().recv(usize::MAX).expect("recv") {
            if got.is_empty() {
                break;
            }
            received += got.len();
        }
        received == len
    });
    assert!(done, "{received} of {len} bytes");
    harness.run_for(Duration::from_millis(100));
}

/// The flags of A's SYN and B's SYN-ACK.
pub(crate) fn handshake_flags(harness: &Harness) -> (TcpFlags, TcpFlags) {
    let syn = harness.trace.iter().find(|e| e.from == Side::A && e.flags.syn()).expect("SYN");
    let syn_ack = harness.trace.iter().find(|e| e.from == Side::B && e.flags.syn()).expect("SYN-ACK");
    (syn.flags, syn_ack.flags)
}
