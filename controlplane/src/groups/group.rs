//! One group's state machine: members, generations, rebalances and session expiry. Pure:
//! time comes in as arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Empty,
    /// Waiting for members to (re)join until `deadline`; not before `not_before`.
    Joining {
        deadline: Instant,
        not_before: Instant,
    },
    /// Generation formed; waiting for the leader's assignment.
    Syncing,
    Stable,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) protocols: Vec<(String, Vec<u8>)>,
    pub(super) session_timeout: Duration,
    pub(super) rebalance_timeout: Duration,
    pub(super) last_seen: Instant,
    /// Rejoined during the current rebalance.
    pub(super) joined: bool,
    /// The JoinGroup answer, set when the rebalance it joined completes.
    pub(super) answer: Option<GroupResponse>,
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) generation: i32,
    pub(super) phase: Phase,
    pub(super) protocol_type: String,
    pub(super) protocol_name: String,
    pub(super) leader: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    pub(super) assignments: BTreeMap<String, Vec<u8>>,
}

impl Group {
    pub(crate) fn new(protocol_type: &str) -> Group {
        Group {
            generation: 0,
            phase: Phase::Empty,
            protocol_type: protocol_type.to_string(),
            protocol_name: String::new(),
            leader: None,
            members: BTreeMap::new(),
            assignments: BTreeMap::new(),
        }
    }

    pub(crate) fn start_rebalance(&mut self, now: Instant, initial: bool) {
        if matches!(self.phase, Phase::Joining { .. }) {
            return;
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        let not_before = if initial {
            now + Duration::from_millis(INITIAL_REBALANCE_DELAY_MS).min(timeout)
        } else {
            now
        };
        self.phase = Phase::Joining {
            deadline: now + timeout,
            not_before,
        };
        for m in self.members.values_mut() {
            m.joined = false;
            m.answer = None;
        }
        self.assignments.clear();
    }

    /// Finish a rebalance whose members all rejoined (or whose deadline passed). Returns
    /// whether anything changed.
    pub(crate) fn try_complete(&mut self, now: Instant) -> bool {
        let Phase::Joining {
            deadline,
            not_before,
        } = self.phase
        else {
            return false;
        };
        let all = self.members.values().all(|m| m.joined);
        if !((all && now >= not_before) || now >= deadline) {
            return false;
        }
        self.members.retain(|_, m| m.joined);
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.leader = None;
            self.generation += 1;
            return true;
        }
        // The protocol every member supports, in the leader's order of preference.
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let preference: Vec<String> = self
            .members
            .get(&leader)
            .map(|m| m.protocols.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        let chosen = preference
            .into_iter()
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .unwrap_or_default();
        self.generation += 1;
        self.protocol_name = chosen.clone();
        self.phase = Phase::Syncing;
        let roster: Vec<(String, Vec<u8>)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == chosen)
                    .map(|(_, md)| md.clone())
                    .unwrap_or_default();
                (id.clone(), meta)
            })
            .collect();
        let (generation, protocol_type) = (self.generation, self.protocol_type.clone());
        for (id, m) in self.members.iter_mut() {
            m.last_seen = now;
            m.answer = Some(GroupResponse::Joined {
                generation,
                protocol_type: protocol_type.clone(),
                protocol_name: chosen.clone(),
                leader: leader.clone(),
                member_id: id.clone(),
                members: if *id == leader {
                    roster.clone()
                } else {
                    Vec::new()
                },
            });
        }
        true
    }

    /// Kafka's name for the group's state.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Empty => "Empty",
            Phase::Joining { .. } => "PreparingRebalance",
            Phase::Syncing => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }

    /// Remove members whose session lapsed; rebalance if any did.
    pub(crate) fn expire(&mut self, now: Instant) -> bool {
        let before = self.members.len();
        let joining = matches!(self.phase, Phase::Joining { .. });
        self.members.retain(|_, m| {
            // A member waiting in JoinGroup is alive by definition.
            (joining && m.joined) || now.duration_since(m.last_seen) <= m.session_timeout
        });
        if self.members.len() == before {
            return false;
        }
        eddy_probe::hit("cp.group.member_expired");
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.leader = None;
        } else {
            self.start_rebalance(now, false);
        }
        true
    }
}
