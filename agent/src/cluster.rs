//! The agent's view of the cluster: which agents are alive (from control-plane heartbeats),
//! which topics exist (cached from the control plane), and zone-aware routing of clients.
//!
//! Clients keep the partition leaders of a Metadata answer until something fails (Kafka
//! clients refresh only every `metadata.max.age.ms`, 5 minutes by default), so an answer
//! computed from a partial view of the agents pins them to a few agents for minutes. When a
//! cluster starts, agents learn about each other one heartbeat at a time; the view is
//! *settled* once two heartbeat answers in a row list the same agents, and Metadata waits
//! (boundedly) for that.

use eddy_controlplane::sync::lock;
use std::collections::BTreeMap;
use std::sync::Mutex;

use eddy_controlplane::api::AgentInfo;

/// The AZ a client asks to be served from: `ws_az=<az>` (alias `warpstream_az=<az>`) in its
/// client id, among tokens separated by `,`, `;` or spaces.
pub fn client_az(client_id: &str) -> Option<&str> {
    client_id
        .split([',', ';', ' '])
        .filter_map(|token| token.split_once('='))
        .find(|(k, v)| (k.trim() == "ws_az" || k.trim() == "warpstream_az") && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// FNV-1a: a stable hash of a topic name, so that different topics start their leadership
/// rotation at different agents.
fn stable_hash(topic: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `brokers` in leadership order: the first agent (by node id) of every AZ (AZs by name),
/// then the second of every AZ, and so on. Consecutive positions therefore rotate through
/// the AZs, so any run of consecutive partitions is spread over AZs as well as agents.
fn rotation(brokers: &[AgentInfo]) -> Vec<&AgentInfo> {
    let mut by_az: BTreeMap<&str, Vec<&AgentInfo>> = BTreeMap::new();
    for a in brokers {
        by_az.entry(a.az.as_str()).or_default().push(a);
    }
    for agents in by_az.values_mut() {
        agents.sort_by_key(|a| a.node_id);
    }
    let depth = by_az.values().map(Vec::len).max().unwrap_or(0);
    (0..depth)
        .flat_map(|i| {
            by_az
                .values()
                .filter_map(move |agents| agents.get(i).copied())
        })
        .collect()
}

pub struct ClusterView {
    me: AgentInfo,
    agents: Mutex<Vec<AgentInfo>>,
    /// Heartbeat answers received so far that listed the same agents as the one before
    /// (0 until two in a row agree); `settled` turns true at the first agreement.
    settled: tokio::sync::watch::Sender<bool>,
    answers: Mutex<u64>,
    topics: Mutex<BTreeMap<String, i32>>,
}

impl ClusterView {
    pub fn new(me: AgentInfo) -> Self {
        ClusterView {
            agents: Mutex::new(vec![me.clone()]),
            me,
            settled: tokio::sync::watch::channel(false).0,
            answers: Mutex::new(0),
            topics: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether two heartbeat answers in a row have listed the same agents.
    pub fn is_settled(&self) -> bool {
        *self.settled.borrow()
    }

    /// Wait until the view is settled, at most `max`. Returns whether it is.
    pub async fn settled_within(&self, max: std::time::Duration) -> bool {
        let mut rx = self.settled.subscribe();
        let settled = tokio::time::timeout(max, rx.wait_for(|settled| *settled))
            .await
            .is_ok_and(|r| r.is_ok());
        settled
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
        let mut answers = lock(&self.answers);
        *answers += 1;
        let mut current = lock(&self.agents);
        if *answers >= 2 && *current == agents {
            self.settled.send_replace(true);
        }
        *current = agents;
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

    /// The agent presented as leader of a partition among `brokers` (-1 when empty), as
    /// Kafka spreads leaders over brokers: partitions go round-robin over the agents, in an
    /// order that alternates AZs (see [`rotation`]), from an agent chosen by the topic's
    /// name. So every agent leads `partitions / agents` partitions give or take one, and a
    /// client without a zone hint sends and reads about `(zones - 1) / zones` of its bytes
    /// across AZs, as with Kafka. The answer depends only on the set of agents, not on
    /// which agent computes it or on the order they are listed in: every agent gives the
    /// same answer for the same membership.
    pub fn leader(brokers: &[AgentInfo], topic: &str, partition: i32) -> i32 {
        let ring = rotation(brokers);
        if ring.is_empty() {
            return -1;
        }
        let n = ring.len() as u64;
        let slot = (stable_hash(topic) % n + u64::from(partition.unsigned_abs()) % n) % n;
        ring[slot as usize].node_id
    }

    pub fn cached_partitions(&self, topic: &str) -> Option<i32> {
        lock(&self.topics).get(topic).copied()
    }

    pub fn cache_topic(&self, topic: &str, partitions: i32) {
        lock(&self.topics).insert(topic.to_string(), partitions);
    }
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
        assert_eq!(ClusterView::leader(&[], "t", 0), -1);
    }

    fn agent(id: i32, az: &str) -> AgentInfo {
        AgentInfo {
            node_id: id,
            host: "h".into(),
            port: 1,
            az: az.into(),
        }
    }

    /// Partitions led per agent and per AZ for `partitions` partitions of `topic`.
    fn spread(
        brokers: &[AgentInfo],
        topic: &str,
        partitions: i32,
    ) -> (BTreeMap<i32, usize>, BTreeMap<String, usize>) {
        let (mut per_agent, mut per_az) = (BTreeMap::new(), BTreeMap::new());
        for p in 0..partitions {
            let leader = ClusterView::leader(brokers, topic, p);
            *per_agent.entry(leader).or_insert(0) += 1;
            let az = brokers
                .iter()
                .find(|a| a.node_id == leader)
                .unwrap()
                .az
                .clone();
            *per_az.entry(az).or_insert(0) += 1;
        }
        (per_agent, per_az)
    }

    #[test]
    fn the_view_settles_when_two_answers_agree() {
        let view = ClusterView::new(agent(1, "az1"));
        assert!(!view.is_settled());
        // The first answer equals the initial view (just this agent): not yet an agreement.
        view.set_agents(vec![agent(1, "az1")]);
        assert!(!view.is_settled());
        view.set_agents(vec![agent(1, "az1"), agent(2, "az2")]);
        assert!(!view.is_settled(), "membership still growing");
        view.set_agents(vec![agent(2, "az2"), agent(1, "az1")]);
        assert!(view.is_settled());
        // Later changes keep it settled (a crash must not block Metadata).
        view.set_agents(vec![agent(1, "az1")]);
        assert!(view.is_settled());
    }

    #[test]
    fn leadership_is_spread_evenly_over_agents_and_zones() {
        // 3 AZs x 2 agents, node ids grouped by AZ as the scenarios number them.
        let six: Vec<AgentInfo> = (1..=6)
            .map(|id| agent(id, ["az1", "az2", "az3"][((id - 1) / 2) as usize]))
            .collect();
        for topic in ["events", "orders", "t"] {
            let (per_agent, per_az) = spread(&six, topic, 12);
            assert_eq!(per_agent.len(), 6, "{topic}: {per_agent:?}");
            assert!(
                per_agent.values().all(|&n| n == 2),
                "{topic}: {per_agent:?}"
            );
            assert!(per_az.values().all(|&n| n == 4), "{topic}: {per_az:?}");
            // Fewer partitions than agents: still one per AZ before any AZ gets a second.
            let (_, per_az) = spread(&six, topic, 3);
            assert_eq!(per_az.len(), 3, "{topic}: {per_az:?}");
            // Not a multiple: no agent leads more than one partition above another.
            let (per_agent, _) = spread(&six, topic, 13);
            let (lo, hi) = (per_agent.values().min(), per_agent.values().max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "{topic}: {per_agent:?}");
        }
    }

    #[test]
    fn leadership_is_the_same_on_every_agent_and_stable() {
        let six: Vec<AgentInfo> = (1..=6)
            .map(|id| agent(id, ["az1", "az2", "az3"][((id - 1) / 2) as usize]))
            .collect();
        let mut shuffled = six.clone();
        shuffled.reverse();
        shuffled.swap(0, 3);
        for p in 0..24 {
            let a = ClusterView::leader(&six, "events", p);
            assert_eq!(a, ClusterView::leader(&shuffled, "events", p));
            assert_eq!(a, ClusterView::leader(&six, "events", p));
        }
        // Two agents' views built from the same heartbeat answer agree.
        let (v1, v2) = (
            ClusterView::new(six[0].clone()),
            ClusterView::new(six[5].clone()),
        );
        v1.set_agents(shuffled.clone());
        v2.set_agents(six.clone());
        for az in [None, Some("az1"), Some("az3"), Some("az9")] {
            for p in 0..12 {
                assert_eq!(
                    ClusterView::leader(&v1.agents_for(az), "events", p),
                    ClusterView::leader(&v2.agents_for(az), "events", p)
                );
            }
        }
    }

    #[test]
    fn zone_aware_leadership_stays_in_the_zone_and_is_spread() {
        let six: Vec<AgentInfo> = (1..=6)
            .map(|id| agent(id, ["az1", "az2", "az3"][((id - 1) / 2) as usize]))
            .collect();
        let view = ClusterView::new(six[0].clone());
        view.set_agents(six.clone());
        let az2 = view.agents_for(Some("az2"));
        let (per_agent, per_az) = spread(&az2, "events", 12);
        assert_eq!(per_agent, BTreeMap::from([(3, 6), (4, 6)]));
        assert_eq!(per_az.keys().collect::<Vec<_>>(), ["az2"]);
        // The zone empties: leadership falls back to the other zones, still spread.
        view.set_agents(six.iter().filter(|a| a.az != "az2").cloned().collect());
        let (per_agent, _) = spread(&view.agents_for(Some("az2")), "events", 12);
        assert_eq!(per_agent.len(), 4);
        assert!(per_agent.values().all(|&n| n == 3), "{per_agent:?}");
    }
}
