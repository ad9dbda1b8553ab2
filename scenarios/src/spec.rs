//! Scenario specs: plain JSON data describing a topology, a workload, storage and network
//! models, and timings. Unknown fields are errors, so a typo never silently means "default".

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use eddy_agent::AgentConfig;
use eddy_controlplane::ControlPlaneConfig;
use eddy_reports::LatencyBounds;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub topology: Topology,
    pub workload: Workload,
    pub storage: StorageSpec,
    pub network: NetworkSpec,
    /// Agent settings shared by every agent (node id, AZ and port are set per agent).
    pub agent: AgentSettings,
    pub controlplane: ControlPlaneConfig,
    /// Faults injected during the chaos phase (the first `duration_s` seconds).
    pub faults: FaultsSpec,
    /// Planted bugs switched on in the agents and the control plane (`eddy run --plant`).
    pub plants: eddy_controlplane::Plants,
    /// Turn on BUGGIFY sites in product code (delays where races live).
    pub buggify: bool,
    /// Simulated seconds of workload (the chaos phase when faults are on).
    pub duration_s: f64,
    /// Simulated seconds allowed for outstanding sends to finish and the final read-back.
    pub drain_s: f64,
    /// Scheduled crashes (control-plane leader, agents) during the workload.
    pub crashes: Crashes,
    /// WarpStream's tiered storage block, accepted as is: ingest lands in `lowLatency`,
    /// compaction writes to `highLatency` (with `controlplane.maintenance.enabled`).
    #[serde(
        rename = "tieredStorageConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub tiered_storage_config: Option<TieredStorageConfig>,
    /// Consumer crashes and restarts.
    pub consumer_churn: ConsumerChurn,
    /// Verdicts beyond safety (latency bounds), judged like the safety checkers.
    pub verdicts: Verdicts,
}

/// The latency a run promises. Omitted bounds follow from the scenario's own model (see
/// [`Scenario::latency_model`]), so a what-if that changes the model moves them too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Verdicts {
    /// Judge latency at all.
    pub latency: bool,
    /// Produce-ack p99 bound, ms (omitted: the model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produce_ack_p99_ms: Option<f64>,
    /// Delivery p99 bound, ms (omitted: the model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_p99_ms: Option<f64>,
    /// Sends invoked during a fault or less than this long after it are not judged
    /// (omitted: `faults.recovery_bound_s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    /// The first seconds of a run are not judged: clients learn the cluster and consumer
    /// groups form (a first rebalance delays the first deliveries by its own timeouts).
    pub warmup_s: f64,
    /// Fewest judged samples for a latency verdict.
    pub min_samples: u64,
    /// Judge zone locality and object-storage requests against the model
    /// (`cross_az_traffic`, `storage_requests`; see `scenarios/src/efficiency.rs`).
    pub efficiency: bool,
    /// Largest share of zone-aware clients' Kafka bytes that may cross AZs (omitted: 2%
    /// plus the share of the producing window with an agent down, paused or isolated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_az_share_max: Option<f64>,
    /// Floors on the share of time partitions could be written and read during each fault
    /// family (`scenarios/src/availability.rs`); a family listed here replaces its default
    /// floors (`null` for no floor).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub availability_floors: BTreeMap<eddy_faults::Family, AvailabilityFloor>,
    /// Fewest wanted buckets for an availability floor to be judged.
    pub availability_min_wanted: u64,
    /// Floor on the share of wanted buckets served in quiet time (no fault, none in the
    /// last `recovery_s`, after the warm-up), writes and reads alike; `null`: not judged.
    pub availability_quiet_floor: Option<f64>,
}

/// The least share of wanted buckets that must be served during a fault family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityFloor {
    pub write: Option<f64>,
    pub read: Option<f64>,
}

impl Default for Verdicts {
    fn default() -> Self {
        Verdicts {
            latency: true,
            produce_ack_p99_ms: None,
            delivery_p99_ms: None,
            recovery_s: None,
            warmup_s: 5.0,
            min_samples: 1_000,
            efficiency: true,
            cross_az_share_max: None,
            availability_floors: BTreeMap::new(),
            availability_min_wanted: 20,
            availability_quiet_floor: Some(0.9),
        }
    }
}

