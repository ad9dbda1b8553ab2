//! Consumer-group coordination (Kafka's classic protocol) for every agent: membership,
//! generations and assignments are soft state held here (lost on a control-plane restart
//! and rebuilt when members rejoin, which they do on UNKNOWN_MEMBER_ID); committed offsets
//! are journaled commands, so they survive.
//!
//! Only the leader coordinates, and only for the epoch it leads: every group request is
//! answered under the lease (a follower, or a leader whose lease lapsed, answers
//! `NotLeader` so agents go to the leader), and the soft state belongs to one epoch. A
//! replica that leads again later starts with no groups: members it knew in an earlier
//! epoch may have joined another leader's groups since, and must rejoin.
//!
//! Timeouts: a member not heard from (join, sync, heartbeat) for its session timeout is
//! removed and the group rebalances; a rebalance waits for every known member to rejoin for
//! at most the largest rebalance timeout, then goes on without the missing ones.
//!
//! It never blocks the control plane: waits are on a change counter with deadlines.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::server::ControlPlane;
use crate::sync::lock;
use crate::types::GroupOffset;

/// Bounds on member timeouts (Kafka's `group.min/max.session.timeout.ms` defaults).
pub const SESSION_TIMEOUT_MS_MIN: u64 = 1_000;
pub const SESSION_TIMEOUT_MS_MAX: u64 = 1_800_000;
/// How long the first rebalance of an empty group waits for more members (Kafka's
/// `group.initial.rebalance.delay.ms` is 3 s; shorter here, the workload starts at once).
pub const INITIAL_REBALANCE_DELAY_MS: u64 = 500;
/// Most members per group: bounds the JoinGroup answer the leader gets.
pub const MEMBERS_MAX: usize = 1_000;
/// Period of the session-expiry sweep.
const SWEEP_MS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRequest {
    Join {
        group: String,
        /// Empty for a new member: the coordinator assigns one.
        member_id: String,
        client_id: String,
        /// Where the member connects from, as Kafka shows it (`/10.0.1.5`); for DescribeGroups.
        #[serde(default)]
        client_host: String,
        protocol_type: String,
        /// (protocol name, metadata) in the member's order of preference.
        protocols: Vec<(String, Vec<u8>)>,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
    },
    Sync {
        group: String,
        member_id: String,
        generation: i32,
        /// The leader's assignment: (member id, assignment bytes); empty from followers.
        assignments: Vec<(String, Vec<u8>)>,
    },
    Heartbeat {
        group: String,
        member_id: String,
        generation: i32,
    },
    Leave {
        group: String,
        member_ids: Vec<String>,
    },
    /// Commit offsets. `generation` < 0 commits without membership (a simple consumer).
    CommitOffsets {
        group: String,
        member_id: String,
        generation: i32,
        offsets: Vec<GroupOffset>,
    },
    /// Committed offsets of `partitions` (all of the group's when `None`).
    FetchOffsets {
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// Every group: those with members and those with committed offsets only.
    List,
    /// State, protocol and members of each group (unknown groups are `Dead`).
    Describe { groups: Vec<String> },
}

/// One group in a [`GroupResponse::Listed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListing {
    pub group: String,
    /// Empty for a group that only has committed offsets (as in Kafka).
    pub protocol_type: String,
    /// Kafka's group state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Stable` (or `Dead` for a group nobody knows).
    pub state: String,
}

/// One group in a [`GroupResponse::Described`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    /// The chosen assignment protocol (`range`, …) once the group is stable; else empty.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One member in a [`GroupDescription`]. Metadata and assignment are filled in only while
/// the group is stable, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

impl GroupRequest {
    /// How long the coordinator may legitimately hold this request (JoinGroup and
    /// SyncGroup wait for the other members): RPC clients add it to their timeout.
    pub fn wait_hint(&self) -> Duration {
        match self {
            GroupRequest::Join {
                rebalance_timeout_ms,
                ..
            } => Duration::from_millis((*rebalance_timeout_ms).min(SESSION_TIMEOUT_MS_MAX)),
            GroupRequest::Sync { .. } => Duration::from_millis(SESSION_TIMEOUT_MS_MIN * 60),
            _ => Duration::ZERO,
        }
    }
}

