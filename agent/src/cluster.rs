//! The agent's view of the cluster: which agents are alive (from control-plane heartbeats),
//! which topics exist (cached from the control plane), and zone-aware routing of clients.

use std::collections::BTreeMap;
use std::sync::Mutex;

use eddy_controlplane::AgentInfo;

/// The AZ a client asks to be served from: `ws_az=<az>` (alias `warpstream_az=<az>`) in its
/// client id, among tokens separated by `,`, `;` or spaces.
pub fn client_az(client_id: &str) -> Option<&str> {
    client_id
        .split([',', ';', ' '])
        .filter_map(|token| token.split_once('='))
        .find(|(k, v)| (k.trim() == "ws_az" || k.trim() == "warpstream_az") && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// FNV-1a: a stable hash to spread partition leadership across agents.
fn stable_hash(topic: &str, partition: i32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes().chain(partition.to_be_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub struct ClusterView {
    me: AgentInfo,
    agents: Mutex<Vec<AgentInfo>>,
    topics: Mutex<BTreeMap<String, i32>>,
}

impl ClusterView {
    pub fn new(me: AgentInfo) -> Self {
        ClusterView {
            agents: Mutex::new(vec![me.clone()]),
            me,
            topics: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn me(&self) -> &AgentInfo {
        &self.me
    }

    /// Replace the list of live agents (always keeping this one: it is serving).
    pub fn set_agents(&self, mut agents: Vec<AgentInfo>) {
        if !agents.iter().any(|a| a.node_id == self.me.node_id) {
            agents.push(self.me.clone());
        }
        agents.sort_by_key(|a| a.node_id);
        agents.dedup_by_key(|a| a.node_id);
        *lock(&self.agents) = agents;
    }

    /// Agents a client in `az` should talk to: those of its zone when the zone has any,
    /// otherwise all of them.
    pub fn agents_for(&self, az: Option<&str>) -> Vec<AgentInfo> {
        let all = lock(&self.agents).clone();
        match az {
            Some(az) => {
                let local: Vec<AgentInfo> = all.iter().filter(|a| a.az == az).cloned().collect();
                if local.is_empty() {
                    all
                } else {
                    local
                }
            }
            None => all,
        }
    }

    /// Live agents of this agent's AZ (itself included): the zone cache's ring.
    pub fn zone_agents(&self) -> Vec<AgentInfo> {
        lock(&self.agents)
            .iter()
            .filter(|a| a.az == self.me.az)
            .cloned()
            .collect()
    }

    /// The agent presented as leader of a partition, among `brokers` (non-empty).
    pub fn leader(brokers: &[AgentInfo], topic: &str, partition: i32) -> i32 {
        if brokers.is_empty() {
            return -1;
        }
        brokers[(stable_hash(topic, partition) % brokers.len() as u64) as usize].node_id
    }

    pub fn cached_partitions(&self, topic: &str) -> Option<i32> {
        lock(&self.topics).get(topic).copied()
    }

    pub fn cache_topic(&self, topic: &str, partitions: i32) {
        lock(&self.topics).insert(topic.to_string(), partitions);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zone_from_client_id() {
        assert_eq!(client_az("app,ws_az=az2"), Some("az2"));
        assert_eq!(
            client_az("warpstream_az=us-east-1a;x=y"),
            Some("us-east-1a")
        );
        assert_eq!(client_az("ws_az= "), None);
        assert_eq!(client_az("plain-client"), None);
    }

    #[test]
    fn falls_back_to_all_zones_when_a_zone_is_empty() {
        let a = |id, az: &str| AgentInfo {
            node_id: id,
            host: "h".into(),
            port: 1,
            az: az.into(),
        };
        let view = ClusterView::new(a(1, "az1"));
        view.set_agents(vec![a(2, "az2"), a(3, "az2")]);
        assert_eq!(view.agents_for(Some("az2")).len(), 2);
        assert_eq!(view.agents_for(Some("az3")).len(), 3);
        let leader = ClusterView::leader(&view.agents_for(Some("az2")), "t", 0);
        assert!(leader == 2 || leader == 3);
    }
}
