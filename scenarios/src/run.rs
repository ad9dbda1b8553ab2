//! One simulated run: build the topology inside a seeded madsim runtime, run the workload
//! for the scenario's duration, stop producing, drain, and hand back what was recorded.

use eddy_controlplane::sync::lock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_agent::Agent;
use eddy_controlplane::api::{ClientConfig, ControlPlaneClient};
use eddy_controlplane::net::Transport;
use eddy_controlplane::ControlPlane;
use eddy_reports::Op;
use eddy_sim::{AzMap, AzTraffic, Meters, MetersSnapshot, NetMeter, SimObjectStore, StorageClass};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::invariants::{Invariants, Registry};
use crate::recorder::Recorder;
use crate::spec::Scenario;
use crate::topology::{Layout, NodeSpec, AGENT_PORT};
use crate::transport::SimTransport;
use crate::workload::{run_consumer, run_drain, run_producer, ConsumerRun, ProducerRun};

/// Everything a finished run leaves behind.
pub struct RunOutput {
    pub ops: Vec<Op>,
    pub meters: MetersSnapshot,
    pub traffic: Vec<AzTraffic>,
    /// The part of `traffic` on Kafka connections (clients ↔ agents).
    pub client_traffic: Vec<AzTraffic>,
    /// Simulated seconds from start to the end of the drain.
    pub sim_seconds: f64,
    /// Whether the final read-back reached every partition's high watermark.
    pub drained: bool,
    /// The fault plan this seed ran with (with the producer shape it drew, if any), the
    /// schedule drawn from it, and what happened.
    pub plan: eddy_faults::FaultPlan,
    pub schedule: Vec<eddy_faults::ScheduledFault>,
    pub fault_events: Vec<crate::chaos::FaultEvent>,
    /// Recovery after the faults stopped (`None` without faults).
    pub liveness: Option<crate::liveness::Liveness>,
    /// Stored bytes per storage class, sampled over the run.
    pub stored: Vec<eddy_reports::StoredSample>,
    /// Hits of every coverage probe (`eddy_probe::CATALOGUE`) in this run, zeros included.
    pub probes: BTreeMap<String, u64>,
    /// Delays BUGGIFY sites of the product injected (`eddy_probe::delayed`): faults the
    /// fault log does not hold, in simulated microseconds since the run started.
    pub injected_delays: Vec<InjectedDelay>,
    /// Violations of the invariant checker (class `invariant`; see `invariants.rs`).
    pub invariants: Vec<eddy_reports::Violation>,
    /// What the background-work observer saw (`None` when maintenance is off; see
    /// `progress.rs`), judged against `fault_events`.
    pub progress: Option<crate::progress::Record>,
    /// Transactional commands the control plane journaled and transactions it ended
    /// (from the replica that applied the most), when it saw any.
    pub txn_commands: Option<(u64, u64)>,
}

/// Which nodes a crash schedule picks from, how often, and where it writes down what it did.
struct CrashPlan {
    nodes: Vec<(madsim::task::NodeId, String)>,
    every_s: f64,
    down_s: f64,
    until: Instant,
    start: Instant,
    seed: u64,
    family: eddy_faults::Family,
    log: crate::chaos::FaultLog,
}

impl CrashPlan {
    /// Sleep about `every_s` (±25%); false when that passes `until`.
    async fn wait(&self, rng: &mut SmallRng) -> bool {
        let every = self.every_s * rng.gen_range(0.75..=1.25);
        let next = Instant::now() + Duration::from_secs_f64(every);
        if next >= self.until {
            return false;
        }
        tokio::time::sleep_until(next).await;
        true
    }

    async fn kill_and_restart(&self, index: usize, leader: bool) {
        let handle = madsim::runtime::Handle::current();
        let (id, name) = self.nodes[index].clone();
        let killed = self.start.elapsed();
        handle.kill(id);
        tokio::time::sleep(Duration::from_secs_f64(self.down_s)).await;
        handle.restart(id);
        lock(&self.log).push(crate::chaos::FaultEvent {
            start_ms: killed.as_millis() as u64,
            end_ms: self.start.elapsed().as_millis() as u64,
            family: self.family,
            what: format!("crash {name} (spec crashes)"),
            leader,
        });
    }
}

/// Kill whichever replica leads, about every `every_s`; restart it (memory wiped) after
/// `down_s`.
async fn crash_leaders(plan: CrashPlan, replicas: Registry) {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    while plan.wait(&mut rng).await {
        let leader = lock(&replicas)
            .iter()
            .find(|(_, cp)| cp.is_leader())
            .map(|(r, _)| *r);
        let Some(r) = leader else { continue };
        lock(&replicas).remove(&r);
        plan.kill_and_restart(r, true).await;
    }
}

