//! The state behind the interface: one inetstack `Stack` on a virtual clock, the IP packets it emitted, and the
//! descriptor table. Everything here is safe Rust; errors are libc errno values. Calls that would block return
//! `EAGAIN` and the FFI layer (`state.rs`, used by the entry points) decides whether to wait on the condition
//! variable.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::num::ParseIntError;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use inetstack::device::{Device, DeviceCapabilities};
use inetstack::stack::{SocketId, Stack, StackConfig, TcpSocketOptions};
use inetstack::tcp::TcpConfig;
use inetstack::tcp::state::TcpState;
use inetstack::wire::{ETHERNET_HEADER_LEN, MacAddress};
use runtime::{DemiBuffer, Fail, Sga};

/// A libc errno value.
pub type Errno = i32;
pub type Res<T> = Result<T, Errno>;

const OUR_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0, 0x01]);
const GATEWAY_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0, 0xfe]);
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// Linux's default keepalive idle time (tcp_keepalive_time), used when SO_KEEPALIVE is set without TCP_KEEPIDLE.
const DEFAULT_KEEPIDLE: Duration = Duration::from_secs(7200);
/// How many timer firings one time advance may run before it gives up (a guard against a timer that never
/// moves forward).
const MAX_STEPS: usize = 1_000_000;

/// What the `flags` string (packetdrill's `--so_flags`) configures.
#[derive(Clone, Debug)]
pub struct Settings {
    pub local_ip: Ipv4Addr,
    pub gateway_ip: Ipv4Addr,
    pub mtu: usize,
    pub tcp: TcpConfig,
    pub isn_secret: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            gateway_ip: Ipv4Addr::new(192, 168, 0, 254),
            mtu: 1500,
            tcp: TcpConfig::default(),
            isn_secret: None,
        }
    }
}

/// `value` as the number type `key` takes, checked: an error names the key, the value and the type (so
/// `initial_window=4294967297` is an error, not 1).
fn number<T: FromStr<Err = ParseIntError>>(key: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|e| format!("{key}={value}: {e} (expected a {})", std::any::type_name::<T>()))
}

