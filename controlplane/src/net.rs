//! The transport seam: how agents and the control plane open and accept connections.
//!
//! Product code only ever talks through [`Transport`]; the plain implementation is TCP. The
//! simulator plugs in its own implementation (wrapping the same TCP streams) to add per-AZ
//! latency and to count the bytes that cross availability zones.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A bidirectional byte stream.
pub trait AsyncReadWrite: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncReadWrite for T {}

/// A boxed connection handed out by a [`Transport`].
pub type Conn = Box<dyn AsyncReadWrite>;

pub trait Transport: Send + Sync + 'static {
    /// Open a connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Conn>>;
    /// Wrap a connection accepted by a listener.
    fn accepted(&self, stream: TcpStream, peer: SocketAddr) -> Conn;
}

pub type DynTransport = Arc<dyn Transport>;

/// Plain TCP with Nagle off (Kafka and RPC traffic is request/response).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTcp;

impl Transport for PlainTcp {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Conn>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            set_nodelay(&stream);
            Ok(Box::new(stream) as Conn)
        })
    }

    fn accepted(&self, stream: TcpStream, _peer: SocketAddr) -> Conn {
        set_nodelay(&stream);
        Box::new(stream)
    }
}

#[cfg(not(madsim))]
fn set_nodelay(stream: &TcpStream) {
    // Best effort: a socket that refuses the option still works, only slower.
    let _ = stream.set_nodelay(true);
}

#[cfg(madsim)]
fn set_nodelay(_stream: &TcpStream) {
    // Simulated TCP has no Nagle algorithm: every flush is a message.
}
