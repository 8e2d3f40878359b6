//! What the TCP benches drive: two stacks joined by an in-memory Ethernet link, one or more established
//! connections between them, on one thread, under one virtual clock. `inetstack_pair.rs` and
//! `smoltcp_pair.rs` implement it the same way, so the loops below measure both stacks with the same rules.
//!
//! Rules that keep the comparison fair:
//! - A round advances the virtual clock by 1 us, then runs the client (takes in every frame that reached it,
//!   runs due timers, sends everything it may) and then the server, the same way.
//! - The clock never jumps to one side's deadline alone: only when a round moved nothing (no frame, no byte
//!   delivered), it jumps to the earlier of the two stacks' deadlines, and the jump is counted (`stalls`).
//!   In a healthy run there are none; the benches print the count once per setup.
//! - With several connections the application reads every connection after every round, on both stacks (a
//!   poll-everything loop: neither stack's readiness list is used, smoltcp has none).

/// One client and one server stack with `connections()` established connections, numbered from 0.
pub trait TcpPair {
    /// How many connections the pair holds.
    fn connections(&self) -> usize;
    /// Queues up to `len` bytes on the client's socket of `connection`; returns how many the stack took.
    fn client_send(&mut self, connection: usize, len: usize) -> usize;
    /// Queues up to `len` bytes on the server's socket of `connection`; returns how many the stack took.
    fn server_send(&mut self, connection: usize, len: usize) -> usize;
    /// Takes (and drops, without copying) everything the client's sockets have received, reading every
    /// connection; returns the bytes.
    fn client_recv(&mut self) -> usize;
    /// Takes (and drops, without copying) everything the server's sockets have received, reading every
    /// connection; returns the bytes.
    fn server_recv(&mut self) -> usize;
    /// One round (see the module docs); returns how many frames the two stacks took in and sent.
    fn round(&mut self) -> usize;
    /// Moves the clock to the earlier of the two stacks' deadlines (if later than now) and counts a stall.
    fn skip_to_deadline(&mut self);
    /// Times the clock had to jump to a deadline since the pair was made.
    fn stalls(&self) -> u64;
    /// Frames taken in plus frames sent by both stacks since the pair was made.
    fn frames(&self) -> u64;
}

/// Moves `total` bytes from client to server on connection 0; returns when the server application has them all.
pub fn bulk<P: TcpPair>(pair: &mut P, total: usize) {
    let (mut sent, mut received) = (0, 0);
    while received < total {
        if sent < total {
            sent += pair.client_send(0, total - sent);
        }
        let moved = pair.round();
        let got = pair.server_recv();
        received += got;
        if moved == 0 && got == 0 {
            pair.skip_to_deadline();
        }
    }
}

/// One exchange: a request of `size` bytes from client to server on every connection, rounds until the server
/// application has read them all, then a response of `size` bytes back on every connection, rounds until every
/// client has read its response. With one connection, one request/response.
pub fn request_response<P: TcpPair>(pair: &mut P, size: usize) {
    transfer(pair, size, P::client_send, P::server_recv);
    transfer(pair, size, P::server_send, P::client_recv);
}

/// Sends `size` bytes on every connection and runs rounds until the receiving side has read them all.
/// Connections are filled in order (connection `sent / size` next, once the stack took all of the one before),
/// so one count says where the sending stands.
fn transfer<P: TcpPair>(pair: &mut P, size: usize, send: fn(&mut P, usize, usize) -> usize, recv: fn(&mut P) -> usize) {
    let total = pair.connections() * size;
    let (mut sent, mut received) = (0, 0);
    while received < total {
        while sent < total {
            let wanted = size - sent % size;
            let took = send(pair, sent / size, wanted);
            sent += took;
            if took < wanted {
                break;
            }
        }
        let moved = pair.round();
        let got = recv(pair);
        received += got;
        if moved == 0 && got == 0 {
            pair.skip_to_deadline();
        }
    }
}