/// Why a group request was refused; the agent maps these to Kafka error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupError {
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
    InconsistentGroupProtocol,
    InvalidSessionTimeout,
    GroupMaxSizeReached,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupResponse {
    Joined {
        generation: i32,
        protocol_type: String,
        protocol_name: String,
        leader: String,
        member_id: String,
        /// Every member with its metadata for the chosen protocol (the leader only).
        members: Vec<(String, Vec<u8>)>,
    },
    Synced {
        protocol_type: String,
        protocol_name: String,
        assignment: Vec<u8>,
    },
    Done,
    Offsets {
        /// (topic, partition, offset or -1)
        offsets: Vec<GroupOffset>,
    },
    Listed {
        groups: Vec<GroupListing>,
    },
    Described {
        groups: Vec<GroupDescription>,
    },
    Error(GroupError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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
struct Member {
    client_id: String,
    client_host: String,
    protocols: Vec<(String, Vec<u8>)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    /// Rejoined during the current rebalance.
    joined: bool,
    /// The JoinGroup answer, set when the rebalance it joined completes.
    answer: Option<GroupResponse>,
}

#[derive(Debug)]
struct Group {
    generation: i32,
    phase: Phase,
    protocol_type: String,
    protocol_name: String,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    assignments: BTreeMap<String, Vec<u8>>,
}

impl Group {
    fn new(protocol_type: &str) -> Group {
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

    fn start_rebalance(&mut self, now: Instant, initial: bool) {
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
    fn try_complete(&mut self, now: Instant) -> bool {
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
    fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Empty => "Empty",
            Phase::Joining { .. } => "PreparingRebalance",
            Phase::Syncing => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }

    /// Remove members whose session lapsed; rebalance if any did.
    fn expire(&mut self, now: Instant) -> bool {
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

#[derive(Default)]
struct Groups {
    /// The leadership epoch `groups` belong to.
    epoch: u64,
    groups: BTreeMap<String, Group>,
    next_member: u64,
}

/// The coordinator of every group. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    groups: Arc<Mutex<Groups>>,
    /// Bumped on every change; waiters re-check their condition.
    changed: Arc<watch::Sender<u64>>,
    /// Serializes commits and offset fetches per group, so a fetch sees every commit that
    /// was accepted before it (a new owner never starts below an accepted commit).
    offset_locks: Arc<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Distinguishes member ids of this coordinator from those of an earlier one.
    incarnation: u32,
    /// Planted bugs (off by default; see [`crate::plants`]).
    plants: crate::plants::Plants,
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl Coordinator {
    /// A coordinator with no groups, and its session-expiry sweep.
    pub fn new() -> Coordinator {
        Coordinator::with_plants(crate::plants::Plants::none())
    }

    /// A coordinator running with planted bugs (tests of the testbed only).
    pub fn with_plants(plants: crate::plants::Plants) -> Coordinator {
        let (changed, _) = watch::channel(0);
        let c = Coordinator {
            groups: Arc::new(Mutex::new(Groups::default())),
            changed: Arc::new(changed),
            offset_locks: Arc::new(Mutex::new(BTreeMap::new())),
            incarnation: madsim::rand::random::<u32>(),
            plants,
        };
        let sweeper = c.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(SWEEP_MS)).await;
                sweeper.sweep();
            }
        });
        c
    }

    fn sweep(&self) {
        let now = Instant::now();
        let mut any = false;
        {
            let mut g = lock(&self.groups);
            for group in g.groups.values_mut() {
                any |= group.expire(now);
                any |= group.try_complete(now);
            }
        }
        if any {
            self.bump();
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Make the soft state that of `epoch` (the epoch this replica leads now): the groups of
    /// an earlier epoch are forgotten, and their waiting members told they are unknown.
    fn enter_epoch(&self, epoch: u64) {
        let reset = {
            let mut all = lock(&self.groups);
            if all.epoch == epoch {
                false
            } else {
                if !all.groups.is_empty() {
                    eddy_probe::hit("cp.group.epoch_reset");
                }
                all.epoch = epoch;
                all.groups.clear();
                true
            }
        };
        if reset {
            self.bump();
        }
    }

    /// Whether the soft state is that of `epoch`.
    fn in_epoch(&self, epoch: u64) -> bool {
        lock(&self.groups).epoch == epoch
    }

    /// Number of members of `group` (tests, reports).
    pub fn members(&self, group: &str) -> usize {
        lock(&self.groups)
            .groups
            .get(group)
            .map_or(0, |g| g.members.len())
    }

    #[allow(clippy::too_many_arguments)]
    async fn join(
        &self,
        group: String,
        member_id: String,
        client_id: String,
        client_host: String,
        protocol_type: String,
        protocols: Vec<(String, Vec<u8>)>,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
    ) -> GroupResponse {
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&session_timeout_ms) {
            return GroupResponse::Error(GroupError::InvalidSessionTimeout);
        }
        if protocols.is_empty() {
            return GroupResponse::Error(GroupError::InconsistentGroupProtocol);
        }
        let rebalance_timeout_ms = rebalance_timeout_ms.clamp(1, SESSION_TIMEOUT_MS_MAX);
        let mut rx = self.changed.subscribe();
        let now = Instant::now();
        let member_id = {
            let mut all = lock(&self.groups);
            let next = all.next_member;
            let g = all
                .groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&protocol_type));
            if g.members.is_empty() {
                g.protocol_type = protocol_type.clone();
            } else if g.protocol_type != protocol_type
                || !protocols.iter().any(|(n, _)| {
                    g.members
                        .values()
                        .all(|m| m.protocols.iter().any(|(o, _)| o == n))
                })
            {
                return GroupResponse::Error(GroupError::InconsistentGroupProtocol);
            }
            let id = if member_id.is_empty() {
                if g.members.len() >= MEMBERS_MAX {
                    return GroupResponse::Error(GroupError::GroupMaxSizeReached);
                }
                format!("{client_id}-{:08x}-{next}", self.incarnation)
            } else if g.members.contains_key(&member_id) {
                member_id
            } else {
                eddy_probe::hit("cp.group.join_unknown_member");
                return GroupResponse::Error(GroupError::UnknownMemberId);
            };
            let initial = g.members.is_empty();
            g.members.insert(
                id.clone(),
                Member {
                    client_id,
                    client_host,
                    protocols,
                    session_timeout: Duration::from_millis(session_timeout_ms),
                    rebalance_timeout: Duration::from_millis(rebalance_timeout_ms),
                    last_seen: now,
                    joined: false,
                    answer: None,
                },
            );
            g.start_rebalance(now, initial);
            if let Some(m) = g.members.get_mut(&id) {
                m.joined = true;
            }
            g.try_complete(now);
            all.next_member += 1;
            id
        };
        self.bump();
        loop {
            let deadline = {
                let mut all = lock(&self.groups);
                let Some(g) = all.groups.get_mut(&group) else {
                    return GroupResponse::Error(GroupError::UnknownMemberId);
                };
                g.try_complete(Instant::now());
                let Some(m) = g.members.get_mut(&member_id) else {
                    return GroupResponse::Error(GroupError::UnknownMemberId);
                };
                if let Some(answer) = m.answer.take() {
                    return answer;
                }
                match g.phase {
                    Phase::Joining { deadline, .. } => deadline,
                    _ => Instant::now() + Duration::from_millis(SWEEP_MS),
                }
            };
            rx.borrow_and_update();
            let wait = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(wait, rx.changed()).await;
        }
    }

    async fn sync(
        &self,
        group: String,
        member_id: String,
        generation: i32,
        assignments: Vec<(String, Vec<u8>)>,
    ) -> GroupResponse {
        let mut rx = self.changed.subscribe();
        let deadline = {
            let mut all = lock(&self.groups);
            let Some(g) = all.groups.get_mut(&group) else {
                return GroupResponse::Error(GroupError::UnknownMemberId);
            };
            let now = Instant::now();
            let leader = g.leader.clone();
            let Some(m) = g.members.get_mut(&member_id) else {
                eddy_probe::hit("cp.group.sync_unknown_member");
                return GroupResponse::Error(GroupError::UnknownMemberId);
            };
            m.last_seen = now;
            let deadline = now + m.rebalance_timeout;
            if generation != g.generation {
                eddy_probe::hit("cp.group.stale_generation");
                return GroupResponse::Error(GroupError::IllegalGeneration);
            }
            if matches!(g.phase, Phase::Joining { .. } | Phase::Empty) {
                return GroupResponse::Error(GroupError::RebalanceInProgress);
            }
            if g.phase == Phase::Syncing && leader.as_deref() == Some(member_id.as_str()) {
                g.assignments = assignments
                    .into_iter()
                    .filter(|(id, _)| g.members.contains_key(id))
                    .collect();
                g.phase = Phase::Stable;
            }
            deadline
        };
        self.bump();
        loop {
            {
                let all = lock(&self.groups);
                let Some(g) = all.groups.get(&group) else {
                    return GroupResponse::Error(GroupError::UnknownMemberId);
                };
                if !g.members.contains_key(&member_id) {
                    return GroupResponse::Error(GroupError::UnknownMemberId);
                }
                if g.generation != generation || matches!(g.phase, Phase::Joining { .. }) {
                    return GroupResponse::Error(GroupError::RebalanceInProgress);
                }
                if g.phase == Phase::Stable {
                    return GroupResponse::Synced {
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        assignment: g.assignments.get(&member_id).cloned().unwrap_or_default(),
                    };
                }
            }
            if Instant::now() >= deadline {
                return GroupResponse::Error(GroupError::RebalanceInProgress);
            }
            rx.borrow_and_update();
            let wait = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(wait, rx.changed()).await;
        }
    }

    fn heartbeat(&self, group: &str, member_id: &str, generation: i32) -> GroupResponse {
        let mut all = lock(&self.groups);
        let Some(g) = all.groups.get_mut(group) else {
            return GroupResponse::Error(GroupError::UnknownMemberId);
        };
        let Some(m) = g.members.get_mut(member_id) else {
            eddy_probe::hit("cp.group.heartbeat_unknown_member");
            return GroupResponse::Error(GroupError::UnknownMemberId);
        };
        if !self.plants.has(crate::plants::Plant::HeartbeatIgnored) {
            m.last_seen = Instant::now();
        }
        if generation != g.generation {
            eddy_probe::hit("cp.group.stale_generation");
            return GroupResponse::Error(GroupError::IllegalGeneration);
        }
        match g.phase {
            Phase::Joining { .. } => GroupResponse::Error(GroupError::RebalanceInProgress),
            _ => GroupResponse::Done,
        }
    }

    fn leave(&self, group: &str, member_ids: &[String]) -> GroupResponse {
        let changed = {
            let mut all = lock(&self.groups);
            let Some(g) = all.groups.get_mut(group) else {
                return GroupResponse::Error(GroupError::UnknownMemberId);
            };
            let before = g.members.len();
            for id in member_ids {
                g.members.remove(id);
            }
            let changed = g.members.len() != before;
            if changed {
                if g.members.is_empty() {
                    g.phase = Phase::Empty;
                    g.leader = None;
                } else {
                    g.start_rebalance(Instant::now(), false);
                }
            }
            changed
        };
        if changed {
            self.bump();
            GroupResponse::Done
        } else {
            GroupResponse::Error(GroupError::UnknownMemberId)
        }
    }

    /// Whether a commit by (`member_id`, `generation`) is allowed now. A generation < 0
    /// commits without membership; a current member may commit while the group rebalances
    /// (commit on revoke), not once the new generation formed.
    fn may_commit(&self, group: &str, member_id: &str, generation: i32) -> Option<GroupError> {
        if generation < 0 {
            return None;
        }
        let all = lock(&self.groups);
        let Some(g) = all.groups.get(group) else {
            return Some(GroupError::UnknownMemberId);
        };
        if !g.members.contains_key(member_id) {
            eddy_probe::hit("cp.group.commit_unknown_member");
            return Some(GroupError::UnknownMemberId);
        }
        if generation != g.generation {
            eddy_probe::hit("cp.group.commit_stale_generation");
            return Some(GroupError::IllegalGeneration);
        }
        if g.phase == Phase::Syncing {
            return Some(GroupError::RebalanceInProgress);
        }
        None
    }

    /// The groups with members (or soft state) in this epoch, and `with_offsets`, the groups
    /// that have committed offsets, by name.
    fn list(&self, with_offsets: Vec<String>) -> Vec<GroupListing> {
        let all = lock(&self.groups);
        let mut listed: BTreeMap<String, GroupListing> = with_offsets
            .into_iter()
            .map(|group| {
                let listing = GroupListing {
                    group: group.clone(),
                    protocol_type: String::new(),
                    state: "Empty".into(),
                };
                (group, listing)
            })
            .collect();
        for (name, g) in &all.groups {
            listed.insert(
                name.clone(),
                GroupListing {
                    group: name.clone(),
                    protocol_type: g.protocol_type.clone(),
                    state: g.state_name().into(),
                },
            );
        }
        listed.into_values().collect()
    }

    /// `group` as DescribeGroups shows it; `has_offsets` tells an empty group that has
    /// committed offsets (`Empty`) from one nobody knows (`Dead`).
    fn describe(&self, group: &str, has_offsets: bool) -> GroupDescription {
        let all = lock(&self.groups);
        let Some(g) = all.groups.get(group) else {
            return GroupDescription {
                group: group.to_string(),
                state: if has_offsets { "Empty" } else { "Dead" }.into(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.phase == Phase::Stable;
        GroupDescription {
            group: group.to_string(),
            state: g.state_name().into(),
            protocol_type: g.protocol_type.clone(),
            protocol: if stable {
                g.protocol_name.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .iter()
                .map(|(id, m)| MemberDescription {
                    member_id: id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.protocols
                            .iter()
                            .find(|(n, _)| *n == g.protocol_name)
                            .map(|(_, md)| md.clone())
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    assignment: if stable {
                        g.assignments.get(id).cloned().unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    fn offset_lock(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.offset_locks)
            .entry(group.to_string())
            .or_default()
            .clone()
    }
}

impl ControlPlane {
    /// The epoch this replica leads with a valid lease; `NotLeader` otherwise.
    fn coordinating_epoch(&self) -> Result<u64, CpError> {
        let core = lock(&self.inner.core);
        core.leads(Instant::now())
            .ok_or_else(|| self.not_leader(&core))
    }

    /// Answer one group request: only as the leader, from the soft state of the epoch it
    /// leads. An answer that waited (JoinGroup, SyncGroup) is given only if this replica
    /// still leads that epoch: otherwise the member was in a group no leader knows anymore.
    pub async fn handle_group(&self, request: GroupRequest) -> Result<GroupResponse, CpError> {
        let epoch = self.coordinating_epoch()?;
        let c = self.groups();
        c.enter_epoch(epoch);
        let waits = !request.wait_hint().is_zero();
        let response = self.handle_group_in_epoch(c, request).await?;
        if waits && (self.coordinating_epoch()? != epoch || !c.in_epoch(epoch)) {
            eddy_probe::hit("cp.group.answer_dropped");
            let core = lock(&self.inner.core);
            return Err(self.not_leader(&core));
        }
        Ok(response)
    }

    async fn handle_group_in_epoch(
        &self,
        c: &Coordinator,
        request: GroupRequest,
    ) -> Result<GroupResponse, CpError> {
        Ok(match request {
            GroupRequest::Join {
                group,
                member_id,
                client_id,
                client_host,
                protocol_type,
                protocols,
                session_timeout_ms,
                rebalance_timeout_ms,
            } => {
                c.join(
                    group,
                    member_id,
                    client_id,
                    client_host,
                    protocol_type,
                    protocols,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                )
                .await
            }
            GroupRequest::Sync {
                group,
                member_id,
                generation,
                assignments,
            } => c.sync(group, member_id, generation, assignments).await,
            GroupRequest::Heartbeat {
                group,
                member_id,
                generation,
            } => c.heartbeat(&group, &member_id, generation),
            GroupRequest::Leave { group, member_ids } => c.leave(&group, &member_ids),
            GroupRequest::CommitOffsets {
                group,
                member_id,
                generation,
                offsets,
            } => {
                let guard = c.offset_lock(&group);
                let _held = guard.lock().await;
                if let Some(e) = c.may_commit(&group, &member_id, generation) {
                    return Ok(GroupResponse::Error(e));
                }
                match self
                    .propose(Command::CommitOffsets { group, offsets })
                    .await?
                {
                    CommandResult::OffsetsCommitted => GroupResponse::Done,
                    CommandResult::Rejected(e) => return Err(e),
                    other => return Err(CpError::internal(format!("unexpected result {other:?}"))),
                }
            }
            GroupRequest::FetchOffsets { group, partitions } => {
                let guard = c.offset_lock(&group);
                let _held = guard.lock().await;
                // Leader-only read: a deposed replica must not answer with older offsets.
                let offsets = self.read(|s| match partitions {
                    Some(ps) => ps
                        .into_iter()
                        .map(|(topic, partition)| GroupOffset {
                            offset: s.committed_offset(&group, &topic, partition).unwrap_or(-1),
                            topic,
                            partition,
                            metadata: None,
                        })
                        .collect(),
                    None => s
                        .group_offsets
                        .get(&group)
                        .into_iter()
                        .flat_map(|g| g.iter())
                        .flat_map(|(topic, ps)| {
                            ps.iter().map(move |(p, o)| GroupOffset {
                                topic: topic.clone(),
                                partition: *p,
                                offset: *o,
                                metadata: None,
                            })
                        })
                        .collect(),
                })?;
                GroupResponse::Offsets { offsets }
            }
            GroupRequest::List => {
                // Leader-only read, like FetchOffsets: groups known by their offsets only.
                let with_offsets: Vec<String> = self.read(|s| {
                    s.group_offsets
                        .iter()
                        .filter(|(_, o)| !o.is_empty())
                        .map(|(g, _)| g.clone())
                        .collect()
                })?;
                GroupResponse::Listed {
                    groups: c.list(with_offsets),
                }
            }
            GroupRequest::Describe { groups } => {
                let with_offsets: Vec<bool> = self.read(|s| {
                    groups
                        .iter()
                        .map(|g| s.group_offsets.get(g).is_some_and(|o| !o.is_empty()))
                        .collect()
                })?;
                GroupResponse::Described {
                    groups: groups
                        .iter()
                        .zip(with_offsets)
                        .map(|(g, offsets)| c.describe(g, offsets))
                        .collect(),
                }
            }
        })
    }

    /// InitProducerId: allocate a producer id (journaled). Epochs start at 0.
    pub async fn init_producer_id(&self) -> Result<i64, CpError> {
        match self.propose(Command::AllocateProducerId).await? {
            CommandResult::ProducerIdAllocated { producer_id } => Ok(producer_id),
            CommandResult::Rejected(e) => Err(e),
            other => Err(CpError::internal(format!("unexpected result {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocols() -> Vec<(String, Vec<u8>)> {
        vec![("range".to_string(), vec![1])]
    }

    async fn join(c: &Coordinator, member: &str) -> GroupResponse {
        c.join(
            "g".into(),
            member.into(),
            "client".into(),
            "/10.0.1.3".into(),
            "consumer".into(),
            protocols(),
            1_000,
            2_000,
        )
        .await
    }

    fn joined(r: &GroupResponse) -> (i32, String, String, usize) {
        match r {
            GroupResponse::Joined {
                generation,
                leader,
                member_id,
                members,
                ..
            } => (
                *generation,
                leader.clone(),
                member_id.clone(),
                members.len(),
            ),
            other => panic!("not joined: {other:?}"),
        }
    }

    #[madsim::test]
    async fn members_join_one_generation_and_a_silent_member_is_expired() {
        let c = Coordinator::new();
        let c2 = c.clone();
        let (a, b) = tokio::join!(join(&c, ""), join(&c2, ""));
        let (ga, leader, ida, na) = joined(&a);
        let (gb, _, idb, nb) = joined(&b);
        assert_eq!(ga, gb, "both joined the same generation");
        assert_eq!(na + nb, 2, "only the leader gets the member list");
        assert!(leader == ida || leader == idb);
        // The leader assigns; the follower gets its share.
        let assignments = vec![(ida.clone(), vec![7]), (idb.clone(), vec![9])];
        let (sa, sb) = tokio::join!(
            c.sync(
                "g".into(),
                ida.clone(),
                ga,
                if leader == ida {
                    assignments.clone()
                } else {
                    vec![]
                }
            ),
            c.sync(
                "g".into(),
                idb.clone(),
                gb,
                if leader == idb {
                    assignments.clone()
                } else {
                    vec![]
                }
            ),
        );
        assert!(
            matches!(sa, GroupResponse::Synced { ref assignment, .. } if assignment == &vec![7])
        );
        assert!(
            matches!(sb, GroupResponse::Synced { ref assignment, .. } if assignment == &vec![9])
        );
        // Only `a` keeps heartbeating: `b`'s session (1 s) lapses and a rebalance starts.
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = c.heartbeat("g", &ida, ga);
        }
        assert_eq!(c.members("g"), 1);
        assert_eq!(
            c.heartbeat("g", &ida, ga),
            GroupResponse::Error(GroupError::RebalanceInProgress)
        );
        assert_eq!(
            c.heartbeat("g", &idb, gb),
            GroupResponse::Error(GroupError::UnknownMemberId)
        );
        let (g2, _, _, n) = joined(&join(&c, &ida).await);
        assert!(g2 > ga);
        assert_eq!(n, 1);
        assert_eq!(
            c.may_commit("g", &ida, ga),
            Some(GroupError::IllegalGeneration),
            "a commit from the old generation is fenced"
        );
    }

    #[madsim::test]
    async fn groups_are_listed_and_described_with_their_state_and_members() {
        let c = Coordinator::new();
        assert_eq!(c.describe("g", false).state, "Dead", "nobody knows g yet");
        assert_eq!(
            c.describe("g", true).state,
            "Empty",
            "g has committed offsets only"
        );
        let listed = c.list(vec!["offsets-only".into()]);
        assert_eq!(
            listed,
            vec![GroupListing {
                group: "offsets-only".into(),
                protocol_type: String::new(),
                state: "Empty".into(),
            }]
        );

        let (generation, leader, member, _) = joined(&join(&c, "").await);
        assert_eq!(leader, member);
        // Formed, waiting for the leader's assignment: members shown, no protocol data yet.
        let d = c.describe("g", false);
        assert_eq!(
            (d.state.as_str(), d.protocol.as_str()),
            ("CompletingRebalance", "")
        );
        assert_eq!(d.members.len(), 1);
        assert!(d.members[0].metadata.is_empty() && d.members[0].assignment.is_empty());

        let synced = c
            .sync(
                "g".into(),
                member.clone(),
                generation,
                vec![(member.clone(), vec![4, 2])],
            )
            .await;
        assert!(matches!(synced, GroupResponse::Synced { .. }), "{synced:?}");
        let d = c.describe("g", true);
        assert_eq!(
            d,
            GroupDescription {
                group: "g".into(),
                state: "Stable".into(),
                protocol_type: "consumer".into(),
                protocol: "range".into(),
                members: vec![MemberDescription {
                    member_id: member.clone(),
                    client_id: "client".into(),
                    client_host: "/10.0.1.3".into(),
                    metadata: vec![1],
                    assignment: vec![4, 2],
                }],
            }
        );
        let listed = c.list(vec!["g".into(), "offsets-only".into()]);
        let states: Vec<(&str, &str, &str)> = listed
            .iter()
            .map(|l| (l.group.as_str(), l.protocol_type.as_str(), l.state.as_str()))
            .collect();
        assert_eq!(
            states,
            vec![("g", "consumer", "Stable"), ("offsets-only", "", "Empty")],
            "each group once, the live state winning over the offsets-only entry"
        );

        // The last member leaves: the group is empty (and still listed).
        assert_eq!(c.leave("g", &[member]), GroupResponse::Done);
        assert_eq!(c.describe("g", true).state, "Empty");
        assert!(c.describe("g", true).members.is_empty());
    }
}