/// The latency bounds a scenario's model implies, and the terms they add up from (ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyModel {
    /// The producer's linger.
    pub linger_ms: f64,
    /// The agent's batch timeout.
    pub batch_timeout_ms: f64,
    /// The ingest PUT at its p99 first byte, plus a typical file's transfer at the 1st
    /// percentile bandwidth, plus the cross-AZ extra of a zonal bucket.
    pub put_ms: f64,
    /// The journal write of the commit at its p99, plus the control plane's group commit.
    pub commit_ms: f64,
    /// Waiting for a free request slot: a request every `linger` would need
    /// `cycle / linger` requests in flight per connection to cover a flush cycle (batch
    /// timeout + PUT + commit); with `max_in_flight` fewer, the share of batches that must
    /// wait, `1 - max_in_flight / (cycle / linger)`, times a cycle.
    pub queue_ms: f64,
    /// The read path: the control plane's lookup round, a GET at its p99 first byte and
    /// the file's transfer.
    pub read_ms: f64,
    /// The slack every term is multiplied by (queueing, retries of a single request, the
    /// tail of sums).
    pub slack: f64,
    /// `slack × (linger + batch timeout + PUT + commit + queue)`.
    pub produce_ack_p99_ms: f64,
    /// `produce_ack_p99_ms + slack × read`.
    pub delivery_p99_ms: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "unnamed".into(),
            description: String::new(),
            topology: Topology::default(),
            workload: Workload::default(),
            storage: StorageSpec::default(),
            network: NetworkSpec::default(),
            agent: AgentSettings::default(),
            controlplane: ControlPlaneConfig::default(),
            faults: FaultsSpec::default(),
            plants: eddy_controlplane::Plants::none(),
            buggify: false,
            duration_s: 60.0,
            drain_s: 30.0,
            crashes: Crashes::default(),
            tiered_storage_config: None,
            consumer_churn: ConsumerChurn::default(),
            verdicts: Verdicts::default(),
        }
    }
}

/// How faults are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// No faults: chaos and heal phases are skipped.
    #[default]
    None,
    /// Exactly the families listed in `families`.
    Fixed,
    /// Swarm testing: each seed picks a random subset of `swarm_families` with random
    /// intensities.
    Swarm,
    /// Exactly the faults listed in `schedule`, each with its start, duration and target:
    /// what `eddy shrink` writes (any run's drawn schedule is in its report.json).
    Scheduled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsSpec {
    pub mode: FaultMode,
    /// For `fixed`: the families and their intensities.
    pub families: std::collections::BTreeMap<eddy_faults::Family, eddy_faults::Intensity>,
    /// For `swarm`: the families a seed may pick from (default: all but the control-plane
    /// leader pause, see `Family::SWARM_DEFAULT`).
    pub swarm_families: Vec<eddy_faults::Family>,
    /// For `swarm`: each seed also draws its producers' configuration (idempotence,
    /// requests in flight, linger and batch size, timeouts; `ProducerShape::swarm`), which
    /// replaces the workload's. Off by default, so other swarm scenarios keep their seeds.
    pub swarm_producer: bool,
    /// For `swarm`: each seed also draws, from a stream of its own, whether its workload
    /// runs Kafka transactions (half the seeds) and their shape (`Transactions::swarm`),
    /// unless the scenario sets `workload.transactions` itself. Off by default.
    pub swarm_transactions: bool,
    /// Seconds of fault-free workload after the chaos phase, before the drain.
    pub heal_s: f64,
    /// Liveness: within this many seconds of the heal phase starting, acknowledged
    /// throughput must come back to `recovery_fraction` of the offered load.
    pub recovery_bound_s: f64,
    pub recovery_fraction: f64,
    /// For `scheduled`: the faults to inject (faults starting after `duration_s` are not).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<eddy_faults::ScheduledFault>,
    /// For `scheduled`: the producers' configuration (a swarm seed's draw); `None`: the
    /// workload's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<eddy_faults::ProducerShape>,
}

impl Default for FaultsSpec {
    fn default() -> Self {
        FaultsSpec {
            mode: FaultMode::None,
            families: Default::default(),
            swarm_families: eddy_faults::Family::SWARM_DEFAULT.to_vec(),
            swarm_producer: false,
            swarm_transactions: false,
            heal_s: 30.0,
            recovery_bound_s: 20.0,
            recovery_fraction: 0.8,
            schedule: Vec::new(),
            producer: None,
        }
    }
}

impl Scenario {
    /// The scenario seed `seed` runs: with swarm's transactional draw applied
    /// (`faults.swarm_transactions`) when the scenario asks for it and sets no transactions
    /// itself.
    pub fn for_seed(&self, seed: u64) -> Scenario {
        let mut s = self.clone();
        if s.faults.mode == FaultMode::Swarm
            && s.faults.swarm_transactions
            && !s.workload.transactions.is_on()
        {
            if let Some(t) = Transactions::swarm(seed, s.topology.consumers_per_az) {
                s.workload.transactions = t;
            }
        }
        s
    }
}

