//! What a DPDK port does for catnip besides moving bytes: checksum offloads (IPv4 header, TCP, UDP) on transmit
//! and receive, multi-segment transmit (needed for zero-copy payloads), and whether its driver reads transmitted
//! mbufs with the CPU from their virtual addresses (so a payload may live in ordinary heap memory).
//!
//! [`PortOffloads::query`] reads the port's `rte_eth_dev_info`; [`PortOffloads::conf`] turns on, in the port's
//! configuration, the offloads catnip uses; [`PortOffloads::checksums`] tells the stack which checksums it may
//! skip. Per frame, [`PortOffloads::prepare_tx`] sets an mbuf's `ol_flags`, `l2_len`, `l3_len` and the
//! pseudo-header sum DPDK requires in the L4 checksum field, and [`PortOffloads::rx_verdict`] reads the
//! driver's `RTE_MBUF_F_RX_*_CKSUM_*` flags, checking in software what the driver could not vouch for.
//!
//! Not here: TSO, VLAN, tunnel or outer-header offloads, RSS.

use std::ffi::CStr;

use dpdk_sys::ffi;
use inetstack::wire::{
    ChecksumCapabilities, ChecksumMode, ETHERNET_HEADER_LEN, IPV4_MIN_HEADER_LEN, IpProtocol, WireError,
    dissect::Ipv4Datagram,
};
use pdpix::Fail;

/// Drivers that copy each transmitted segment with the CPU from `rte_pktmbuf_mtod` (a socket write, a memcpy
/// into a shared-memory ring, a hand-over to our own RX queue), never through its IOVA and never by sharing the
/// mbuf's memory with another process: a payload in heap memory is as good as one in DPDK memory for them.
/// net_memif is on the list only in its default copy mode: with `zero-copy=yes` its ring descriptors point into
/// the port's own mempool, so it cannot send an attached buffer at all (see [`PortOffloads::query`]).
/// net_vhost (the vhost-user backend) copies each mbuf segment into its peer's memory from the segment's virtual
/// address (synchronous enqueue; the PMD does not use DMA engines). Not virtio_user: its peer reads the
/// descriptors' addresses, and only memory EAL shared with the peer (its memory table) can be reached.
const CPU_COPY_DRIVERS: &[&str] = &["net_memif", "net_af_packet", "net_tap", "net_ring", "net_null", "net_vhost"];

const RX_CHECKSUMS: u64 =
    ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM | ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM;

/// The offloads a port offers and catnip uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortOffloads {
    /// The driver's name (`net_memif`, `net_af_packet`, ...).
    pub driver: String,
    /// What the port reports (`rte_eth_dev_info`), for diagnostics and docs.
    pub tx_offload_capa: u64,
    pub rx_offload_capa: u64,
    /// Checksums the port computes on transmit (and catnip leaves to it: only where the port also checks them
    /// on receive, see [`PortOffloads::query`]).
    pub tx_ipv4: bool,
    pub tx_tcp: bool,
    pub tx_udp: bool,
    /// Checksums the port checks on receive (and reports in each mbuf's `ol_flags`).
    pub rx_ipv4: bool,
    pub rx_tcp: bool,
    pub rx_udp: bool,
    /// The port transmits mbuf chains (`RTE_ETH_TX_OFFLOAD_MULTI_SEGS`) whose segments may be external buffers:
    /// zero-copy payloads are possible. Off for memif in zero-copy mode, whose driver can only send mbufs from
    /// the pool it registered with its peer.
    pub multi_segs: bool,
    /// The driver reads transmitted data with the CPU from virtual addresses (see [`CPU_COPY_DRIVERS`]).
    pub cpu_copy: bool,
}

/// What to do with a received frame, according to the driver's checksum flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxVerdict {
    /// The checksums the stack skips are known good (or the frame has none): hand it on.
    Deliver,
    /// A checksum is wrong: drop the frame and count it.
    BadChecksum,
}