impl Settings {
    /// Parses whitespace-separated `--key=value` words (a leading `--` is optional). Keys: `local_ip`,
    /// `gateway_ip`, `mtu`, `mss`, `initial_rto_ms`, `min_rto_ms`, `delayed_ack_ms`, `recv_buffer`,
    /// `send_buffer`, `initial_window` (segments), `timestamps`, `sack`, `window_scale`, `ecn`, `accurate_ecn` (0/1),
    /// `isn_secret`.
    /// packetdrill's own `remote_ip` and friends are accepted and ignored: the remote is reached through the
    /// gateway whatever its address.
    pub fn parse(flags: &str) -> Result<Self, String> {
        let mut s = Self::default();
        let mut gateway_given = false;
        for word in flags.split_whitespace() {
            let word = word.trim_start_matches('-');
            let (key, value) = word.split_once('=').ok_or_else(|| format!("flag {word:?} is not key=value"))?;
            let flag = || match value {
                "1" | "true" | "on" => Ok(true),
                "0" | "false" | "off" => Ok(false),
                _ => Err(format!("{key}={value}: not a boolean")),
            };
            let ip = || value.parse::<Ipv4Addr>().map_err(|e| format!("{key}={value}: {e}"));
            match key {
                "local_ip" => s.local_ip = ip()?,
                "gateway_ip" => {
                    s.gateway_ip = ip()?;
                    gateway_given = true;
                }
                "mtu" => s.mtu = number(key, value)?,
                "mss" => s.tcp.mss = number(key, value)?,
                "initial_rto_ms" => s.tcp.initial_rto = Duration::from_millis(number(key, value)?),
                "min_rto_ms" => s.tcp.min_rto = Duration::from_millis(number(key, value)?),
                "delayed_ack_ms" => s.tcp.delayed_ack = Duration::from_millis(number(key, value)?),
                "recv_buffer" => s.tcp.recv_buffer = number(key, value)?,
                "send_buffer" => s.tcp.send_buffer = number(key, value)?,
                "initial_window" => s.tcp.initial_window_segments = number(key, value)?,
                "timestamps" => s.tcp.timestamps = flag()?,
                "sack" => s.tcp.sack = flag()?,
                "window_scale" => s.tcp.window_scale = flag()?,
                "ecn" => s.tcp.ecn = flag()?,
                "accurate_ecn" => s.tcp.accurate_ecn = flag()?,
                "isn_secret" => s.isn_secret = Some(number(key, value)?),
                "remote_ip" | "gateway_mac" | "netmask_ip" | "ip_version" | "wire_server_ip" => {}
                _ => return Err(format!("unknown flag {key:?}")),
            }
        }
        if !gateway_given && s.gateway_ip == s.local_ip {
            s.gateway_ip = Ipv4Addr::new(192, 168, 0, 253);
        }
        Ok(s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
}

/// One descriptor handed to packetdrill.
#[derive(Debug)]
struct Fd {
    id: SocketId,
    kind: Kind,
    nonblock: bool,
    read_shut: bool,
    /// Data taken from the stack for MSG_PEEK or FIONREAD, read before the stack's queue.
    peeked: Vec<u8>,
    rcvbuf: i32,
    sndbuf: i32,
    maxseg: i32,
    keepidle: Duration,
}

/// The device the stack transmits into: it keeps the IPv4 packets (Ethernet header cut off) with their time.
struct Capture<'a> {
    out: &'a mut VecDeque<(Vec<u8>, u64)>,
    at_us: u64,
    mtu: usize,
}

impl Device for Capture<'_> {
    /// Every frame is copied out (its IP packet, for packetdrill), so one of several buffers costs no more.
    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities { mtu: self.mtu, gather: true, ..DeviceCapabilities::default() }
    }
    fn receive(&mut self) -> Option<DemiBuffer> {
        None
    }
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        let bytes = frame.to_vec();
        // Only IPv4 leaves: with a static ARP entry for the gateway the stack has no reason to send ARP.
        if bytes.len() > ETHERNET_HEADER_LEN && bytes[12..14] == ETHERTYPE_IPV4 {
            self.out.push_back((bytes[ETHERNET_HEADER_LEN..].to_vec(), self.at_us));
        }
        Ok(())
    }
}

/// The readiness `poll` reports for one descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    pub error: bool,
}

#[derive(Debug)]
pub struct Host {
    stack: Stack,
    settings: Settings,
    /// The stack's time origin.
    base: Instant,
    /// Wall-clock time (µs since the Unix epoch) the virtual clock started at.
    start_us: u64,
    /// Virtual microseconds since `base`.
    elapsed_us: u64,
    /// Emitted IPv4 packets and when (µs since `base`), oldest first.
    out: VecDeque<(Vec<u8>, u64)>,
    fds: HashMap<i32, Fd>,
}

fn errno(fail: Fail) -> Errno {
    fail.errno()
}

fn micros_ceil(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1000) as u64
}

impl Host {
    pub fn new(settings: Settings) -> Res<Self> {
        let base = Instant::now();
        let mut config = StackConfig::new(OUR_MAC, settings.local_ip, 32);
        // A /32 network: every remote, whatever its address, is reached through the gateway, whose MAC is a
        // static ARP entry, so no ARP request is ever sent; nor an announcement (packetdrill has no link layer).
        config.gateway = Some(settings.gateway_ip);
        config.arp.static_entries = vec![(settings.gateway_ip, GATEWAY_MAC)];
        config.arp.announcements = 0;
        config.mtu = settings.mtu;
        // As `Capture::capabilities` says: the frames are copied out anyway.
        config.gather = true;
        config.tcp = settings.tcp.clone();
        if let Some(secret) = settings.isn_secret {
            config.isn_secret = secret;
        }
        let stack = Stack::new(config, base).map_err(errno)?;
        let start_us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        Ok(Self { stack, settings, base, start_us, elapsed_us: 0, out: VecDeque::new(), fds: HashMap::new() })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_micros(self.elapsed_us)
    }

    /// Virtual wall-clock time in µs since the Unix epoch.
    pub fn wall_us(&self) -> u64 {
        self.start_us + self.elapsed_us
    }

