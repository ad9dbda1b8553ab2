//! Workload consumers of a run: which consumer consumes what (consumer groups or plain
//! assignment), the group consumer loop that records assignments, commits and reads of
//! committed offsets, and consumer churn (crashes and restarts of consumer nodes).

use std::sync::Arc;
use std::time::Duration;

use eddy_client::{GroupConfig, GroupConsumer, GroupEvent};
use eddy_controlplane::net::Transport;
use eddy_reports::{OpKind, Outcome, TopicPartition};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::recorder::Recorder;
use crate::spec::{GroupMode, Scenario};
use crate::topology::NodeSpec;
use crate::workload::{
    consumer_config, dialer, poll_failed, poll_once_batches, process_seed, ConsumerRun,
};

/// What one consumer node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRole {
    /// Plain consumer of explicitly assigned partitions.
    Assigned(Vec<i32>),
    /// Member of a consumer group.
    Group(String),
}

/// The role of the `k`-th consumer of its zone.
pub fn consumer_role(s: &Scenario, node: &NodeSpec, k: usize) -> ConsumerRole {
    let per_az = s.topology.consumers_per_az.max(1);
    match s.workload.group_mode {
        GroupMode::None => ConsumerRole::Assigned(
            (0..s.workload.partitions)
                .filter(|p| (*p as usize) % per_az == k)
                .collect(),
        ),
        GroupMode::PerAz => ConsumerRole::Group(format!("group-{}", node.az)),
        GroupMode::Spread => ConsumerRole::Group(format!("group-{}", k % s.workload.groups.max(1))),
    }
}

/// Poll as a member of `group` until `run.until`, recording everything.
pub async fn run_group_consumer(
    run: ConsumerRun,
    group: String,
    transport: Arc<dyn Transport>,
    recorder: Recorder,
) {
    let w = &run.workload;
    let config = GroupConfig {
        group_id: group.clone(),
        topics: vec![w.topic.clone()],
        session_timeout_ms: w.session_timeout_ms,
        rebalance_timeout_ms: w.session_timeout_ms.max(1_000) * 2,
        heartbeat_interval_ms: (w.session_timeout_ms / 3).max(100),
        auto_commit_interval_ms: w.commit_interval_ms,
        assignor: w.assignor,
    };
    let mut member = GroupConsumer::connect(
        config,
        consumer_config(&run),
        run.bootstrap.clone(),
        dialer(transport),
    );
    while Instant::now() < run.until {
        let wait = w.fetch_max_wait_ms.min(
            run.until
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        );
        // Membership first (its assignment markers precede the poll they affect).
        let (events, kept) = member.keep_membership().await;
        record_events(&recorder, &run.process, &group, events);
        if kept.is_err() {
            continue;
        }
        let invoke_us = recorder.now_us();
        match member.fetch(wait).await {
            Ok(batches) => poll_once_batches(&recorder, &run, invoke_us, batches, Some(&group)),
            Err(e) => {
                let asked: Vec<(i32, i64)> = member
                    .assignment()
                    .iter()
                    .filter(|(t, _)| *t == w.topic)
                    .map(|(t, p)| (*p, member.position(t, *p).unwrap_or(-1)))
                    .collect();
                poll_failed(
                    &recorder,
                    &run,
                    invoke_us,
                    &asked,
                    Some(&group),
                    &e.to_string(),
                );
            }
        }
    }
}

