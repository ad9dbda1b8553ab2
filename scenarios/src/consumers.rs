//! Workload consumers of a run: which consumer consumes what (consumer groups or plain
//! assignment), the group consumer loop that records assignments, commits and reads of
//! committed offsets, zombie members (`workload.zombies`: commits sent after the group moved
//! on), and consumer churn (crashes and restarts of consumer nodes).

use std::sync::Arc;
use std::time::Duration;

use eddy_client::{GroupConfig, GroupConsumer, GroupEvent, HeldCommit};
use eddy_controlplane::net::Transport;
use eddy_reports::{OpKind, Outcome, TopicPartition};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::recorder::Recorder;
use crate::spec::{GroupMode, Scenario, Zombies};
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

/// What a group member needs to act as a zombie now and then (`workload.zombies`).
#[derive(Clone)]
pub struct ZombieRun {
    /// The run's root seed.
    pub seed: u64,
    /// The run's start (the fault log's zero).
    pub run_start: Instant,
    /// No stall starts that would not end before this instant (the end of the workload).
    pub until: Instant,
    pub log: crate::chaos::FaultLog,
}

/// One member's zombie behaviour, drawn from its own stream of the run's seed.
struct Zombie {
    config: Zombies,
    rng: SmallRng,
    session: Duration,
    commit_interval: Duration,
    /// When the next stall starts, if one fits before the end of the workload.
    next_stall: Option<Instant>,
    /// A commit held back, and when it was taken.
    held: Option<(HeldCommit, Instant)>,
    ctx: ZombieRun,
}

impl Zombie {
    fn new(
        config: &Zombies,
        process: &str,
        session_ms: u64,
        commit_ms: u64,
        ctx: ZombieRun,
    ) -> Zombie {
        // A restarted node draws anew: its incarnation is its start time.
        let incarnation = Instant::now()
            .saturating_duration_since(ctx.run_start)
            .as_millis() as u64;
        let rng = SmallRng::seed_from_u64(eddy_faults::derive_seed(
            ctx.seed,
            &format!("zombies.{process}"),
            incarnation,
        ));
        let mut z = Zombie {
            config: config.clone(),
            rng,
            session: Duration::from_millis(session_ms),
            commit_interval: Duration::from_millis(commit_ms.max(100)),
            next_stall: None,
            held: None,
            ctx,
        };
        z.draw_stall(Instant::now());
        z
    }

    /// The longest a stall and the commits after it take.
    fn stall_span(&self) -> Duration {
        self.session.mul_f64(2.5)
            + (self.commit_interval + Duration::from_secs(1)) * self.config.commits_before_noticing
    }

    fn draw_stall(&mut self, after: Instant) {
        self.next_stall = None;
        if self.config.stalls_per_min <= 0.0 {
            return;
        }
        let gap_s = -(1.0 - self.rng.gen::<f64>()).ln() * 60.0 / self.config.stalls_per_min;
        let at = after + Duration::from_secs_f64(gap_s.min(86_400.0));
        if at + self.stall_span() <= self.ctx.until {
            self.next_stall = Some(at);
        }
    }

    /// Whether a periodic commit just made should also be held back.
    fn hold_this_commit(&mut self) -> bool {
        self.config.late_commit_share > 0.0 && self.rng.gen::<f64>() < self.config.late_commit_share
    }
}

