//! The simulated transport: madsim TCP wrapped so that bytes are attributed to
//! (source AZ, destination AZ) pairs and inter-AZ latency is added. Connections to or
//! from the Kafka port count as client traffic in their own meter (`kafka_meter`); the
//! rest (control plane, agent-to-agent) in `meter`.
//!
//! Connections a server accepts also pass through [`ReplyLossStream`]: while a reply-loss
//! fault is aimed at the server's address, the connection breaks with the fault's
//! probability at each response write (after the request was served) and at each read of a
//! request (the request reaches the server, which serves it, but the caller sees the
//! connection end at once, while its request is still being served: a retry then races the
//! original). Either way the caller's outcome is unknown: it must not report a definite
//! failure, nor, retrying, apply the request twice.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use eddy_controlplane::net::{Conn, Transport};
use eddy_sim::{AzMap, MeteredStream, NetMeter, NetProfile};
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection attempt that took this long was held by madsim's BUGGIFY (a simulated
/// connect otherwise takes about one network latency, under a millisecond within an AZ).
const CONNECT_HELD: std::time::Duration = std::time::Duration::from_millis(500);

/// Reply-loss faults in force: the probability that a server at this address loses a
/// response (the chaos runner sets and clears them).
pub type ReplyLoss = Arc<Mutex<BTreeMap<IpAddr, f64>>>;

/// A server's end of a connection, losing responses while a reply-loss fault is aimed at it.
pub struct ReplyLossStream {
    /// The connection; dropped when it breaks, so that the caller's end sees it close at
    /// once (madsim's `shutdown` does nothing).
    inner: Option<Conn>,
    server: IpAddr,
    faults: ReplyLoss,
}

impl ReplyLossStream {
    /// Whether the connection breaks now (drawn only while a fault is aimed at the server).
    fn breaks_now(&mut self) -> bool {
        let rate = eddy_controlplane::sync::lock(&self.faults)
            .get(&self.server)
            .copied()
            .unwrap_or(0.0);
        // No draw without a fault: runs without reply loss keep their random streams.
        rate > 0.0 && rand::Rng::gen_bool(&mut madsim::rand::thread_rng(), rate.min(1.0))
    }
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "reply lost (simulated fault)",
    )
}

impl AsyncRead for ReplyLossStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(reset()));
        };
        let before = buf.filled().len();
        let read = Pin::new(inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before && this.breaks_now() {
            // The request goes on to the server, which serves it; the caller's end closes
            // now, while it is being served.
            this.inner = None;
        }
        read
    }
}

impl AsyncWrite for ReplyLossStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.inner.is_some() && !buf.is_empty() && this.breaks_now() {
            // The request was served; its response is lost with the connection.
            this.inner = None;
        }
        match this.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_write(cx, buf),
            None => Poll::Ready(Err(reset())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Err(reset())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[derive(Clone)]
pub struct SimTransport {
    pub local_az: String,
    pub azs: AzMap,
    pub meter: NetMeter,
    pub profile: NetProfile,
    /// Port of the agents' Kafka listener: connections to it are client traffic.
    pub kafka_port: u16,
    pub kafka_meter: NetMeter,
    /// Reply-loss faults, checked by connections this node accepts.
    pub reply_loss: ReplyLoss,
}

impl SimTransport {
    fn wrap(&self, stream: TcpStream, peer: SocketAddr, kafka: bool) -> Conn {
        let peer_az = self.azs.az_of_or_unknown(&peer.ip());
        Box::new(MeteredStream::new(
            stream,
            self.local_az.clone(),
            peer_az,
            if kafka {
                &self.kafka_meter
            } else {
                &self.meter
            },
            &self.profile,
        ))
    }
}

impl Transport for SimTransport {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Conn>> {
        let me = self.clone();
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let stream = TcpStream::connect(addr).await?;
            // madsim's BUGGIFY holds one connect or accept in ten for 1–4 s (its network
            // otherwise connects within microseconds). A Kafka client held so is a fault of
            // no family on the client's side, reported like the product's own BUGGIFY delays
            // so that verdicts of quiet time know of it. Connections between the system's own
            // nodes (zone cache, control plane) are not excused: riding out a slow connect
            // there (kept connections, hedged reads) is the product's job.
            let held = started.elapsed();
            if addr.port() == me.kafka_port && held >= CONNECT_HELD {
                eddy_probe::was_delayed("sim.net.connect", held.as_millis() as u64);
            }
            let kafka = addr.port() == me.kafka_port;
            Ok(me.wrap(stream, addr, kafka))
        })
    }

    fn accepted(&self, stream: TcpStream, peer: SocketAddr) -> Conn {
        let local = stream.local_addr().ok();
        let kafka = local.is_some_and(|a| a.port() == self.kafka_port);
        let conn = self.wrap(stream, peer, kafka);
        match local {
            Some(local) => Box::new(ReplyLossStream {
                inner: Some(conn),
                server: local.ip(),
                faults: self.reply_loss.clone(),
            }),
            None => conn,
        }
    }
}
