//! `DpdkDevice`: one DPDK port (one RX and one TX queue) as an inetstack [`Device`], in poll mode.
//!
//! It owns EAL for the life of the process's one DPDK catnip: [`DpdkDevice::new`] initialises EAL, creates the
//! mbuf pool, configures and starts the port and waits for its link; `Drop` stops and closes the port, frees the
//! pool and cleans EAL up (unless received buffers are still alive). RX takes mbufs in bursts into a small local
//! queue and wraps each single-segment frame in a `DemiBuffer` without copying (the mbuf returns to its pool
//! when the last view is dropped). TX copies a frame's header into a fresh mbuf and attaches its payload
//! behind it without a copy when the port takes mbuf chains (see `tx.rs`; short payloads, and memory the
//! driver cannot reach, are copied), sets the checksum-offload metadata when the port offers it (see
//! `offload.rs`) and holds the frame back; `flush` (called by the stack after each transmit pass) hands the
//! batch to one `tx_burst`. Frames the ring does not take stay for the next flush; when the batch is full too,
//! transmit hands the frame back to the stack, which retries it: nothing is dropped silently. On receive, the
//! driver's checksum verdicts are used when the port offers them (bad frames are dropped and counted).
//!
//! Not here: TSO, multiple queues.

use std::ffi::{CStr, CString, c_char};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dpdk_sys::{DpdkError, ffi};
use inetstack::device::{Device, DeviceCapabilities};
use inetstack::wire::MacAddress;
use pdpix::{Fail, Sga};
use runtime::DemiBuffer;

use super::offload::{PortOffloads, RxVerdict};
use super::tx;
use crate::network::NetDevice;

/// Frames taken from the RX ring per `rx_burst`.
const RX_BURST: usize = 32;
/// Frames held back for one `tx_burst` (sent on `flush`, or when this many wait).
const TX_BURST: usize = 32;
/// The IP MTU catnip uses on a DPDK port unless configured otherwise (Ethernet's).
pub const DEFAULT_MTU: usize = 1500;
/// The largest MTU catnip configures (the stack's limit; jumbo frames of 9000 fit, and an mbuf's data room
/// must stay below 64 KiB).
pub const MAX_MTU: usize = 9216;
/// Bytes a driver may count on top of MTU plus Ethernet header when it checks that a frame fits one receive mbuf
/// (virtio counts a VLAN tag and its 12-byte virtio-net header: without them it refuses the RX queue unless
/// scatter is on).
const DRIVER_SLACK: usize = 64;
/// The smallest MTU catnip configures (IPv4's minimum reassembly size, the stack's limit).
const MIN_MTU: usize = 576;
/// Ethernet header bytes on top of the MTU (no VLAN tag).
const ETHERNET_HEADER: usize = 14;

/// Set once EAL has been initialised in this process: it never can be again.
static EAL_CLAIMED: AtomicBool = AtomicBool::new(false);

/// How to bring up EAL and the port.
#[derive(Clone, Debug, PartialEq)]
pub struct DpdkDeviceConfig {
    /// EAL's command line without the program name, e.g. `["-l", "0", "--no-pci", "--in-memory",
    /// "--file-prefix=catnip1", "--vdev=net_af_packet0,iface=dk0"]` (see `docs/catnip.md`).
    pub eal_args: Vec<String>,
    /// The port's DPDK name (e.g. `net_af_packet0`); `None` takes the first available port.
    pub port: Option<String>,
    /// Mbufs in the pool (2^q - 1 is DPDK's optimum); must cover both rings plus frames in flight.
    pub mbufs: u32,
    /// RX and TX ring sizes, in descriptors (the driver may adjust them).
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// How long to wait for the link to come up.
    pub link_timeout: Duration,
    /// Use the port's checksum offloads when it offers them (software checksums otherwise, or when off).
    pub checksum_offload: bool,
    /// Attach payloads to mbufs instead of copying them, when the port takes mbuf chains (copy when off).
    pub tx_zero_copy: bool,
    /// The port's IP MTU (576..=9216; Ethernet's 1500 by default). Above 1500 these are jumbo frames: the port
    /// must accept them (`rte_eth_dev_info.max_mtu`), and the mbufs are made large enough to hold a whole frame
    /// (MTU plus Ethernet header), so each frame stays one mbuf. The stack's MTU and, unless set otherwise,
    /// its TCP MSS (MTU - 40) follow. net_vhost and virtio_user take 9000; net_memif stops at 1500.
    pub mtu: usize,
}

