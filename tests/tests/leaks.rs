//! Nothing leaks: after many connections, failed calls and cancelled operations, the process holds the same
//! file descriptors and the runtime the same number of live tasks as before. (Alone in its own test binary,
//! so no other test opens descriptors meanwhile.)

use std::net::SocketAddrV4;
use std::time::Duration;

use demikernel::{Sga, SocketDomain, SocketType};
use demikernel_tests::{LOCALHOST, new_libos};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("procfs").count()
}

#[test]
fn descriptors_and_tasks_are_released() {
    let mut libos = new_libos();
    let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    libos.bind(listener, SocketAddrV4::new(LOCALHOST, 0)).unwrap();
    libos.listen(listener, 64).unwrap();
    let addr = libos.getsockname(listener).unwrap();
    let before = open_fds();
    let tasks_before = libos.runtime().scheduler().live();
    for _ in 0..300 {
        let client = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        let connect = libos.connect(client, addr).unwrap();
        let accept = libos.accept(listener).unwrap();
        let results = libos.wait_all(&[connect, accept], Some(Duration::from_secs(5))).unwrap();
        let Ok(demikernel::QValue::Accepted { qd: server_side, .. }) = results[1].value else { panic!() };
        let pending_pop = libos.pop(server_side, None).unwrap();
        let _ = libos.push(client, &Sga::new()); // EINVAL, must not leak
        libos.close(client).unwrap();
        libos.close(server_side).unwrap();
        libos.wait(pending_pop, Some(Duration::from_secs(1))).unwrap();
    }
    assert_eq!(open_fds(), before, "file descriptors leaked");
    assert_eq!(libos.runtime().scheduler().live(), tasks_before, "tasks leaked");
}
