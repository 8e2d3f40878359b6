//! Plays packetdrill-style scripts by hand through the interface struct, exactly as packetdrill would: the
//! built `libinetstack_packetdrill.so` is loaded with `dlopen` (libloading), `packetdrill_interface_init` fills
//! the struct, and every call goes through its function pointers. Packets are raw IPv4 built and parsed with
//! inetstack's `wire` module, as packetdrill's remote side.

use std::ffi::{CString, c_int, c_void};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use inetstack::wire::{
    ChecksumCapabilities, IpProtocol, Ipv4Packet, Ipv4Repr, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
    TcpTimestamps,
};
use inetstack_packetdrill::PacketdrillInterface;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// One loaded instance. The library is built to be called from several threads at once.
struct Pd {
    ifc: PacketdrillInterface,
    _lib: Option<libloading::Library>,
}

// SAFETY: the library keeps its state behind a mutex and is meant to be called from packetdrill's two threads;
// the struct itself is only read after init.
unsafe impl Send for Pd {}
// SAFETY: as above.
unsafe impl Sync for Pd {}

fn errno() -> i32 {
    // SAFETY: the calling thread's errno location is always valid.
    unsafe { *libc::__errno_location() }
}

fn library_path() -> Option<PathBuf> {
    // Tests run from <target>/<profile>/deps/, where `cargo test` builds this crate's cdylib. (The copy in
    // <target>/<profile>/ is refreshed only by `cargo build`: loading it could test a stale library.)
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("libinetstack_packetdrill.so");
    path.exists().then_some(path)
}

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = port.to_be();
    sin.sin_addr.s_addr = u32::from(ip).to_be();
    sin
}

const SIN_LEN: libc::socklen_t = size_of::<libc::sockaddr_in>() as libc::socklen_t;

impl Pd {
    fn new(flags: &str) -> Self {
        let flags = CString::new(flags).unwrap();
        let mut ifc = PacketdrillInterface::default();
        let lib = library_path().map(|path| {
            // SAFETY: loading our own library, whose initialisers are Rust's (none with side effects).
            let lib = unsafe { libloading::Library::new(path) }.expect("dlopen");
            type Init = unsafe extern "C" fn(*const std::ffi::c_char, *mut PacketdrillInterface);
            // SAFETY: the symbol has exactly this signature.
            let init = unsafe { lib.get::<Init>(b"packetdrill_interface_init\0") }.expect("dlsym");
            // SAFETY: valid flags string and a writable struct.
            unsafe { init(flags.as_ptr(), &mut ifc) };
            lib
        });
        if lib.is_none() {
            // No cdylib next to the test binary (unusual target layouts): the same function from the rlib.
            // SAFETY: valid flags string and a writable struct.
            unsafe { inetstack_packetdrill::packetdrill_interface_init(flags.as_ptr(), &mut ifc) };
        }
        assert!(!ifc.userdata.is_null(), "init failed");
        Self { ifc, _lib: lib }
    }

    fn ud(&self) -> *mut c_void {
        self.ifc.userdata
    }

    fn socket(&self) -> c_int {
        // SAFETY: plain integer arguments.
        unsafe { self.ifc.socket.unwrap()(self.ud(), libc::AF_INET, libc::SOCK_STREAM, 0) }
    }

    fn bind(&self, fd: c_int, ip: Ipv4Addr, port: u16) -> c_int {
        let sin = sockaddr(ip, port);
        // SAFETY: `sin` is a valid sockaddr_in of SIN_LEN bytes.
        unsafe { self.ifc.bind.unwrap()(self.ud(), fd, (&raw const sin).cast(), SIN_LEN) }
    }

    fn listen(&self, fd: c_int) -> c_int {
        // SAFETY: plain integer arguments.
        unsafe { self.ifc.listen.unwrap()(self.ud(), fd, 16) }
    }

    fn accept(&self, fd: c_int) -> (c_int, libc::sockaddr_in) {
        let mut sin = sockaddr(Ipv4Addr::UNSPECIFIED, 0);
        let mut len = SIN_LEN;
        // SAFETY: `sin` has room for `len` bytes.
        let r = unsafe { self.ifc.accept.unwrap()(self.ud(), fd, (&raw mut sin).cast(), &mut len) };
        (r, sin)
    }