impl DpdkDeviceConfig {
    /// `eal_args` with defaults for the rest: first port, 8191 mbufs, 1024-descriptor rings, 5 s link wait.
    pub fn new(eal_args: Vec<String>) -> Self {
        Self {
            eal_args,
            port: None,
            mbufs: 8191,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            link_timeout: Duration::from_secs(5),
            checksum_offload: true,
            tx_zero_copy: true,
            mtu: DEFAULT_MTU,
        }
    }
}

/// What the device did, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpdkStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Transmissions handed back to the stack because the TX ring was full.
    pub tx_ring_full: u64,
    /// Transmissions handed back to the stack because the mbuf pool was empty.
    pub tx_no_mbuf: u64,
    /// Frames longer than an mbuf can hold (MTU plus Ethernet header): dropped, as a NIC drops them.
    pub tx_oversize: u64,
    /// Received frames dropped because no `DemiBuffer` could be made for them.
    pub rx_no_memory: u64,
    /// Received frames dropped because the port (or the software check of what it could not vouch for)
    /// found a bad checksum.
    pub rx_bad_checksum: u64,
    /// Transmitted frames whose payload was attached, not copied.
    pub tx_zero_copy: u64,
    /// Transmitted frames copied whole into one mbuf (no payload, a short one, or one the port cannot take).
    pub tx_copied: u64,
    /// Received frames that arrived as mbuf chains and were copied into one buffer (none while every frame fits
    /// one mbuf, as catnip sizes them).
    pub rx_chained: u64,
    /// Received frames copied into heap memory because half the pool was already lent to buffers the stack or
    /// the application holds (see [`DpdkDevice::receive`]).
    pub rx_copied_pool_low: u64,
}

/// One DPDK port driven in poll mode. Not `Send`: DPDK's per-lcore state belongs to the thread that created it.
#[derive(Debug)]
pub struct DpdkDevice {
    port: u16,
    name: String,
    pool: NonNull<ffi::rte_mempool>,
    mac: MacAddress,
    /// Received mbufs not yet handed to the stack: `rx[rx_next..rx_len]`, owned by us.
    rx: [*mut ffi::rte_mbuf; RX_BURST],
    rx_next: usize,
    rx_len: usize,
    /// Frames accepted by `transmit` and not yet taken by the driver: `tx[..tx_len]`, owned by us.
    tx: [*mut ffi::rte_mbuf; TX_BURST],
    tx_len: usize,
    /// Largest frame one mbuf holds.
    max_frame: usize,
    /// How many received mbufs may be lent to buffers at once (half the pool); past it frames are copied.
    lend_limit: usize,
    /// The port's IP MTU.
    mtu: usize,
    /// The offloads in use (all off when the configuration says so).
    offloads: PortOffloads,
    /// Attach payloads instead of copying them.
    zero_copy: bool,
    started: bool,
    stats: DpdkStats,
}

/// A control-path call's negative return as a `Fail` naming the call and the port.
pub(super) fn check(function: &'static str, port: &str, ret: i32) -> Result<(), Fail> {
    if ret < 0 {
        let e = DpdkError::new(function, -ret);
        return Err(Fail::with_context(-ret, format!("DPDK port {port}: {e}")));
    }
    Ok(())
}

