//! End-to-end check of the bindings against the real DPDK on this machine: EAL, a mempool, the mbuf shim, and three
//! virtual ports (net_ring, net_null, net_tap).
//!
//! EAL can be initialised once per process, so this binary holds exactly one test, which does everything in order.
//! It needs root (EAL, and net_tap creates a kernel interface); when not root it prints why and passes without
//! running, unless `DPDK_SYS_REQUIRE_TESTS=1` (set by `ci/dpdk-tests.sh`), where skipping is a failure. (Without
//! DPDK installed this crate does not build at all, so there is no run-time check for it.)
//!
//! Memory: hugepages when hugetlbfs is mounted at /dev/hugepages with at least 256 free 2 MiB pages
//! (`ci/hugepages.sh`), otherwise `--no-huge -m 512`; `DPDK_SYS_NO_HUGE=1` forces the latter.

use std::ffi::{CStr, CString};
use std::ptr;

use dpdk_sys::DpdkError;
use dpdk_sys::ffi;

/// Mbufs in the test's pool (2^q - 1 is DPDK's optimum).
const POOL_SIZE: u32 = 4095;
/// RX and TX ring sizes for every port.
const RING_SIZE: u16 = 256;
/// Frames sent through net_ring.
const FRAMES: usize = 32;
/// An EtherType reserved for local experiments (IEEE 802 "Local Experimental EtherType 1").
const ETHERTYPE_TEST: u16 = 0x88B5;

#[test]
fn eal_mempool_mbufs_and_virtual_ports() {
    if let Some(reason) = skip_reason() {
        if std::env::var("DPDK_SYS_REQUIRE_TESTS").as_deref() == Ok("1") {
            panic!("DPDK tests required (DPDK_SYS_REQUIRE_TESTS=1) but cannot run: {reason}");
        }
        println!("SKIPPED dpdk-sys EAL test: {reason}");
        return;
    }

    let tap_iface = format!("dpdksys{}", std::process::id() % 100_000);
    let args = eal_args(&tap_iface);
    println!("EAL args: {}", args.join(" "));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let consumed = dpdk_sys::eal_init(&argv).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(consumed, argv.len() - 1, "EAL consumed every argument but the program name");
    println!("a second eal_init must fail with EALREADY (EAL logs \"FATAL: already called initialization\"):");
    assert_eq!(dpdk_sys::eal_init(&argv).map_err(|e| e.errno), Err(libc::EALREADY), "EAL initialises only once");

    // SAFETY: EAL is initialised; these only read its configuration.
    let (lcores, socket, huge) =
        unsafe { (ffi::rte_lcore_count(), ffi::rte_socket_id(), ffi::rte_eal_has_hugepages()) };
    // SAFETY: the shim reads this thread's lcore id; the main thread is lcore 0 with `-l 0`.
    assert_eq!(unsafe { ffi::dpdk_shim_lcore_id() }, 0);
    println!("EAL up: {lcores} lcore(s), socket {socket}, hugepages {}", huge != 0);
    // SAFETY: EAL is initialised.
    let ports = unsafe { ffi::rte_eth_dev_count_avail() };
    println!("{ports} port(s) available");
    assert_eq!(ports, 3, "net_ring0, net_null0 and net_tap0 were probed from the plugin directory");

    let pool = create_pool();
    mbuf_operations(pool);

    let ring = port_by_name("net_ring0");
    let null = port_by_name("net_null0");
    let tap = port_by_name("net_tap0");
    for port in [ring, null, tap] {
        start_port(port, pool);
    }
    ring_loopback(ring, pool);
    null_port(null, pool);
    tap_port(tap, &tap_iface, pool);

    for port in [ring, null, tap] {
        // SAFETY: the port was started above and no burst call is in flight.
        check("rte_eth_dev_stop", unsafe { ffi::rte_eth_dev_stop(port) });
        // SAFETY: the port is stopped; its queues (and any mbufs they hold) are released by close.
        check("rte_eth_dev_close", unsafe { ffi::rte_eth_dev_close(port) });
    }
    // SAFETY: EAL is initialised and the pool pointer is live.
    let (avail, in_use) = unsafe { (ffi::rte_mempool_avail_count(pool), ffi::rte_mempool_in_use_count(pool)) };
    println!("after closing the ports: {avail} mbufs free, {in_use} in use");
    assert_eq!((avail, in_use), (POOL_SIZE, 0), "every mbuf came back to the pool");
    // SAFETY: every mbuf is back in the pool and no port refers to it any more (all closed).
    unsafe { ffi::rte_mempool_free(pool) };
    // SAFETY: ports closed, pool freed, no other thread uses DPDK, and nothing below calls DPDK.
    unsafe { dpdk_sys::eal_cleanup() }.unwrap_or_else(|e| panic!("{e}"));
    println!("EAL cleaned up");
    // EAL leaves its runtime directory behind, empty (with --no-telemetry), even with --in-memory / --no-shconf.
    let runtime_dir = format!("/var/run/dpdk/{}", file_prefix());
    match std::fs::remove_dir(&runtime_dir) {
        Ok(()) => println!("removed {runtime_dir}"),
        Err(e) => println!("could not remove {runtime_dir}: {e}"),
    }
}