impl FaultsSpec {
    /// The plan a seed runs with.
    pub fn plan(&self, seed: u64) -> eddy_faults::FaultPlan {
        match self.mode {
            FaultMode::None => eddy_faults::FaultPlan::none(),
            FaultMode::Fixed => eddy_faults::FaultPlan {
                families: self.families.clone(),
                producer: None,
            },
            FaultMode::Scheduled => eddy_faults::FaultPlan {
                families: self
                    .schedule
                    .iter()
                    .map(|f| (f.family, eddy_faults::Intensity::default()))
                    .collect(),
                producer: self.producer.clone(),
            },
            FaultMode::Swarm => eddy_faults::FaultPlan {
                producer: self
                    .swarm_producer
                    .then(|| eddy_faults::ProducerShape::swarm(seed)),
                ..eddy_faults::FaultPlan::swarm(seed, &self.swarm_families)
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topology {
    pub azs: Vec<String>,
    pub agents_per_az: usize,
    pub producers_per_az: usize,
    pub consumers_per_az: usize,
    /// AZ of the first control-plane replica; the others follow round-robin over `azs`.
    pub controlplane_az: String,
    /// Control-plane replicas (one leads at a time), placed one per AZ round-robin.
    pub controlplane_replicas: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            azs: vec!["az1".into(), "az2".into(), "az3".into()],
            agents_per_az: 2,
            producers_per_az: 1,
            consumers_per_az: 1,
            controlplane_az: "az1".into(),
            controlplane_replicas: 3,
        }
    }
}

/// Crash-and-restart schedule, drawn from the run seed. Each interval is jittered by ±25%.
/// Crashes stop `crash_end_s` before the workload ends so that the heal is observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Crashes {
    /// Kill the control-plane leader about this often (0 = never)…
    pub controlplane_leader_every_s: f64,
    /// …and restart it (memory wiped) this long after.
    pub controlplane_down_s: f64,
    /// Kill a random agent about this often (0 = never)…
    pub agent_every_s: f64,
    /// …and restart it this long after.
    pub agent_down_s: f64,
    /// No new crash in the last this-many seconds of the workload.
    pub crash_end_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    pub topic: String,
    pub partitions: i32,
    /// Records per second per producer (open loop: sends are issued on schedule whether or
    /// not earlier ones completed, up to `outstanding_max`).
    pub records_per_s: f64,
    pub record_bytes: usize,
    /// Client ids carry `ws_az=<az>` so the agents route clients to their own zone.
    pub zone_aware: bool,
    pub linger_ms: u64,
    pub batch_bytes_max: usize,
    pub request_timeout_ms: u64,
    pub delivery_timeout_ms: u64,
    pub outstanding_max: usize,
    pub fetch_max_wait_ms: u64,
    /// Consumer `fetch.max.bytes`: most bytes one fetch returns (Kafka default 50 MiB).
    pub fetch_max_bytes: i32,
    /// Consumer `max.partition.fetch.bytes`: most bytes one fetch returns per partition
    /// (Kafka default 1 MiB). A consumer reads at most this much per partition per fetch
    /// round trip, so its rate per partition is bounded by this over the round-trip time:
    /// 1 MiB per ~300 ms round trip through object storage is ~3 MiB/s per partition.
    pub partition_fetch_max_bytes: i32,
    pub idempotent: bool,
    /// Produce requests in flight per agent connection (capped at 5 when idempotent, as
    /// Kafka requires). librdkafka's default is effectively unbounded; Java's is 5.
    pub max_in_flight: usize,
    /// How consumers are organised: consumer groups (one per AZ, or `groups` groups each
    /// with members in every AZ) or plain assigned partitions.
    pub group_mode: GroupMode,
    /// Number of groups in `spread` mode (consumer `k` of every AZ joins group `k % groups`).
    pub groups: usize,
    pub assignor: eddy_client::Assignor,
    pub session_timeout_ms: u64,
    pub commit_interval_ms: u64,
    /// Share of acknowledged sends after which a reader beside the producer (process
    /// `<producer>-ryw`) at once fetches the partition at the acknowledged offset (a Seek
    /// and a Poll, recorded): right after an acknowledgement is when a stale read (a
    /// deposed leader's answer, a cached watermark, a lagging index) shows, and the
    /// checkers judge it (`stale_read`, `lost_write`). 0 turns it off.
    pub read_your_writes: f64,
    /// Group members that behave like real clients caught by a rebalance: commits that
    /// arrive after the group moved on (zombies). Off by default.
    pub zombies: Zombies,
    /// Kafka transactions: transactional producers, read_committed consumers and a
    /// consume-transform-produce pipeline (`scenarios/src/transactions.rs`). Off by default.
    #[serde(skip_serializing_if = "Transactions::is_off")]
    pub transactions: Transactions,
}

/// The transactional workload (`workload.transactions`): transactional producers writing
/// `workload.topic` in transactions that commit, or abort on purpose; consumers reading it
/// read_committed; a consume-transform-produce pipeline (a consumer group reading
/// `workload.topic` read_committed, writing one record per input to `output_topic` and
/// committing its input offsets in the same transaction); and faults in the middle of
/// transactions: a producer that crashes (its successor re-initialises with the same
/// transactional id, fencing it), one that stalls past its transaction timeout (the
/// coordinator aborts and fences it), and a zombie (paused, fenced by its successor, then
/// resumed: its sends and its commit must be refused). Draws come from the run's seed
/// (`txn.<process>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Transactions {
    /// Transactional producers per zone (process `txn-<az>-<k>`, transactional id the same).
    pub producers_per_az: usize,
    /// Records per transaction, drawn uniformly from this range.
    pub records_min: usize,
    pub records_max: usize,
    /// Mean pause between two sends of a transaction, ms (exponential).
    pub send_gap_ms: u64,
    /// Mean pause between two transactions, ms (exponential).
    pub pause_ms: u64,
    /// Share of transactions aborted on purpose.
    pub abort_share: f64,
    /// The producers' `transaction.timeout.ms`.
    pub timeout_ms: u64,
    /// Share of transactions during which the producer crashes (its node is killed after
    /// about half the records; it restarts after `crash_down_ms` and re-initialises).
    pub crash_share: f64,
    pub crash_down_ms: u64,
    /// Share of transactions during which the producer stalls past `timeout_ms` before it
    /// commits.
    pub hang_share: f64,
    /// Share of transactions during which the producer pauses, a successor instance takes
    /// over (InitProducerId with the same transactional id), and the old instance resumes,
    /// sends more records and tries to commit.
    pub zombie_share: f64,
    /// Of each zone's `topology.consumers_per_az` consumers, the last this many read
    /// `read_committed` (the others read_uncommitted).
    pub read_committed_per_az: usize,
    /// Pipeline members per zone (process `pipeline-<az>-<k>`, group `pipeline`); 0: no
    /// pipeline.
    pub pipeline_per_az: usize,
    /// The pipeline's output topic (same partition count as `workload.topic`).
    pub output_topic: String,
    /// Records a pipeline transaction processes at most (one poll's worth).
    pub pipeline_batch_max: usize,
}

