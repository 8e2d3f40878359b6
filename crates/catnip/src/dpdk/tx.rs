//! Zero-copy transmit of payloads: a `DemiBuffer` lent to DPDK as an external-buffer mbuf.
//!
//! The stack builds each frame as a small header buffer followed by the payload, a view of the application's
//! pushed data (kept by TCP until acknowledged, so a segment may be sent more than once) or of a received
//! mbuf (an echo). The device copies the header into a fresh mbuf from its pool (tens of bytes, where the offload
//! metadata and pseudo-header checksum go) and, instead of copying the payload behind it, attaches the
//! payload's own bytes to a second mbuf with `rte_pktmbuf_attach_extbuf` and chains the two.
//!
//! Lifetime: the attached mbuf carries a [`TxPin`], a clone of the payload's `DemiBuffer` (a reference count,
//! not a copy) plus the `rte_mbuf_ext_shared_info` DPDK needs. The driver frees the mbuf when it is done with it
//! (memif and af_packet right after copying it out in `tx_burst`, a NIC after its DMA completes, `close` for
//! whatever is still in the ring); DPDK then calls [`release_pin`], which drops the clone. So the bytes stay
//! alive and unmodified (a shared `DemiBuffer` is read-only) while the driver may still read them, however
//! often TCP retransmits the segment and whatever the application does with its own references.
//!
//! Which memory may be attached: DPDK memory always (its IOVA is known; received mbufs live there), heap memory
//! only when the driver copies with the CPU from virtual addresses ([`PortOffloads::cpu_copy`]): a DMA engine or
//! a process sharing DPDK's memory (vhost-user, memif in zero-copy mode) cannot reach the heap.
//!
//! Not here: attaching a received mbuf indirectly (`rte_pktmbuf_attach`): the external-buffer path covers it.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use dpdk_sys::ffi;
use runtime::DemiBuffer;

use super::offload::PortOffloads;

/// DPDK's "no IO address" (`RTE_BAD_IOVA`, a cast macro bindgen cannot evaluate).
const BAD_IOVA: ffi::rte_iova_t = ffi::rte_iova_t::MAX;

/// Payloads shorter than this are copied behind the header: for a few dozen bytes a copy costs less than a
/// second mbuf, a `TxPin` allocation and a longer chain for the driver to walk (64-byte round trips stay as
/// fast as before).
pub(crate) const ZERO_COPY_MIN: usize = 256;

/// Payload buffers currently attached to mbufs the driver has not freed yet (one DPDK device per process, so
/// one counter). Zero once the port is closed, or something leaked.
static TX_PINNED: AtomicUsize = AtomicUsize::new(0);

/// How many payload buffers DPDK still holds for transmission.
pub fn tx_pinned() -> usize {
    TX_PINNED.load(Ordering::Acquire)
}

/// What keeps an attached payload alive: DPDK's shared-info block (its reference count and free callback) and
/// our reference to the bytes. Boxed, so the shared info has a stable address while DPDK points at it.
struct TxPin {
    shinfo: ffi::rte_mbuf_ext_shared_info,
    /// `None` only while the pin waits in [`SPARE_PINS`].
    payload: Option<DemiBuffer>,
}

/// Most released pins kept for reuse (one per frame in flight is plenty: the TX ring holds 1024).
const SPARE_PINS_MAX: usize = 1024;

thread_local! {
    /// Released pins, reused so that a zero-copy frame costs no allocation. Per thread: pins are taken and
    /// released on the device's thread (see `release_pin`).
    // Boxes, not values: each pin's address is handed to DPDK, and reusing the box is the point.
    #[allow(clippy::vec_box)]
    static SPARE_PINS: RefCell<Vec<Box<TxPin>>> = const { RefCell::new(Vec::new()) };
}

