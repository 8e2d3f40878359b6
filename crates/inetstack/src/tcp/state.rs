//! [`TcpState`]: the connection states of RFC 9293 §3.3.2, and which of them may send or receive data.
//!
//! Only names and predicates; the transitions live in the connection's input and output paths.

use std::fmt;

/// A connection state (RFC 9293 §3.3.2). `Listen` exists for completeness: listening sockets are kept by the
/// demultiplexer, and a [`super::TcpConnection`] never is in that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    /// Whether the handshake is over: sequence numbers of both sides are known (RFC 9293 "synchronized").
    pub fn is_synchronized(self) -> bool {
        !matches!(self, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
    }

    /// Whether the application may still queue data.
    pub fn can_send(self) -> bool {
        matches!(self, TcpState::Established | TcpState::CloseWait)
    }

    /// Whether the peer may still send us data (its FIN has not arrived).
    pub fn can_receive(self) -> bool {
        matches!(self, TcpState::SynReceived | TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_rfc_9293() {
        assert!(!TcpState::SynReceived.is_synchronized());
        assert!(TcpState::TimeWait.is_synchronized());
        assert!(TcpState::CloseWait.can_send() && !TcpState::FinWait1.can_send());
        assert!(TcpState::FinWait2.can_receive() && !TcpState::CloseWait.can_receive());
        assert_eq!(TcpState::FinWait1.to_string(), "FIN-WAIT-1");
    }
}