impl Transactions {
    /// Whether the workload runs any transactional client.
    pub fn is_on(&self) -> bool {
        self.producers_per_az > 0 || self.pipeline_per_az > 0 || self.read_committed_per_az > 0
    }

    /// A swarm seed's transactional workload (`faults.swarm_transactions`): on for about
    /// half the seeds, with a transactional producer and a pipeline member per zone, and
    /// random transaction sizes, abort share, timeout, and crashes, stalls and zombies.
    /// Drawn from `derive_seed(seed, "swarm.transactions", 0)`, so the other draws of the
    /// seed do not move.
    pub fn swarm(seed: u64, consumers_per_az: usize) -> Option<Transactions> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(eddy_faults::derive_seed(
            seed,
            "swarm.transactions",
            0,
        ));
        if !rng.gen_bool(0.5) {
            return None;
        }
        let records_max = rng.gen_range(1..=12);
        Some(Transactions {
            producers_per_az: 1,
            records_min: 1,
            records_max,
            abort_share: rng.gen_range(0.05..0.4),
            timeout_ms: rng.gen_range(3_000..=10_000),
            crash_share: rng.gen_range(0.0..0.05),
            hang_share: rng.gen_range(0.0..0.04),
            zombie_share: rng.gen_range(0.0..0.06),
            read_committed_per_az: usize::from(rng.gen_bool(0.5)).min(consumers_per_az),
            pipeline_per_az: 1,
            pipeline_batch_max: rng.gen_range(5..=50),
            ..Transactions::default()
        })
    }
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions {
            producers_per_az: 0,
            records_min: 1,
            records_max: 10,
            send_gap_ms: 20,
            pause_ms: 200,
            abort_share: 0.2,
            timeout_ms: 10_000,
            crash_share: 0.0,
            crash_down_ms: 2_000,
            hang_share: 0.0,
            zombie_share: 0.0,
            read_committed_per_az: 0,
            pipeline_per_az: 0,
            output_topic: "events-out".into(),
            pipeline_batch_max: 50,
        }
    }
}

impl Transactions {
    /// No transactional client at all (the default).
    pub fn is_off(&self) -> bool {
        self.producers_per_az == 0 && self.pipeline_per_az == 0 && self.read_committed_per_az == 0
    }
}

/// Zombie group members (`workload.zombies`): what real clients do when a rebalance
/// overtakes them, drawn per member from the run's seed (`zombies.<process>`). The
/// coordinator must refuse every such commit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or
/// REBALANCE_IN_PROGRESS); the history records each one's generation, member id and
/// outcome, and the checker `zombie_commit` flags one that was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Zombies {
    /// Share of a member's periodic commits it also holds back, with the member id and
    /// generation it has then, and sends once it is in another generation (a commit delayed
    /// past a rebalance: a paused client, a slow queue). A held commit not sent within four
    /// session timeouts is dropped. 0 = never.
    pub late_commit_share: f64,
    /// Stalls per member per minute of workload (Poisson): the member stops — no
    /// heartbeat, commit or fetch — for 1.5 to 2.5 session timeouts, so the coordinator
    /// expels it, then fetches and commits `commits_before_noticing` more times as the
    /// member it was before it heartbeats, learns it is unknown and rejoins. Each stall is
    /// written in the fault log (family `consumer_crash`). 0 = never.
    pub stalls_per_min: f64,
    /// Commits an expelled member sends before it notices.
    pub commits_before_noticing: u32,
}

impl Default for Zombies {
    fn default() -> Self {
        Zombies {
            late_commit_share: 0.0,
            stalls_per_min: 0.0,
            commits_before_noticing: 3,
        }
    }
}

impl Zombies {
    pub fn any(&self) -> bool {
        self.late_commit_share > 0.0 || self.stalls_per_min > 0.0
    }
}

/// How workload consumers consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    /// No groups: each zone's consumers split the partitions between them by assignment.
    None,
    /// One group per zone (`group-<az>`), whose members are that zone's consumers.
    PerAz,
    /// `groups` groups, each with members in every zone.
    Spread,
}

/// Consumers crashing and coming back during the workload phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerChurn {
    /// Consumer crashes, at seeded random times within the workload phase.
    pub crashes: usize,
    /// A crashed consumer restarts after a time drawn uniformly from this range.
    pub down_s_min: f64,
    pub down_s_max: f64,
}