/// This process's EAL `--file-prefix`: unique per process, so concurrent DPDK processes never share state.
fn file_prefix() -> String {
    format!("dpdk-sys-test-{}", std::process::id())
}

/// Why the test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!("needs root (euid is {euid}): EAL and net_tap need it"));
    }
    None
}

/// EAL arguments: one lcore, no PCI bus (no PCI device can be bound on these machines), no telemetry socket, no
/// files left behind (`--in-memory`), a file prefix of our own so concurrent DPDK processes never share state,
/// hugepages if mounted, and the three virtual devices.
fn eal_args(tap_iface: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["dpdk-sys-test", "-l", "0", "--no-pci", "--no-telemetry", "--log-level=lib.eal:notice"]
            .into_iter()
            .map(str::to_owned)
            .collect();
    args.push(format!("--file-prefix={}", file_prefix()));
    if hugepages_usable() {
        println!("memory: hugepages (hugetlbfs at /dev/hugepages), --in-memory");
        args.push("--in-memory".to_owned());
    } else {
        // --no-huge implies legacy memory mode, which EAL refuses to combine with --in-memory; --no-shconf keeps
        // the other half of --in-memory (no shared configuration files).
        println!("memory: --no-huge -m 512 --no-shconf (no usable hugetlbfs mount, or DPDK_SYS_NO_HUGE=1)");
        args.extend(["--no-huge", "-m", "512", "--no-shconf"].map(str::to_owned));
    }
    args.push("--vdev=net_ring0".to_owned());
    args.push("--vdev=net_null0".to_owned());
    args.push(format!("--vdev=net_tap0,iface={tap_iface}"));
    args
}

/// Whether hugetlbfs is mounted at /dev/hugepages with at least 256 free 2 MiB pages (512 MiB).
fn hugepages_usable() -> bool {
    if std::env::var("DPDK_SYS_NO_HUGE").as_deref() == Ok("1") {
        return false;
    }
    let mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/hugepages") && l.contains("hugetlbfs"))
    });
    let free = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("HugePages_Free:").and_then(|v| v.trim().parse::<u64>().ok()))
    });
    mounted && free.is_some_and(|f| f >= 256)
}

/// Panics with DPDK's message when a control-path call returned a negative errno.
fn check(function: &'static str, ret: i32) {
    if ret < 0 {
        panic!("{}", DpdkError::new(function, ret));
    }
}

fn create_pool() -> *mut ffi::rte_mempool {
    let name = CString::new("dpdk_sys_test").expect("no NUL");
    let data_room = u16::try_from(ffi::RTE_MBUF_DEFAULT_BUF_SIZE).expect("default buffer size fits u16");
    // SAFETY: EAL is initialised; the name is a valid C string (DPDK copies it).
    let pool = unsafe {
        ffi::rte_pktmbuf_pool_create(name.as_ptr(), POOL_SIZE, 32, 0, data_room, ffi::rte_socket_id() as i32)
    };
    assert!(!pool.is_null(), "{}", DpdkError::from_rte_errno("rte_pktmbuf_pool_create"));
    // SAFETY: the pool is live.
    assert_eq!(unsafe { ffi::rte_mempool_avail_count(pool) }, POOL_SIZE);
    pool
}

/// Allocates one mbuf, panicking on an empty pool.
fn alloc(pool: *mut ffi::rte_mempool) -> *mut ffi::rte_mbuf {
    // SAFETY: the pool is a live pktmbuf pool.
    let m = unsafe { ffi::dpdk_shim_pktmbuf_alloc(pool) };
    assert!(!m.is_null(), "rte_pktmbuf_alloc: pool empty");
    m
}