    fn connect(&self, fd: c_int, ip: Ipv4Addr, port: u16) -> c_int {
        let sin = sockaddr(ip, port);
        // SAFETY: `sin` is a valid sockaddr_in of SIN_LEN bytes.
        unsafe { self.ifc.connect.unwrap()(self.ud(), fd, (&raw const sin).cast(), SIN_LEN) }
    }

    fn read(&self, fd: c_int, max: usize) -> Result<Vec<u8>, i32> {
        let mut buf = vec![0u8; max];
        // SAFETY: `buf` is writable for `max` bytes.
        let n = unsafe { self.ifc.read.unwrap()(self.ud(), fd, buf.as_mut_ptr().cast(), max) };
        if n < 0 {
            return Err(errno());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    fn write(&self, fd: c_int, data: &[u8]) -> isize {
        // SAFETY: `data` is readable for its length.
        unsafe { self.ifc.write.unwrap()(self.ud(), fd, data.as_ptr().cast(), data.len()) }
    }

    fn close(&self, fd: c_int) -> c_int {
        // SAFETY: plain integer arguments.
        unsafe { self.ifc.close.unwrap()(self.ud(), fd) }
    }

    fn shutdown(&self, fd: c_int, how: c_int) -> c_int {
        // SAFETY: plain integer arguments.
        unsafe { self.ifc.shutdown.unwrap()(self.ud(), fd, how) }
    }

    fn fcntl(&self, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
        // SAFETY: the variadic entry takes one integer argument for these commands.
        unsafe { self.ifc.fcntl.unwrap()(self.ud(), fd, cmd, arg) }
    }

    fn getsockopt_int(&self, fd: c_int, level: c_int, name: c_int) -> Result<i32, i32> {
        let mut value: c_int = -1;
        let mut len = size_of::<c_int>() as libc::socklen_t;
        // SAFETY: `value` has room for `len` bytes.
        let r = unsafe { self.ifc.getsockopt.unwrap()(self.ud(), fd, level, name, (&raw mut value).cast(), &mut len) };
        if r < 0 { Err(errno()) } else { Ok(value) }
    }

    fn setsockopt_int(&self, fd: c_int, level: c_int, name: c_int, value: c_int) -> Result<(), i32> {
        let len = size_of::<c_int>() as libc::socklen_t;
        // SAFETY: `value` is readable for `len` bytes.
        let r = unsafe { self.ifc.setsockopt.unwrap()(self.ud(), fd, level, name, (&raw const value).cast(), len) };
        if r < 0 { Err(errno()) } else { Ok(()) }
    }

    fn poll(&self, fd: c_int, events: i16) -> i16 {
        let mut p = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { self.ifc.poll.unwrap()(self.ud(), &mut p, 1, 0) };
        assert!(r >= 0);
        p.revents
    }

    fn inject(&self, packet: &[u8]) {
        // SAFETY: `packet` is readable for its length.
        let r = unsafe { self.ifc.netdev_send.unwrap()(self.ud(), packet.as_ptr().cast(), packet.len()) };
        assert_eq!(r, 0);
    }

    /// The next emitted packet and its time (µs), `None` when nothing will ever be sent.
    fn sniff(&self) -> Option<(Vec<u8>, i64)> {
        let mut buf = vec![0u8; 65536];
        let mut count = buf.len();
        let mut at: libc::c_longlong = 0;
        // SAFETY: `buf` is writable for `count` bytes; `count` and `at` are valid.
        let r = unsafe { self.ifc.netdev_receive.unwrap()(self.ud(), buf.as_mut_ptr().cast(), &mut count, &mut at) };
        assert_eq!(r, 0);
        if count == 0 {
            return None;
        }
        buf.truncate(count);
        Some((buf, at))
    }

    fn usleep(&self, us: u32) {
        // SAFETY: plain integer arguments.
        assert_eq!(unsafe { self.ifc.usleep.unwrap()(self.ud(), us) }, 0);
    }

    fn now_us(&self) -> i64 {
        let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
        // SAFETY: `tv` is writable; a null timezone is allowed.
        assert_eq!(unsafe { self.ifc.gettimeofday.unwrap()(self.ud(), &mut tv, std::ptr::null_mut()) }, 0);
        tv.tv_sec * 1_000_000 + tv.tv_usec
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        // SAFETY: `userdata` came from init and is freed once.
        unsafe { self.ifc.free.unwrap()(self.ifc.userdata) };
    }
}

/// A segment from the remote to us (`tos`: the IP header's TOS byte, whose low two bits are the ECN field).
struct Seg<'a> {
    tos: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    options: TcpOptions,
    payload: &'a [u8],
}

fn seg(sport: u16, dport: u16, seq: u32, ack: Option<u32>, flags: TcpFlags) -> Seg<'static> {
    Seg { tos: 0, sport, dport, seq, ack, flags, options: TcpOptions::default(), payload: &[] }
}