/// Kill a random agent about every `every_s`; restart it after `down_s`.
async fn crash_agents(plan: CrashPlan) {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    while plan.wait(&mut rng).await {
        if plan.nodes.is_empty() {
            return;
        }
        let i = rng.gen_range(0..plan.nodes.len());
        plan.kill_and_restart(i, false).await;
    }
}

/// Run `scenario` under `seed`. Deterministic: the same inputs give the same output.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutput {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_micros(scenario.network.base_latency_us_min)
        ..Duration::from_micros(
            scenario
                .network
                .base_latency_us_max
                .max(scenario.network.base_latency_us_min + 1),
        );
    let scenario = scenario.for_seed(seed);
    // The runtime gets a thread of its own, created for this run. madsim seeds std's
    // `HashMap` keys from the run seed, but only on a thread whose keys nobody has drawn yet;
    // on a thread that already made a `HashMap` (a log subscriber, an earlier run in the same
    // test) the keys come from the OS, and the dependencies that iterate hash maps (madsim's
    // network among them) would then schedule differently from one process to the next:
    // `EDDY_LOG=error eddy run swarm.json --seed 470` gave three histories in three runs. A
    // new thread's keys are always undrawn. The probes are the run thread's alone, too.
    let run = move || {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, config);
        eddy_probe::start();
        eddy_probe::record_delays(sim_clock_us);
        let mut out = runtime.block_on(async move { simulate(scenario, seed).await });
        out.probes = eddy_probe::take();
        out
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(format!("sim-seed-{seed}"))
            .stack_size(RUN_THREAD_STACK)
            .spawn_scoped(scope, run)
            .expect("spawning the simulation thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Stack of the thread a run is hosted on: as large as a main thread's default (8 MiB), since
/// madsim runs every simulated task on it.
const RUN_THREAD_STACK: usize = 8 << 20;

/// What every phase of a run shares: where the nodes are, the meters, the buckets, and when
/// the run started.
struct World {
    layout: Layout,
    azs: AzMap,
    net: NetMeter,
    kafka_net: NetMeter,
    /// Reply-loss faults in force (servers' accepted connections check them).
    reply_loss: crate::transport::ReplyLoss,
    meters: Meters,
    start: Instant,
    /// The bucket agents write to (faults hit it).
    ingest: SimObjectStore,
    journal: SimObjectStore,
    /// Compaction outputs, when the scenario tiers them to their own bucket.
    compacted: Option<SimObjectStore>,
    /// Stored bytes sampled over the run.
    stored: Arc<Mutex<Vec<eddy_reports::StoredSample>>>,
    /// The running control-plane replicas.
    replicas: Registry,
    /// The invariant checker (checkpoints at the stored-bytes sampler's ticks).
    invariants: crate::invariants::Shared,
    /// The background-work observer (same ticks), when maintenance is on.
    progress: Option<crate::progress::Shared>,
}

/// The nodes of the deployment, by role, and each zone's nodes (for zone faults).
struct Nodes {
    controlplanes: Vec<(madsim::task::NodeId, String)>,
    agents: Vec<(madsim::task::NodeId, String)>,
    consumers: Vec<madsim::task::NodeId>,
    zones: Vec<Vec<madsim::task::NodeId>>,
    /// Addresses of the servers (agents and control-plane replicas), for reply-loss faults.
    ips: BTreeMap<madsim::task::NodeId, std::net::IpAddr>,
    /// The running control-plane replicas (for the leader crash schedule and fault targets).
    replicas: Registry,
}

impl Nodes {
    fn add_to_zone(&mut self, s: &Scenario, az: &str, id: madsim::task::NodeId) {
        let zone = s.topology.azs.iter().position(|a| a == az).unwrap_or(0);
        self.zones[zone].push(id);
    }
}

/// When the phases of a run end.
struct Phases {
    /// The fault schedule stops here.
    chaos_end: Instant,
    /// Healing (with faults only) lasts this long after the chaos phase.
    heal_s: f64,
    /// Producers stop here.
    workload_end: Instant,
    /// The drain must be done by here.
    run_end: Instant,
}

impl Phases {
    fn new(s: &Scenario, start: Instant, faulty: bool) -> Phases {
        let chaos_end = start + Duration::from_secs_f64(s.duration_s);
        let heal_s = if faulty { s.faults.heal_s } else { 0.0 };
        let workload_end = chaos_end + Duration::from_secs_f64(heal_s);
        Phases {
            chaos_end,
            heal_s,
            workload_end,
            run_end: workload_end + Duration::from_secs_f64(s.drain_s),
        }
    }
}

impl World {
    fn transport(&self, s: &Scenario, az: &str) -> Arc<dyn Transport> {
        Arc::new(SimTransport {
            local_az: az.to_string(),
            azs: self.azs.clone(),
            meter: self.net.clone(),
            profile: s.network.azs,
            kafka_port: AGENT_PORT,
            kafka_meter: self.kafka_net.clone(),
            reply_loss: self.reply_loss.clone(),
        })
    }
}

fn build_node<'a>(
    handle: &'a madsim::runtime::Handle,
    spec: &NodeSpec,
) -> madsim::runtime::NodeBuilder<'a> {
    handle.create_node().name(spec.name.clone()).ip(spec.ip)
}

