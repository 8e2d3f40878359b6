//! Big-endian field access shared by the packet views and emitters.
//!
//! Callers check lengths first (a view's `new_checked`, an emitter's `buffer_len()` check); these helpers only
//! spell out byte order. Not a general-purpose byte-buffer API.

use super::WireError;

/// The big-endian `u16` at `offset`.
#[inline]
pub(crate) fn read_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes([bytes[offset], bytes[offset + 1]])
}

/// The big-endian `u32` at `offset`.
#[inline]
pub(crate) fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]])
}

/// Writes `value` big-endian at `offset`.
#[inline]
pub(crate) fn write_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes `value` big-endian at `offset`.
#[inline]
pub(crate) fn write_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

/// `Err(Truncated)` unless `bytes` holds at least `len` bytes.
#[inline]
pub(crate) fn require_len(bytes: &[u8], len: usize) -> Result<(), WireError> {
    if bytes.len() < len { Err(WireError::Truncated) } else { Ok(()) }
}

/// The first `len` bytes of an output buffer, or `Err(BufferTooSmall)`.
#[inline]
pub(crate) fn output_prefix(buf: &mut [u8], len: usize) -> Result<&mut [u8], WireError> {
    buf.get_mut(..len).ok_or(WireError::BufferTooSmall)
}