fn ts(value: u32, echo_reply: u32) -> TcpOptions {
    TcpOptions { timestamps: Some(TcpTimestamps { value, echo_reply }), ..TcpOptions::default() }
}

fn build(s: &Seg<'_>) -> Vec<u8> {
    let caps = ChecksumCapabilities::software();
    let tcp = TcpRepr {
        src_port: s.sport,
        dst_port: s.dport,
        seq_number: SeqNumber(s.seq),
        ack_number: s.ack.map(SeqNumber),
        flags: s.flags,
        window_len: 1000,
        urgent_pointer: 0,
        options: s.options,
        payload: s.payload,
    };
    let ip = Ipv4Repr {
        src_addr: REMOTE,
        dst_addr: LOCAL,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        tos: s.tos,
        ident: 1,
        dont_fragment: true,
    };
    let mut packet = vec![0u8; ip.total_len()];
    ip.emit(&mut packet, &caps).unwrap();
    tcp.emit(&mut packet[20..], REMOTE, LOCAL, &caps).unwrap();
    packet
}

/// What we check of an emitted segment (`ecn`: its IP header's ECN field).
#[derive(Debug)]
struct Out {
    ecn: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    options: TcpOptions,
    payload: Vec<u8>,
}

fn parse(packet: &[u8]) -> Out {
    let caps = ChecksumCapabilities::software();
    let view = Ipv4Packet::new_checked(packet).expect("IPv4");
    let ip = Ipv4Repr::parse(&view, &caps).expect("valid IPv4 header and checksum");
    assert_eq!((ip.src_addr, ip.dst_addr, ip.protocol), (LOCAL, REMOTE, IpProtocol::Tcp));
    let payload = view.payload();
    let tcp_view = TcpPacket::new_checked(payload).expect("TCP");
    let tcp = TcpRepr::parse(&tcp_view, ip.src_addr, ip.dst_addr, &caps).expect("valid TCP checksum");
    Out {
        ecn: ip.tos & 0b11,
        sport: tcp.src_port,
        dport: tcp.dst_port,
        seq: tcp.seq_number.0,
        ack: tcp.ack_number.map(|a| a.0),
        flags: tcp.flags,
        options: tcp.options,
        payload: tcp.payload.to_vec(),
    }
}

fn tsval(out: &Out) -> u32 {
    out.options.timestamps.expect("timestamps option").value
}

