//! The chaos driver: applies a fault schedule to the simulated deployment (kills and
//! restarts nodes, pauses them, cuts links, degrades object storage) and records what it
//! did and when, so reports can shade fault windows and a person can read the run.
//!
//! Every fault of a run lands in one [`FaultLog`]: this driver's, the spec's periodic
//! `crashes` ([`crate::run`]) and `consumer_churn` ([`crate::consumers`]). Reports (HTML
//! shading, failover statistics, report.json `fault_events`) read only that list.
//!
//! Overlapping faults compose: a node is killed on its first crash and restarted when its
//! last overlapping crash ends; a link stays cut while any partition covers it; storage
//! faults combine (highest error probability, summed latency, any outage).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_faults::{Fault, ScheduledFault, Target};
use eddy_sim::{SimObjectStore, StorageFaults};
use madsim::runtime::Handle;
use madsim::task::NodeId;
use serde::Serialize;
use tokio::time::Instant;

/// What the driver can reach.
#[derive(Clone)]
pub struct ChaosWorld {
    pub agents: Vec<NodeId>,
    pub controlplanes: Vec<NodeId>,
    /// Every node of each zone (agents, control-plane replicas, clients).
    pub zones: Vec<Vec<NodeId>>,
    /// The bucket agents write to; storage faults and Express outages hit it.
    pub ingest: SimObjectStore,
    /// The control plane's journal bucket (journal storage faults hit it).
    pub journal: SimObjectStore,
    /// Workload consumers (targets of consumer crashes).
    pub consumers: Vec<NodeId>,
    /// Servers' addresses and the reply-loss faults their accepted connections check.
    pub ips: BTreeMap<NodeId, std::net::IpAddr>,
    pub reply_loss: crate::transport::ReplyLoss,
    /// Index of the control-plane replica currently leading, if one is.
    pub leader: Arc<dyn Fn() -> Option<usize> + Send + Sync>,
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    pub start_ms: u64,
    pub end_ms: u64,
    pub family: eddy_faults::Family,
    pub what: String,
    /// A crash of the control-plane replica that was leading when it started.
    #[serde(default)]
    pub leader: bool,
}

/// Where every fault of a run is written down as it ends.
pub type FaultLog = Arc<Mutex<Vec<FaultEvent>>>;

/// The log's events in time order.
pub fn sorted_events(log: &FaultLog) -> Vec<FaultEvent> {
    let mut events = std::mem::take(&mut *eddy_controlplane::sync::lock(&log));
    events.sort_by(|a, b| (a.start_ms, a.end_ms, &a.what).cmp(&(b.start_ms, b.end_ms, &b.what)));
    events
}

#[derive(Default)]
struct Active {
    down: BTreeMap<NodeId, u32>,
    paused: BTreeMap<NodeId, u32>,
    cut: BTreeMap<(NodeId, NodeId), u32>,
    loss: Vec<f64>,
    storage: Vec<StorageFaults>,
    journal: Vec<StorageFaults>,
}

type Shared = Arc<Mutex<Active>>;

fn lock(a: &Shared) -> std::sync::MutexGuard<'_, Active> {
    eddy_controlplane::sync::lock(a)
}

