//! Congestion control observed on a live connection, not assumed: one segment is lost in slow start on a
//! 100 ms round-trip path with room for any window, and the sender's window is sampled at every event from then
//! on. CUBIC must cut to beta = 0.7 of W_max and then follow W_cubic(t) = C (t - K)^3 + W_max (RFC 9438): concave
//! growth back to W_max at t ≈ K, a plateau, convex growth beyond; NewReno on the same path halves and then grows
//! by one segment per round trip. And the window grows only while it limits the flow (RFC 9438 §5.8): not for
//! a sender held back by its application or by the peer's receive window. A connection that idles for longer
//! than the retransmission timeout restarts from the restart window (RFC 5681 §4.1), and CUBIC's curve does not
//! count the time a flow had nothing to send (RFC 9438 §5.8).

use std::time::Duration;

use super::util::{config, data_segments, established, sent_by, sga};
use crate::tcp::congestion::Controller;
use crate::tcp::harness::{Harness, LinkFaults, Side};
use crate::tcp::{CongestionAlgorithm, TcpConfig};

const RTT: f64 = 0.1;

/// The window over time (seconds since the window was cut, segments) after the one loss, and W_max.
struct AfterLoss {
    w_max: f64,
    samples: Vec<(f64, f64)>,
}

impl AfterLoss {
    /// The window `t` seconds after the cut (the last sample at or before `t`).
    fn at(&self, t: f64) -> f64 {
        self.samples.iter().take_while(|(at, _)| *at <= t).last().expect("sampled from the cut on").1
    }
}

/// Buffers that never limit the window, and an ACK for every segment.
fn unlimited(algorithm: CongestionAlgorithm) -> TcpConfig {
    TcpConfig {
        congestion: algorithm,
        recv_buffer: 64 << 20,
        send_buffer: 64 << 20,
        delayed_ack: Duration::ZERO,
        ..config()
    }
}

/// Two connected ends with `tcp` on the 100 ms path, losing A's 250th data segment: slow start sends 10, 20,
/// 40, 80, 160 segments per round trip, so it goes in the fifth round.
fn losing_segment_250(tcp: &TcpConfig, seed: u64) -> Harness {
    // A 1 Gbit/s link spreads each flight's segments (and so their ACKs) over time, so the window is sampled
    // between ACKs, its peak included; the queue never fills (the peak window is ~1 MB per 100 ms).
    let link = LinkFaults {
        latency: Duration::from_secs_f64(RTT / 2.0),
        bandwidth: Some(1_000_000_000),
        queue_limit: 100_000,
        ..LinkFaults::default()
    };
    let mut harness = established(tcp, tcp, link, seed);
    let mut data_index = 0;
    harness.filter = Some(Box::new(move |entry| {
        if entry.from != Side::A || entry.len == 0 {
            return false;
        }
        data_index += 1;
        data_index == 250
    }));
    harness
}

fn one_loss(algorithm: CongestionAlgorithm, observe_for: Duration) -> AfterLoss {
    let mut harness = losing_segment_250(&unlimited(algorithm), 160);
    let mss = harness.a.send_mss() as f64;
    harness.a.send(&sga(&vec![0u8; 48 << 20])).expect("send");
    let mut peak: f64 = 0.0;
    let mut cut_at = None;
    let mut samples = Vec::new();
    let start = harness.now;
    harness.run_until(Duration::from_secs(120), |h| {
        while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        let cwnd = h.a.congestion_window() as f64 / mss;
        let now = (h.now - start).as_secs_f64();
        match cut_at {
            None if cwnd < peak * 0.9 => cut_at = Some(now),
            None => peak = peak.max(cwnd),
            Some(_) => {}
        }
        if let Some(cut) = cut_at {
            samples.push((now - cut, cwnd));
            return now - cut > observe_for.as_secs_f64();
        }
        false
    });
    assert!(cut_at.is_some(), "the lost segment must cut the window");
    assert_eq!(harness.a.counters().timeouts, 0, "one loss is repaired by fast retransmit");
    AfterLoss { w_max: peak, samples }
}

