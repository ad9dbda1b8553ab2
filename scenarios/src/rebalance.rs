//! Groups settle once members stop failing: a verdict beyond safety, judged from the
//! history's assignment markers and the run's fault log.
//!
//! After the last fault of the run ends (consumer crashes included), a consumer group must
//! finish rebalancing within a bound that follows from its own timeouts: a dead member is
//! expelled after the session timeout, which completes the rebalance at once; a live member
//! whose coordinator was lost learns it within another session timeout (its heartbeats
//! fail) and rejoins; a coordinator that moved (agent crash, control-plane takeover) costs a
//! takeover and an agent TTL. (Swarm seeds 265 and 298 settled 11.6 and 11.7 s after their
//! last fault: one session timeout was not enough.) The rebalance timeout is deliberately not
//! part of the bound: a rebalance that runs to its timeout waits for a member that is gone,
//! which is the bug to catch. From that moment to the end of the group's activity:
//!
//! - no member receives an assignment (the group is not still rebalancing, nor churning
//!   because members are expelled while they heartbeat);
//! - every member ends on the group's latest generation, and the members of that generation
//!   hold every partition of the topic exactly once.
//!
//! Violations are [`Class::RebalanceIncomplete`]. A group whose activity ends before the
//! bound has passed (plus a second) is not judged.

use std::collections::BTreeMap;

use eddy_reports::{Class, Op, OpKind, Violation};

use crate::spec::Scenario;

/// The bound after the last fault, ms.
pub fn settle_bound_ms(s: &Scenario) -> u64 {
    2 * s.workload.session_timeout_ms + s.controlplane.takeover_ms + s.controlplane.agent_ttl_ms
}

/// What the verdict judged, for report.json.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RebalanceVerdict {
    /// Milliseconds after the last fault by which every group must have settled.
    pub bound_ms: u64,
    /// When that is, ms since the run started.
    pub settled_by_ms: u64,
    /// Groups judged, and groups whose activity ended too early to judge.
    pub groups_judged: Vec<String>,
    pub groups_not_judged: Vec<String>,
    #[serde(skip)]
    pub violations: Vec<Violation>,
}

struct Assign<'a> {
    op: &'a Op,
    generation: i32,
    partitions: Vec<(&'a str, i32)>,
}

/// Judge every group of the history. `last_fault_end_ms`: end of the run's last fault (0
/// without faults).
pub fn judge(s: &Scenario, ops: &[Op], last_fault_end_ms: u64) -> RebalanceVerdict {
    let bound_ms = settle_bound_ms(s);
    let settled_by_us = (last_fault_end_ms + bound_ms) * 1000;
    let mut v = RebalanceVerdict {
        bound_ms,
        settled_by_ms: last_fault_end_ms + bound_ms,
        ..Default::default()
    };
    // Per group: its members' assignments in time order, and when its activity ended.
    let mut assigns: BTreeMap<&str, BTreeMap<&str, Vec<Assign>>> = BTreeMap::new();
    let mut active_until: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops {
        match &op.kind {
            OpKind::Assign {
                group: Some(g),
                generation,
                partitions,
                ..
            } => assigns
                .entry(g)
                .or_default()
                .entry(op.process.as_str())
                .or_default()
                .push(Assign {
                    op,
                    generation: *generation,
                    partitions: partitions
                        .iter()
                        .map(|tp| (tp.topic.as_str(), tp.partition))
                        .collect(),
                }),
            OpKind::Poll { group: Some(g), .. } => {
                let end = active_until.entry(g).or_default();
                *end = (*end).max(op.complete_us.unwrap_or(op.invoke_us));
            }
            _ => {}
        }
    }
    let partitions = s.workload.partitions as i32;
    let topic = s.workload.topic.as_str();
    for (group, members) in &mut assigns {
        let until = active_until.get(group).copied().unwrap_or(0);
        if until < settled_by_us + 1_000_000 {
            v.groups_not_judged.push(group.to_string());
            continue;
        }
        v.groups_judged.push(group.to_string());
        for list in members.values_mut() {
            list.sort_by_key(|a| (a.op.invoke_us, a.op.id));
        }
        // In a settled group nobody is assigned anything: an assignment after the bound
        // (a new generation, or a member that had to rejoin) means it was still rebalancing.
        let late: Option<&Assign> = members
            .values()
            .flat_map(|l| l.iter())
            .filter(|a| a.op.invoke_us > settled_by_us)
            .min_by_key(|a| (a.op.invoke_us, a.op.id));
        if let Some(a) = late {
            v.violations.push(Violation::of_run(
                Class::RebalanceIncomplete,
                vec![a.op.id],
                format!(
                    "group {group} was still rebalancing {:.1} s after the last fault ended: \
                     {} was assigned generation {} at {:.3} s, after the bound of {:.1} s \
                     (two session timeouts + takeover + agent TTL)",
                    (a.op.invoke_us / 1000).saturating_sub(last_fault_end_ms) as f64 / 1000.0,
                    a.op.process,
                    a.generation,
                    a.op.invoke_us as f64 / 1e6,
                    bound_ms as f64 / 1000.0
                ),
            ));
            continue;
        }
        // Each member's last assignment; all must be of the latest generation, and together
        // hold every partition once.
        let last: Vec<(&str, &Assign)> = members
            .iter()
            .filter_map(|(m, l)| l.last().map(|a| (*m, a)))
            .collect();
        let Some(latest) = last.iter().map(|(_, a)| a.generation).max() else {
            continue;
        };
        if let Some((m, a)) = last.iter().find(|(_, a)| a.generation < latest) {
            v.violations.push(Violation::of_run(
                Class::RebalanceIncomplete,
                vec![a.op.id],
                format!(
                    "group {group} ended split: {m} still held its generation-{} assignment \
                     while the group was at generation {latest}",
                    a.generation
                ),
            ));
            continue;
        }
        let mut held: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
        for (m, a) in &last {
            for (t, p) in &a.partitions {
                if *t == topic {
                    held.entry(*p).or_default().push(m);
                }
            }
        }
        let missing: Vec<i32> = (0..partitions).filter(|p| !held.contains_key(p)).collect();
        let doubled: Vec<(i32, Vec<&str>)> =
            held.into_iter().filter(|(_, ms)| ms.len() > 1).collect();
        if !missing.is_empty() || !doubled.is_empty() {
            v.violations.push(Violation::of_run(
                Class::RebalanceIncomplete,
                last.iter().map(|(_, a)| a.op.id).collect(),
                format!(
                    "group {group} settled on generation {latest} with partitions of {topic} \
                     unassigned {missing:?} or assigned twice {doubled:?}"
                ),
            ));
        }
    }
    v
}

impl RebalanceVerdict {
    /// Adds this verdict's violations and judged count to the run's verdict.
    pub fn apply(&self, verdict: &mut eddy_reports::Verdict) {
        verdict.add_judged(Class::RebalanceIncomplete, self.groups_judged.len() as u64);
        if self.groups_judged.is_empty() && !self.groups_not_judged.is_empty() {
            verdict.silent.push(eddy_reports::Silent {
                class: Class::RebalanceIncomplete,
                reason: format!(
                    "the groups' activity ended before {:.1} s, the bound after the last fault",
                    self.settled_by_ms as f64 / 1000.0 + 1.0
                ),
            });
        }
        for x in &self.violations {
            verdict.add(x.clone());
        }
    }
}