/// Accurate ECN (RFC 9768) through the C interface, as a packetdrill script would check it: a SYN asking with AE,
/// CWR and ECE, answered by a SYN-ACK whose flags encode the SYN's Not-ECT field; the handshake's ACK; data out
/// ECN-capable with the count's start (5) in its ACE field; a CE-marked data segment acknowledged at once (not
/// after the 40 ms delayed-ACK timer), its ACE counting the mark.
#[test]
fn accurate_ecn_handshake_and_a_mark_counted_in_an_immediate_ack() {
    let ace = |out: &Out| {
        u8::from(out.flags.contains(TcpFlags::AE)) << 2
            | u8::from(out.flags.contains(TcpFlags::CWR)) << 1
            | u8::from(out.flags.contains(TcpFlags::ECE))
    };
    let pd = Arc::new(Pd::new("--accurate_ecn=1 --delayed_ack_ms=40"));
    let lfd = pd.socket();
    assert_eq!(pd.bind(lfd, Ipv4Addr::UNSPECIFIED, 8080), 0);
    assert_eq!(pd.listen(lfd), 0);
    let acceptor = {
        let pd = Arc::clone(&pd);
        std::thread::spawn(move || pd.accept(lfd))
    };
    // 0 S [AE|CWR|ECE] 0:0(0) win 1000 <mss 1460,TS val 100 ecr 0>   (Not-ECT)
    let mut syn = seg(40000, 8080, 1000, None, TcpFlags::SYN | TcpFlags::AE | TcpFlags::CWR | TcpFlags::ECE);
    syn.options = TcpOptions { mss: Some(1460), ..ts(100, 0) };
    pd.inject(&build(&syn));
    let (packet, _) = pd.sniff().expect("SYN-ACK");
    let synack = parse(&packet);
    // +0 > S. [CWR] 0:0(0) ack 1001: (AE, CWR, ECE) = (0, 1, 0), the SYN arrived Not-ECT (Table 2).
    assert_eq!((synack.flags, synack.ecn), (TcpFlags::SYN | TcpFlags::CWR, 0));
    let (iss, our_ts) = (synack.seq, tsval(&synack));
    // +0 . [CWR] 1:1(0) ack 1: the ACE of the first ACK encodes the SYN-ACK's Not-ECT field (Table 4).
    pd.inject(&build(&Seg { options: ts(101, our_ts), ..seg(40000, 8080, 1001, Some(iss + 1), TcpFlags::CWR) }));
    let (fd, _) = acceptor.join().unwrap();
    assert!(fd >= 0, "accept: errno {}", errno());

    // Data out: ECT(0), ACE 5 (AE and ECE).
    assert_eq!(pd.write(fd, b"ping"), 4);
    let (packet, _) = pd.sniff().expect("data");
    let out = parse(&packet);
    assert_eq!((out.payload.as_slice(), out.ecn, ace(&out)), (&b"ping"[..], 0b10, 5));
    let five = TcpFlags::AE | TcpFlags::ECE;
    pd.inject(&build(&Seg { options: ts(102, tsval(&out)), ..seg(40000, 8080, 1001, Some(iss + 5), five) }));

    // A CE-marked data segment: acknowledged at once, with the count at 6 (AE and CWR).
    let before = pd.now_us();
    let marked = Seg {
        tos: 0b11,
        options: ts(103, tsval(&out)),
        payload: b"pong",
        ..seg(40000, 8080, 1001, Some(iss + 5), five | TcpFlags::PSH)
    };
    pd.inject(&build(&marked));
    let (packet, at) = pd.sniff().expect("ACK of the marked segment");
    let ack = parse(&packet);
    assert_eq!((ack.ack, ack.payload.len(), ace(&ack), ack.ecn), (Some(1005), 0, 6, 0));
    assert!(at - before < 40_000, "change-triggered, not delayed: {} us", at - before);
    assert_eq!(pd.read(fd, 100).unwrap(), b"pong");
}

