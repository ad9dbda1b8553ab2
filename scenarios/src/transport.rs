//! The simulated transport: madsim TCP wrapped so that bytes are attributed to
//! (source AZ, destination AZ) pairs and inter-AZ latency is added. Connections to or
//! from the Kafka port count as client traffic in their own meter (`kafka_meter`); the
//! rest (control plane, agent-to-agent) in `meter`.

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
    /// Port of the agents' Kafka listener: connections to it are client traffic.
    pub kafka_port: u16,
    pub kafka_meter: NetMeter,
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
            let stream = TcpStream::connect(addr).await?;
            let kafka = addr.port() == me.kafka_port;
            Ok(me.wrap(stream, addr, kafka))
        })
    }

    fn accepted(&self, stream: TcpStream, peer: SocketAddr) -> Conn {
        let kafka = stream
            .local_addr()
            .is_ok_and(|a| a.port() == self.kafka_port);
        self.wrap(stream, peer, kafka)
    }
}