impl DpdkDevice {
    /// Initialises EAL with `config.eal_args`, then opens, configures and starts the port and waits for its
    /// link. Fails with `EALREADY` if this process already initialised EAL (see the module docs), `ENODEV`
    /// without a port, `ETIMEDOUT` if the link stays down, or the errno of the DPDK call that failed.
    pub fn new(config: &DpdkDeviceConfig) -> Result<Self, Fail> {
        if EAL_CLAIMED.swap(true, Ordering::SeqCst) {
            return Err(Fail::new(
                libc::EALREADY,
                "DPDK's EAL was already initialised in this process: one process hosts one DPDK catnip",
            ));
        }
        let mut argv: Vec<&str> = vec!["catnip"];
        argv.extend(config.eal_args.iter().map(String::as_str));
        dpdk_sys::eal_init(&argv)
            .map_err(|e| Fail::with_context(e.errno, format!("{e} (EAL arguments: {})", config.eal_args.join(" "))))?;

        let port = match &config.port {
            Some(name) => {
                let c_name = CString::new(name.as_str())
                    .map_err(|_| Fail::with_context(libc::EINVAL, format!("port name {name:?} contains NUL")))?;
                let mut port = 0u16;
                // SAFETY: EAL is initialised; a valid C string and out-pointer.
                let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut port) };
                if ret < 0 {
                    return Err(Fail::with_context(
                        libc::ENODEV,
                        format!("no DPDK port named {name:?} (did the EAL arguments include --vdev={name},...?)"),
                    ));
                }
                port
            }
            None => {
                // SAFETY: EAL is initialised; this only reads the port table.
                let port = unsafe { ffi::rte_eth_find_next(0) };
                if u32::from(port) >= ffi::RTE_MAX_ETHPORTS {
                    return Err(Fail::new(
                        libc::ENODEV,
                        "no DPDK port: pass a device in the EAL arguments (--vdev=...)",
                    ));
                }
                port
            }
        };
        let name = port_name(port);
        let mut offloads = PortOffloads::query(port, &name)?;
        if !config.checksum_offload {
            offloads = PortOffloads { multi_segs: offloads.multi_segs, ..offloads.none() };
        }
        let zero_copy = config.tx_zero_copy && offloads.multi_segs;
        if !zero_copy {
            offloads.multi_segs = false;
        }

        let mtu = config.mtu;
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!("DPDK port {name}: MTU {mtu} is not in {MIN_MTU}..={MAX_MTU}"),
            ));
        }
        let pool_name =
            CString::new(format!("catnip_pool_{port}")).map_err(|_| Fail::new(libc::EINVAL, "pool name"))?;
        // Room for a whole frame in one mbuf: DPDK's default (2 KiB of data) up to 1500, more for jumbo frames.
        let frame_room = ffi::RTE_PKTMBUF_HEADROOM as usize + mtu + ETHERNET_HEADER + DRIVER_SLACK;
        let data_room = u16::try_from((ffi::RTE_MBUF_DEFAULT_BUF_SIZE as usize).max(frame_room)).unwrap_or(u16::MAX);
        // SAFETY: EAL is initialised; the name is a valid C string that DPDK copies. The socket id is only read.
        let pool = unsafe {
            ffi::rte_pktmbuf_pool_create(
                pool_name.as_ptr(),
                config.mbufs,
                256,
                0,
                data_room,
                ffi::rte_socket_id() as i32,
            )
        };
        let Some(pool) = NonNull::new(pool) else {
            let e = DpdkError::from_rte_errno("rte_pktmbuf_pool_create");
            return Err(Fail::with_context(e.errno, format!("{e} ({} mbufs)", config.mbufs)));
        };
        // From here on, Drop releases what was set up (port, pool, EAL) if a later step fails.
        let mut device = Self {
            port,
            name,
            pool,
            mac: MacAddress([0; 6]),
            rx: [ptr::null_mut(); RX_BURST],
            rx_next: 0,
            rx_len: 0,
            tx: [ptr::null_mut(); TX_BURST],
            tx_len: 0,
            max_frame: usize::from(data_room).saturating_sub(ffi::RTE_PKTMBUF_HEADROOM as usize),
            lend_limit: config.mbufs as usize / 2,
            mtu,
            offloads,
            zero_copy,
            started: false,
            stats: DpdkStats::default(),
        };
        device.start(config)?;
        Ok(device)
    }

    /// Configures one RX and one TX queue, starts the port, reads its MAC and waits for the link.
    fn start(&mut self, config: &DpdkDeviceConfig) -> Result<(), Fail> {
        let (port, name) = (self.port, self.name.clone());
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: a valid port and out-pointer; the driver fills the structure.
        check("rte_eth_dev_info_get", &name, unsafe { ffi::rte_eth_dev_info_get(port, &mut info) })?;
        let mtu = self.mtu;
        if mtu > usize::from(info.max_mtu) || mtu + ETHERNET_HEADER > info.max_rx_pktlen as usize {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!(
                    "DPDK port {name}: MTU {mtu} is more than the port takes (max_mtu {}, max_rx_pktlen {})",
                    info.max_mtu, info.max_rx_pktlen
                ),
            ));
        }
        let mut conf = ffi::rte_eth_conf::default();
        (conf.rxmode.offloads, conf.txmode.offloads) = self.offloads.conf();
        // 0 keeps ethdev's default (1500); ethdev checks the MTU against the port's limits.
        conf.rxmode.mtu = if mtu == DEFAULT_MTU { 0 } else { mtu as u32 };
        // SAFETY: a valid, stopped port and a valid configuration (defaults, no RSS, plus offloads the port
        // reported in its capabilities, and an MTU within its limits).
        check("rte_eth_dev_configure", &name, unsafe { ffi::rte_eth_dev_configure(port, 1, 1, &conf) })?;
        if mtu != DEFAULT_MTU {
            // `configure` recorded the MTU; drivers that size their rings or tell a peer by it do so here.
            // SAFETY: a configured, stopped port; the MTU fits u16 (at most MAX_MTU).
            let ret = unsafe { ffi::rte_eth_dev_set_mtu(port, mtu as u16) };
            // A driver without an MTU setting (net_vhost) takes any frame up to max_rx_pktlen: fine.
            if ret != -libc::ENOTSUP {
                check("rte_eth_dev_set_mtu", &name, ret)?;
            }
        }
        let (mut rx_desc, mut tx_desc) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: a configured port and valid out-pointers; the driver clamps the counts to what it supports.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", &name, unsafe {
            ffi::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rx_desc, &mut tx_desc)
        })?;
        // SAFETY: a valid port. -1 (unknown socket) becomes SOCKET_ID_ANY (0xffff_ffff), as DPDK expects.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(port) } as u32;
        // SAFETY: a configured port with one RX queue; NULL means the driver's default rxconf; the pool outlives
        // the port (Drop closes the port before freeing the pool).
        check("rte_eth_rx_queue_setup", &name, unsafe {
            ffi::rte_eth_rx_queue_setup(port, 0, rx_desc, socket, ptr::null(), self.pool.as_ptr())
        })?;
        // SAFETY: a configured port with one TX queue; NULL means the driver's default txconf.
        check("rte_eth_tx_queue_setup", &name, unsafe {
            ffi::rte_eth_tx_queue_setup(port, 0, tx_desc, socket, ptr::null())
        })?;
        // SAFETY: every queue is set up.
        check("rte_eth_dev_start", &name, unsafe { ffi::rte_eth_dev_start(port) })?;
        self.started = true;

        let mut mac = ffi::rte_ether_addr::default();
        // SAFETY: a valid port and out-pointer.
        check("rte_eth_macaddr_get", &name, unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) })?;
        self.mac = MacAddress(mac.addr_bytes);
        if !self.mac.is_unicast() {
            return Err(Fail::with_context(
                libc::EADDRNOTAVAIL,
                format!("DPDK port {name} has MAC {}, which cannot be a host address", self.mac),
            ));
        }

        let deadline = Instant::now() + config.link_timeout;
        loop {
            let mut link = ffi::rte_eth_link::default();
            // SAFETY: a valid, started port and out-pointer.
            check("rte_eth_link_get_nowait", &name, unsafe { ffi::rte_eth_link_get_nowait(port, &mut link) })?;
            if link.link_status() != 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Fail::with_context(
                    libc::ETIMEDOUT,
                    format!("DPDK port {name}: link still down after {:?}", config.link_timeout),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> MacAddress {
        self.mac
    }

    /// The port's DPDK name (e.g. `net_af_packet0`).
    pub fn port_name(&self) -> &str {
        &self.name
    }

    /// Hands the held-back frames to the driver in one `tx_burst`; what it does not take stays for the next.
    fn flush_tx(&mut self) {
        if self.tx_len == 0 {
            return;
        }
        // SAFETY: a started port with TX queue 0; `tx[..tx_len]` are live mbufs we own; the driver takes the
        // first `sent` of them.
        let sent = unsafe { ffi::dpdk_shim_eth_tx_burst(self.port, 0, self.tx.as_mut_ptr(), self.tx_len as u16) };
        let sent = usize::from(sent);
        self.tx.copy_within(sent..self.tx_len, 0);
        self.tx_len -= sent;
        self.stats.tx_frames += sent as u64;
    }

    pub fn stats(&self) -> DpdkStats {
        self.stats
    }

    /// The port's offload capabilities, and which of them catnip uses.
    pub fn offloads(&self) -> &PortOffloads {
        &self.offloads
    }

    /// The frame as an mbuf chain: a fresh head mbuf holding a copy of the header (the first segment) and
    /// checksum-offload metadata, then each payload segment attached without a copy, when every one of them can
    /// be (see `tx.rs`). `None` if it cannot be built that way (the caller copies); `Err` if the pool ran dry.
    fn chain(&mut self, frame: &Sga) -> Option<Result<*mut ffi::rte_mbuf, ()>> {
        let (header, payload) = frame.segments().split_first()?;
        let payload_len: usize = payload.iter().map(|p| p.len()).sum();
        if !self.zero_copy || payload_len < tx::ZERO_COPY_MIN || header.len() > self.max_frame {
            return None;
        }
        let mut iovas = [0; 4];
        if payload.len() > iovas.len() {
            return None;
        }
        for (iova, segment) in iovas.iter_mut().zip(payload) {
            *iova = tx::payload_iova(&self.offloads, segment)?;
        }
        // SAFETY: the pool is a live pktmbuf pool.
        let head = unsafe { ffi::dpdk_shim_pktmbuf_alloc(self.pool.as_ptr()) };
        if head.is_null() {
            return Some(Err(()));
        }
        // SAFETY: `head` is a fresh mbuf we own with max_frame >= header.len() bytes of tailroom; the header's heap
        // bytes and the mbuf do not overlap. Each attached mbuf is chained to `head` (which then owns it) or, on
        // failure, the whole chain is freed once.
        unsafe {
            let dst = ffi::dpdk_shim_pktmbuf_append(head, header.len() as u16).cast::<u8>();
            if dst.is_null() {
                ffi::dpdk_shim_pktmbuf_free(head);
                return None;
            }
            ptr::copy_nonoverlapping(header.as_ptr(), dst, header.len());
            for (segment, &iova) in payload.iter().zip(&iovas) {
                let attached = tx::attach(self.pool, segment, iova);
                let chained = attached.is_some_and(|m| {
                    let ok = ffi::dpdk_shim_pktmbuf_chain(head, m) == 0;
                    if !ok {
                        ffi::dpdk_shim_pktmbuf_free(m);
                    }
                    ok
                });
                if !chained {
                    ffi::dpdk_shim_pktmbuf_free(head);
                    return Some(Err(()));
                }
            }
            self.offloads.prepare_tx(head, header);
        }
        Some(Ok(head))
    }

    /// The frame copied whole into one fresh mbuf, with checksum-offload metadata. `Err(true)`: the pool ran
    /// dry (retry later); `Err(false)`: the frame cannot fit (dropped).
    fn copy(&mut self, frame: &Sga, len: usize) -> Result<*mut ffi::rte_mbuf, bool> {
        // SAFETY: the pool is a live pktmbuf pool.
        let m = unsafe { ffi::dpdk_shim_pktmbuf_alloc(self.pool.as_ptr()) };
        if m.is_null() {
            return Err(true);
        }
        // `len` fits u16: it is at most max_frame, below 64 KiB.
        // SAFETY: `m` is a fresh mbuf we own, with max_frame >= len bytes of tailroom.
        let dst = unsafe { ffi::dpdk_shim_pktmbuf_append(m, len as u16) }.cast::<u8>();
        if dst.is_null() {
            // SAFETY: we own `m` and drop it here.
            unsafe { ffi::dpdk_shim_pktmbuf_free(m) };
            return Err(false);
        }
        let mut offset = 0;
        for segment in frame.segments() {
            // SAFETY: append reserved `len` writable bytes at `dst`, and the segments add up to `len`; the mbuf's
            // buffer and the segments' memory do not overlap.
            unsafe { ptr::copy_nonoverlapping(segment.as_ptr(), dst.add(offset), segment.len()) };
            offset += segment.len();
        }
        if self.offloads.any_tx_checksum()
            && let Some(header) = frame.segments().first()
        {
            // SAFETY: `m` is ours and its data begins with the frame's first segment.
            unsafe { self.offloads.prepare_tx(m, header) };
        }
        Ok(m)
    }

    /// The frame in received mbuf `m` as a `DemiBuffer`, taking `m` over. A single-segment mbuf (every frame
    /// up to the MTU, as the pool's data room is sized for it) is wrapped without a copy unless `copy`: the
    /// stack hands views of it up to the application's pop, and the mbuf goes back to its pool when the last
    /// view is dropped. A chained mbuf, or any mbuf when `copy`, is copied and freed at once.
    ///
    /// # Safety
    ///
    /// `m` must be a live mbuf chain owned by the caller, which gives it up (it must not be used again).
    unsafe fn into_buffer(m: *mut ffi::rte_mbuf, copy: bool) -> Result<DemiBuffer, Fail> {
        // SAFETY: `m` is a live mbuf (caller's promise).
        let (nb_segs, data_len) = unsafe { ((*m).nb_segs, usize::from((*m).data_len)) };
        if nb_segs == 1 && !copy {
            // SAFETY: mtod points at `data_len` initialised bytes of the mbuf's only segment, which stays valid
            // and ours until `free_mbuf(m)`, called once by the last view; the views are the only writers.
            let wrapped = unsafe {
                DemiBuffer::from_device(ffi::dpdk_shim_pktmbuf_mtod(m).cast::<u8>(), data_len, free_mbuf, m.cast())
            };
            match wrapped {
                Ok(_) => {
                    LENT_MBUFS.fetch_add(1, Ordering::AcqRel);
                }
                // SAFETY: not wrapped, so still ours to free, once.
                Err(_) => unsafe { ffi::dpdk_shim_pktmbuf_free(m) },
            }
            return wrapped;
        }
        // Copied once, straight into the buffer the stack gets.
        // SAFETY: as above.
        let copied = DemiBuffer::new(unsafe { (*m).pkt_len } as usize).and_then(|mut frame| {
            let out = frame.as_mut_slice().ok_or_else(|| Fail::new(libc::EINVAL, "a new buffer is not unique"))?;
            let (mut at, mut segment) = (0, m);
            while !segment.is_null() {
                // SAFETY: every segment of a live chain is live; mtod and data_len describe its initialised
                // bytes, and the segments' lengths add up to pkt_len, the buffer's.
                unsafe {
                    let len = usize::from((*segment).data_len).min(out.len() - at);
                    let bytes = std::slice::from_raw_parts(ffi::dpdk_shim_pktmbuf_mtod(segment).cast::<u8>(), len);
                    out[at..at + len].copy_from_slice(bytes);
                    at += len;
                    segment = (*segment).next;
                }
            }
            Ok(frame)
        });
        // SAFETY: we own the chain and have copied it (or failed to); it is freed once and never used again.
        unsafe { ffi::dpdk_shim_pktmbuf_free(m) };
        copied
    }
}

/// Received mbufs wrapped in `DemiBuffer`s and not yet given back (one DPDK device per process, so one
/// counter): the device frees its pool at shutdown only when this is zero.
static LENT_MBUFS: AtomicUsize = AtomicUsize::new(0);

/// The statistics of this process's DPDK device, as it was dropped (`None` before that).
static FINAL_STATS: std::sync::Mutex<Option<DpdkStats>> = std::sync::Mutex::new(None);

/// What this process's DPDK device did, once it has been dropped (one device per process): for tests and
/// diagnostics that cannot reach the device inside a libOS.
pub fn final_stats() -> Option<DpdkStats> {
    *FINAL_STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many received mbufs are still lent to `DemiBuffer`s (zero once the application dropped every popped
/// buffer, which the device's shutdown waits for to free its pool).
pub fn lent_mbufs() -> usize {
    LENT_MBUFS.load(Ordering::Acquire)
}

/// Gives a received mbuf back to its pool: the release hook of zero-copy receive buffers.
///
/// # Safety
///
/// `context` must be an mbuf this process owns, released exactly once.
unsafe fn free_mbuf(context: *mut std::ffi::c_void) {
    // SAFETY: the caller's promise; `DemiBuffer` calls this once, when the last view of the mbuf is dropped.
    unsafe { ffi::dpdk_shim_pktmbuf_free(context.cast::<ffi::rte_mbuf>()) };
    LENT_MBUFS.fetch_sub(1, Ordering::AcqRel);
}

/// The port's DPDK name, or its number if DPDK cannot say.
fn port_name(port: u16) -> String {
    // RTE_ETH_NAME_MAX_LEN is 64.
    let mut buf = [0 as c_char; 64];
    // SAFETY: a valid port and a buffer of RTE_ETH_NAME_MAX_LEN bytes, as the function requires.
    if unsafe { ffi::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) } < 0 {
        return format!("port{port}");
    }
    // SAFETY: the function NUL-terminated the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

impl Device for DpdkDevice {
    fn capabilities(&self) -> DeviceCapabilities {
        // Every frame goes into an mbuf: chained to the payload where possible, else copied once. A frame of
        // several buffers costs no more than one, so the stack need not copy payloads behind the headers.
        DeviceCapabilities { mtu: self.mtu, checksums: self.offloads.checksums(), gather: true }
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        loop {
            if self.rx_next == self.rx_len {
                // SAFETY: a started port with RX queue 0; `rx` has room for RX_BURST pointers, which the driver
                // fills with mbufs that become ours.
                let n = unsafe { ffi::dpdk_shim_eth_rx_burst(self.port, 0, self.rx.as_mut_ptr(), RX_BURST as u16) };
                self.rx_next = 0;
                self.rx_len = usize::from(n);
                if n == 0 {
                    return None;
                }
            }
            let m = self.rx[self.rx_next];
            self.rx_next += 1;
            // SAFETY: `m` came from rx_burst and is ours, hence live.
            let (ol_flags, nb_segs) = unsafe { ((*m).ol_flags, (*m).nb_segs) };
            if nb_segs > 1 {
                self.stats.rx_chained += 1;
            }
            // Zero-copy receive lends the mbuf until the last view of the frame is dropped: data queued for a slow
            // reader, out-of-order segments, frames the application keeps. Past half the pool, frames are copied
            // and their mbufs go back at once, so that the port always has mbufs to receive into: without this,
            // enough data waiting on enough connections (or one peer's tiny segments) emptied the pool and the
            // port stopped receiving altogether.
            let copy = LENT_MBUFS.load(Ordering::Relaxed) >= self.lend_limit;
            if copy && nb_segs == 1 {
                self.stats.rx_copied_pool_low += 1;
            }
            // SAFETY: `m` came from rx_burst and is ours; `into_buffer` takes it over (or frees it).
            let frame = unsafe { Self::into_buffer(m, copy) };
            match frame {
                Ok(frame) => match self.offloads.rx_verdict(ol_flags, &frame) {
                    RxVerdict::Deliver => {
                        self.stats.rx_frames += 1;
                        return Some(frame);
                    }
                    RxVerdict::BadChecksum => self.stats.rx_bad_checksum += 1,
                },
                Err(_) => self.stats.rx_no_memory += 1,
            }
        }
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        if self.tx_len == TX_BURST {
            self.flush_tx();
            if self.tx_len == TX_BURST {
                // The ring is full and so is our batch: the stack keeps the frame and retries.
                self.stats.tx_ring_full += 1;
                return Err(frame);
            }
        }
        let len = frame.len();
        if len > self.max_frame || len > self.mtu + ETHERNET_HEADER {
            self.stats.tx_oversize += 1;
            return Ok(());
        }
        let m = match self.chain(&frame) {
            Some(Ok(m)) => {
                self.stats.tx_zero_copy += 1;
                m
            }
            Some(Err(())) => {
                self.stats.tx_no_mbuf += 1;
                return Err(frame);
            }
            None => match self.copy(&frame, len) {
                Ok(m) => {
                    self.stats.tx_copied += 1;
                    m
                }
                Err(true) => {
                    self.stats.tx_no_mbuf += 1;
                    return Err(frame);
                }
                Err(false) => {
                    self.stats.tx_oversize += 1;
                    return Ok(());
                }
            },
        };
        self.tx[self.tx_len] = m;
        self.tx_len += 1;
        Ok(())
    }

    fn flush(&mut self) {
        self.flush_tx();
    }
}

impl NetDevice for DpdkDevice {
    /// Poll mode: nothing to block on, so return at once and let the runtime poll again.
    fn wait(&self, _timeout: Option<Duration>) {}
}

impl Drop for DpdkDevice {
    fn drop(&mut self) {
        for &m in &self.rx[self.rx_next..self.rx_len] {
            // SAFETY: received mbufs not yet handed on are ours; each is freed once.
            unsafe { ffi::dpdk_shim_pktmbuf_free(m) };
        }
        self.rx_len = 0;
        self.flush_tx();
        for &m in &self.tx[..self.tx_len] {
            // SAFETY: frames the driver never took are still ours; each is freed once.
            unsafe { ffi::dpdk_shim_pktmbuf_free(m) };
        }
        self.tx_len = 0;
        if self.started {
            // SAFETY: a started port, and no burst call in flight (this thread is here).
            let ret = unsafe { ffi::rte_eth_dev_stop(self.port) };
            if ret < 0 {
                eprintln!("catnip: {}", DpdkError::new("rte_eth_dev_stop", -ret));
            }
        }
        // SAFETY: the port is stopped (or was never started); close releases its queues and the mbufs in them.
        let ret = unsafe { ffi::rte_eth_dev_close(self.port) };
        if ret < 0 {
            eprintln!("catnip: {}", DpdkError::new("rte_eth_dev_close", -ret));
        }
        *FINAL_STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.stats);
        let pinned = tx::tx_pinned();
        if pinned > 0 {
            eprintln!("catnip: {pinned} transmitted payloads were not released by the driver after close");
        }
        let lent = LENT_MBUFS.load(Ordering::Acquire);
        if lent > 0 {
            // Received buffers still alive in the application would return their mbufs to a freed pool: keep
            // the pool and EAL (a leak at shutdown, never a use after free).
            eprintln!("catnip: {lent} received buffers are still alive: the mbuf pool and EAL are left in place");
            return;
        }
        // SAFETY: every mbuf is back in the pool (ours freed above, the driver's freed by close, transmitted
        // ones freed by the driver, received ones lent to `DemiBuffer`s returned: LENT_MBUFS is 0) and no port
        // refers to the pool any more.
        unsafe { ffi::rte_mempool_free(self.pool.as_ptr()) };
        // SAFETY: this device initialised EAL (EAL_CLAIMED) and is the only DPDK user in the process; its port is
        // closed and its pool freed, it is !Send so no other thread holds DPDK state of ours, and EAL_CLAIMED
        // stays set so nothing in this process calls into DPDK through catnip again.
        if let Err(e) = unsafe { dpdk_sys::eal_cleanup() } {
            eprintln!("catnip: {e}");
        }
    }
}