/// One run, as phases: build the world, start the deployment, start the clients, drive the
/// faults while the workload runs, heal and settle, drain, and collect the outcome. The order
/// of node creation and task spawns is part of the seed's history: keep it.
/// One delay a BUGGIFY site injected (see [`RunOutput::injected_delays`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InjectedDelay {
    pub site: String,
    pub start_us: u64,
    pub end_us: u64,
}

/// Simulated microseconds since the runtime started (the clock of `eddy_probe::delayed`).
fn sim_clock_us() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_micros() as u64
}

async fn simulate(s: Scenario, seed: u64) -> RunOutput {
    if s.buggify {
        madsim::buggify::enable();
    }
    // The history's clock starts with the recorder, below; delays are timed from here.
    let t0 = sim_clock_us();
    let world = build_world(&s, seed);
    let mut nodes = start_deployment(&s, &world);
    let recorder = Recorder::new();
    recorder.set_retention(retention(&s));
    let plan = s.faults.plan(seed);
    // A listed schedule keeps its heal phase even when shrunk to no fault at all.
    let faulty = !plan.is_empty() || s.faults.mode == crate::spec::FaultMode::Scheduled;
    let phases = Phases::new(&s, world.start, faulty);
    // Every fault of the run is written down in one log.
    let faults_log: crate::chaos::FaultLog = Arc::new(Mutex::new(Vec::new()));
    let crash_tasks = start_crash_schedules(&s, seed, &world, &nodes, &phases, &faults_log);
    start_clients(
        &s,
        seed,
        &world,
        &mut nodes,
        &plan,
        &phases,
        &recorder,
        &faults_log,
    );
    let (schedule, chaos) = start_chaos(&s, seed, &world, nodes, &plan, &phases, &faults_log);
    heal_and_settle(&s, &phases, chaos, crash_tasks, &recorder).await;
    let drained = drain(&s, &world, &phases, &recorder).await;
    let invariants = world.invariants.clone();
    let progress = world.progress.clone();
    let txn_commands = txn_commands(&world.replicas);
    let mut out = outcome(
        &s,
        world,
        &phases,
        recorder,
        drained,
        plan,
        schedule,
        &faults_log,
    );
    // Everything recorded is taken: the final checks may wait without changing a byte of it.
    out.injected_delays = eddy_probe::take_delays()
        .into_iter()
        .map(|d| {
            let start_us = d.at_us.saturating_sub(t0);
            InjectedDelay {
                site: d.site.to_string(),
                start_us,
                end_us: start_us + d.ms * 1000,
            }
        })
        .collect();
    out.txn_commands = txn_commands;
    out.invariants = Invariants::finish(invariants).await;
    if let Some(progress) = progress {
        out.progress = Some(crate::progress::Progress::finish(progress).await);
    }
    out
}

/// (transactional commands journaled, transactions ended) by the replica that applied the
/// most; `None` when no transaction was seen.
fn txn_commands(replicas: &crate::invariants::Registry) -> Option<(u64, u64)> {
    let state = lock(replicas)
        .values()
        .map(|cp| cp.state())
        .max_by_key(|s| s.applied)?;
    let t = &state.transactions;
    (t.commands > 0).then_some((t.commands, t.committed + t.aborted))
}

