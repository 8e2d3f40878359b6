//! The coroutines behind catnip's qtokens: each asks the stack, and parks on its socket when the stack has
//! nothing for it yet; the network wakes it when that socket changes.

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::task::Poll;

use inetstack::stack::SocketId;
use inetstack::tcp::TcpState;
use pdpix::{Fail, QValue, Sga, SocketType};
use runtime::QueueTable;

use crate::network::{NetDevice, Network};
use crate::{Queue, SocketInfo};

pub(crate) async fn accept<D: NetDevice>(
    net: Rc<Network<D>>,
    id: SocketId,
    table: Rc<RefCell<QueueTable<Queue>>>,
) -> Result<QValue, Fail> {
    let (accepted, addr) = poll_fn(|cx| match net.with_stack(|stack, _| stack.tcp_accept(id)) {
        Ok(Some(found)) => Poll::Ready(Ok(found)),
        Ok(None) => {
            net.wait_on(id, cx.waker());
            Poll::Pending
        }
        Err(e) => Poll::Ready(Err(e)),
    })
    .await?;
    let info = SocketInfo::new(accepted, SocketType::Stream);
    let qd = table.borrow_mut().insert(Queue::Socket(Rc::new(info)))?;
    Ok(QValue::Accepted { qd, addr })
}

pub(crate) async fn connect<D: NetDevice>(net: Rc<Network<D>>, id: SocketId) -> Result<QValue, Fail> {
    poll_fn(|cx| {
        let outcome = net.with_stack(|stack, _| -> Result<Option<()>, Fail> {
            if let Some(error) = stack.tcp_error(id)? {
                return Err(error);
            }
            match stack.tcp_state(id)? {
                TcpState::SynSent | TcpState::SynReceived => Ok(None),
                TcpState::Closed => Err(Fail::new(libc::ECONNREFUSED, "connection closed during the handshake")),
                _ => Ok(Some(())),
            }
        });
        match outcome {
            Ok(Some(())) => Poll::Ready(Ok(QValue::Connected)),
            Ok(None) => {
                net.wait_on(id, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    })
    .await
}

/// Queues all of `sga` into the connection's send buffer, waiting for room as needed, after the pushes made
/// before it on this socket (`ticket`: see [`SocketInfo::push_ticket`]).
pub(crate) async fn push_stream<D: NetDevice>(
    net: Rc<Network<D>>,
    info: Rc<SocketInfo>,
    ticket: u64,
    sga: Sga,
) -> Result<QValue, Fail> {
    let id = info.id;
    let mut rest = sga;
    let result = poll_fn(|cx| {
        if info.push_serving.get() != ticket {
            net.wait_on(id, cx.waker());
            return Poll::Pending;
        }
        loop {
            let taken = net.with_stack(|stack, now| stack.tcp_send(now, id, &rest));
            match taken {
                Ok(n) if n >= rest.len() => return Poll::Ready(Ok(QValue::Pushed)),
                Ok(0) => {
                    net.wait_on(id, cx.waker());
                    return Poll::Pending;
                }
                Ok(n) => {
                    if let Err(e) = rest.split_front(n) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    })
    .await;
    // The next push's turn (it may be parked on the socket with nothing else to wake it).
    info.push_serving.set(ticket + 1);
    net.wake(id);
    result
}

pub(crate) async fn push_datagram<D: NetDevice>(
    net: Rc<Network<D>>,
    id: SocketId,
    sga: Sga,
    to: Option<SocketAddrV4>,
) -> Result<QValue, Fail> {
    net.with_stack(|stack, now| stack.udp_send(now, id, &sga, to))?;
    Ok(QValue::Pushed)
}

pub(crate) async fn pop<D: NetDevice>(
    net: Rc<Network<D>>,
    info: Rc<SocketInfo>,
    max_len: usize,
) -> Result<QValue, Fail> {
    poll_fn(|cx| {
        let got = net.with_stack(|stack, _| match info.kind {
            SocketType::Stream => stack.tcp_recv(info.id, max_len).map(|d| d.map(|sga| (sga, None))),
            SocketType::Datagram => stack.udp_recv(info.id, max_len).map(|d| d.map(|(sga, from)| (sga, Some(from)))),
        });
        match got {
            Ok(Some((sga, from))) => Poll::Ready(Ok(QValue::Popped { sga, from })),
            Ok(None) => {
                net.wait_on(info.id, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    })
    .await
}