#[test]
fn cubic_follows_its_curve_after_a_loss() {
    let probe = one_loss(CongestionAlgorithm::Cubic, Duration::from_millis(1));
    // K = cbrt(W_max (1 - beta) / C), C = 0.4 (RFC 9438 eq. 2).
    let k = (probe.w_max * 0.3 / 0.4).cbrt();
    let run = one_loss(CongestionAlgorithm::Cubic, Duration::from_secs_f64(1.6 * k));
    let w_max = run.w_max;
    eprintln!("CUBIC: W_max {w_max:.0} segments, K {k:.2} s");
    for t in [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5] {
        eprintln!("  t = {:.2} K: cwnd {:.1}", t, run.at(t * k));
    }
    // The cut: beta = 0.7 (the window recovers from there, not from half).
    let after_cut = run.at(2.0 * RTT);
    assert!((after_cut / w_max - 0.7).abs() < 0.05, "cwnd {after_cut:.1} after the cut, W_max {w_max:.1}");
    // Back to W_max around K (the epoch starts about a round trip after the cut, at the end of recovery).
    let at_k = run.at(k + RTT);
    assert!((at_k / w_max - 1.0).abs() < 0.06, "cwnd {at_k:.1} at K, W_max {w_max:.1}");
    // Concave below W_max (fast growth first, then slowing), convex above it (slow first, then accelerating).
    let growth = |from: f64, to: f64| run.at(to * k) - run.at(from * k);
    assert!(growth(0.0, 0.5) > 2.0 * growth(0.5, 1.0), "concave: {:.1} then {:.1}", growth(0.0, 0.5), growth(0.5, 1.0));
    assert!(
        growth(1.0, 1.5) > 2.0 * growth(0.75, 1.0),
        "convex: {:.1} after {:.1}",
        growth(1.0, 1.5),
        growth(0.75, 1.0)
    );
    // And point by point: within 3% of W_max of W_cubic, its epoch starting a round trip after the cut.
    for t in [0.25, 0.5, 0.75, 1.0, 1.25, 1.5].map(|f| f * k) {
        let model = 0.4 * (t - RTT - k).powi(3) + w_max;
        let cwnd = run.at(t);
        assert!((cwnd - model).abs() < 0.03 * w_max, "at {t:.2} s cwnd {cwnd:.1}, W_cubic {model:.1}");
    }
    assert!(run.at(1.5 * k) > w_max + 5.0, "probing beyond W_max");
}

#[test]
fn newreno_halves_then_grows_one_segment_per_round_trip() {
    let run = one_loss(CongestionAlgorithm::NewReno, Duration::from_secs(3));
    let w_max = run.w_max;
    let after_cut = run.at(2.0 * RTT);
    assert!((after_cut / w_max - 0.5).abs() < 0.05, "cwnd {after_cut:.1} after the cut, W_max {w_max:.1}");
    // 2 s of congestion avoidance is 20 round trips: about 20 segments more.
    let grown = run.at(3.0) - run.at(1.0);
    assert!((17.0..=23.0).contains(&grown), "grew {grown:.1} segments in 20 round trips");
}

/// Both controllers, each with delayed ACKs off (an ACK per segment, the most chances to grow).
fn controllers() -> [TcpConfig; 2] {
    [CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno].map(|congestion| TcpConfig {
        congestion,
        delayed_ack: Duration::ZERO,
        ..config()
    })
}

#[test]
fn an_application_limited_flow_does_not_grow_its_window() {
    for tcp in controllers() {
        let mut harness = established(&tcp, &tcp, LinkFaults::default(), 170);
        let initial = harness.a.congestion_window();
        // 500 requests of 100 bytes, each acknowledged before the next: never more than one small segment in
        // flight. Counting every acknowledged byte, slow start would have added 50 000 bytes.
        for _ in 0..500 {
            harness.a.send(&sga(&[7u8; 100])).expect("send");
            assert!(harness.run_until(Duration::from_secs(1), |h| h.a.snd_una == h.a.data_end()));
            while harness.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        }
        assert_eq!(harness.a.counters().bytes_out, 500 * 100);
        assert_eq!(harness.a.congestion_window(), initial, "{:?}", tcp.congestion);
    }
}

#[test]
fn a_flow_held_back_by_the_receive_window_stops_growing_its_window() {
    for tcp in controllers() {
        let receiver = TcpConfig { recv_buffer: 16 << 10, window_scale: false, ..tcp.clone() };
        let mut harness = established(&tcp, &receiver, LinkFaults::default(), 171);
        harness.a.send(&sga(&vec![0u8; 4 << 20])).expect("send");
        let done = harness.run_until(Duration::from_secs(60), |h| {
            while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
            h.a.snd_una == h.a.data_end()
        });
        assert!(done, "the transfer completes");
        // At most 16 KiB is ever in flight: slow start may take the window to twice that, no further (it
        // would otherwise have grown by every one of the 4 MiB acknowledged), and it got there.
        let cwnd = harness.a.congestion_window();
        assert!((16 << 10..=2 * (16 << 10)).contains(&cwnd), "{:?}: cwnd {cwnd}", tcp.congestion);
    }
}