/// Passive open on a blocking listener with `accept` on a second thread; data both ways; FIN both ways.
#[test]
fn passive_open_data_and_close() {
    let pd = Arc::new(Pd::new(""));
    let lfd = pd.socket();
    assert!(lfd >= 0);
    pd.setsockopt_int(lfd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).unwrap();
    assert_eq!(pd.bind(lfd, Ipv4Addr::UNSPECIFIED, 8080), 0);
    assert_eq!(pd.listen(lfd), 0);
    let acceptor = {
        let pd = Arc::clone(&pd);
        std::thread::spawn(move || pd.accept(lfd))
    };
    // 0 S 0:0(0) win 1000 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
    let mut syn = seg(40000, 8080, 1000, None, TcpFlags::SYN);
    syn.options = TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, ..ts(100, 0) };
    pd.inject(&build(&syn));
    let (packet, t_synack) = pd.sniff().expect("SYN-ACK");
    let synack = parse(&packet);
    assert_eq!((synack.sport, synack.dport), (8080, 40000));
    assert!(synack.flags.syn() && !synack.flags.fin() && !synack.flags.rst());
    assert_eq!(synack.ack, Some(1001));
    assert_eq!(synack.options.mss, Some(1460));
    assert!(synack.options.sack_permitted);
    assert!(synack.options.window_scale.is_some());
    assert_eq!(synack.options.timestamps.map(|t| t.echo_reply), Some(100));
    assert!(t_synack > 0);
    let iss = synack.seq;
    let our_ts = tsval(&synack);
    pd.inject(&build(&Seg { options: ts(101, our_ts), ..seg(40000, 8080, 1001, Some(iss + 1), TcpFlags::empty()) }));
    let (fd, peer) = acceptor.join().unwrap();
    assert!(fd >= 0, "accept: errno {}", errno());
    assert_eq!(u16::from_be(peer.sin_port), 40000);
    assert_eq!(Ipv4Addr::from(u32::from_be(peer.sin_addr.s_addr)), REMOTE);

    // Data in: read returns it and an ACK follows (possibly delayed).
    let before = pd.now_us();
    let data =
        Seg { options: ts(102, our_ts), payload: b"hello", ..seg(40000, 8080, 1001, Some(iss + 1), TcpFlags::PSH) };
    pd.inject(&build(&data));
    assert_eq!(pd.read(fd, 100).unwrap(), b"hello");
    let (packet, t_ack) = pd.sniff().expect("ACK of data");
    let ack = parse(&packet);
    assert_eq!(ack.ack, Some(1006));
    assert!(ack.payload.is_empty());
    assert!(t_ack >= before);

    // Data out.
    assert_eq!(pd.write(fd, b"world!"), 6);
    let (packet, _) = pd.sniff().expect("data segment");
    let out = parse(&packet);
    assert_eq!((out.seq, out.payload.as_slice()), (iss + 1, &b"world!"[..]));
    assert_eq!(out.ack, Some(1006));
    pd.inject(&build(&Seg {
        options: ts(103, tsval(&out)),
        ..seg(40000, 8080, 1006, Some(iss + 7), TcpFlags::empty())
    }));

    // The peer closes: FIN is acknowledged, read sees end of stream.
    pd.inject(&build(&Seg { options: ts(104, tsval(&out)), ..seg(40000, 8080, 1006, Some(iss + 7), TcpFlags::FIN) }));
    let (packet, _) = pd.sniff().expect("ACK of FIN");
    assert_eq!(parse(&packet).ack, Some(1007));
    assert_eq!(pd.read(fd, 100).unwrap(), b"");

    // We close: our FIN goes out; the peer acknowledges it.
    assert_eq!(pd.close(fd), 0);
    let (packet, _) = pd.sniff().expect("our FIN");
    let fin = parse(&packet);
    assert!(fin.flags.fin());
    assert_eq!(fin.seq, iss + 7);
    pd.inject(&build(&Seg {
        options: ts(105, tsval(&fin)),
        ..seg(40000, 8080, 1007, Some(iss + 8), TcpFlags::empty())
    }));
    assert_eq!(pd.close(lfd), 0);
    // Nothing more will ever be sent.
    assert!(pd.sniff().is_none());
}

/// Establishes an active open from a non-blocking socket; returns (fd, our ISS, our last TSval, our port).
fn active_open(pd: &Pd, port: u16) -> (c_int, u32, u32, u16) {
    let fd = pd.socket();
    assert!(fd >= 0);
    assert_eq!(pd.fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK), 0);
    assert_ne!(pd.fcntl(fd, libc::F_GETFL, 0) & libc::O_NONBLOCK, 0);
    assert_eq!(pd.connect(fd, REMOTE, port), -1);
    assert_eq!(errno(), libc::EINPROGRESS);
    let (packet, _) = pd.sniff().expect("SYN");
    let syn = parse(&packet);
    assert!(syn.flags.syn() && syn.ack.is_none());
    assert_eq!(syn.dport, port);
    assert!(syn.options.mss.is_some());
    assert_eq!(pd.poll(fd, libc::POLLOUT), 0, "not writable during the handshake");
    let mut synack = seg(port, syn.sport, 5000, Some(syn.seq + 1), TcpFlags::SYN);
    synack.options = TcpOptions { mss: Some(1460), sack_permitted: true, window_scale: Some(7), ..ts(7, tsval(&syn)) };
    pd.inject(&build(&synack));
    let (packet, _) = pd.sniff().expect("ACK of SYN-ACK");
    let ack = parse(&packet);
    assert_eq!((ack.seq, ack.ack), (syn.seq + 1, Some(5001)));
    assert_eq!(pd.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR), Ok(0));
    assert_eq!(pd.poll(fd, libc::POLLOUT), libc::POLLOUT);
    (fd, syn.seq, tsval(&ack), syn.sport)
}