/// The bytes of a one-segment mbuf's data.
///
/// # Safety
///
/// `m` must be a live mbuf that nobody writes to while the slice exists.
unsafe fn data<'a>(m: *mut ffi::rte_mbuf) -> &'a [u8] {
    // SAFETY: mtod points at data_len initialised bytes of the first segment, live while `m` is (caller's promise).
    unsafe { std::slice::from_raw_parts(ffi::dpdk_shim_pktmbuf_mtod(m).cast::<u8>(), usize::from((*m).data_len)) }
}

/// Appends `bytes` to the end of a one-segment mbuf.
fn append(m: *mut ffi::rte_mbuf, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("test data fits u16");
    // SAFETY: `m` is a live mbuf owned by the test.
    let dst = unsafe { ffi::dpdk_shim_pktmbuf_append(m, len) };
    assert!(!dst.is_null(), "rte_pktmbuf_append: no tailroom for {len} bytes");
    // SAFETY: append returned room for `len` bytes inside the mbuf's buffer, disjoint from `bytes`.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len()) };
}

/// Prepends `bytes` to the front of an mbuf, into its headroom.
fn prepend(m: *mut ffi::rte_mbuf, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("test data fits u16");
    // SAFETY: `m` is a live mbuf owned by the test.
    let dst = unsafe { ffi::dpdk_shim_pktmbuf_prepend(m, len) };
    assert!(!dst.is_null(), "rte_pktmbuf_prepend: no headroom for {len} bytes");
    // SAFETY: prepend returned room for `len` bytes inside the mbuf's buffer, disjoint from `bytes`.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len()) };
}

fn free(m: *mut ffi::rte_mbuf) {
    // SAFETY: callers pass a live mbuf (chain) they own a reference to and do not use it afterwards.
    unsafe { ffi::dpdk_shim_pktmbuf_free(m) };
}