/// The layout, meters and buckets of a run (the storage node serves the buckets).
fn build_world(s: &Scenario, seed: u64) -> World {
    let handle = madsim::runtime::Handle::current();
    let layout = Layout::new(s);
    let azs = AzMap::new();
    for n in layout.all_nodes() {
        azs.insert(n.ip, n.az.clone());
    }
    let meters = Meters::new();
    let start = Instant::now();
    let replicas: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    // Filled in below, once the buckets exist (the sampler's first tick is a second away).
    let invariants_slot: Arc<Mutex<Option<Checkers>>> = Default::default();
    let stored = sample_stored(meters.clone(), start, s.duration_s, invariants_slot.clone());
    let storage_node = build_node(&handle, &layout.storage).build();
    let journal_home = (s.storage.journal.class == StorageClass::S3Express)
        .then(|| s.topology.controlplane_az.clone());
    let ingest_home =
        (s.storage.ingest.class == StorageClass::S3Express).then(|| s.storage.ingest_az.clone());
    let ingest = SimObjectStore::new(
        crate::usage::DATA_BUCKET,
        s.storage.ingest.clone(),
        ingest_home,
        meters.clone(),
        eddy_faults::derive_seed(seed, "store.ingest", 0),
        Some(storage_node.clone()),
    );
    let journal = SimObjectStore::new(
        "journal",
        s.storage.journal.clone(),
        journal_home,
        meters.clone(),
        eddy_faults::derive_seed(seed, "store.journal", 0),
        Some(storage_node.clone()),
    );
    // Tiered storage: compaction outputs go to their own bucket.
    let compacted = s.storage.compacted.as_ref().map(|profile| {
        let home = (profile.class == StorageClass::S3Express).then(|| s.storage.ingest_az.clone());
        SimObjectStore::new(
            "compacted",
            profile.clone(),
            home,
            meters.clone(),
            eddy_faults::derive_seed(seed, "store.compacted", 0),
            Some(storage_node.clone()),
        )
    });
    let invariants = Invariants::new(
        replicas.clone(),
        journal.clone(),
        ingest.clone(),
        compacted.clone(),
        s.plants.clone(),
        start,
    );
    let progress = crate::progress::Progress::new(
        s,
        replicas.clone(),
        ingest.clone(),
        compacted.clone(),
        start,
    );
    *lock(&invariants_slot) = Some((invariants.clone(), progress.clone()));
    World {
        replicas,
        invariants,
        progress,
        layout,
        azs,
        net: NetMeter::new(),
        kafka_net: NetMeter::new(),
        reply_loss: Default::default(),
        meters,
        start,
        ingest,
        journal,
        compacted,
        stored,
    }
}

/// Start the control-plane replicas, then the agents.
fn start_deployment(s: &Scenario, world: &World) -> Nodes {
    let mut nodes = Nodes {
        controlplanes: Vec::new(),
        agents: Vec::new(),
        consumers: Vec::new(),
        zones: vec![Vec::new(); s.topology.azs.len()],
        ips: BTreeMap::new(),
        replicas: world.replicas.clone(),
    };
    start_controlplanes(s, world, &mut nodes);
    start_agents(s, world, &mut nodes);
    nodes
}

/// Control-plane replicas, one per AZ round-robin; each registers its handle when it
/// (re)starts so that the crash schedule can find the leader.
fn start_controlplanes(s: &Scenario, world: &World, nodes: &mut Nodes) {
    let handle = madsim::runtime::Handle::current();
    let layout = &world.layout;
    let cp_addrs = layout.controlplane_addrs();
    for (r, node) in layout.controlplanes.iter().enumerate() {
        let store = world.journal.view_from(&node.az);
        let transport = world.transport(s, &node.az);
        let mut config = s.controlplane.clone();
        config.plants = s.plants.clone();
        let advertise = cp_addrs[r].to_string();
        let port = cp_addrs[r].port();
        let registry = nodes.replicas.clone();
        let cp = build_node(&handle, node)
            .init(move || {
                let (store, transport, config, advertise, registry) = (
                    store.clone(),
                    transport.clone(),
                    config.clone(),
                    advertise.clone(),
                    registry.clone(),
                );
                async move {
                    let listen = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), port);
                    match ControlPlane::start_replica(
                        config,
                        Arc::new(store),
                        transport,
                        listen,
                        Some(advertise),
                    )
                    .await
                    {
                        Ok(cp) => {
                            lock(&registry).insert(r, cp);
                            std::future::pending::<()>().await
                        }
                        Err(e) => tracing::error!(error = %e, "control plane failed to start"),
                    }
                }
            })
            .build();
        nodes.controlplanes.push((cp.id(), node.name.clone()));
        nodes.ips.insert(cp.id(), node.ip);
        nodes.add_to_zone(s, &node.az, cp.id());
    }
}

