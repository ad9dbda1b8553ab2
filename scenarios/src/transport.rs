//! The simulated transport: madsim TCP wrapped so that bytes are attributed to
//! (source AZ, destination AZ) pairs and inter-AZ latency is added.

use std::io;
use std::net::SocketAddr;

use eddy_controlplane::net::{Conn, Transport};
use eddy_sim::{AzMap, MeteredStream, NetMeter, NetProfile};
use futures::future::BoxFuture;
use tokio::net::TcpStream;

#[derive(Clone)]
pub struct SimTransport {
    pub local_az: String,
    pub azs: AzMap,
    pub meter: NetMeter,
    pub profile: NetProfile,
}

impl SimTransport {
    fn wrap(&self, stream: TcpStream, peer: SocketAddr) -> Conn {
        let peer_az = self.azs.az_of_or_unknown(&peer.ip());
        Box::new(MeteredStream::new(
            stream,
            self.local_az.clone(),
            peer_az,
            &self.meter,
            &self.profile,
        ))
    }
}

impl Transport for SimTransport {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Conn>> {
        let me = self.clone();
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(me.wrap(stream, addr))
        })
    }

    fn accepted(&self, stream: TcpStream, peer: SocketAddr) -> Conn {
        self.wrap(stream, peer)
    }
}
