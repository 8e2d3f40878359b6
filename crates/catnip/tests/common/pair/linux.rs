//! The Linux side of a pair, over loopback with `std::net`: the server's TCP echo and bulk receive and the
//! client's TCP part of the workload, with blocking sockets or with non-blocking ones that spin (as catnip does).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::figures::{report_bulk, report_round_trips};
use super::workload::{CHUNK, Workload, pattern, time_round_trips};

/// A TCP listener on loopback, on a port the kernel picks.
pub fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Reads at least one byte (0 at the end of the stream), spinning while a non-blocking socket has nothing.
fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match stream.read(buf) {
            Ok(n) => return n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => std::hint::spin_loop(),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Writes all of `data`, spinning while a non-blocking socket's buffer is full.
fn write_all(stream: &mut TcpStream, mut data: &[u8]) {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => std::hint::spin_loop(),
            Err(e) => panic!("write: {e}"),
        }
    }
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let k = read_some(stream, &mut got[filled..]);
        assert!(k > 0, "stream ended after {filled} of {n} bytes");
        filled += k;
    }
    got
}

/// No Nagle delay (catnip has none), and non-blocking if `spin`.
fn prepare(stream: &TcpStream, spin: bool) {
    stream.set_nodelay(true).unwrap();
    stream.set_nonblocking(spin).unwrap();
}

/// The server's TCP part: TCP echo on `echo` until the client closes, then a bulk receive of `bulk` bytes on
/// `bulk_listener`, answered as the catnip server answers. The receive buffer's pages are touched before the
/// clock starts, as in the catnip server.
pub fn serve_tcp(echo: &TcpListener, bulk_listener: &TcpListener, spin: bool, bulk: usize) {
    let (mut s, _) = echo.accept().unwrap();
    prepare(&s, spin);
    let mut buf = vec![0u8; 1 << 20];
    let mut echoed = 0;
    loop {
        let n = read_some(&mut s, &mut buf);
        if n == 0 {
            break;
        }
        echoed += n;
        write_all(&mut s, &buf[..n]);
    }
    println!("tcp echo: {echoed} bytes echoed");
    let (mut s, _) = bulk_listener.accept().unwrap();
    prepare(&s, spin);
    let mut data = vec![1u8; bulk];
    let mut filled = read_some(&mut s, &mut data);
    let first = Instant::now();
    while filled < bulk {
        let k = read_some(&mut s, &mut data[filled..]);
        assert!(k > 0, "bulk stream ended after {filled} of {bulk} bytes");
        filled += k;
    }
    let nanos = first.elapsed().as_nanos() as u64;
    let mut reply = Sha256::digest(&data).to_vec();
    reply.extend_from_slice(&nanos.to_le_bytes());
    write_all(&mut s, &reply);
    assert_eq!(read_some(&mut s, &mut buf), 0, "the client closes after the bulk reply");
    println!("bulk: {} MiB received, hashed", bulk >> 20);
}

/// The client's TCP part of `workload` against the Linux server's echo and bulk ports on loopback, printing its
/// figures. The echo checks use a blocking socket; the round trips and the bulk transfer spin if `spin`.
pub fn run_tcp_client(echo_port: u16, bulk_port: u16, spin: bool, workload: &Workload) {
    let mut s = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, echo_port)).unwrap();
    prepare(&s, false);
    for &size in workload.echo_sizes {
        let data = pattern(size, size as u64);
        // Write from a second handle on another thread: the echo of a large message would fill both buffers.
        let mut writer = s.try_clone().unwrap();
        let sent = data.clone();
        let writing = std::thread::spawn(move || writer.write_all(&sent).expect("write"));
        assert_eq!(read_exactly(&mut s, size), data, "{size}-byte echo");
        writing.join().expect("writer");
        println!("tcp echo {size} bytes ok");
    }
    s.set_nonblocking(spin).unwrap();
    let message = [b'x'; 64];
    let times = time_round_trips(workload.round_trips, || {
        write_all(&mut s, &message);
        read_exactly(&mut s, 64);
    });
    drop(s);
    report_round_trips("TCP", times);

    let n = workload.bulk;
    let (data, digest) = workload.bulk_data();
    let mut s = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, bulk_port)).unwrap();
    prepare(&s, spin);
    for chunk in data.chunks(CHUNK) {
        write_all(&mut s, chunk);
    }
    let reply = read_exactly(&mut s, 40);
    drop(s);
    report_bulk(n, &reply, &digest);
}