/// The agents, each on its AZ's view of the buckets.
fn start_agents(s: &Scenario, world: &World, nodes: &mut Nodes) {
    let handle = madsim::runtime::Handle::current();
    let cp_addrs = world.layout.controlplane_addrs();
    for (node, id) in &world.layout.agents {
        let store: Arc<dyn object_store::ObjectStore> = match &world.compacted {
            Some(high) => Arc::new(eddy_agent::tiered::TieredStore::new(
                Arc::new(world.ingest.view_from(&node.az)),
                Arc::new(high.view_from(&node.az)),
            )),
            None => Arc::new(world.ingest.view_from(&node.az)),
        };
        let transport = world.transport(s, &node.az);
        let mut config = s
            .agent
            .config(*id, &node.az, &node.ip.to_string(), AGENT_PORT);
        config.default_partitions = s.workload.partitions;
        config.plants = s.plants.clone();
        let cp_addrs = cp_addrs.clone();
        let agent = build_node(&handle, node)
            .init(move || {
                let (store, transport, config) = (store.clone(), transport.clone(), config.clone());
                let cp_addrs = cp_addrs.clone();
                async move {
                    let cp =
                        ControlPlaneClient::new(ClientConfig::new(cp_addrs), transport.clone());
                    match Agent::start(config, store, cp, transport).await {
                        Ok(_agent) => std::future::pending::<()>().await,
                        Err(e) => tracing::error!(error = %e, "agent failed to start"),
                    }
                }
            })
            .build();
        nodes.agents.push((agent.id(), node.name.clone()));
        nodes.ips.insert(agent.id(), node.ip);
        nodes.add_to_zone(s, &node.az, agent.id());
    }
}

/// The spec's periodic crashes (`crashes`): control-plane leaders and agents.
fn start_crash_schedules(
    s: &Scenario,
    seed: u64,
    world: &World,
    nodes: &Nodes,
    phases: &Phases,
    log: &crate::chaos::FaultLog,
) -> Vec<tokio::task::JoinHandle<()>> {
    let crash_end =
        phases.workload_end - Duration::from_secs_f64(s.crashes.crash_end_s.min(s.duration_s));
    let mut crash_tasks = Vec::new();
    if s.crashes.controlplane_leader_every_s > 0.0 {
        crash_tasks.push(tokio::spawn(crash_leaders(
            CrashPlan {
                nodes: nodes.controlplanes.clone(),
                every_s: s.crashes.controlplane_leader_every_s,
                down_s: s.crashes.controlplane_down_s,
                until: crash_end,
                start: world.start,
                seed: eddy_faults::derive_seed(seed, "crashes.controlplane", 0),
                family: eddy_faults::Family::ControlPlaneCrash,
                log: log.clone(),
            },
            nodes.replicas.clone(),
        )));
    }
    if s.crashes.agent_every_s > 0.0 {
        crash_tasks.push(tokio::spawn(crash_agents(CrashPlan {
            nodes: nodes.agents.clone(),
            every_s: s.crashes.agent_every_s,
            down_s: s.crashes.agent_down_s,
            until: crash_end,
            start: world.start,
            seed: eddy_faults::derive_seed(seed, "crashes.agent", 0),
            family: eddy_faults::Family::AgentCrash,
            log: log.clone(),
        })));
    }
    crash_tasks
}

/// Producers, consumers (groups or plain assignment; see consumers.rs) and consumer churn.
#[allow(clippy::too_many_arguments)]
fn start_clients(
    s: &Scenario,
    seed: u64,
    world: &World,
    nodes: &mut Nodes,
    plan: &eddy_faults::FaultPlan,
    phases: &Phases,
    recorder: &Recorder,
    log: &crate::chaos::FaultLog,
) {
    let handle = madsim::runtime::Handle::current();
    let layout = &world.layout;
    // Swarm seeds may draw their producers' configuration.
    let producer_workload = match &plan.producer {
        Some(shape) => s.workload.with_producer(shape),
        None => s.workload.clone(),
    };
    for node in &layout.producers {
        let run = ProducerRun {
            process: node.name.clone(),
            az: node.az.clone(),
            bootstrap: layout.bootstrap(&node.az),
            workload: producer_workload.clone(),
            seed,
            until: phases.workload_end,
        };
        let transport = world.transport(s, &node.az);
        let recorder = recorder.clone();
        let producer_node = build_node(&handle, node).build();
        nodes.add_to_zone(s, &node.az, producer_node.id());
        producer_node.spawn(run_producer(run, transport, recorder));
    }
    let zombies = crate::consumers::ZombieRun {
        seed,
        run_start: world.start,
        until: phases.workload_end,
        log: log.clone(),
    };
    let consumer_nodes = spawn_consumers(&handle, world, s, recorder, phases.run_end, zombies);
    for (node, id) in world.layout.consumers.iter().zip(&consumer_nodes) {
        nodes.add_to_zone(s, &node.az, *id);
    }
    nodes.consumers = consumer_nodes.clone();
    if !s.workload.transactions.is_off() {
        start_transactional_clients(s, seed, world, nodes, phases, recorder, log);
    }
    let s = s.clone();
    let (log, until, start) = (log.clone(), phases.workload_end, world.start);
    tokio::spawn(async move {
        crate::consumers::churn(&s, seed, &consumer_nodes, until, log, start).await
    });
}