/// DPDK's free callback for an attached payload: drops the pin (and with it our reference to the bytes).
///
/// # Safety
///
/// `opaque` must be a `TxPin` leaked by [`attach`], and DPDK calls this once, when the shared info's reference
/// count reaches zero, on the thread that owns the device (the only lcore: frees happen inside its `tx_burst`
/// and `close` calls), so the `Rc` inside the `DemiBuffer` is not shared across threads.
unsafe extern "C" fn release_pin(_addr: *mut c_void, opaque: *mut c_void) {
    // SAFETY: the caller's promise: `opaque` came from `Box::into_raw` in `attach` and is released once.
    let mut pin = unsafe { Box::from_raw(opaque.cast::<TxPin>()) };
    let payload = pin.payload.take();
    TX_PINNED.fetch_sub(1, Ordering::AcqRel);
    // Keep the box for the next frame (`try_with`: not during thread teardown; `try_borrow_mut`: never while
    // `attach` holds the list, though it does not call into DPDK meanwhile).
    let _ = SPARE_PINS.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < SPARE_PINS_MAX
        {
            spare.push(pin);
        }
    });
    // Last: dropping our reference may give a received mbuf back to its pool.
    drop(payload);
}

/// The IO address to give DPDK for `payload`, or `None` if the driver could not reach its memory.
pub(crate) fn payload_iova(offloads: &PortOffloads, payload: &DemiBuffer) -> Option<ffi::rte_iova_t> {
    if offloads.cpu_copy {
        // The driver copies from the virtual address and never looks at the IOVA.
        return Some(BAD_IOVA);
    }
    let ptr = payload.as_ptr().cast::<c_void>();
    // SAFETY: both only look the address up in EAL's memory map; any address is allowed.
    unsafe {
        if ffi::rte_mem_virt2memseg_list(ptr).is_null() {
            return None;
        }
        let iova = ffi::rte_mem_virt2iova(ptr);
        (iova != BAD_IOVA).then_some(iova)
    }
}

/// A fresh mbuf from `pool` whose data is `payload`'s bytes, not a copy: `None` if the pool is empty or the
/// payload is longer than an mbuf segment can describe (64 KiB). The payload stays referenced until DPDK frees
/// the mbuf (see the module docs).
///
/// # Safety
///
/// `pool` must be a live pktmbuf pool, and `iova` what [`payload_iova`] said for this payload on this port.
pub(crate) unsafe fn attach(
    pool: NonNull<ffi::rte_mempool>,
    payload: &DemiBuffer,
    iova: ffi::rte_iova_t,
) -> Option<*mut ffi::rte_mbuf> {
    let len = u16::try_from(payload.len()).ok()?;
    // SAFETY: a live pool (caller's promise).
    let m = unsafe { ffi::dpdk_shim_pktmbuf_alloc(pool.as_ptr()) };
    if m.is_null() {
        return None;
    }
    let spare = SPARE_PINS.try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop())).ok().flatten();
    let mut pin = spare.unwrap_or_else(|| {
        Box::new(TxPin {
            shinfo: ffi::rte_mbuf_ext_shared_info {
                free_cb: Some(release_pin),
                fcb_opaque: std::ptr::null_mut(),
                refcnt: 0,
            },
            payload: None,
        })
    });
    pin.payload = Some(payload.clone());
    let pin = Box::into_raw(pin);
    TX_PINNED.fetch_add(1, Ordering::AcqRel);
    // SAFETY: `pin` is a live, uniquely owned box until `release_pin` frees it; `m` is a fresh direct mbuf with
    // one reference, as attach_extbuf requires; the payload's bytes stay valid and unwritten while the pin holds
    // its clone (a shared `DemiBuffer` is read-only), which lasts until DPDK calls `release_pin` on freeing
    // `m`. `append` then claims the attached `len` bytes as the mbuf's data (buf_len = len, data_off = 0).
    unsafe {
        (*pin).shinfo.fcb_opaque = pin.cast();
        ffi::dpdk_shim_mbuf_ext_refcnt_set(&mut (*pin).shinfo, 1);
        let bytes = payload.as_mut_ptr().cast::<c_void>();
        ffi::dpdk_shim_pktmbuf_attach_extbuf(m, bytes, iova, len, &mut (*pin).shinfo);
        if ffi::dpdk_shim_pktmbuf_append(m, len).is_null() {
            // Cannot happen (the tailroom is exactly `len`); freeing `m` calls `release_pin`.
            ffi::dpdk_shim_pktmbuf_free(m);
            return None;
        }
    }
    Some(m)
}