/// The shim's mbuf functions on their own, no port involved.
fn mbuf_operations(pool: *mut ffi::rte_mempool) {
    // append / adj / trim.
    let m = alloc(pool);
    let bytes: Vec<u8> = (0..100).collect();
    append(m, &bytes);
    // SAFETY: `m` is live and owned here (same for every unsafe block in this function that names it).
    let adjusted = unsafe { ffi::dpdk_shim_pktmbuf_adj(m, 10) };
    assert!(!adjusted.is_null());
    // SAFETY: as above.
    assert_eq!(unsafe { ffi::dpdk_shim_pktmbuf_trim(m, 20) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { ffi::dpdk_shim_pktmbuf_trim(m, 1000) }, -1, "cannot trim more than the data");
    // SAFETY: as above; no writes while the slice lives.
    assert_eq!(unsafe { data(m) }, &bytes[10..80]);
    // SAFETY: as above.
    let (pkt_len, headroom) = unsafe { ((*m).pkt_len, ffi::dpdk_shim_pktmbuf_headroom(m)) };
    assert_eq!(pkt_len, 70);
    assert_eq!(u32::from(headroom), ffi::RTE_PKTMBUF_HEADROOM + 10);
    // SAFETY: as above.
    let too_much = unsafe { ffi::dpdk_shim_pktmbuf_prepend(m, headroom + 1) };
    assert!(too_much.is_null(), "prepend beyond the headroom fails");
    free(m);

    // chain: two segments, freed together.
    let (head, tail) = (alloc(pool), alloc(pool));
    append(head, &[1; 10]);
    append(tail, &[2; 20]);
    // SAFETY: both are live single-segment mbufs owned here; on success `tail` belongs to `head`.
    assert_eq!(unsafe { ffi::dpdk_shim_pktmbuf_chain(head, tail) }, 0);
    // SAFETY: `head` is live.
    let (nb_segs, pkt_len, next) = unsafe { ((*head).nb_segs, (*head).pkt_len, (*head).next) };
    assert_eq!((nb_segs, pkt_len, next), (2, 30, tail));
    free(head);

    // Reference counts: a second reference keeps the mbuf alive through one free.
    let m = alloc(pool);
    // SAFETY: `m` is live and owned here.
    assert_eq!(unsafe { ffi::dpdk_shim_mbuf_refcnt_read(m) }, 1);
    // SAFETY: as above; we now hold two references.
    assert_eq!(unsafe { ffi::dpdk_shim_mbuf_refcnt_update(m, 1) }, 2);
    free(m);
    // SAFETY: one reference is still held, so `m` is live.
    assert_eq!(unsafe { ffi::dpdk_shim_mbuf_refcnt_read(m) }, 1);
    free(m);

    // External buffer: a chain whose second segment is our memory, released through the callback once the
    // last reference to the mbuf goes; and the TX offload lengths (bitfields) and a pseudo-header checksum.
    external_buffer(pool);

    // Bulk allocation.
    let mut bulk = [ptr::null_mut::<ffi::rte_mbuf>(); 8];
    // SAFETY: the array has room for 8 pointers.
    assert_eq!(unsafe { ffi::dpdk_shim_pktmbuf_alloc_bulk(pool, bulk.as_mut_ptr(), 8) }, 0);
    bulk.into_iter().for_each(free);

    // SAFETY: the pool is live.
    assert_eq!(unsafe { ffi::rte_mempool_avail_count(pool) }, POOL_SIZE, "mbuf operations leaked nothing");
    println!("mbufs: append/adj/trim/prepend/chain/refcnt/extbuf/tx lengths/bulk alloc checked, nothing leaked");
}

/// How often `count_release` ran (the test is one thread).
static RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The external buffer's free callback: counts its calls.
unsafe extern "C" fn count_release(_addr: *mut std::ffi::c_void, opaque: *mut std::ffi::c_void) {
    assert!(!opaque.is_null());
    RELEASED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn external_buffer(pool: *mut ffi::rte_mempool) {
    let mut payload = *b"external bytes, not copied";
    let mut shinfo = ffi::rte_mbuf_ext_shared_info {
        free_cb: Some(count_release),
        fcb_opaque: payload.as_mut_ptr().cast(),
        refcnt: 0,
    };
    let (head, ext) = (alloc(pool), alloc(pool));
    append(head, &[0x45; 34]);
    let len = payload.len() as u16;
    // SAFETY: `ext` is a fresh direct mbuf; `payload` and `shinfo` outlive it (it is freed below, in this
    // function); the IOVA is unused by anything here.
    unsafe {
        ffi::dpdk_shim_mbuf_ext_refcnt_set(&mut shinfo, 1);
        ffi::dpdk_shim_pktmbuf_attach_extbuf(ext, payload.as_mut_ptr().cast(), u64::MAX, len, &mut shinfo);
        assert!(!ffi::dpdk_shim_pktmbuf_append(ext, len).is_null(), "the attached bytes become the data");
        assert_eq!(data(ext), b"external bytes, not copied");
        assert_eq!(ffi::dpdk_shim_pktmbuf_chain(head, ext), 0);
        assert_eq!(ffi::dpdk_shim_pktmbuf_is_contiguous(head), 0, "two segments");
        assert_eq!((*head).pkt_len, 34 + u32::from(len));
        ffi::dpdk_shim_mbuf_set_tx_lengths(head, 14, 20);
        assert_eq!((ffi::dpdk_shim_mbuf_l2_len(head), ffi::dpdk_shim_mbuf_l3_len(head)), (14, 20));
        // A second reference to the external segment: freeing the chain must not release the buffer yet.
        ffi::dpdk_shim_mbuf_refcnt_update(ext, 1);
    }
    free(head);
    assert_eq!(RELEASED.load(std::sync::atomic::Ordering::SeqCst), 0, "still referenced");
    free(ext);
    assert_eq!(RELEASED.load(std::sync::atomic::Ordering::SeqCst), 1, "released once, with the last reference");

    // The pseudo-header sum of 10.0.0.1 -> 10.0.0.2, TCP, 40 bytes of segment, against a hand computation:
    // 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0006 + 0x0028 = 0x1431 (stored in network byte order).
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&60u16.to_be_bytes());
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    // SAFETY: a 20-byte IPv4 header; DPDK reads it as `struct rte_ipv4_hdr` (packed, any alignment).
    let sum = unsafe { ffi::dpdk_shim_ipv4_phdr_cksum(ip.as_ptr().cast(), 0) };
    assert_eq!(sum.to_ne_bytes(), 0x1431u16.to_be_bytes());
}

fn port_by_name(name: &str) -> u16 {
    let c_name = CString::new(name).expect("no NUL");
    let mut port = 0u16;
    // SAFETY: valid C string and a valid out-pointer.
    check("rte_eth_dev_get_port_by_name", unsafe { ffi::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut port) });
    port
}