/// Transactional producers and pipeline members (`workload.transactions`), each on a node
/// whose restart runs it again (a crash mid-transaction: `transactions.rs`), and the task
/// that crashes them when they ask.
fn start_transactional_clients(
    s: &Scenario,
    seed: u64,
    world: &World,
    nodes: &mut Nodes,
    phases: &Phases,
    recorder: &Recorder,
    log: &crate::chaos::FaultLog,
) {
    use crate::transactions::{
        crash_supervisor, run_pipeline, run_txn_producer, TxnClient, TxnCtx,
    };
    let handle = madsim::runtime::Handle::current();
    let (crashes, requests) = tokio::sync::mpsc::unbounded_channel();
    let ctx = TxnCtx {
        seed,
        run_start: world.start,
        until: phases.workload_end,
        log: log.clone(),
        recorder: recorder.clone(),
        crashes,
    };
    let mut ids = BTreeMap::new();
    let layout = &world.layout;
    let roles = (layout.txn_producers.iter().map(|n| (n, false)))
        .chain(layout.pipelines.iter().map(|n| (n, true)));
    for (node, pipeline) in roles {
        let client = TxnClient {
            node: node.name.clone(),
            az: node.az.clone(),
            bootstrap: layout.bootstrap(&node.az),
            workload: s.workload.clone(),
            instances: Default::default(),
            transport: world.transport(s, &node.az),
        };
        let ctx = ctx.clone();
        let built = build_node(&handle, node)
            .init(move || {
                let (client, ctx) = (client.clone(), ctx.clone());
                async move {
                    if pipeline {
                        run_pipeline(client, ctx).await
                    } else {
                        run_txn_producer(client, ctx).await
                    }
                }
            })
            .build();
        nodes.add_to_zone(s, &node.az, built.id());
        ids.insert(node.name.clone(), built.id());
    }
    tokio::spawn(crash_supervisor(ids, requests, ctx));
}

/// The chaos phase: draw the seed's fault schedule and apply it while the workload runs.
fn start_chaos(
    s: &Scenario,
    seed: u64,
    world: &World,
    nodes: Nodes,
    plan: &eddy_faults::FaultPlan,
    phases: &Phases,
    log: &crate::chaos::FaultLog,
) -> (
    Vec<eddy_faults::ScheduledFault>,
    tokio::task::JoinHandle<()>,
) {
    let shape = eddy_faults::Shape {
        agents: nodes.agents.len(),
        controlplanes: nodes.controlplanes.len(),
        zones: s.topology.azs.len(),
        consumers: nodes.consumers.len(),
        express: s.storage.ingest.class == StorageClass::S3Express,
    };
    let chaos_ms = (s.duration_s * 1000.0) as u64;
    let schedule = if s.faults.mode == crate::spec::FaultMode::Scheduled {
        let mut listed: Vec<_> = (s.faults.schedule.iter())
            .filter(|f| f.at_ms < chaos_ms)
            .cloned()
            .collect();
        listed.sort_by_key(|f| f.at_ms);
        listed
    } else {
        eddy_faults::schedule(plan, &shape, chaos_ms, seed)
    };
    let replicas = nodes.replicas;
    let chaos_world = crate::chaos::ChaosWorld {
        agents: nodes.agents.iter().map(|(id, _)| *id).collect(),
        controlplanes: nodes.controlplanes.iter().map(|(id, _)| *id).collect(),
        zones: nodes.zones,
        ingest: world.ingest.clone(),
        journal: world.journal.clone(),
        consumers: nodes.consumers,
        ips: nodes.ips,
        reply_loss: world.reply_loss.clone(),
        leader: Arc::new(move || {
            lock(&replicas)
                .iter()
                .find(|(_, cp)| cp.is_leader())
                .map(|(r, _)| *r)
        }),
    };
    let chaos = tokio::spawn(crate::chaos::run_schedule(
        schedule.clone(),
        chaos_world,
        world.start,
        phases.chaos_end,
        log.clone(),
    ));
    (schedule, chaos)
}