impl Default for ConsumerChurn {
    fn default() -> Self {
        ConsumerChurn {
            crashes: 0,
            down_s_min: 1.0,
            down_s_max: 10.0,
        }
    }
}

impl Workload {
    /// This workload with its producers configured as `shape` says.
    pub fn with_producer(&self, shape: &eddy_faults::ProducerShape) -> Workload {
        Workload {
            idempotent: shape.idempotent,
            max_in_flight: shape.max_in_flight,
            linger_ms: shape.linger_ms,
            batch_bytes_max: shape.batch_bytes_max.unwrap_or(self.batch_bytes_max),
            request_timeout_ms: shape.request_timeout_ms.unwrap_or(self.request_timeout_ms),
            delivery_timeout_ms: shape
                .delivery_timeout_ms
                .unwrap_or(self.delivery_timeout_ms),
            ..self.clone()
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            topic: "events".into(),
            partitions: 12,
            records_per_s: 500.0,
            record_bytes: 1024,
            zone_aware: true,
            linger_ms: 5,
            batch_bytes_max: 1024 * 1024,
            request_timeout_ms: 30_000,
            delivery_timeout_ms: 120_000,
            outstanding_max: 20_000,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 50 * 1024 * 1024,
            partition_fetch_max_bytes: 1024 * 1024,
            idempotent: true,
            max_in_flight: 5,
            group_mode: GroupMode::PerAz,
            groups: 3,
            assignor: eddy_client::Assignor::Range,
            session_timeout_ms: 6_000,
            commit_interval_ms: 1_000,
            read_your_writes: 0.02,
            zombies: Zombies::default(),
            transactions: Transactions::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSpec {
    /// Where agents write data files.
    pub ingest: eddy_sim::StorageProfile,
    /// AZ of the ingest bucket when it is zonal (S3 Express One Zone); ignored for regional classes.
    pub ingest_az: String,
    /// The control plane's journal store.
    pub journal: eddy_sim::StorageProfile,
    /// Where compaction writes, when it is another bucket than `ingest` (tiered storage:
    /// set from `tieredStorageConfig.highLatency`). `None`: compaction writes to `ingest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacted: Option<eddy_sim::StorageProfile>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            ingest: eddy_sim::StorageProfile::s3_standard(),
            ingest_az: "az1".into(),
            journal: eddy_sim::StorageProfile::regional_log(),
            compacted: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// Extra latency between and within zones, added at the transport seam.
    pub azs: eddy_sim::NetProfile,
    /// madsim's base one-way message latency range, microseconds.
    pub base_latency_us_min: u64,
    pub base_latency_us_max: u64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            azs: eddy_sim::NetProfile::default(),
            base_latency_us_min: 100,
            base_latency_us_max: 300,
        }
    }
}

/// Agent knobs a scenario may set: every [`AgentConfig`] field except those the run
/// assigns ([`AgentSettings::ASSIGNED`]: identity and listener from the topology, planted
/// bugs from `--plant`). A knob added to `AgentConfig` is settable from a scenario with no
/// change here. Defaults are `AgentConfig`'s, except that the zone cache is on (a simulated
/// deployment has the peer ports it needs).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings(AgentConfig);

impl AgentSettings {
    /// Fields of `AgentConfig` a scenario cannot set.
    pub const ASSIGNED: [&'static str; 6] = [
        "node_id",
        "az",
        "advertised_host",
        "bind_host",
        "port",
        "plants",
    ];

