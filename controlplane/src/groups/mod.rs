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

mod coordinator;
mod group;
mod serve;
mod wire;

pub use coordinator::Coordinator;
pub use wire::{
    GroupDescription, GroupError, GroupListing, GroupRequest, GroupResponse, MemberDescription,
};

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

#[cfg(test)]
mod tests;