impl PortOffloads {
    /// The port's offloads, from `rte_eth_dev_info_get`.
    pub fn query(port: u16, name: &str) -> Result<Self, Fail> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: a valid port and out-pointer; the driver fills the structure.
        let ret = unsafe { ffi::rte_eth_dev_info_get(port, &mut info) };
        super::device::check("rte_eth_dev_info_get", name, ret)?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's driver name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        let devargs = device_args(info.device);
        let memif_zero_copy = driver == "net_memif" && devargs.split(',').any(|kv| kv.trim() == "zero-copy=yes");
        let (tx, rx) = (info.tx_offload_capa, info.rx_offload_capa);
        let (rx_ipv4, rx_tcp, rx_udp) = (
            rx & ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM != 0,
            rx & ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM != 0,
            rx & ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM != 0,
        );
        // A transmit offload is used only with the matching receive offload: the stack loops datagrams to its own
        // address back in software, and those must not arrive with unfilled checksums at a stack that verifies.
        Ok(Self {
            cpu_copy: CPU_COPY_DRIVERS.contains(&driver.as_str()) && !memif_zero_copy,
            driver,
            tx_offload_capa: tx,
            rx_offload_capa: rx,
            tx_ipv4: rx_ipv4 && tx & ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM != 0,
            tx_tcp: rx_tcp && tx & ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM != 0,
            tx_udp: rx_udp && tx & ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM != 0,
            rx_ipv4,
            rx_tcp,
            rx_udp,
            multi_segs: tx & ffi::RTE_ETH_TX_OFFLOAD_MULTI_SEGS != 0 && !memif_zero_copy,
        })
    }

    /// With every offload off: what catnip falls back to (and what tests use to compare).
    pub fn none(self) -> Self {
        Self {
            tx_ipv4: false,
            tx_tcp: false,
            tx_udp: false,
            rx_ipv4: false,
            rx_tcp: false,
            rx_udp: false,
            multi_segs: false,
            ..self
        }
    }

    /// The port configuration's `(rxmode.offloads, txmode.offloads)`: the offloads catnip uses.
    pub fn conf(&self) -> (u64, u64) {
        let mut rx = 0;
        let mut tx = 0;
        for (on, flag) in [
            (self.rx_ipv4, ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM),
            (self.rx_tcp, ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM),
            (self.rx_udp, ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM),
        ] {
            if on {
                rx |= flag;
            }
        }
        for (on, flag) in [
            (self.tx_ipv4, ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM),
            (self.tx_tcp, ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
            (self.tx_udp, ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
            (self.multi_segs, ffi::RTE_ETH_TX_OFFLOAD_MULTI_SEGS),
        ] {
            if on {
                tx |= flag;
            }
        }
        (rx & RX_CHECKSUMS, tx)
    }

    /// Which checksums the stack leaves to the port (ICMP's always stays in software: no port offloads it).
    pub fn checksums(&self) -> ChecksumCapabilities {
        let mode = |rx: bool, tx: bool| match (rx, tx) {
            (false, false) => ChecksumMode::Software,
            (false, true) => ChecksumMode::VerifyOnly,
            (true, false) => ChecksumMode::GenerateOnly,
            (true, true) => ChecksumMode::Offloaded,
        };
        ChecksumCapabilities {
            ipv4: mode(self.rx_ipv4, self.tx_ipv4),
            icmpv4: ChecksumMode::Software,
            udp: mode(self.rx_udp, self.tx_udp),
            tcp: mode(self.rx_tcp, self.tx_tcp),
        }
    }

    /// Whether any transmit checksum is offloaded (so `prepare_tx` has work to do).
    pub fn any_tx_checksum(&self) -> bool {
        self.tx_ipv4 || self.tx_tcp || self.tx_udp
    }

    /// Marks head mbuf `m` of a frame whose first `header.len()` bytes are `header` (Ethernet, IPv4 and the L4
    /// header, as the stack builds them) for the port's checksum offloads: `ol_flags`, `l2_len`, `l3_len`, and
    /// the IPv4 pseudo-header sum in the TCP or UDP checksum field (written into `m`'s data, which holds
    /// `header`), as DPDK's `RTE_MBUF_F_TX_*_CKSUM` documentation requires. Frames that are not IPv4 (ARP) or
    /// carry another protocol (ICMP) are left alone.
    ///
    /// # Safety
    ///
    /// `m` must be a live mbuf we own whose data starts with a copy of `header` (so the checksum field written
    /// through `rte_pktmbuf_mtod` lies inside its first segment).
    pub unsafe fn prepare_tx(&self, m: *mut ffi::rte_mbuf, header: &[u8]) {
        if header.len() < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN
            || u16::from_be_bytes([header[12], header[13]]) != ffi::RTE_ETHER_TYPE_IPV4
        {
            return;
        }
        let ip = ETHERNET_HEADER_LEN;
        let l3_len = usize::from(header[ip] & 0x0f) * 4;
        let l4 = ip + l3_len;
        // A fragment's transport checksum covers the whole datagram: the stack wrote it; only the IP header's
        // is the port's to fill.
        let fragment = u16::from_be_bytes([header[ip + 6], header[ip + 7]]) & 0x3fff != 0;
        let (l4_flag, checksum_at) = match IpProtocol::from(header[ip + 9]) {
            _ if fragment => (0, 0),
            IpProtocol::Tcp if self.tx_tcp => (ffi::RTE_MBUF_F_TX_TCP_CKSUM, l4 + 16),
            IpProtocol::Udp if self.tx_udp => (ffi::RTE_MBUF_F_TX_UDP_CKSUM, l4 + 6),
            _ => (0, 0),
        };
        let ip_flag = if self.tx_ipv4 { ffi::RTE_MBUF_F_TX_IP_CKSUM } else { 0 };
        if l4_flag == 0 && ip_flag == 0 {
            return;
        }
        if l4_flag != 0 && checksum_at + 2 > header.len() {
            return;
        }
        // SAFETY: `m` is live and ours (caller's promise); `l2_len`/`l3_len` are bitfields the shim writes.
        unsafe {
            (*m).ol_flags |= ffi::RTE_MBUF_F_TX_IPV4 | ip_flag | l4_flag;
            ffi::dpdk_shim_mbuf_set_tx_lengths(m, ETHERNET_HEADER_LEN as u16, l3_len as u16);
        }
        if l4_flag != 0 {
            // SAFETY: the mbuf's data begins with `header` (caller's promise), so the IPv4 header at offset 14
            // and the 2-byte checksum field at `checksum_at < header.len()` are inside its first segment; the
            // shim reads the IPv4 header (any alignment: DPDK reads it field by field from packed bytes).
            unsafe {
                let data = ffi::dpdk_shim_pktmbuf_mtod(m).cast::<u8>();
                let pseudo = ffi::dpdk_shim_ipv4_phdr_cksum(data.add(ip).cast(), (*m).ol_flags);
                // DPDK's sum is in the byte order of the packet's memory: store it as it comes.
                data.add(checksum_at).cast::<u16>().write_unaligned(pseudo);
            }
        }
    }

    /// What to do with received frame `bytes`, whose mbuf's `ol_flags` are `ol_flags`, for the checksums the
    /// stack leaves to the port. Good: deliver. Bad: drop. Unknown (the driver could not tell): checked here in
    /// software. "None" (the checksum field is not filled in but the data is intact, as a virtual device says of
    /// a packet from a local sender that left it to offload): trusted.
    pub fn rx_verdict(&self, ol_flags: u64, bytes: &[u8]) -> RxVerdict {
        if !(self.rx_ipv4 || self.rx_tcp || self.rx_udp) {
            return RxVerdict::Deliver;
        }
        let ip = ol_flags & ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK;
        let l4 = ol_flags & ffi::RTE_MBUF_F_RX_L4_CKSUM_MASK;
        // A fragment holds part of a transport message at most: whatever a driver says of its L4 checksum, the
        // stack checks the datagram's once it has rebuilt it.
        let l4_applies = (self.rx_tcp || self.rx_udp) && !is_ipv4_fragment(bytes);
        if (self.rx_ipv4 && ip == ffi::RTE_MBUF_F_RX_IP_CKSUM_BAD)
            || (l4_applies && l4 == ffi::RTE_MBUF_F_RX_L4_CKSUM_BAD)
        {
            return RxVerdict::BadChecksum;
        }
        let ip_known = !self.rx_ipv4 || ip != ffi::RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
        let l4_known = !l4_applies || l4 != ffi::RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
        if ip_known && l4_known {
            return RxVerdict::Deliver;
        }
        verify_in_software(bytes)
    }
}

/// Whether `bytes` is an Ethernet frame holding an IPv4 fragment (More Fragments set, or a non-zero offset).
fn is_ipv4_fragment(bytes: &[u8]) -> bool {
    let ipv4 = bytes.get(12..14) == Some(&ffi::RTE_ETHER_TYPE_IPV4.to_be_bytes()[..]);
    let flags_and_offset = bytes.get(ETHERNET_HEADER_LEN + 6..ETHERNET_HEADER_LEN + 8);
    ipv4 && flags_and_offset.is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & 0x3fff != 0)
}