fn record_events(recorder: &Recorder, process: &str, group: &str, events: Vec<GroupEvent>) {
    for e in events {
        match e {
            GroupEvent::Assigned {
                generation,
                partitions,
                at,
            } => {
                let us = recorder.us_of(at);
                recorder.record_at(
                    process,
                    us,
                    us,
                    Outcome::Ok,
                    OpKind::Assign {
                        group: Some(group.to_string()),
                        generation,
                        partitions: partitions
                            .into_iter()
                            .map(|(topic, partition)| TopicPartition { topic, partition })
                            .collect(),
                    },
                );
            }
            GroupEvent::Committed {
                topic,
                partition,
                offset,
                invoked,
                completed,
                ok,
            } => recorder.record_at(
                process,
                recorder.us_of(invoked),
                recorder.us_of(completed),
                match ok {
                    Some(true) => Outcome::Ok,
                    Some(false) => Outcome::Failed,
                    None => Outcome::Indeterminate,
                },
                OpKind::Commit {
                    group: group.to_string(),
                    topic,
                    partition,
                    offset,
                },
            ),
            GroupEvent::FetchedCommitted {
                topic,
                partition,
                offset,
                invoked,
                completed,
            } => recorder.record_at(
                process,
                recorder.us_of(invoked),
                recorder.us_of(completed),
                Outcome::Ok,
                OpKind::FetchCommitted {
                    group: group.to_string(),
                    topic,
                    partition,
                    offset,
                },
            ),
        }
    }
}

/// Crash consumer nodes at seeded random times before `until` and restart each after a
/// seeded pause (madsim re-runs the node's init, so the consumer rejoins its group).
pub async fn churn(
    s: &Scenario,
    seed: u64,
    consumers: &[madsim::task::NodeId],
    until: Instant,
    log: crate::chaos::FaultLog,
    run_start: Instant,
) {
    let c = &s.consumer_churn;
    if c.crashes == 0 || consumers.is_empty() {
        return;
    }
    let handle = madsim::runtime::Handle::current();
    let mut rng = SmallRng::seed_from_u64(process_seed(seed, "consumer-churn"));
    let start = Instant::now();
    let span = until.saturating_duration_since(start).as_secs_f64();
    let mut plan: Vec<(f64, usize, f64)> = (0..c.crashes)
        .map(|_| {
            (
                rng.gen_range(0.0..span.max(0.001)),
                rng.gen_range(0..consumers.len()),
                rng.gen_range(c.down_s_min..=c.down_s_max),
            )
        })
        .collect();
    plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    // (restart time, node, crash time) of nodes currently down.
    let mut down: Vec<(Instant, usize, Instant)> = Vec::new();
    let note = Note {
        log,
        start: run_start,
    };
    for (at, which, pause) in plan {
        let at = start + Duration::from_secs_f64(at);
        restart_due(&handle, consumers, &mut down, at, &note).await;
        if down.iter().any(|(_, n, _)| *n == which) {
            continue;
        }
        tokio::time::sleep_until(at).await;
        tracing::info!(node = which, "consumer crash");
        handle.kill(consumers[which]);
        down.push((at + Duration::from_secs_f64(pause), which, at));
    }
    restart_due(&handle, consumers, &mut down, until, &note).await;
    // Anything still down comes back now, for the drain phase.
    for (_, n, crashed) in down.drain(..) {
        handle.restart(consumers[n]);
        note.restarted(n, crashed);
    }
}

/// Writes a consumer's crash into the run's fault log once it is restarted.
struct Note {
    log: crate::chaos::FaultLog,
    start: Instant,
}

impl Note {
    fn restarted(&self, consumer: usize, crashed: Instant) {
        let ms = |t: Instant| t.saturating_duration_since(self.start).as_millis() as u64;
        eddy_controlplane::sync::lock(&self.log).push(crate::chaos::FaultEvent {
            start_ms: ms(crashed),
            end_ms: ms(Instant::now()),
            family: eddy_faults::Family::ConsumerCrash,
            what: format!("crash consumer {consumer} (consumer_churn)"),
            leader: false,
        });
    }
}

async fn restart_due(
    handle: &madsim::runtime::Handle,
    consumers: &[madsim::task::NodeId],
    down: &mut Vec<(Instant, usize, Instant)>,
    before: Instant,
    note: &Note,
) {
    down.sort_by_key(|(t, _, _)| *t);
    while let Some(&(t, n, crashed)) = down.first() {
        if t > before {
            break;
        }
        tokio::time::sleep_until(t).await;
        tracing::info!(node = n, "consumer restart");
        handle.restart(consumers[n]);
        note.restarted(n, crashed);
        down.remove(0);
    }
}