#[test]
fn nonblocking_active_open() {
    let pd = Pd::new("--local_ip=192.168.0.1 --remote_ip=192.0.2.1");
    let (fd, _, _, _) = active_open(&pd, 8080);
    assert_eq!(pd.read(fd, 10), Err(libc::EAGAIN));
    assert_eq!(pd.poll(fd, libc::POLLIN), 0);
    pd.setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1).unwrap();
    assert_eq!(pd.getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), Ok(1));
    pd.setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1).unwrap();
    assert_eq!(pd.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), Ok(1));
    pd.setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536).unwrap();
    assert_eq!(pd.setsockopt_int(fd, libc::SOL_SOCKET, 0x7777, 1), Err(libc::ENOPROTOOPT));
}

#[test]
fn shutdown_write_sends_a_fin_and_keeps_reading() {
    let pd = Pd::new("--local_ip=192.168.0.1");
    let (fd, iss, _, _) = active_open(&pd, 8080);
    assert_eq!(pd.shutdown(fd, libc::SHUT_WR), 0);
    let (packet, _) = pd.sniff().expect("our FIN");
    let fin = parse(&packet);
    assert!(fin.flags.fin(), "SHUT_WR sends a FIN");
    assert_eq!(fin.seq, iss + 1);
    // The peer still sends, and we still read.
    let data = Seg {
        options: ts(8, tsval(&fin)),
        payload: b"after",
        ..seg(8080, fin.sport, 5001, Some(iss + 2), TcpFlags::PSH)
    };
    pd.inject(&build(&data));
    assert_eq!(pd.read(fd, 100), Ok(b"after".to_vec()));
    assert_eq!(pd.write(fd, b"x"), -1, "no writing after SHUT_WR");
    assert_eq!(pd.shutdown(fd, 42), -1);
    assert_eq!(errno(), libc::EINVAL);
}

#[test]
fn rst_for_a_closed_port_and_refused_blocking_connect() {
    let pd = Arc::new(Pd::new(""));
    // A SYN to a port nobody listens on is answered with RST|ACK.
    pd.inject(&build(&seg(40001, 9999, 777, None, TcpFlags::SYN)));
    let (packet, _) = pd.sniff().expect("RST");
    let rst = parse(&packet);
    assert!(rst.flags.rst());
    assert_eq!(rst.ack, Some(778));

    // A blocking connect on a second thread is refused by a RST.
    let fd = pd.socket();
    let connector = {
        let pd = Arc::clone(&pd);
        std::thread::spawn(move || {
            let r = pd.connect(fd, REMOTE, 8081);
            (r, errno())
        })
    };
    // The connect runs on the other thread: retry until its SYN is out, as packetdrill's sniffer does.
    let mut sniffed = None;
    for _ in 0..1000 {
        sniffed = pd.sniff();
        if sniffed.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let (packet, _) = sniffed.expect("SYN");
    let syn = parse(&packet);
    assert!(syn.flags.syn());
    pd.inject(&build(&seg(8081, syn.sport, 0, Some(syn.seq + 1), TcpFlags::RST)));
    assert_eq!(connector.join().unwrap(), (-1, libc::ECONNREFUSED));
    assert_eq!(pd.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR), Ok(libc::ECONNREFUSED));
    assert_eq!(pd.close(fd), 0);
}