/// Configures a port with one RX and one TX queue and default settings, starts it, and enables promiscuous mode.
fn start_port(port: u16, pool: *mut ffi::rte_mempool) {
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: valid port and out-pointer.
    check("rte_eth_dev_info_get", unsafe { ffi::rte_eth_dev_info_get(port, &mut info) });
    // SAFETY: driver_name is a static C string owned by the driver.
    let driver = unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy();
    let conf = ffi::rte_eth_conf::default();
    // SAFETY: valid port, stopped, and a valid configuration (all defaults).
    check("rte_eth_dev_configure", unsafe { ffi::rte_eth_dev_configure(port, 1, 1, &conf) });
    // SAFETY: valid port; the socket id is read only. -1 (unknown) becomes SOCKET_ID_ANY, as DPDK expects.
    // (`as` keeps the bit pattern: -1 is 0xffff_ffff, SOCKET_ID_ANY in the `unsigned` parameters below.)
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port) } as u32;
    // SAFETY: configured port with one RX queue; NULL rxconf means the driver's defaults; the pool outlives the port.
    check("rte_eth_rx_queue_setup", unsafe {
        ffi::rte_eth_rx_queue_setup(port, 0, RING_SIZE, socket, ptr::null(), pool)
    });
    // SAFETY: configured port with one TX queue; NULL txconf means the driver's defaults.
    check("rte_eth_tx_queue_setup", unsafe { ffi::rte_eth_tx_queue_setup(port, 0, RING_SIZE, socket, ptr::null()) });
    // SAFETY: all queues are set up.
    check("rte_eth_dev_start", unsafe { ffi::rte_eth_dev_start(port) });
    // SAFETY: started port.
    let promiscuous = unsafe { ffi::rte_eth_promiscuous_enable(port) };
    assert!(promiscuous == 0 || promiscuous == -libc::ENOTSUP, "{}", DpdkError::new("promiscuous", promiscuous));

    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: valid port and out-pointer.
    check("rte_eth_macaddr_get", unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) });
    let mut link = ffi::rte_eth_link::default();
    // SAFETY: valid port and out-pointer.
    check("rte_eth_link_get_nowait", unsafe { ffi::rte_eth_link_get_nowait(port, &mut link) });
    let mut link_text = [0 as std::ffi::c_char; 128];
    // SAFETY: the buffer is 128 bytes, as passed; link is initialised.
    check("rte_eth_link_to_str", unsafe { ffi::rte_eth_link_to_str(link_text.as_mut_ptr(), link_text.len(), &link) });
    // SAFETY: rte_eth_link_to_str NUL-terminated the buffer.
    let link_text = unsafe { CStr::from_ptr(link_text.as_ptr()) }.to_string_lossy();
    println!(
        "port {port}: driver {driver}, mac {}, max rx/tx queues {}/{}, tx offloads {:#x}, rx offloads {:#x}, promiscuous {}, \
         {link_text}",
        mac_string(&mac.addr_bytes),
        info.max_rx_queues,
        info.max_tx_queues,
        info.tx_offload_capa,
        info.rx_offload_capa,
        if promiscuous == 0 { "on" } else { "not supported" },
    );
}

fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// An Ethernet frame: `dst`, a locally administered source MAC numbered `i`, the test EtherType, and a payload of
/// `46 + i` bytes whose every byte depends on `i` and its position.
fn frame(dst: [u8; 6], i: usize) -> (Vec<u8>, Vec<u8>) {
    let mut header = dst.to_vec();
    header.extend_from_slice(&[0x02, 0, 0, 0, 0, u8::try_from(i).expect("small i")]);
    header.extend_from_slice(&ETHERTYPE_TEST.to_be_bytes());
    let payload = (0..46 + i).map(|j| u8::try_from((i * 31 + j) % 251).expect("< 251")).collect();
    (header, payload)
}

/// Sends every mbuf in `mbufs` on queue 0, retrying a full ring a bounded number of times; returns how many went.
fn tx_all(port: u16, mbufs: &mut [*mut ffi::rte_mbuf]) -> usize {
    let mut sent = 0;
    for _ in 0..1000 {
        if sent == mbufs.len() {
            break;
        }
        let count = u16::try_from(mbufs.len() - sent).expect("burst fits u16");
        // SAFETY: started port with TX queue 0; the slice holds `count` live mbufs from `sent` on, which the driver
        // takes over (we never touch the ones it accepted again).
        sent += usize::from(unsafe { ffi::dpdk_shim_eth_tx_burst(port, 0, mbufs[sent..].as_mut_ptr(), count) });
    }
    sent
}