    /// Runs what is due now and collects what the stack emits.
    fn pump(&mut self) {
        let now = self.now();
        for _ in 0..64 {
            match self.stack.next_deadline() {
                Some(d) if d <= now => self.stack.poll(now),
                _ => break,
            }
        }
        let mut capture = Capture { out: &mut self.out, at_us: self.elapsed_us, mtu: self.settings.mtu };
        self.stack.transmit(&mut capture);
    }

    fn deadline_us(&self) -> Option<u64> {
        self.stack.next_deadline().map(|d| micros_ceil(d.saturating_duration_since(self.base)).max(self.elapsed_us))
    }

    /// Moves the virtual clock to `target_us`, firing each timer at its own time on the way.
    fn advance_to(&mut self, target_us: u64) {
        for _ in 0..MAX_STEPS {
            match self.deadline_us() {
                Some(d) if d <= target_us => {
                    self.elapsed_us = d;
                    self.pump();
                }
                _ => break,
            }
        }
        self.elapsed_us = self.elapsed_us.max(target_us);
        self.pump();
    }

    /// `usleep`: time passes, timers fire.
    pub fn sleep(&mut self, us: u64) {
        self.advance_to(self.elapsed_us.saturating_add(us));
    }

    /// `gettimeofday`: the clock moves forward by 1 µs on each reading.
    pub fn tick(&mut self) -> u64 {
        self.advance_to(self.elapsed_us + 1);
        self.wall_us()
    }

    /// The next packet the stack emits and its virtual wall-clock time (µs): queued ones first, else the clock
    /// jumps to the next timer. `None` when no timer is left, so nothing will ever be sent.
    pub fn next_packet(&mut self) -> Option<(Vec<u8>, u64)> {
        self.pump();
        for _ in 0..MAX_STEPS {
            if let Some((packet, at)) = self.out.pop_front() {
                return Some((packet, self.start_us + at));
            }
            let deadline = self.deadline_us()?;
            self.advance_to(deadline);
        }
        None
    }

