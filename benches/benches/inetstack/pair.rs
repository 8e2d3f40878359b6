//! What the TCP benches drive: two stacks joined by an in-memory Ethernet link, one connection between them,
//! on one thread, under one virtual clock. `inetstack_pair.rs` and `smoltcp_pair.rs` implement it the same way,
//! so the loops below measure both stacks with the same rules.
//!
//! Rules that keep the comparison fair:
//! - A round advances the virtual clock by 1 us, then runs the client (takes in every frame that reached it,
//!   runs due timers, sends everything it may) and then the server, the same way.
//! - The clock never jumps to one side's deadline alone: only when a round moved nothing (no frame, no byte
//!   delivered), it jumps to the earlier of the two stacks' deadlines, and the jump is counted (`stalls`).
//!   In a healthy run there are none; the benches print the count once per setup.

/// One client and one server stack with an established connection.
pub trait TcpPair {
    /// Queues up to `len` bytes on the client's socket; returns how many the stack took.
    fn client_send(&mut self, len: usize) -> usize;
    /// Queues up to `len` bytes on the server's socket; returns how many the stack took.
    fn server_send(&mut self, len: usize) -> usize;
    /// Takes (and drops, without copying) everything the client's socket has received; returns the bytes.
    fn client_recv(&mut self) -> usize;
    /// Takes (and drops, without copying) everything the server's socket has received; returns the bytes.
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

/// Moves `total` bytes from client to server; returns when the server application has them all.
pub fn bulk<P: TcpPair>(pair: &mut P, total: usize) {
    let (mut sent, mut received) = (0, 0);
    while received < total {
        if sent < total {
            sent += pair.client_send(total - sent);
        }
        let moved = pair.round();
        let got = pair.server_recv();
        received += got;
        if moved == 0 && got == 0 {
            pair.skip_to_deadline();
        }
    }
}

/// One request of `size` bytes from client to server and a response of `size` bytes back.
pub fn request_response<P: TcpPair>(pair: &mut P, size: usize) {
    transfer(pair, size, P::client_send, P::server_recv);
    transfer(pair, size, P::server_send, P::client_recv);
}

fn transfer<P: TcpPair>(pair: &mut P, size: usize, send: fn(&mut P, usize) -> usize, recv: fn(&mut P) -> usize) {
    let (mut sent, mut received) = (0, 0);
    while received < size {
        if sent < size {
            sent += send(pair, size - sent);
        }
        let moved = pair.round();
        let got = recv(pair);
        received += got;
        if moved == 0 && got == 0 {
            pair.skip_to_deadline();
        }
    }
}