/// The checks the driver did not make, made here: an IPv4 frame is parsed with every checksum verified.
/// Frames that are not IPv4, or malformed in some other way, go to the stack, which counts and drops them.
fn verify_in_software(bytes: &[u8]) -> RxVerdict {
    if bytes.len() < ETHERNET_HEADER_LEN || u16::from_be_bytes([bytes[12], bytes[13]]) != ffi::RTE_ETHER_TYPE_IPV4 {
        return RxVerdict::Deliver;
    }
    match Ipv4Datagram::parse(&bytes[ETHERNET_HEADER_LEN..], &ChecksumCapabilities::software()) {
        Err(WireError::Checksum) => RxVerdict::BadChecksum,
        _ => RxVerdict::Deliver,
    }
}

/// The device arguments the port was created with (`role=client,socket=...` for a `--vdev`), or "".
fn device_args(device: *mut ffi::rte_device) -> String {
    if device.is_null() {
        return String::new();
    }
    // SAFETY: a device pointer from rte_eth_dev_info_get, valid while the port exists.
    let devargs = unsafe { ffi::rte_dev_devargs(device) };
    if devargs.is_null() {
        return String::new();
    }
    // SAFETY: `args` (the union's legacy name for the argument string) is NULL or a NUL-terminated string owned
    // by the devargs, which lives as long as the device.
    let args = unsafe { (*devargs).__bindgen_anon_1.args };
    if args.is_null() {
        return String::new();
    }
    // SAFETY: as above.
    unsafe { CStr::from_ptr(args) }.to_string_lossy().into_owned()
}