#[test]
fn usleep_fires_the_retransmission_timer() {
    let pd = Pd::new("");
    let (fd, iss, _, _) = active_open(&pd, 8080);
    let t0 = pd.now_us();
    assert!(pd.now_us() > t0, "every gettimeofday moves the clock");
    assert_eq!(pd.write(fd, b"0123456789"), 10);
    let (packet, t1) = pd.sniff().expect("data");
    let first = parse(&packet);
    assert_eq!((first.seq, first.payload.len()), (iss + 1, 10));
    // No ACK: after enough virtual time the RTO fires and the same data goes out again, later.
    pd.usleep(3_000_000);
    let (packet, t2) = pd.sniff().expect("retransmission");
    let again = parse(&packet);
    assert_eq!((again.seq, again.payload.as_slice()), (first.seq, first.payload.as_slice()));
    assert!(t2 - t1 >= 150_000, "retransmitted {} us later", t2 - t1);
    assert!(t2 <= pd.now_us());
}

/// An active open to port 8080 whose peer then opens its window (the SYN-ACK's 1 000 is not scaled; the ACK's
/// is, x128: room for full-size segments), and a write of 3 000 bytes. Returns the ISS.
fn open_and_write_3000(pd: &Pd) -> u32 {
    let (fd, iss, ts_ecr, sport) = active_open(pd, 8080);
    pd.inject(&build(&Seg { options: ts(8, ts_ecr), ..seg(8080, sport, 5001, Some(iss + 1), TcpFlags::empty()) }));
    assert_eq!(pd.write(fd, &[7; 3000]), 3000);
    iss
}

/// Path MTU discovery as a packetdrill script would drive it (`icmp unreachable frag_needed mtu 1000`): a router's
/// error about our first full-size segment makes the next segments, and that one's retransmission, fit.
#[test]
fn fragmentation_needed_shrinks_the_segments_at_once() {
    use inetstack::wire::{DstUnreachable, Icmpv4Repr};
    let pd = Pd::new("");
    let iss = open_and_write_3000(&pd);
    let (first, _) = pd.sniff().expect("a full-size segment");
    let big = parse(&first);
    assert_eq!((big.seq, big.payload.len()), (iss + 1, 1448), "MSS 1460 less the timestamps option");
    // The rest of the flight (1 448 and 104 bytes), dropped by the router too. (Not a loop: with nothing queued,
    // `netdev_receive` runs the clock to the next timer, as packetdrill wants.)
    let rest: Vec<usize> = (0..2).map(|_| parse(&pd.sniff().expect("the flight").0).payload.len()).collect();
    assert_eq!(rest, [1448, 104]);
    // The router's error, quoting the first segment's IP header and first 8 bytes.
    let view = Ipv4Packet::new_checked(&first[..]).expect("IPv4");
    let header = Ipv4Repr::parse(&view, &ChecksumCapabilities::software()).expect("header");
    let data = &view.payload()[..8];
    let error =
        Icmpv4Repr::DstUnreachable { reason: DstUnreachable::FragmentationNeeded, next_hop_mtu: 1000, header, data };
    let router = Ipv4Addr::new(203, 0, 113, 1);
    let ip = Ipv4Repr {
        src_addr: router,
        dst_addr: LOCAL,
        protocol: IpProtocol::Icmp,
        payload_len: error.buffer_len(),
        ttl: 64,
        tos: 0,
        ident: 9,
        dont_fragment: false,
    };
    let mut packet = vec![0u8; ip.total_len()];
    ip.emit(&mut packet, &ChecksumCapabilities::software()).unwrap();
    error.emit(&mut packet[20..], &ChecksumCapabilities::software()).unwrap();
    let before = pd.now_us();
    pd.inject(&packet);
    // At once, without a timeout: the flight again from its start, in segments of 1 000 - 40 - 12 bytes. (A
    // loss probe of the last 104 bytes, due at once on this link of no delay, may come first.)
    let sent: Vec<(u32, usize, i64)> = (0..4)
        .map(|_| pd.sniff().map(|(p, at)| (parse(&p), at)).expect("the flight again"))
        .map(|(o, at)| (o.seq.wrapping_sub(iss), o.payload.len(), at))
        .collect();
    assert!(sent.iter().all(|&(_, len, _)| len <= 948), "{sent:?}");
    let resent: Vec<(u32, usize)> = sent.iter().filter(|s| s.1 == 948).map(|s| (s.0, s.1)).collect();
    assert_eq!(resent[..3], [(1, 948), (949, 948), (1897, 948)], "{sent:?}");
    assert!(sent.iter().all(|&(_, _, at)| at - before < 1000), "no timer waited for: {sent:?}");
}

