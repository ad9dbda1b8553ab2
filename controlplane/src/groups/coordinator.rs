//! The coordinator of every group: the groups of one leadership epoch behind a lock, the
//! waits of JoinGroup and SyncGroup on a change counter, and the session-expiry sweep.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::sync::lock;

use super::group::*;
use super::*;

#[derive(Default)]
pub(super) struct Groups {
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

    pub(crate) fn sweep(&self) {
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

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Make the soft state that of `epoch` (the epoch this replica leads now): the groups of
    /// an earlier epoch are forgotten, and their waiting members told they are unknown.
    pub(crate) fn enter_epoch(&self, epoch: u64) {
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
    pub(crate) fn in_epoch(&self, epoch: u64) -> bool {
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
    pub(crate) async fn join(
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

    pub(crate) async fn sync(
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

    pub(crate) fn heartbeat(&self, group: &str, member_id: &str, generation: i32) -> GroupResponse {
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

    pub(crate) fn leave(&self, group: &str, member_ids: &[String]) -> GroupResponse {
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

    /// Whether a commit by (`member_id`, `generation`) is allowed now, by the rules of
    /// Kafka's GroupCoordinator (`validateOffsetCommit`, `doCommitOffsets`):
    ///
    /// - generation < 0 and no member id: a consumer that does not use group management
    ///   commits while the group has no members; otherwise only members may commit
    ///   (UNKNOWN_MEMBER_ID);
    /// - the member must be in the group (UNKNOWN_MEMBER_ID: expelled at its session
    ///   timeout, left behind by a rebalance, or known to an earlier coordinator) and carry
    ///   the current generation (ILLEGAL_GENERATION). A group this coordinator does not know
    ///   is UNKNOWN_MEMBER_ID too, where Kafka answers ILLEGAL_GENERATION: Kafka loads its
    ///   groups with the offsets, so an unknown group means a deleted one, while here it
    ///   means a new leader (soft state), whose members must rejoin under new ids at once;
    ///   either refuses the commit;
    /// - a current member may commit while the group rebalances (commit on revoke), but not
    ///   between the new generation's forming and its assignment (REBALANCE_IN_PROGRESS).
    ///
    /// So a zombie — a member whose commit arrives after the group moved on — never
    /// overwrites what the new generation committed.
    pub(crate) fn may_commit(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
    ) -> Option<GroupError> {
        if self.plants.has(crate::plants::Plant::ZombieCommitAccepted) {
            return crate::plants::planted::accept_any_commit();
        }
        let all = lock(&self.groups);
        let g = all.groups.get(group);
        if generation < 0 && member_id.is_empty() {
            return match g {
                Some(g) if !g.members.is_empty() => {
                    eddy_probe::hit("cp.group.commit_unknown_member");
                    Some(GroupError::UnknownMemberId)
                }
                _ => None,
            };
        }
        let Some(g) = g else {
            eddy_probe::hit("cp.group.commit_unknown_member");
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

    /// TxnOffsetCommit's membership check (Kafka's, KIP-447): a producer that is not a group
    /// member (empty member id, generation < 0) is fenced by its transaction alone; a member
    /// must be known and in the current generation.
    pub(crate) fn may_commit_txn(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
    ) -> Option<GroupError> {
        if member_id.is_empty() && generation < 0 {
            return None;
        }
        if self.plants.has(crate::plants::Plant::ZombieCommitAccepted) {
            return crate::plants::planted::accept_any_commit();
        }
        let all = lock(&self.groups);
        let Some(g) = all.groups.get(group) else {
            return Some(GroupError::UnknownMemberId);
        };
        if !g.members.contains_key(member_id) {
            eddy_probe::hit("cp.txn.commit_unknown_member");
            return Some(GroupError::UnknownMemberId);
        }
        if generation != g.generation {
            eddy_probe::hit("cp.txn.commit_stale_generation");
            return Some(GroupError::IllegalGeneration);
        }
        None
    }

    /// The groups with members (or soft state) in this epoch, and `with_offsets`, the groups
    /// that have committed offsets, by name.
    pub(crate) fn list(&self, with_offsets: Vec<String>) -> Vec<GroupListing> {
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
    pub(crate) fn describe(&self, group: &str, has_offsets: bool) -> GroupDescription {
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

    pub(crate) fn offset_lock(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.offset_locks)
            .entry(group.to_string())
            .or_default()
            .clone()
    }
}