/// What a sender that grew its window in a bulk transfer does when it sends again after `idle`.
struct Resumed {
    /// cwnd when the transfer ended, and just after the first poll that sends again (segments).
    cwnd_before: usize,
    cwnd_after: usize,
    /// Data segments sent by that poll: the first flight after the idle period.
    first_flight: usize,
    idle_restarts: u64,
}

fn resume_after(tcp: &TcpConfig, idle: Duration) -> Resumed {
    let tcp = TcpConfig { recv_buffer: 64 << 20, send_buffer: 64 << 20, ..tcp.clone() };
    let mut harness = established(&tcp, &tcp, LinkFaults::default(), 172);
    let mss = harness.a.send_mss();
    harness.a.send(&sga(&vec![0u8; 4 << 20])).expect("send");
    let done = harness.run_until(Duration::from_secs(60), |h| {
        while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        h.a.snd_una == h.a.data_end()
    });
    assert!(done, "the transfer completes");
    assert_eq!(harness.a.counters().retransmits, 0);
    let cwnd_before = harness.a.congestion_window() / mss;
    harness.run_for(idle);
    harness.a.send(&sga(&vec![0u8; 4 << 20])).expect("send");
    let since = harness.trace.len();
    harness.flush();
    let first_flight = data_segments(&sent_by(&harness, Side::A, since)).len();
    Resumed {
        cwnd_before,
        cwnd_after: harness.a.congestion_window() / mss,
        first_flight,
        idle_restarts: harness.a.counters().idle_restarts,
    }
}

/// RFC 5681 §4.1: after more than a retransmission timeout (200 ms here) without sending, the window restarts
/// from RW = min(IW, cwnd): the first flight is 10 segments, not the hundreds the transfer grew the window to.
/// A shorter pause leaves the window alone: the first flight after it is the whole window. Both output paths
/// (the fast path and the general one) apply it.
#[test]
fn the_window_restarts_after_an_idle_period_longer_than_the_timeout() {
    let both_paths =
        controllers().into_iter().flat_map(|tcp| [true, false].map(|fast_paths| (tcp.clone(), fast_paths)));
    for (tcp, fast_paths) in both_paths {
        let tcp = TcpConfig { fast_paths, ..tcp };
        let rto = tcp.min_rto;
        let long = resume_after(&tcp, 5 * rto);
        assert!(long.cwnd_before > 100, "{:?}: the transfer grew cwnd to {}", tcp.congestion, long.cwnd_before);
        assert_eq!((long.first_flight, long.cwnd_after), (10, 10), "{:?} after 5 RTOs", tcp.congestion);
        assert_eq!(long.idle_restarts, 1);
        let short = resume_after(&tcp, rto / 2);
        assert_eq!(short.cwnd_after, short.cwnd_before, "{:?} after half an RTO", tcp.congestion);
        assert_eq!(short.first_flight, short.cwnd_before, "{:?} after half an RTO", tcp.congestion);
        assert_eq!(short.idle_restarts, 0);
    }
}

/// CUBIC, W_max and K of its current epoch (segments, seconds).
fn cubic_state(harness: &Harness, mss: f64) -> (f64, f64) {
    let Controller::Cubic(cubic) = &harness.a.congestion else { panic!("a CUBIC connection") };
    (cubic.w_max() as f64 / mss, cubic.k().expect("in congestion avoidance"))
}

