//! `PcapWriter`: wraps a device and records every frame it receives or transmits in a pcap file (the
//! classic libpcap format, link type Ethernet), readable by tcpdump and Wireshark. Timestamps come from a
//! clock the caller provides, so simulated runs record virtual time; [`PcapSink::create`] writes a file
//! stamped with the wall clock (catnip's `pcap` setting).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use runtime::{DemiBuffer, Sga};

use crate::device::{Device, DeviceCapabilities};

const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65_535;

/// Where records go, and the clock that stamps them.
pub struct PcapSink {
    out: Box<dyn Write>,
    clock: Box<dyn Fn() -> std::time::Duration>,
    failed: bool,
}

impl std::fmt::Debug for PcapSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSink").field("failed", &self.failed).finish()
    }
}

impl PcapSink {
    /// Writes the file header. `clock` gives the time since the Unix epoch (or any epoch) of each record.
    pub fn new(mut out: Box<dyn Write>, clock: Box<dyn Fn() -> std::time::Duration>) -> std::io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_MICROSECONDS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out, clock, failed: false })
    }

    /// A new pcap file at `path` (replaced if it exists), its records stamped with the wall clock.
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let wall_clock = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::new(Box::new(file), Box::new(wall_clock))
    }

    /// Appends one frame. A write error stops recording (it never disturbs traffic).
    pub fn record(&mut self, segments: &[&[u8]]) {
        let record = self.encode(segments);
        self.write(&record);
    }

    /// One frame's record, stamped now: the record header and up to `SNAPLEN` bytes of the frame.
    fn encode(&self, segments: &[&[u8]]) -> Vec<u8> {
        let len: usize = segments.iter().map(|s| s.len()).sum();
        let captured = len.min(SNAPLEN as usize);
        let t = (self.clock)();
        let mut record = Vec::with_capacity(16 + captured);
        record.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        record.extend_from_slice(&t.subsec_micros().to_le_bytes());
        record.extend_from_slice(&(captured as u32).to_le_bytes());
        record.extend_from_slice(&(len as u32).to_le_bytes());
        for segment in segments {
            let room = 16 + captured - record.len();
            record.extend_from_slice(&segment[..segment.len().min(room)]);
        }
        record
    }

    /// Writes and flushes an encoded record, unless an earlier write failed.
    fn write(&mut self, record: &[u8]) {
        if !self.failed && self.out.write_all(record).and_then(|()| self.out.flush()).is_err() {
            self.failed = true;
        }
    }
}

#[derive(Debug)]
pub struct PcapWriter<D> {
    inner: D,
    sink: PcapSink,
}

impl<D: Device> PcapWriter<D> {
    pub fn new(inner: D, sink: PcapSink) -> Self {
        Self { inner, sink }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }
}

impl<D: Device> Device for PcapWriter<D> {
    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        let frame = self.inner.receive()?;
        self.sink.record(&[&frame]);
        Some(frame)
    }

    /// Records the frame once the device has taken it: a frame handed back (the device is full) is
    /// transmitted again later and recorded then.
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        let segments: Vec<&[u8]> = frame.segments().iter().map(|s| &s[..]).collect();
        let record = self.sink.encode(&segments);
        self.inner.transmit(frame)?;
        self.sink.write(&record);
        Ok(())
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::phy::Loopback;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_a_valid_pcap_file() {
        let bytes = Shared::default();
        let sink = PcapSink::new(Box::new(bytes.clone()), Box::new(|| std::time::Duration::new(1_700_000_000, 5_000)))
            .unwrap();
        let mut dev = PcapWriter::new(Loopback::new(8), sink);
        let mut frame = Sga::from_slice(&[0xaa; 20]).unwrap();
        frame.push_segment(DemiBuffer::from_slice(&[0xbb; 10]).unwrap());
        dev.transmit(frame).unwrap();
        let received = dev.receive().unwrap();
        assert_eq!(received.len(), 30);
        let file = bytes.0.borrow();
        assert_eq!(&file[..4], &MAGIC_MICROSECONDS.to_le_bytes());
        assert_eq!(file.len(), 24 + 2 * (16 + 30), "header + two records (tx and rx)");
        assert_eq!(u32::from_le_bytes(file[24..28].try_into().unwrap()), 1_700_000_000);
        assert_eq!(u32::from_le_bytes(file[28..32].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(file[32..36].try_into().unwrap()), 30);
        assert_eq!(&file[40..60], &[0xaa; 20]);
        assert_eq!(&file[60..70], &[0xbb; 10]);
    }

    #[test]
    fn a_frame_the_device_hands_back_is_recorded_when_it_goes_out() {
        let bytes = Shared::default();
        let sink = PcapSink::new(Box::new(bytes.clone()), Box::new(|| std::time::Duration::ZERO)).unwrap();
        let mut dev = PcapWriter::new(Loopback::new(1), sink);
        dev.transmit(Sga::from_slice(&[1; 14]).unwrap()).unwrap();
        let refused = dev.transmit(Sga::from_slice(&[2; 14]).unwrap()).unwrap_err();
        assert_eq!(bytes.0.borrow().len(), 24 + (16 + 14), "only the frame the device took");
        dev.receive().unwrap();
        dev.transmit(refused).unwrap();
        let file = bytes.0.borrow();
        assert_eq!(file.len(), 24 + 3 * (16 + 14), "sent, received, then the retried frame once");
        assert_eq!(&file[24 + 2 * 30 + 16..], &[2; 14]);
    }

    #[test]
    fn creates_a_file_stamped_with_the_wall_clock() {
        let path = std::env::temp_dir().join(format!("inetstack-pcap-{}.pcap", std::process::id()));
        let mut dev = PcapWriter::new(Loopback::new(1), PcapSink::create(&path).unwrap());
        dev.transmit(Sga::from_slice(&[3; 14]).unwrap()).unwrap();
        let file = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.len(), 24 + 16 + 14);
        let seconds = u32::from_le_bytes(file[24..28].try_into().unwrap());
        assert!(seconds > 1_700_000_000, "a wall-clock time: {seconds}");
        let missing = std::path::Path::new("/nonexistent-directory/x.pcap");
        assert_eq!(PcapSink::create(missing).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