/// Let the workload run (chaos, then heal) to its end, wait for every fault to be reverted,
/// then let outstanding sends finish (at most half the drain budget).
async fn heal_and_settle(
    s: &Scenario,
    phases: &Phases,
    chaos: tokio::task::JoinHandle<()>,
    crash_tasks: Vec<tokio::task::JoinHandle<()>>,
    recorder: &Recorder,
) {
    tokio::time::sleep_until(phases.workload_end).await;
    let _ = chaos.await;
    for task in crash_tasks {
        let _ = task.await;
    }
    let settle_end = phases.workload_end + Duration::from_secs_f64(s.drain_s / 2.0);
    while recorder.outstanding() > 0 && Instant::now() < settle_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Read everything back; true when the read-back reached every high watermark.
async fn drain(s: &Scenario, world: &World, phases: &Phases, recorder: &Recorder) -> bool {
    let handle = madsim::runtime::Handle::current();
    let drained = Arc::new(Mutex::new(false));
    let node = &world.layout.drain;
    let run = ConsumerRun {
        process: node.name.clone(),
        az: node.az.clone(),
        bootstrap: world.layout.bootstrap(&node.az),
        workload: s.workload.clone(),
        partitions: (0..s.workload.partitions).collect(),
        drain: true,
        read_back: false,
        read_committed: false,
        until: phases.run_end,
    };
    let transport = world.transport(s, &node.az);
    let recorder = recorder.clone();
    let flag = drained.clone();
    // A transactional pipeline's output topic is read back too.
    let output = (s.workload.transactions.pipeline_per_az > 0).then(|| ConsumerRun {
        process: run.process.clone(),
        az: run.az.clone(),
        bootstrap: run.bootstrap.clone(),
        workload: crate::spec::Workload {
            topic: s.workload.transactions.output_topic.clone(),
            ..s.workload.clone()
        },
        partitions: run.partitions.clone(),
        drain: true,
        read_back: false,
        read_committed: false,
        until: run.until,
    });
    let task = build_node(&handle, node).build().spawn(async move {
        let mut ok = run_drain(run, transport.clone(), recorder.clone()).await;
        if let Some(out) = output {
            ok &= run_drain(out, transport, recorder).await;
        }
        *lock(&flag) = ok;
    });
    let _ = task.await;
    let drained = *lock(&drained);
    drained
}

/// What the run leaves behind: the history, the meters, the faults as they happened, and
/// (with faults) the liveness verdict of the healing phase.
#[allow(clippy::too_many_arguments)]
fn outcome(
    s: &Scenario,
    world: World,
    phases: &Phases,
    recorder: Recorder,
    drained: bool,
    plan: eddy_faults::FaultPlan,
    schedule: Vec<eddy_faults::ScheduledFault>,
    log: &crate::chaos::FaultLog,
) -> RunOutput {
    let start = world.start;
    let sim_seconds = start.elapsed().as_secs_f64();
    let ops = recorder.take_ops();
    let liveness = (!plan.is_empty()).then(|| {
        let offered = s.workload.records_per_s * world.layout.producers.len() as f64;
        let heal_start = s.duration_s;
        crate::liveness::judge(
            &ops,
            heal_start,
            heal_start + phases.heal_s,
            offered,
            s.faults.recovery_fraction,
            s.faults.recovery_bound_s,
        )
    });
    let fault_events = crate::chaos::sorted_events(log);
    let mut stored = lock(&world.stored).clone();
    stored.push(stored_sample(&world.meters, start));
    RunOutput {
        stored,
        ops,
        meters: world.meters.snapshot(),
        traffic: merge_traffic(world.net.snapshot(), world.kafka_net.snapshot()),
        client_traffic: world.kafka_net.snapshot(),
        sim_seconds,
        drained,
        plan,
        schedule,
        fault_events,
        liveness,
        probes: BTreeMap::new(),
        injected_delays: Vec::new(),
        invariants: Vec::new(),
        progress: None,
        txn_commands: None,
    }
}

/// Start every consumer node with an init closure, so a restarted node runs its consumer
/// again (and rejoins its group).
fn spawn_consumers(
    handle: &madsim::runtime::Handle,
    world: &World,
    s: &Scenario,
    recorder: &Recorder,
    run_end: Instant,
    zombies: crate::consumers::ZombieRun,
) -> Vec<madsim::task::NodeId> {
    use crate::consumers::{consumer_role, run_group_consumer, ConsumerRole};
    let per_az = s.topology.consumers_per_az.max(1);
    let mut ids = Vec::new();
    for (i, node) in world.layout.consumers.iter().enumerate() {
        let role = consumer_role(s, node, i % per_az);
        let read_committed =
            i % per_az >= per_az.saturating_sub(s.workload.transactions.read_committed_per_az);
        let run = ConsumerRun {
            process: node.name.clone(),
            az: node.az.clone(),
            bootstrap: world.layout.bootstrap(&node.az),
            workload: s.workload.clone(),
            partitions: match &role {
                ConsumerRole::Assigned(p) => p.clone(),
                ConsumerRole::Group(_) => Vec::new(),
            },
            drain: false,
            read_back: false,
            read_committed,
            until: run_end,
        };
        let transport = world.transport(s, &node.az);
        let recorder = recorder.clone();
        let zombies = zombies.clone();
        let built = build_node(handle, node)
            .init(move || {
                let (run, transport, recorder) = (
                    ConsumerRun {
                        process: run.process.clone(),
                        az: run.az.clone(),
                        bootstrap: run.bootstrap.clone(),
                        workload: run.workload.clone(),
                        partitions: run.partitions.clone(),
                        drain: run.drain,
                        read_back: false,
                        read_committed: run.read_committed,
                        until: run.until,
                    },
                    transport.clone(),
                    recorder.clone(),
                );
                let role = role.clone();
                let zombies = zombies.clone();
                async move {
                    match role {
                        ConsumerRole::Assigned(_) => run_consumer(run, transport, recorder).await,
                        ConsumerRole::Group(g) => {
                            run_group_consumer(run, g, transport, recorder, zombies).await
                        }
                    }
                }
            })
            .build();
        ids.push(built.id());
    }
    ids
}

/// Sum two traffic matrices pair by pair.
fn merge_traffic(a: Vec<AzTraffic>, b: Vec<AzTraffic>) -> Vec<AzTraffic> {
    let mut sum: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for t in a.into_iter().chain(b) {
        *sum.entry((t.src, t.dst)).or_default() += t.bytes;
    }
    sum.into_iter()
        .map(|((src, dst), bytes)| AzTraffic { src, dst, bytes })
        .collect()
}

/// The retention of the workload's topic, as the expired-early check judges it: by time,
/// and by bytes with an upper bound on a record's stored size (its value plus at most 128
/// bytes: a v2 record's framing is at most 23 bytes and a batch header 61, for a batch of
/// one record, with room for a compression frame).
fn retention(s: &Scenario) -> crate::recorder::Retention {
    let m = &s.controlplane.maintenance;
    let policy = m.policy(&s.workload.topic);
    if !m.enabled {
        return Default::default();
    }
    crate::recorder::Retention {
        horizon_ms: policy.retention_ms,
        bytes_limit: policy.retention_bytes,
        record_bytes_max: Some(s.workload.record_bytes as u64 + 128),
    }
}

/// The checkers that read state at the sampler's ticks: invariants, and the background-work
/// observer when maintenance is on.
type Checkers = (crate::invariants::Shared, Option<crate::progress::Shared>);

/// Samples stored bytes per storage class every `duration_s / 60` simulated seconds (at
/// least every second) for the rest of the run; the caller adds the final sample.
fn sample_stored(
    meters: Meters,
    start: Instant,
    duration_s: f64,
    invariants: Arc<Mutex<Option<Checkers>>>,
) -> Arc<Mutex<Vec<eddy_reports::StoredSample>>> {
    let samples = Arc::new(Mutex::new(vec![stored_sample(&meters, start)]));
    let every = Duration::from_secs_f64((duration_s / 60.0).max(1.0));
    let out = samples.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let sample = stored_sample(&meters, start);
            lock(&out).push(sample);
            // An invariant checkpoint reads state only: no timer, no random number.
            if let Some((inv, progress)) = lock(&invariants).as_ref() {
                lock(inv).checkpoint();
                if let Some(progress) = progress {
                    lock(progress).observe();
                }
            }
            prune_finished_tasks();
        }
    });
    samples
}

/// madsim keeps a weak reference to every task ever spawned on a node (pruned only when
/// the tasks are counted), and each keeps the finished task's bookkeeping allocated: about
/// 26 MB in a 60 s basic-standard run. Counting them prunes the lists; it draws no random
/// number and sets no timer, so runs stay the same.
fn prune_finished_tasks() {
    madsim::runtime::Handle::current().metrics().num_tasks();
}

fn stored_sample(meters: &Meters, start: Instant) -> eddy_reports::StoredSample {
    let snapshot = meters.snapshot();
    let classes = snapshot
        .by_class()
        .into_iter()
        .map(|(class, m)| {
            (
                class.as_str().to_string(),
                eddy_reports::ClassStored {
                    stored_bytes: m.stored_bytes,
                    gb_hours: m.byte_seconds / 3600.0 / 1e9,
                },
            )
        })
        .collect();
    eddy_reports::StoredSample {
        at_s: start.elapsed().as_secs_f64(),
        classes,
    }
}