/// Apply `schedule` (times relative to `start`), cutting every fault off at `chaos_end`.
/// Returns once every fault has been reverted.
pub async fn run_schedule(
    schedule: Vec<ScheduledFault>,
    world: ChaosWorld,
    start: Instant,
    chaos_end: Instant,
    events: FaultLog,
) {
    let active: Shared = Arc::new(Mutex::new(Active::default()));
    let mut tasks = Vec::new();
    for f in schedule {
        let begin = start + Duration::from_millis(f.at_ms);
        if begin >= chaos_end {
            continue;
        }
        let end = (begin + Duration::from_millis(f.duration_ms.max(1))).min(chaos_end);
        let (world, active, events) = (world.clone(), active.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(begin).await;
            let leader = match &f.fault {
                Fault::Crash {
                    target: Target::ControlPlaneLeader,
                } => (world.leader)().is_some(),
                Fault::Crash {
                    target: Target::ControlPlane(i),
                } => (world.leader)() == Some(*i),
                _ => false,
            };
            let (what, undo) = apply(&f.fault, &world, &active);
            tokio::time::sleep_until(end).await;
            undo();
            let ms = |t: Instant| t.duration_since(start).as_millis() as u64;
            eddy_controlplane::sync::lock(&events).push(FaultEvent {
                start_ms: ms(begin),
                end_ms: ms(end),
                family: f.family,
                what,
                leader,
            });
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn node_of(target: &Target, world: &ChaosWorld) -> Vec<NodeId> {
    match target {
        Target::Agent(i) => world.agents.get(*i).copied().into_iter().collect(),
        Target::ControlPlane(i) => world.controlplanes.get(*i).copied().into_iter().collect(),
        Target::ControlPlaneLeader => world
            .controlplanes
            .get((world.leader)().unwrap_or(0))
            .copied()
            .into_iter()
            .collect(),
        Target::Zone(z) => world.zones.get(*z).cloned().unwrap_or_default(),
        Target::Consumer(i) => world.consumers.get(*i).copied().into_iter().collect(),
    }
}

/// Start a fault; returns a description and the function that ends it.
fn apply(fault: &Fault, world: &ChaosWorld, active: &Shared) -> (String, Box<dyn FnOnce() + Send>) {
    let handle = Handle::current();
    match fault {
        Fault::Crash { target } => {
            let nodes = node_of(target, world);
            for n in &nodes {
                let count = *lock(active).down.entry(*n).or_default();
                *lock(active).down.entry(*n).or_default() += 1;
                if count == 0 {
                    handle.kill(*n);
                }
            }
            let active = active.clone();
            (
                format!("crash {target:?} {nodes:?}"),
                Box::new(move || {
                    for n in nodes {
                        let mut a = lock(&active);
                        let c = a.down.entry(n).or_default();
                        *c = c.saturating_sub(1);
                        if *c == 0 {
                            drop(a);
                            Handle::current().restart(n);
                        }
                    }
                }),
            )
        }
        Fault::Pause { target } => {
            let nodes = node_of(target, world);
            for n in &nodes {
                let first = {
                    let mut a = lock(active);
                    let c = a.paused.entry(*n).or_default();
                    *c += 1;
                    *c == 1
                };
                if first {
                    handle.pause(*n);
                }
            }
            let active = active.clone();
            (
                format!("pause {target:?}"),
                Box::new(move || {
                    for n in nodes {
                        let last = {
                            let mut a = lock(&active);
                            let c = a.paused.entry(n).or_default();
                            *c = c.saturating_sub(1);
                            *c == 0
                        };
                        if last {
                            Handle::current().resume(n);
                        }
                    }
                }),
            )
        }
        Fault::IsolateZone { zone } => {
            let inside = world.zones.get(*zone).cloned().unwrap_or_default();
            let outside: Vec<NodeId> = world
                .zones
                .iter()
                .enumerate()
                .filter(|(i, _)| i != zone)
                .flat_map(|(_, z)| z.iter().copied())
                .collect();
            let mut links = Vec::new();
            for a in &inside {
                for b in &outside {
                    links.push((*a, *b));
                    links.push((*b, *a));
                }
            }
            cut(active, &links);
            let active = active.clone();
            (
                format!("isolate zone {zone}"),
                Box::new(move || heal(&active, &links)),
            )
        }
        Fault::Partition { from, to, one_way } => {
            let (a, b) = (node_of(from, world), node_of(to, world));
            let mut links = Vec::new();
            for x in &a {
                for y in &b {
                    links.push((*x, *y));
                    if !one_way {
                        links.push((*y, *x));
                    }
                }
            }
            cut(active, &links);
            let active = active.clone();
            let what = format!(
                "{} {from:?} {} {to:?}",
                if *one_way { "one-way cut" } else { "partition" },
                if *one_way { "->" } else { "<->" }
            );
            (what, Box::new(move || heal(&active, &links)))
        }
        Fault::ReplyLoss {
            target,
            probability,
        } => {
            let ips: Vec<std::net::IpAddr> = node_of(target, world)
                .iter()
                .filter_map(|n| world.ips.get(n).copied())
                .collect();
            let table = world.reply_loss.clone();
            {
                let mut t = eddy_controlplane::sync::lock(&table);
                for ip in &ips {
                    let rate = t.entry(*ip).or_insert(0.0);
                    *rate = rate.max(*probability);
                }
            }
            (
                format!("replies lost at {target:?} {:.0}%", probability * 100.0),
                Box::new(move || {
                    let mut t = eddy_controlplane::sync::lock(&table);
                    for ip in &ips {
                        t.remove(ip);
                    }
                }),
            )
        }
        Fault::PacketLoss { rate } => {
            lock(active).loss.push(*rate);
            set_loss(active);
            let (active, rate) = (active.clone(), *rate);
            (
                format!("packet loss {:.0}%", rate * 100.0),
                Box::new(move || {
                    {
                        let mut a = lock(&active);
                        if let Some(i) = a.loss.iter().position(|r| *r == rate) {
                            a.loss.remove(i);
                        }
                    }
                    set_loss(&active);
                }),
            )
        }
        Fault::StorageErrors {
            probability,
            applied_first,
        } => {
            let f = if *applied_first {
                StorageFaults {
                    fail_after_prob: *probability,
                    ..StorageFaults::none()
                }
            } else {
                StorageFaults {
                    fail_before_prob: *probability,
                    ..StorageFaults::none()
                }
            };
            let what = format!(
                "storage errors {:.0}% ({})",
                probability * 100.0,
                if *applied_first {
                    "applied, then error"
                } else {
                    "not applied"
                }
            );
            storage_fault(f, world, active, what)
        }
        Fault::LatencySpike { extra_ms } => storage_fault(
            StorageFaults {
                extra_latency_ms: *extra_ms,
                ..StorageFaults::none()
            },
            world,
            active,
            format!("storage latency +{extra_ms:.0} ms"),
        ),
        Fault::JournalErrors {
            probability,
            applied_first,
            extra_ms,
        } => {
            let f = StorageFaults {
                fail_before_prob: if *applied_first { 0.0 } else { *probability },
                fail_after_prob: if *applied_first { *probability } else { 0.0 },
                extra_latency_ms: *extra_ms,
                ..StorageFaults::none()
            };
            let what = format!(
                "journal storage errors {:.0}% ({}), +{extra_ms:.0} ms",
                probability * 100.0,
                if *applied_first {
                    "applied, then error"
                } else {
                    "not applied"
                }
            );
            journal_fault(f, world, active, what)
        }
        Fault::WriteOutage => {
            let f = StorageFaults {
                writes_refused: true,
                ..StorageFaults::none()
            };
            let (what, heal_ingest) =
                storage_fault(f, world, active, "every bucket refuses writes".into());
            let (_, heal_journal) = journal_fault(f, world, active, String::new());
            (
                what,
                Box::new(move || {
                    heal_ingest();
                    heal_journal();
                }),
            )
        }
        Fault::ExpressOutage => storage_fault(
            StorageFaults {
                outage: true,
                ..StorageFaults::none()
            },
            world,
            active,
            "Express zone outage".into(),
        ),
    }
}

fn cut(active: &Shared, links: &[(NodeId, NodeId)]) {
    let net = madsim::net::NetSim::current();
    let mut a = lock(active);
    for l in links {
        let c = a.cut.entry(*l).or_default();
        *c += 1;
        if *c == 1 {
            net.clog_link(l.0, l.1);
        }
    }
}

fn heal(active: &Shared, links: &[(NodeId, NodeId)]) {
    let net = madsim::net::NetSim::current();
    let mut a = lock(active);
    for l in links {
        let c = a.cut.entry(*l).or_default();
        *c = c.saturating_sub(1);
        if *c == 0 {
            net.unclog_link(l.0, l.1);
        }
    }
}

fn set_loss(active: &Shared) {
    let rate = lock(active).loss.iter().copied().fold(0.0, f64::max);
    madsim::net::NetSim::current().update_config(|c| c.packet_loss_rate = rate);
}

fn storage_fault(
    f: StorageFaults,
    world: &ChaosWorld,
    active: &Shared,
    what: String,
) -> (String, Box<dyn FnOnce() + Send>) {
    lock(active).storage.push(f);
    world.ingest.set_faults(combined(&lock(active).storage));
    let (active, store) = (active.clone(), world.ingest.clone());
    (
        what,
        Box::new(move || {
            let mut a = lock(&active);
            if let Some(i) = a.storage.iter().position(|x| *x == f) {
                a.storage.remove(i);
            }
            store.set_faults(combined(&a.storage));
        }),
    )
}

/// Like [`storage_fault`], on the journal bucket.
fn journal_fault(
    f: StorageFaults,
    world: &ChaosWorld,
    active: &Shared,
    what: String,
) -> (String, Box<dyn FnOnce() + Send>) {
    lock(active).journal.push(f);
    world.journal.set_faults(combined(&lock(active).journal));
    let (active, store) = (active.clone(), world.journal.clone());
    (
        what,
        Box::new(move || {
            let mut a = lock(&active);
            if let Some(i) = a.journal.iter().position(|x| *x == f) {
                a.journal.remove(i);
            }
            store.set_faults(combined(&a.journal));
        }),
    )
}

fn combined(all: &[StorageFaults]) -> StorageFaults {
    all.iter()
        .fold(StorageFaults::none(), |acc, f| StorageFaults {
            fail_before_prob: acc.fail_before_prob.max(f.fail_before_prob),
            fail_after_prob: acc.fail_after_prob.max(f.fail_after_prob),
            extra_latency_ms: acc.extra_latency_ms + f.extra_latency_ms,
            outage: acc.outage || f.outage,
            writes_refused: acc.writes_refused || f.writes_refused,
        })
}