    /// The configuration of one agent of the deployment.
    pub fn config(&self, node_id: i32, az: &str, host: &str, port: u16) -> AgentConfig {
        AgentConfig {
            node_id,
            az: az.to_string(),
            advertised_host: host.to_string(),
            port,
            ..self.0.clone()
        }
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings(AgentConfig {
            zone_cache: true,
            ..AgentConfig::default()
        })
    }
}

impl std::ops::Deref for AgentSettings {
    type Target = AgentConfig;
    fn deref(&self) -> &AgentConfig {
        &self.0
    }
}

impl std::ops::DerefMut for AgentSettings {
    fn deref_mut(&mut self) -> &mut AgentConfig {
        &mut self.0
    }
}

impl Serialize for AgentSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        if let serde_json::Value::Object(map) = &mut value {
            for key in Self::ASSIGNED {
                map.remove(key);
            }
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AgentSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(deserializer)?;
        if let Some(key) = Self::ASSIGNED.iter().find(|k| map.contains_key(**k)) {
            return Err(D::Error::custom(format!(
                "agent.{key} is assigned by the run (topology or --plant), not by a scenario"
            )));
        }
        let defaults = Self::default();
        map.entry("zone_cache")
            .or_insert(serde_json::Value::Bool(defaults.zone_cache));
        serde_json::from_value(serde_json::Value::Object(map))
            .map(AgentSettings)
            .map_err(D::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TieredStorageConfig {
    #[serde(rename = "lowLatency")]
    pub low_latency: TierBucket,
    #[serde(rename = "highLatency")]
    pub high_latency: TierBucket,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBucket {
    #[serde(rename = "type")]
    pub kind: TierType,
    pub bucket: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierType {
    #[serde(rename = "S3_Express")]
    S3Express,
    #[serde(rename = "S3_Standard")]
    S3Standard,
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading scenario {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Scenario> {
        let mut s: Scenario = serde_json::from_str(text).context("invalid scenario JSON")?;
        if let Some(tiers) = &s.tiered_storage_config {
            let profile = |kind| match kind {
                TierType::S3Express => eddy_sim::StorageProfile::s3_express(),
                TierType::S3Standard => eddy_sim::StorageProfile::s3_standard(),
            };
            s.storage.ingest = profile(tiers.low_latency.kind);
            s.storage.compacted = Some(profile(tiers.high_latency.kind));
        }
        s.validate()?;
        Ok(s)
    }

    /// The latency bounds this scenario's model implies (see [`LatencyModel`]).
    pub fn latency_model(&self) -> LatencyModel {
        const MIB: f64 = 1024.0 * 1024.0;
        // The slack over the sum of the model's terms at their own tails.
        const SLACK: f64 = 2.0;
        let w = &self.workload;
        let t = &self.topology;
        let agents = (t.azs.len() * t.agents_per_az).max(1) as f64;
        let producers = (t.azs.len() * t.producers_per_az) as f64;
        // A typical file: an agent's share of the ingest over one batch timeout, at most
        // the size target.
        let ingest_bytes_per_s = w.records_per_s * producers * w.record_bytes as f64;
        let file_bytes = (ingest_bytes_per_s / agents * self.agent.batch_timeout_ms as f64
            / 1000.0)
            .min(self.agent.batch_bytes_max as f64);
        let ingest = &self.storage.ingest;
        let transfer_ms = file_bytes / MIB / ingest.bandwidth.p1_mib_s.max(0.001) * 1000.0;
        let put_ms = ingest.put_first_byte.p99_ms + transfer_ms + ingest.cross_az_extra_ms;
        let journal = &self.storage.journal;
        let commit_ms = journal.put_first_byte.p99_ms + self.controlplane.group_commit_ms as f64;
        let read_ms = self.controlplane.lookup_batch_ms as f64
            + ingest.get_first_byte.p99_ms
            + transfer_ms
            + ingest.cross_az_extra_ms;
        let linger_ms = w.linger_ms as f64;
        let batch_timeout_ms = self.agent.batch_timeout_ms as f64;
        let cycle_ms = batch_timeout_ms + put_ms + commit_ms;
        // A request every linger would need `requests_per_cycle` in flight; with fewer
        // allowed, that share of the batches waits about a cycle for a free slot.
        let requests_per_cycle = cycle_ms / linger_ms.max(1.0);
        let waiting = 1.0 - w.max_in_flight.max(1) as f64 / requests_per_cycle.max(1.0);
        let queue_ms = cycle_ms * waiting.max(0.0);
        let produce = SLACK * (linger_ms + cycle_ms + queue_ms);
        LatencyModel {
            linger_ms,
            batch_timeout_ms,
            put_ms,
            commit_ms,
            queue_ms,
            read_ms,
            slack: SLACK,
            produce_ack_p99_ms: produce,
            delivery_p99_ms: produce + SLACK * read_ms,
        }
    }

    /// The latency bounds a run is judged against, with the fault windows of the run
    /// (`[start, end)` in ms) excluded. `None` when `verdicts.latency` is off, or BUGGIFY is
    /// on (its delays are deliberate: a 2 s stall before a commit holds the agent's later
    /// commits too).
    pub fn latency_bounds(&self, fault_windows_ms: &[(u64, u64)]) -> Option<LatencyBounds> {
        let v = &self.verdicts;
        if !v.latency || self.buggify {
            return None;
        }
        let model = self.latency_model();
        let recovery_s = v.recovery_s.unwrap_or(self.faults.recovery_bound_s);
        Some(LatencyBounds {
            produce_ack_p99_ms: Some(v.produce_ack_p99_ms.unwrap_or(model.produce_ack_p99_ms)),
            delivery_p99_ms: Some(v.delivery_p99_ms.unwrap_or(model.delivery_p99_ms)),
            excluded_us: fault_windows_ms
                .iter()
                .map(|&(s, e)| (s * 1000, e * 1000))
                .collect(),
            warmup_us: (v.warmup_s.max(0.0) * 1e6) as u64,
            recovery_us: (recovery_s.max(0.0) * 1e6) as u64,
            min_samples: v.min_samples,
        })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let v = &self.verdicts;
        for (name, bound) in [
            ("verdicts.produce_ack_p99_ms", v.produce_ack_p99_ms),
            ("verdicts.delivery_p99_ms", v.delivery_p99_ms),
            ("verdicts.recovery_s", v.recovery_s),
            ("verdicts.warmup_s", Some(v.warmup_s)),
        ] {
            if let Some(x) = bound {
                if !x.is_finite() || x < 0.0 {
                    bail!("{name} must be a non-negative number, got {x}");
                }
            }
        }
        if let Some(x) = v.availability_quiet_floor {
            if !(0.0..=1.0).contains(&x) {
                bail!("verdicts.availability_quiet_floor is a share in [0, 1], got {x}");
            }
        }
        for (family, floor) in &v.availability_floors {
            for x in [floor.write, floor.read].into_iter().flatten() {
                if !(0.0..=1.0).contains(&x) {
                    bail!("verdicts.availability_floors.{family:?}: a floor is a share in [0, 1], got {x}");
                }
            }
        }
        let t = &self.topology;
        if t.azs.is_empty() || t.azs.len() > 16 {
            bail!("topology.azs must list 1 to 16 zones, got {}", t.azs.len());
        }
        let mut sorted = t.azs.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != t.azs.len() {
            bail!("topology.azs has duplicate zones");
        }
        if t.agents_per_az == 0 || t.agents_per_az > 64 {
            bail!(
                "topology.agents_per_az must be 1..=64, got {}",
                t.agents_per_az
            );
        }
        if t.producers_per_az > 64 || t.consumers_per_az > 64 {
            bail!("at most 64 producers and 64 consumers per zone");
        }
        if !t.azs.contains(&t.controlplane_az) {
            bail!(
                "topology.controlplane_az {:?} is not one of {:?}",
                t.controlplane_az,
                t.azs
            );
        }
        if !t.azs.contains(&self.storage.ingest_az) {
            bail!(
                "storage.ingest_az {:?} is not one of {:?}",
                self.storage.ingest_az,
                t.azs
            );
        }
        if !(1..=7).contains(&t.controlplane_replicas) {
            bail!(
                "topology.controlplane_replicas must be 1..=7, got {}",
                t.controlplane_replicas
            );
        }
        let c = &self.crashes;
        for (name, v) in [
            (
                "crashes.controlplane_leader_every_s",
                c.controlplane_leader_every_s,
            ),
            ("crashes.controlplane_down_s", c.controlplane_down_s),
            ("crashes.agent_every_s", c.agent_every_s),
            ("crashes.agent_down_s", c.agent_down_s),
            ("crashes.crash_end_s", c.crash_end_s),
        ] {
            if !(0.0..=86_400.0).contains(&v) {
                bail!("{name} must be within 0..=86400 seconds, got {v}");
            }
        }
        self.controlplane
            .validate()
            .map_err(|e| anyhow::anyhow!("controlplane: {e}"))?;
        let w = &self.workload;
        if !(1..=10_000).contains(&w.partitions) {
            bail!(
                "workload.partitions must be 1..=10000, got {}",
                w.partitions
            );
        }
        if !(w.records_per_s >= 0.0 && w.records_per_s <= 1_000_000.0) {
            bail!(
                "workload.records_per_s must be in 0..=1e6, got {}",
                w.records_per_s
            );
        }
        if w.record_bytes < 24 || w.record_bytes > 1024 * 1024 {
            bail!(
                "workload.record_bytes must be 24..=1 MiB, got {}",
                w.record_bytes
            );
        }
        eddy_controlplane::api::validate_topic_name(&w.topic)
            .map_err(|e| anyhow::anyhow!("workload.topic: {e}"))?;
        for (name, v) in [("duration_s", self.duration_s), ("drain_s", self.drain_s)] {
            if !(0.0..=86_400.0).contains(&v) {
                bail!("{name} must be within 0..=86400 seconds, got {v}");
            }
        }
        if self.network.base_latency_us_min > self.network.base_latency_us_max {
            bail!("network.base_latency_us_min exceeds base_latency_us_max");
        }
        eddy_faults::FaultPlan {
            families: self.faults.families.clone(),
            producer: None,
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("faults.families: {e}"))?;
        if self.faults.mode == FaultMode::Fixed && self.faults.families.is_empty() {
            bail!("faults.mode is fixed but faults.families is empty");
        }
        if self.faults.mode != FaultMode::Scheduled
            && (!self.faults.schedule.is_empty() || self.faults.producer.is_some())
        {
            bail!(
                "faults.schedule and faults.producer are read only when faults.mode is scheduled"
            );
        }
        for (name, v) in [
            ("faults.heal_s", self.faults.heal_s),
            ("faults.recovery_bound_s", self.faults.recovery_bound_s),
        ] {
            if !(0.0..=86_400.0).contains(&v) {
                bail!("{name} must be within 0..=86400 seconds, got {v}");
            }
        }
        if !(0.0..=1.0).contains(&self.faults.recovery_fraction) {
            bail!("faults.recovery_fraction must be within [0, 1]");
        }
        if w.group_mode == GroupMode::Spread && !(1..=64).contains(&w.groups) {
            bail!(
                "workload.groups must be 1..=64 in spread mode, got {}",
                w.groups
            );
        }
        let z = &w.zombies;
        if !(0.0..=1.0).contains(&z.late_commit_share)
            || !(0.0..=60.0).contains(&z.stalls_per_min)
            || z.commits_before_noticing > 100
        {
            bail!(
                "workload.zombies: late_commit_share within [0, 1], stalls_per_min within [0, 60], commits_before_noticing at most 100"
            );
        }
        let x = &w.transactions;
        if x.producers_per_az > 16
            || x.pipeline_per_az > 16
            || x.read_committed_per_az > t.consumers_per_az
            || x.records_min == 0
            || x.records_min > x.records_max
            || x.records_max > 10_000
            || x.pipeline_batch_max == 0
            || [x.abort_share, x.crash_share, x.hang_share, x.zombie_share]
                .iter()
                .any(|s| !(0.0..=1.0).contains(s))
            || x.crash_share + x.hang_share + x.zombie_share + x.abort_share > 1.0
            || !(1..=900_000).contains(&x.timeout_ms)
        {
            bail!(
                "workload.transactions: at most 16 producers and 16 pipeline members per zone, read_committed_per_az at most consumers_per_az, 1 <= records_min <= records_max <= 10000, shares within [0, 1] summing to at most 1, timeout_ms 1..=900000"
            );
        }
        if x.pipeline_per_az > 0 {
            eddy_controlplane::api::validate_topic_name(&x.output_topic)
                .map_err(|e| anyhow::anyhow!("workload.transactions.output_topic: {e}"))?;
            if x.output_topic == w.topic {
                bail!("workload.transactions.output_topic must differ from workload.topic");
            }
        }
        let churn = &self.consumer_churn;
        if churn.crashes > 1_000
            || !(churn.down_s_min >= 0.0 && churn.down_s_min <= churn.down_s_max)
            || churn.down_s_max > 3_600.0
        {
            bail!("consumer_churn: at most 1000 crashes and 0 <= down_s_min <= down_s_max <= 3600");
        }
        if self.agent.batch_timeout_ms == 0 {
            bail!("agent.batch_timeout_ms must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_knob_is_settable_and_assigned_fields_are_refused() {
        let s = Scenario::parse(
            r#"{"name": "k", "agent": {"fetch_wait_ms_max": 1234, "zone_cache_hedge_ms": 77}}"#,
        )
        .unwrap();
        assert_eq!(s.agent.fetch_wait_ms_max, 1234);
        assert_eq!(s.agent.zone_cache_hedge_ms, 77);
        assert!(s.agent.zone_cache, "simulated deployments cache by default");
        let c = s.agent.config(3, "az2", "10.0.0.3", 9092);
        assert_eq!(
            (c.node_id, c.az.as_str(), c.fetch_wait_ms_max),
            (3, "az2", 1234)
        );
        let off = Scenario::parse(r#"{"name": "k", "agent": {"zone_cache": false}}"#).unwrap();
        assert!(!off.agent.zone_cache);
        for bad in [
            r#"{"node_id": 1}"#,
            r#"{"plants": []}"#,
            r#"{"batch_timeout": 5}"#,
        ] {
            let text = format!(r#"{{"name": "k", "agent": {bad}}}"#);
            let err = format!("{:#}", Scenario::parse(&text).unwrap_err());
            assert!(
                err.contains("agent.") || err.contains("unknown field"),
                "{err}"
            );
        }
        // What a report prints back parses to the same settings.
        let echoed = serde_json::to_value(&s.agent).unwrap();
        assert!(echoed.get("node_id").is_none() && echoed.get("plants").is_none());
        let back: AgentSettings = serde_json::from_value(echoed).unwrap();
        assert_eq!(back, s.agent);
    }

    fn spec(name: &str) -> Scenario {
        Scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("specs")
                .join(name),
        )
        .expect("spec loads")
    }

    #[test]
    fn the_swarm_campaign_draws_a_producer_shape_per_seed_and_the_others_do_not() {
        let swarm = spec("swarm.json");
        let shapes: Vec<_> = (1..=40)
            .map(|seed| {
                swarm
                    .faults
                    .plan(seed)
                    .producer
                    .expect("swarm draws a producer")
            })
            .collect();
        assert!(shapes.iter().any(|p| p.idempotent) && shapes.iter().any(|p| !p.idempotent));
        assert_eq!(swarm.faults.plan(7), swarm.faults.plan(7));
        for name in ["plants.json", "compaction.json", "basic-standard.json"] {
            let s = spec(name);
            assert!(
                (1..=10).all(|seed| s.faults.plan(seed).producer.is_none()),
                "{name} keeps its workload's producer"
            );
        }
    }

    #[test]
    fn a_producer_shape_replaces_the_workloads_producer_settings() {
        let w = Workload::default();
        let shape = eddy_faults::ProducerShape {
            idempotent: false,
            max_in_flight: 100,
            linger_ms: 0,
            batch_bytes_max: Some(8192),
            request_timeout_ms: Some(1_500),
            delivery_timeout_ms: Some(6_000),
        };
        let shaped = w.with_producer(&shape);
        assert_eq!(
            (
                shaped.idempotent,
                shaped.max_in_flight,
                shaped.linger_ms,
                shaped.batch_bytes_max,
                shaped.request_timeout_ms,
                shaped.delivery_timeout_ms
            ),
            (false, 100, 0, 8192, 1_500, 6_000)
        );
        let kept = w.with_producer(&eddy_faults::ProducerShape {
            batch_bytes_max: None,
            request_timeout_ms: None,
            delivery_timeout_ms: None,
            ..shape
        });
        assert_eq!(
            (
                kept.batch_bytes_max,
                kept.request_timeout_ms,
                kept.delivery_timeout_ms
            ),
            (
                w.batch_bytes_max,
                w.request_timeout_ms,
                w.delivery_timeout_ms
            )
        );
        assert_eq!(kept.records_per_s, w.records_per_s);
    }
}
