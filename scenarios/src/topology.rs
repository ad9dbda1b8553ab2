//! The simulated deployment: which node runs what, in which AZ, at which address.
//!
//! Addresses: zone `i` (1-based) owns `10.0.i.0/24`; control-plane replicas are `.2+k`
//! (replica `r` in zone `(first + r) mod zones`, `k` its rank in that zone), agents
//! `.10+k`, producers `.100+k`, transactional producers `.120+k`, consumers `.150+k`,
//! pipeline members `.200+k`, the drain reader `.250`. The object
//! storage service runs on its own node (`10.0.0.1`) so that an operation in flight
//! completes on the storage side even when its caller dies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::spec::Scenario;

pub const AGENT_PORT: u16 = 9092;
pub const CONTROLPLANE_PORT: u16 = 7000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub az: String,
    pub ip: IpAddr,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub storage: NodeSpec,
    /// Control-plane replicas, one per AZ round-robin from `controlplane_az`.
    pub controlplanes: Vec<NodeSpec>,
    /// (node, Kafka broker id)
    pub agents: Vec<(NodeSpec, i32)>,
    pub producers: Vec<NodeSpec>,
    pub consumers: Vec<NodeSpec>,
    /// Transactional producers and pipeline members (`workload.transactions`).
    pub txn_producers: Vec<NodeSpec>,
    pub pipelines: Vec<NodeSpec>,
    pub drain: NodeSpec,
}

fn ip(zone: usize, host: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, zone as u8, host as u8))
}

impl Layout {
    pub fn new(s: &Scenario) -> Layout {
        let t = &s.topology;
        let zone_index = |az: &str| t.azs.iter().position(|a| a == az).map_or(1, |i| i + 1);
        let node = |name: String, az: &str, host: usize| NodeSpec {
            name,
            az: az.to_string(),
            ip: ip(zone_index(az), host),
        };
        let mut agents = Vec::new();
        let mut producers = Vec::new();
        let mut consumers = Vec::new();
        let mut txn_producers = Vec::new();
        let mut pipelines = Vec::new();
        let x = &s.workload.transactions;
        for az in &t.azs {
            for k in 0..x.producers_per_az {
                txn_producers.push(node(format!("txn-{az}-{k}"), az, 120 + k));
            }
            for k in 0..x.pipeline_per_az {
                pipelines.push(node(format!("pipeline-{az}-{k}"), az, 200 + k));
            }
            for k in 0..t.agents_per_az {
                let id = agents.len() as i32 + 1;
                agents.push((node(format!("agent-{az}-{k}"), az, 10 + k), id));
            }
            for k in 0..t.producers_per_az {
                producers.push(node(format!("producer-{az}-{k}"), az, 100 + k));
            }
            for k in 0..t.consumers_per_az {
                consumers.push(node(format!("consumer-{az}-{k}"), az, 150 + k));
            }
        }
        let first = t
            .azs
            .iter()
            .position(|a| *a == t.controlplane_az)
            .unwrap_or(0);
        let mut controlplanes = Vec::new();
        for r in 0..t.controlplane_replicas.max(1) {
            let az = &t.azs[(first + r) % t.azs.len()];
            let rank = r / t.azs.len();
            controlplanes.push(node(format!("controlplane-{r}"), az, 2 + rank));
        }
        Layout {
            storage: NodeSpec {
                name: "object-storage".into(),
                az: "region".into(),
                ip: ip(0, 1),
            },
            controlplanes,
            agents,
            producers,
            consumers,
            txn_producers,
            pipelines,
            drain: node("drain".into(), &t.azs[0], 250),
        }
    }

    /// Every replica's address, in replica order (agents get all of them).
    pub fn controlplane_addrs(&self) -> Vec<SocketAddr> {
        self.controlplanes
            .iter()
            .map(|n| SocketAddr::new(n.ip, CONTROLPLANE_PORT))
            .collect()
    }

    /// Bootstrap servers for a client in `az`: the agents of that zone (all if none there).
    pub fn bootstrap(&self, az: &str) -> Vec<String> {
        let local: Vec<String> = self
            .agents
            .iter()
            .filter(|(n, _)| n.az == az)
            .map(|(n, _)| format!("{}:{AGENT_PORT}", n.ip))
            .collect();
        if local.is_empty() {
            self.agents
                .iter()
                .map(|(n, _)| format!("{}:{AGENT_PORT}", n.ip))
                .collect()
        } else {
            local
        }
    }

    pub fn all_nodes(&self) -> Vec<&NodeSpec> {
        let mut v = vec![&self.storage];
        v.extend(self.controlplanes.iter());
        v.extend(self.agents.iter().map(|(n, _)| n));
        v.extend(self.producers.iter());
        v.extend(self.consumers.iter());
        v.extend(self.txn_producers.iter());
        v.extend(self.pipelines.iter());
        v.push(&self.drain);
        v
    }
}