/// RFC 9438 §5.8 on a live connection: one loss puts CUBIC on its curve (concave, K of several seconds); the
/// application then supplies data for one more second, has nothing to send for 5 s (less than the timeout,
/// which is set to a minute so that the window does not restart), and resumes. Its window goes on from where
/// the curve stood when sending stopped: over the next five round trips it grows as W_cubic does over five
/// round trips of the epoch, the idle time excluded. Counting the 5 s, t would be past K and the window would
/// rise at once to W_max and beyond.
#[test]
fn cubic_resumes_its_curve_where_it_left_it_after_idling() {
    let tcp = TcpConfig { min_rto: Duration::from_secs(60), ..unlimited(CongestionAlgorithm::Cubic) };
    let mut harness = losing_segment_250(&tcp, 173);
    let mss = harness.a.send_mss() as f64;
    // The application keeps 256 KiB queued until a second after the window was cut, then stops.
    let chunk = 256 << 10;
    let mut peak: f64 = 0.0;
    let mut cut_at = None;
    let supplied = harness.run_until(Duration::from_secs(30), |h| {
        while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        let cwnd = h.a.congestion_window() as f64 / mss;
        match cut_at {
            None if cwnd < peak * 0.9 => cut_at = Some(h.now),
            None => peak = peak.max(cwnd),
            Some(cut) if h.now - cut > Duration::from_secs(1) => return true,
            Some(_) => {}
        }
        if (h.a.data_end().distance_from(h.a.snd_nxt) as usize) < chunk {
            h.a.send(&sga(&vec![0u8; chunk])).expect("send");
        }
        false
    });
    assert!(supplied && cut_at.is_some(), "the lost segment must cut the window");
    let drained = harness.run_until(Duration::from_secs(30), |h| {
        while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        h.a.snd_una == h.a.data_end()
    });
    assert!(drained);
    let (w_max, k) = cubic_state(&harness, mss);
    let stopped = harness.a.congestion_window() as f64 / mss;
    assert!(stopped < w_max - 10.0, "still well below W_max = {w_max:.1}: cwnd {stopped:.1}");
    harness.run_for(Duration::from_secs(5));
    // Sending resumes, with plenty to send, for five round trips.
    harness.a.send(&sga(&vec![0u8; 32 << 20])).expect("send");
    let resumed = harness.now;
    harness.run_until(Duration::from_secs(10), |h| {
        while h.b_mut().recv(usize::MAX).is_ok_and(|data| data.is_some()) {}
        h.now - resumed >= Duration::from_secs_f64(5.0 * RTT)
    });
    let after = harness.a.congestion_window() as f64 / mss;
    assert_eq!((harness.a.counters().idle_restarts, harness.a.counters().timeouts), (0, 0));
    // Where on the curve the window stood (W_cubic(t) = cwnd, t < K), and where the curve is 5 RTTs later.
    let w_cubic = |t: f64| 0.4 * (t - k).powi(3) + w_max;
    let t_stopped = k - ((w_max - stopped) / 0.4).cbrt();
    let expected = w_cubic(t_stopped + 5.0 * RTT);
    eprintln!(
        "W_max {w_max:.1}, K {k:.2} s: cwnd {stopped:.1} (t = {t_stopped:.2} s) -> {after:.1} after resuming; \
         W_cubic {expected:.1}"
    );
    assert!(
        (after - expected).abs() < 0.03 * w_max,
        "cwnd {after:.1} five round trips after resuming, W_cubic {expected:.1} (from {stopped:.1}, W_max {w_max:.1})"
    );
}

/// Pacing (`tcp/pacing.rs`): with SRTT known (10 ms here) the initial window of 10 segments leaves spread at
/// twice cwnd / SRTT, one segment every 10 ms · 1 / (2 · 10) = 0.5 ms, instead of all at once.
#[test]
fn pacing_spreads_a_window_over_the_round_trip() {
    let mut departures = Vec::new();
    for pacing in [false, true] {
        let tcp = TcpConfig { pacing, ..config() };
        let mut harness = established(&tcp, &tcp, LinkFaults::default(), 160);
        let since = harness.trace.len();
        harness.a.send(&sga(&vec![0u8; 10 * harness.a.send_mss()])).expect("send");
        harness.run_for(Duration::from_millis(8));
        let data = data_segments(&sent_by(&harness, Side::A, since)).into_iter().map(|e| e.at).collect::<Vec<_>>();
        assert_eq!(data.len(), 10, "pacing {pacing}");
        departures.push(data.windows(2).map(|pair| pair[1] - pair[0]).collect::<Vec<_>>());
    }
    assert!(departures[0].iter().all(|gap| gap.is_zero()), "unpaced: one burst, {:?}", departures[0]);
    let srtt = 10.0e-3;
    for gap in &departures[1] {
        assert!((gap.as_secs_f64() - srtt / 20.0).abs() < 0.05e-3, "paced: {:?}", departures[1]);
    }
}