/// Receives up to `want` mbufs from queue 0, polling a bounded number of times.
fn rx_up_to(port: u16, want: usize) -> Vec<*mut ffi::rte_mbuf> {
    let mut received = vec![ptr::null_mut(); want];
    let mut got = 0;
    for _ in 0..1000 {
        if got == want {
            break;
        }
        let count = u16::try_from(want - got).expect("burst fits u16");
        // SAFETY: started port with RX queue 0; the slice has room for `count` pointers from `got` on.
        got += usize::from(unsafe { ffi::dpdk_shim_eth_rx_burst(port, 0, received[got..].as_mut_ptr(), count) });
    }
    received.truncate(got);
    received
}

/// net_ring loops its TX queue back to its RX queue: frames built with append + prepend come back byte for byte.
fn ring_loopback(port: u16, pool: *mut ffi::rte_mempool) {
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: valid port and out-pointer.
    check("rte_eth_macaddr_get", unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) });
    let mut expected = Vec::with_capacity(FRAMES);
    let mut mbufs = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let (header, payload) = frame(mac.addr_bytes, i);
        let m = alloc(pool);
        append(m, &payload);
        prepend(m, &header);
        // SAFETY: `m` is live and owned here.
        let (data_len, pkt_len, headroom) =
            unsafe { ((*m).data_len, (*m).pkt_len, ffi::dpdk_shim_pktmbuf_headroom(m)) };
        assert_eq!(usize::from(data_len), header.len() + payload.len());
        assert_eq!(pkt_len, u32::from(data_len));
        assert_eq!(u32::from(headroom), ffi::RTE_PKTMBUF_HEADROOM - 14, "the header went into the headroom");
        expected.push([header, payload].concat());
        mbufs.push(m);
    }
    let sent = tx_all(port, &mut mbufs);
    assert_eq!(sent, FRAMES, "net_ring accepted every frame");
    let received = rx_up_to(port, FRAMES);
    assert_eq!(received.len(), FRAMES, "net_ring looped every frame back");
    for (i, (&m, want)) in received.iter().zip(&expected).enumerate() {
        // SAFETY: a received mbuf is live and ours until freed; nothing writes to it.
        let (got, nb_segs, pkt_len) = unsafe { (data(m), (*m).nb_segs, (*m).pkt_len) };
        assert_eq!(nb_segs, 1);
        assert_eq!(pkt_len as usize, want.len());
        assert_eq!(got, want.as_slice(), "frame {i} came back unchanged");
        free(m);
    }
    println!("net_ring: {FRAMES} frames (60-91 bytes) sent with tx_burst, received with rx_burst, bytes identical");
}

/// net_null accepts and drops whatever is sent, and "receives" empty packets allocated from our pool.
fn null_port(port: u16, pool: *mut ffi::rte_mempool) {
    let mut mbufs: Vec<_> = (0..8).map(|_| alloc(pool)).collect();
    for &m in &mbufs {
        append(m, &[0xAB; 64]);
    }
    assert_eq!(tx_all(port, &mut mbufs), 8, "net_null accepted every frame");
    let received = rx_up_to(port, 8);
    assert_eq!(received.len(), 8, "net_null produced a burst");
    received.into_iter().for_each(free);
    println!("net_null: tx_burst of 8 accepted, rx_burst produced 8");
}

/// net_tap creates a Linux tap interface: the kernel sees it, and frames sent on the port are accepted.
fn tap_port(port: u16, iface: &str, pool: *mut ffi::rte_mempool) {
    let sysfs = format!("/sys/class/net/{iface}");
    assert!(std::path::Path::new(&sysfs).exists(), "net_tap created the kernel interface {iface}");
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: valid port and out-pointer.
    check("rte_eth_macaddr_get", unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) });
    let kernel_mac = std::fs::read_to_string(format!("{sysfs}/address")).unwrap_or_default();
    assert_eq!(kernel_mac.trim(), mac_string(&mac.addr_bytes), "DPDK and the kernel agree on the tap's MAC");
    let mut mbufs: Vec<_> = (0..4)
        .map(|i| {
            let (header, payload) = frame([0xFF; 6], i);
            let m = alloc(pool);
            append(m, &[header, payload].concat());
            m
        })
        .collect();
    assert_eq!(tx_all(port, &mut mbufs), 4, "net_tap accepted every frame");
    // The kernel may send its own frames to the tap (IPv6 router solicitations): take whatever is there and free it.
    let received = rx_up_to(port, 16);
    let count = received.len();
    received.into_iter().for_each(free);
    println!(
        "net_tap: kernel interface {iface} has MAC {}, tx_burst of 4 accepted, {count} frame(s) from the kernel",
        mac_string(&mac.addr_bytes)
    );
}