    /// `netdev_send`: a raw IPv4 packet from the remote, handed to the stack inside a fake Ethernet frame.
    pub fn inject(&mut self, packet: &[u8]) -> Res<()> {
        if packet.len() < 20 || packet[0] >> 4 != 4 {
            return Err(libc::EINVAL);
        }
        let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + packet.len());
        frame.extend_from_slice(&OUR_MAC.0);
        frame.extend_from_slice(&GATEWAY_MAC.0);
        frame.extend_from_slice(&ETHERTYPE_IPV4);
        frame.extend_from_slice(packet);
        let buffer = DemiBuffer::from_slice(&frame).map_err(errno)?;
        let now = self.now();
        self.stack.receive(now, buffer);
        self.pump();
        Ok(())
    }

    fn fd(&self, fd: i32) -> Res<&Fd> {
        self.fds.get(&fd).ok_or(libc::EBADF)
    }

    fn fd_mut(&mut self, fd: i32) -> Res<&mut Fd> {
        self.fds.get_mut(&fd).ok_or(libc::EBADF)
    }

    /// The descriptors still open (for `free`).
    pub fn open_fds(&self) -> Vec<i32> {
        self.fds.keys().copied().collect()
    }

    pub fn is_nonblocking(&self, fd: i32) -> Res<bool> {
        Ok(self.fd(fd)?.nonblock)
    }

    pub fn set_nonblocking(&mut self, fd: i32, on: bool) -> Res<()> {
        self.fd_mut(fd)?.nonblock = on;
        Ok(())
    }

    fn insert(&mut self, os_fd: i32, id: SocketId, kind: Kind, nonblock: bool) {
        let fd = Fd {
            id,
            kind,
            nonblock,
            read_shut: false,
            peeked: Vec::new(),
            // An int, as getsockopt reports it: a buffer beyond i32::MAX reads back as i32::MAX, not truncated.
            rcvbuf: i32::try_from(self.settings.tcp.recv_buffer).unwrap_or(i32::MAX),
            sndbuf: i32::try_from(self.settings.tcp.send_buffer).unwrap_or(i32::MAX),
            maxseg: i32::from(self.settings.tcp.mss),
            keepidle: DEFAULT_KEEPIDLE,
        };
        self.fds.insert(os_fd, fd);
    }

    /// `socket(AF_INET, SOCK_STREAM | SOCK_DGRAM [| SOCK_NONBLOCK], 0)` on the descriptor `os_fd`.
    pub fn socket(&mut self, os_fd: i32, domain: i32, ty: i32, protocol: i32) -> Res<()> {
        if domain != libc::AF_INET {
            return Err(libc::EAFNOSUPPORT);
        }
        let nonblock = ty & libc::SOCK_NONBLOCK != 0;
        let (id, kind) = match (ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC), protocol) {
            (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => (self.stack.tcp_open(), Kind::Tcp),
            (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => (self.stack.udp_open(), Kind::Udp),
            (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(libc::EPROTONOSUPPORT),
            _ => return Err(libc::ESOCKTNOSUPPORT),
        };
        self.insert(os_fd, id, kind, nonblock);
        Ok(())
    }

    pub fn bind(&mut self, fd: i32, addr: SocketAddrV4) -> Res<()> {
        let f = self.fd(fd)?;
        let (id, kind) = (f.id, f.kind);
        match kind {
            Kind::Tcp => self.stack.tcp_bind(id, addr).map(drop),
            Kind::Udp => self.stack.udp_bind(id, addr).map(drop),
        }
        .map_err(errno)
    }

    pub fn listen(&mut self, fd: i32, backlog: i32) -> Res<()> {
        let f = self.fd(fd)?;
        if f.kind != Kind::Tcp {
            return Err(libc::EOPNOTSUPP);
        }
        let id = f.id;
        self.stack.tcp_listen(id, backlog.max(1) as usize).map_err(errno)
    }

    /// `accept`: the new connection goes on `new_fd` (a descriptor the caller made); `EAGAIN` if none is waiting.
    pub fn accept(&mut self, fd: i32, new_fd: impl FnOnce() -> Res<i32>) -> Res<(i32, SocketAddrV4)> {
        let f = self.fd(fd)?;
        if f.kind != Kind::Tcp {
            return Err(libc::EOPNOTSUPP);
        }
        let id = f.id;
        if !self.stack.readiness(id).map_err(errno)?.0 {
            if self.stack.tcp_state(id).map_err(errno)? != TcpState::Listen {
                return Err(libc::EINVAL);
            }
            return Err(libc::EAGAIN);
        }
        let Some((conn, peer)) = self.stack.tcp_accept(id).map_err(errno)? else { return Err(libc::EAGAIN) };
        let os_fd = match new_fd() {
            Ok(os_fd) => os_fd,
            Err(e) => {
                let _ = self.stack.close(conn);
                self.pump();
                return Err(e);
            }
        };
        self.insert(os_fd, conn, Kind::Tcp, false);
        Ok((os_fd, peer))
    }

    /// `connect`: starts the handshake; `EINPROGRESS` until it is over (see [`Host::connect_result`]).
    pub fn connect(&mut self, fd: i32, remote: SocketAddrV4) -> Res<()> {
        let f = self.fd(fd)?;
        let (id, kind) = (f.id, f.kind);
        if kind == Kind::Udp {
            return self.stack.udp_connect(id, remote).map_err(errno);
        }
        if let Some(error) = self.stack.tcp_error(id).map_err(errno)? {
            return Err(error.errno());
        }
        let now = self.now();
        self.stack.tcp_connect(now, id, remote).map_err(errno)?;
        self.pump();
        Err(libc::EINPROGRESS)
    }

    /// Where a started connect stands: `EAGAIN` while the handshake runs, the error if it failed.
    pub fn connect_result(&mut self, fd: i32) -> Res<()> {
        let id = self.fd(fd)?.id;
        if let Some(error) = self.stack.tcp_error(id).map_err(errno)? {
            return Err(error.errno());
        }
        match self.stack.tcp_state(id).map_err(errno)? {
            TcpState::SynSent | TcpState::SynReceived => Err(libc::EAGAIN),
            TcpState::Closed => Err(libc::ECONNREFUSED),
            _ => Ok(()),
        }
    }

    /// Reads up to `max` bytes (`peek` leaves them queued). TCP: empty at end of stream. UDP: with the sender.
    pub fn read(&mut self, fd: i32, max: usize, peek: bool) -> Res<(Vec<u8>, Option<SocketAddrV4>)> {
        let f = self.fd(fd)?;
        let (id, kind, read_shut) = (f.id, f.kind, f.read_shut);
        if read_shut {
            return Ok((Vec::new(), None));
        }
        if kind == Kind::Udp {
            // Peeking a datagram is not supported by the stack's API: a peek consumes it.
            let (data, from) = self.stack.udp_recv(id, max).map_err(errno)?.ok_or(libc::EAGAIN)?;
            return Ok((data.to_vec(), Some(from)));
        }
        if peek {
            self.fill_peeked(fd)?;
        }
        let f = self.fd_mut(fd)?;
        if !f.peeked.is_empty() {
            let n = f.peeked.len().min(max);
            let data = if peek { f.peeked[..n].to_vec() } else { f.peeked.drain(..n).collect() };
            return Ok((data, None));
        }
        if max == 0 {
            return Ok((Vec::new(), None));
        }
        let data = self.stack.tcp_recv(id, max).map_err(errno)?.ok_or(libc::EAGAIN)?;
        self.pump(); // a window update may be due
        Ok((data.to_vec(), None))
    }

    /// Moves everything the stack holds for `fd` into its peek buffer; returns its length.
    fn fill_peeked(&mut self, fd: i32) -> Res<usize> {
        let id = self.fd(fd)?.id;
        while let Some(data) = self.stack.tcp_recv(id, usize::MAX).map_err(errno)? {
            if data.is_empty() {
                break;
            }
            self.fd_mut(fd)?.peeked.extend_from_slice(&data.to_vec());
        }
        self.pump();
        Ok(self.fd(fd)?.peeked.len())
    }

    /// `ioctl(FIONREAD)`.
    pub fn bytes_readable(&mut self, fd: i32) -> Res<i32> {
        if self.fd(fd)?.kind == Kind::Udp {
            return Err(libc::EOPNOTSUPP);
        }
        match self.fill_peeked(fd) {
            Ok(n) => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
            Err(libc::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes `data`; returns how much the send buffer took (`EAGAIN` if nothing).
    pub fn write(&mut self, fd: i32, data: &[u8], to: Option<SocketAddrV4>) -> Res<usize> {
        let f = self.fd(fd)?;
        let (id, kind) = (f.id, f.kind);
        let now = self.now();
        if kind == Kind::Udp {
            let sga = Sga::from_slice(data).map_err(errno)?;
            self.stack.udp_send(now, id, &sga, to).map_err(errno)?;
            self.pump();
            return Ok(data.len());
        }
        if let Some(error) = self.stack.tcp_error(id).map_err(errno)? {
            return Err(error.errno());
        }
        if data.is_empty() {
            return Ok(0);
        }
        let sga = Sga::from_slice(data).map_err(errno)?;
        let n = self.stack.tcp_send(now, id, &sga).map_err(errno)?;
        self.pump();
        if n == 0 { Err(libc::EAGAIN) } else { Ok(n) }
    }

    /// `close`: the descriptor goes; a TCP connection closes in order (or resets with SO_LINGER 0).
    pub fn close(&mut self, fd: i32) -> Res<()> {
        let f = self.fds.remove(&fd).ok_or(libc::EBADF)?;
        let result = self.stack.close(f.id).map_err(errno);
        self.pump();
        result
    }

    /// `shutdown`: SHUT_RD stops reads here; SHUT_WR sends a FIN after the queued data (TCP; the socket stays
    /// readable); SHUT_RDWR does both.
    pub fn shutdown(&mut self, fd: i32, how: i32) -> Res<()> {
        if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
            return Err(libc::EINVAL);
        }
        let (id, kind) = {
            let f = self.fd(fd)?;
            (f.id, f.kind)
        };
        if how != libc::SHUT_RD {
            if kind != Kind::Tcp {
                return Err(libc::EOPNOTSUPP);
            }
            let now = self.now();
            self.stack.tcp_shutdown_write(now, id).map_err(errno)?;
            self.pump();
        }
        if how != libc::SHUT_WR {
            self.fd_mut(fd)?.read_shut = true;
        }
        Ok(())
    }

    pub fn readiness(&mut self, fd: i32) -> Res<Ready> {
        let f = self.fd(fd)?;
        let (id, kind, peeked) = (f.id, f.kind, !f.peeked.is_empty());
        let (readable, writable) = self.stack.readiness(id).map_err(errno)?;
        let error = kind == Kind::Tcp && self.stack.tcp_error(id).map_err(errno)?.is_some();
        Ok(Ready { readable: readable || peeked, writable, error })
    }

    fn tcp_options(&mut self, fd: i32) -> Res<Option<TcpSocketOptions>> {
        let f = self.fd(fd)?;
        match f.kind {
            Kind::Tcp => {
                let id = f.id;
                self.stack.tcp_options(id).map(Some).map_err(errno)
            }
            Kind::Udp => Ok(None),
        }
    }

    fn update_options(&mut self, fd: i32, change: impl FnOnce(&mut TcpSocketOptions)) -> Res<()> {
        let id = self.fd(fd)?.id;
        let Some(mut options) = self.tcp_options(fd)? else { return Ok(()) };
        change(&mut options);
        self.stack.tcp_set_options(id, options).map_err(errno)?;
        self.pump();
        Ok(())
    }

    pub fn setsockopt(&mut self, fd: i32, level: i32, name: i32, value: &[u8]) -> Res<()> {
        let int = || -> Res<i32> {
            let bytes: [u8; 4] = value.get(..4).and_then(|b| b.try_into().ok()).ok_or(libc::EINVAL)?;
            Ok(i32::from_ne_bytes(bytes))
        };
        let is_tcp = self.fd(fd)?.kind == Kind::Tcp;
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
                let on = int()? != 0;
                self.update_options(fd, |o| o.reuse_addr = on)
            }
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => int().map(drop),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
                let on = int()? != 0;
                let idle = self.fd(fd)?.keepidle;
                self.update_options(fd, |o| o.keepalive = on.then_some(idle))
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let onoff = int()?;
                let secs: [u8; 4] = value.get(4..8).and_then(|b| b.try_into().ok()).ok_or(libc::EINVAL)?;
                let secs = i32::from_ne_bytes(secs).max(0) as u64;
                self.update_options(fd, |o| o.linger = (onoff != 0).then(|| Duration::from_secs(secs)))
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                let v = int()?;
                self.fd_mut(fd)?.rcvbuf = v;
                Ok(())
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                let v = int()?;
                self.fd_mut(fd)?.sndbuf = v;
                Ok(())
            }
            (libc::IPPROTO_TCP, _) if !is_tcp => Err(libc::ENOPROTOOPT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                let on = int()? != 0;
                self.update_options(fd, |o| o.nodelay = on)
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let v = int()?;
                if v <= 0 {
                    return Err(libc::EINVAL);
                }
                self.fd_mut(fd)?.maxseg = v;
                Ok(())
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                let secs = int()?;
                if secs <= 0 {
                    return Err(libc::EINVAL);
                }
                let idle = Duration::from_secs(secs as u64);
                self.fd_mut(fd)?.keepidle = idle;
                self.update_options(fd, |o| {
                    if o.keepalive.is_some() {
                        o.keepalive = Some(idle);
                    }
                })
            }
            (libc::SOL_SOCKET | libc::IPPROTO_TCP | libc::IPPROTO_IP, _) => Err(libc::ENOPROTOOPT),
            _ => Err(libc::ENOPROTOOPT),
        }
    }

    pub fn getsockopt(&mut self, fd: i32, level: i32, name: i32) -> Res<Vec<u8>> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        let f = self.fd(fd)?;
        let (id, kind, rcvbuf, sndbuf, maxseg, keepidle) = (f.id, f.kind, f.rcvbuf, f.sndbuf, f.maxseg, f.keepidle);
        let options = self.tcp_options(fd)?.unwrap_or_default();
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_ERROR) => match kind {
                Kind::Tcp => int(self.stack.tcp_error(id).map_err(errno)?.map_or(0, |e| e.errno())),
                Kind::Udp => int(0),
            },
            (libc::SOL_SOCKET, libc::SO_TYPE) => {
                int(if kind == Kind::Tcp { libc::SOCK_STREAM } else { libc::SOCK_DGRAM })
            }
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => int(i32::from(options.reuse_addr)),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => int(i32::from(options.keepalive.is_some())),
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let mut v = i32::from(options.linger.is_some()).to_ne_bytes().to_vec();
                v.extend_from_slice(&(options.linger.map_or(0, |d| d.as_secs()) as i32).to_ne_bytes());
                Ok(v)
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(rcvbuf),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(sndbuf),
            (libc::IPPROTO_TCP, _) if kind != Kind::Tcp => Err(libc::ENOPROTOOPT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => int(i32::from(options.nodelay)),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => int(maxseg),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => int(keepidle.as_secs() as i32),
            _ => Err(libc::ENOPROTOOPT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let s = Settings::parse("--local_ip=10.0.0.2 --remote_ip=192.0.2.1 --mss=1000 --initial_rto_ms=300").unwrap();
        assert_eq!(s.local_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(s.tcp.mss, 1000);
        assert_eq!(s.tcp.initial_rto, Duration::from_millis(300));
        assert!(Settings::parse("--bogus=1").is_err());
        assert!(Settings::parse("").is_ok());
    }

    #[test]
    fn numbers_out_of_range_are_errors_naming_the_key() {
        // Numbers used to be parsed as u64 and cast with `as`: --initial_window=4294967297 became 1 segment (the
        // usize casts truncate only where usize is narrower than u64). Now each parses as its own type.
        for (flag, key) in [
            ("--initial_window=4294967296", "initial_window"),
            ("--initial_window=4294967297", "initial_window"),
            ("--mss=65536", "mss"),
            ("--mtu=18446744073709551616", "mtu"),
            ("--recv_buffer=18446744073709551616", "recv_buffer"),
            ("--send_buffer=18446744073709551616", "send_buffer"),
            ("--initial_rto_ms=18446744073709551616", "initial_rto_ms"),
            ("--isn_secret=18446744073709551616", "isn_secret"),
            ("--mtu=-1", "mtu"),
            ("--recv_buffer=", "recv_buffer"),
        ] {
            let e = Settings::parse(&format!("--local_ip=10.0.0.2 {flag}")).unwrap_err();
            assert!(e.starts_with(&format!("{key}=")), "{flag}: {e}");
        }
        let e = Settings::parse("--initial_window=4294967297").unwrap_err();
        assert!(e.contains("u32"), "{e}");
        // The largest values of each type still parse, unchanged.
        let s = Settings::parse("--initial_window=4294967295 --mss=65535 --recv_buffer=4294967296").unwrap();
        assert_eq!(s.tcp.initial_window_segments, u32::MAX);
        assert_eq!(s.tcp.mss, u16::MAX);
        assert_eq!(s.tcp.recv_buffer, 1 << 32);
    }

    #[test]
    fn buffers_and_timers_the_stack_cannot_run_with_are_refused() {
        // Parsed (they fit their types), then refused by the stack's configuration check: a buffer no window
        // can describe, an RTO so long that the timer would never fire.
        for flags in ["--recv_buffer=4294967296", "--send_buffer=0", "--min_rto_ms=18446744073709551615"] {
            let settings = Settings::parse(flags).unwrap();
            assert_eq!(Host::new(settings).unwrap_err(), libc::EINVAL, "{flags}");
        }
        let settings = Settings::parse("--recv_buffer=1073741824 --send_buffer=2048").unwrap();
        let mut host = Host::new(settings).unwrap();
        host.socket(3, libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let int = |v: Vec<u8>| i32::from_ne_bytes(v.try_into().unwrap());
        assert_eq!(int(host.getsockopt(3, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap()), 1 << 30);
        assert_eq!(int(host.getsockopt(3, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap()), 2048);
    }
}