/// Poll as a member of `group` until `run.until`, recording everything.
pub async fn run_group_consumer(
    run: ConsumerRun,
    group: String,
    transport: Arc<dyn Transport>,
    recorder: Recorder,
    zombie: ZombieRun,
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
        auto_commit: true,
    };
    let mut member = GroupConsumer::connect(
        config,
        consumer_config(&run),
        run.bootstrap.clone(),
        dialer(transport),
    );
    let mut zombie = w.zombies.any().then(|| {
        Zombie::new(
            &w.zombies,
            &run.process,
            w.session_timeout_ms,
            w.commit_interval_ms,
            zombie,
        )
    });
    while Instant::now() < run.until {
        let wait = w.fetch_max_wait_ms.min(
            run.until
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        );
        if let Some(z) = zombie.as_mut() {
            if z.next_stall.is_some_and(|at| Instant::now() >= at) {
                stall_then_commit_as_zombie(&mut member, z, &recorder, &run, &group).await;
                continue;
            }
        }
        // Membership first (its assignment markers precede the poll they affect).
        let (events, kept) = member.keep_membership().await;
        let committed = events
            .iter()
            .any(|e| matches!(e, GroupEvent::Committed { ok: Some(true), .. }));
        record_events(&recorder, &run.process, &group, events);
        if let Some(z) = zombie.as_mut() {
            send_held_commit(&mut member, z, committed, &recorder, &run.process, &group).await;
        }
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

/// A late commit: after a periodic commit, hold a copy back now and then; send it once the
/// member is in another generation (or under another member id), as it was.
async fn send_held_commit(
    member: &mut GroupConsumer,
    z: &mut Zombie,
    just_committed: bool,
    recorder: &Recorder,
    process: &str,
    group: &str,
) {
    match z.held.take() {
        None => {
            if just_committed && z.hold_this_commit() {
                z.held = member.snapshot().map(|h| (h, Instant::now()));
            }
        }
        Some((held, since)) => {
            let moved_on = member.generation() >= 0
                && (member.generation() != held.generation || member.member_id() != held.member_id);
            if moved_on {
                tracing::debug!(process, generation = held.generation, "zombie: late commit");
                let mut events = Vec::new();
                member.commit_as(&held, &mut events).await;
                record_events(recorder, process, group, events);
            } else if since.elapsed() < z.session * 4 {
                z.held = Some((held, since));
            }
        }
    }
}

/// An expelled member that has not noticed: it stops for longer than its session timeout
/// (the coordinator expels it and the group rebalances without it), then goes on fetching
/// its old partitions and committing as the member it was, `commits_before_noticing` times,
/// before its next heartbeat tells it it is unknown. The stall is written in the fault log.
async fn stall_then_commit_as_zombie(
    member: &mut GroupConsumer,
    z: &mut Zombie,
    recorder: &Recorder,
    run: &ConsumerRun,
    group: &str,
) {
    let started = Instant::now();
    let stall = z.session.mul_f64(z.rng.gen_range(1.5..2.5));
    let identity = member.snapshot();
    tracing::debug!(process = %run.process, stall_ms = stall.as_millis() as u64, "zombie: stall");
    tokio::time::sleep(stall).await;
    if identity.is_some() {
        for _ in 0..z.config.commits_before_noticing {
            let invoke_us = recorder.now_us();
            let wait = run
                .workload
                .fetch_max_wait_ms
                .min(z.commit_interval.as_millis() as u64);
            if let Ok(batches) = member.fetch(wait).await {
                poll_once_batches(recorder, run, invoke_us, batches, Some(group));
            }
            // The positions it has now, with the identity it had before the stall.
            if let Some(now) = member.snapshot() {
                let mut events = Vec::new();
                member.commit_as(&now, &mut events).await;
                record_events(recorder, &run.process, group, events);
            }
        }
    }
    let ms = |t: Instant| t.saturating_duration_since(z.ctx.run_start).as_millis() as u64;
    eddy_controlplane::sync::lock(&z.ctx.log).push(crate::chaos::FaultEvent {
        start_ms: ms(started),
        end_ms: ms(Instant::now()),
        family: eddy_faults::Family::ConsumerCrash,
        what: format!(
            "zombie {}: stalled {} ms past its session timeout, then committed as the member it was (workload.zombies)",
            run.process,
            stall.as_millis()
        ),
        leader: false,
    });
    z.draw_stall(Instant::now());
}

pub fn record_events(recorder: &Recorder, process: &str, group: &str, events: Vec<GroupEvent>) {
    for e in events {
        match e {
            GroupEvent::Assigned {
                generation,
                partitions,
                at,
                member_id,
                joined,
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
                        member: Some(member_id),
                        joined_us: Some(recorder.us_of(joined).min(us)),
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
                generation,
                member_id,
                error_code,
            } => recorder.record_error_at(
                process,
                recorder.us_of(invoked),
                recorder.us_of(completed),
                match ok {
                    Some(true) => Outcome::Ok,
                    Some(false) => Outcome::Failed,
                    None => Outcome::Indeterminate,
                },
                match (ok, error_code) {
                    (Some(true), _) => None,
                    (_, Some(code)) => Some(crate::workload::kafka_error_name(code)),
                    (None, None) => Some("OUTCOME_UNKNOWN".to_string()),
                    (Some(false), None) => None,
                },
                OpKind::Commit {
                    group: group.to_string(),
                    topic,
                    partition,
                    offset,
                    generation: Some(generation),
                    member: Some(member_id),
                    txn: None,
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