/// An MTU black hole as a script would drive it: the peer never acknowledges the full-size segments (a path that
/// drops them without an ICMP error). The third timeout in a row resends a segment cut to fit 1 024 bytes
/// (`tcp/black_hole.rs`), the fourth one cut to fit 552, each after the timeout of before the backoff.
#[test]
fn three_timeouts_in_a_row_cut_the_resent_segment_to_a_black_holes_base_size() {
    let pd = Pd::new("");
    let iss = open_and_write_3000(&pd);
    // The flight, then whatever the timers send while nothing is acknowledged: (offset, length, time).
    let sent: Vec<(u32, usize, i64)> = (0..9)
        .map(|_| pd.sniff().map(|(p, at)| (parse(&p), at)).expect("a segment"))
        .map(|(o, at)| (o.seq.wrapping_sub(iss), o.payload.len(), at))
        .collect();
    let from_the_start: Vec<(usize, i64)> = sent.iter().filter(|s| s.0 == 1).map(|s| (s.1, s.2)).collect();
    let sizes: Vec<usize> = from_the_start.iter().map(|s| s.0).collect();
    assert_eq!(sizes[..5], [1448, 1448, 1448, 972, 500], "sent, resent twice, then cut twice: {sent:?}");
    let waits: Vec<i64> = from_the_start.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(waits[1] > waits[0] && waits[2] > waits[1], "the timeouts back off: {waits:?}");
    assert_eq!(waits[3], waits[0], "the cut clears the backoff: {waits:?}");
}

#[test]
fn bad_descriptors_and_unsupported_calls_fail_cleanly() {
    let pd = Pd::new("");
    let ud = pd.ud();
    assert_eq!(pd.read(12345, 10), Err(libc::EBADF));
    assert_eq!(pd.write(12345, b"x"), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(pd.close(12345), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(pd.fcntl(12345, libc::F_GETFL, 0), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(pd.getsockopt_int(12345, libc::SOL_SOCKET, libc::SO_ERROR), Err(libc::EBADF));
    // SAFETY: integer arguments and null or valid pointers in all the calls below.
    unsafe {
        assert_eq!(pd.ifc.socket.unwrap()(ud, libc::AF_INET6, libc::SOCK_STREAM, 0), -1);
        assert_eq!(errno(), libc::EAFNOSUPPORT);
        assert_eq!(pd.ifc.epoll_create.unwrap()(ud, 1), -1);
        assert_eq!(errno(), libc::ENOSYS);
        assert_eq!(pd.ifc.epoll_ctl.unwrap()(ud, 1, 1, 1, std::ptr::null_mut()), -1);
        assert_eq!(pd.ifc.epoll_wait.unwrap()(ud, 1, std::ptr::null_mut(), 1, 0), -1);
        let mut fds = [0; 2];
        assert_eq!(pd.ifc.pipe.unwrap()(ud, fds.as_mut_ptr()), -1);
        assert_eq!(errno(), libc::ENOSYS);
        assert_eq!(pd.ifc.splice.unwrap()(ud, 0, std::ptr::null_mut(), 1, std::ptr::null_mut(), 1, 0), -1);
        let fd = pd.socket();
        let mut control = [0u8; 64];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        assert_eq!(pd.ifc.recvmsg.unwrap()(ud, fd, &mut msg, 0), -1);
        assert_eq!(errno(), libc::EOPNOTSUPP);
        assert_eq!(pd.ifc.sendmsg.unwrap()(ud, fd, &msg, 0), -1);
        assert_eq!(errno(), libc::EOPNOTSUPP);
        let mut n: c_int = 0;
        assert_eq!(pd.ifc.ioctl.unwrap()(ud, fd, 0x1234, &mut n as *mut c_int), -1);
        assert_eq!(errno(), libc::ENOTTY);
        // A null userdata fails instead of crashing.
        assert_eq!(pd.ifc.listen.unwrap()(std::ptr::null_mut(), fd, 1), -1);
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(pd.close(fd), 0);
    }
    // Nothing was ever sent and nothing will be.
    assert!(pd.sniff().is_none());
}
