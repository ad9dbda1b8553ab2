//! The control-plane server: one replica of the virtual cluster. It answers agents' RPCs;
//! the replica driver ([`crate::replica`]) follows the journal, campaigns, and leads.
//!
//! The leader answers while its lease holds: writes go through its group commit (journal
//! first, then apply), reads are served from its state. A follower answers `NotLeader` with
//! the address of the leader it knows, so that agents go there next. The list of live
//! agents is soft state, rebuilt from heartbeats.
//!
//! **Reads through a write outage.** When the journal cannot be written (a full disk, a
//! read-only mount, a bucket that refuses writes), the leader loses its lease and nobody can
//! take over, yet everything committed is still in the journal and readable. A replica whose
//! journal has had no new entry for a lease (so no leader can be answering under one)
//! answers reads from its applied state once it has *confirmed* that state is the latest: a
//! read of `journal/<next>` that began after the request arrived found nothing there, and no
//! snapshot covers `<next>` (an entry is deleted only after two snapshots cover it). Entries
//! are written one after the other, and a write is acknowledged only once its entry is
//! durable, so every write acknowledged before the request arrived is in the state: the
//! answer is linearizable without a lease or any clock. Confirmations are shared: one
//! journal read answers every request that arrived before it began. Writes keep failing
//! with a retriable `NotLeader` that says why; the outage is logged once when writes start
//! failing and once when they succeed again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::journal::Journal;
use crate::net::DynTransport;
use crate::plants::Plant;
use crate::replica::{self, Core, ReplicaEvent, Role};
use crate::rpc::{
    read_frame_body, read_frame_len, write_frame, Request, RequestFrame, Response, ResponseFrame,
};
use crate::snapshot::Snapshots;
use crate::state::State;
use crate::sync::lock;
use crate::types::{AgentInfo, LookupResult, TopicInfo};

/// Most partitions in one Lookup request.
pub const LOOKUP_QUERIES_MAX: usize = 100_000;

/// Longest lookup round, well inside the 5 s default RPC timeout of control-plane clients.
pub const LOOKUP_BATCH_MS_MAX: u64 = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// Wait this long after the first queued command before writing a journal entry, to
    /// group more commands into it. 0 = write as soon as the previous entry is durable
    /// (commands queued meanwhile still share the next entry).
    pub group_commit_ms: u64,
    /// Most commands in one journal entry.
    pub group_commit_commands_max: usize,
    /// An agent not heard from for this long is considered dead.
    pub agent_ttl_ms: u64,
    /// Longest a Lookup may wait for new data.
    pub lookup_wait_ms_max: u64,
    /// Answer lookups (the fetch path's metadata reads) in rounds: every lookup is answered
    /// at the next multiple of this interval since the replica started, all lookups pending
    /// then together. 0 = answer at once. This models a control plane that batches
    /// virtual-cluster operations to lower its own cost at the price of latency: WarpStream
    /// documents that its control plane "batches some virtual cluster operations, resulting
    /// in higher latency in exchange for reduced control plane costs", and that the control
    /// plane's cluster tier changes end-to-end latency (WarpStream documentation, "Low
    /// Latency Clusters"). It does not publish the interval or which operations; see
    /// README ("Ingest on S3 Standard vs S3 Express One Zone") for the value the
    /// WarpStream-like scenarios use and how it was chosen. Commits are not delayed by it
    /// (`group_commit_ms` is the commit-side setting).
    pub lookup_batch_ms: u64,
    /// Queued, not yet journaled commands; beyond it proposers wait (backpressure).
    pub queue_commands_max: usize,
    /// An idle leader writes an empty journal entry this often, renewing its lease and
    /// telling followers it is alive. Every entry is one PUT: at 300 ms that is 3.3 PUT/s,
    /// about $43/month on S3 Standard ($0.005 per 1,000 PUTs), $10/month on S3 Express
    /// ($0.00113 per 1,000, after the April 2025 price cut) (AWS S3 pricing, us-east-1).
    pub heartbeat_ms: u64,
    /// The leader serves reads, and retries an append, only within this long of the start
    /// of its last successful journal append. Must be shorter than `takeover_ms`.
    pub lease_ms: u64,
    /// A follower that has seen no new journal entry for this long claims the next sequence
    /// number with an epoch-change entry.
    pub takeover_ms: u64,
    /// How often a follower at the end of the journal looks for the next entry. Each look
    /// is a GET: 20/s per follower at 50 ms, about $21/month per follower on S3 Standard
    /// ($0.0004 per 1,000 GETs), $1.6/month on S3 Express ($0.00003 per 1,000).
    pub follow_poll_ms: u64,
    /// Entries read concurrently when catching up.
    pub catch_up_window: u64,
    /// The leader writes a snapshot after this many journal entries…
    pub snapshot_entries: u64,
    /// …or this long after the previous snapshot, whichever comes first.
    pub snapshot_interval_ms: u64,
    /// Planted bugs (off by default; see [`crate::plants`]).
    pub plants: crate::plants::Plants,
    /// Compaction, retention and cleanup (off by default; see [`crate::jobs`]).
    pub maintenance: crate::jobs::MaintenanceConfig,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            group_commit_ms: 0,
            group_commit_commands_max: 1024,
            agent_ttl_ms: 3_000,
            lookup_wait_ms_max: 30_000,
            lookup_batch_ms: 0,
            queue_commands_max: 16_384,
            heartbeat_ms: 300,
            lease_ms: 1_500,
            takeover_ms: 2_500,
            follow_poll_ms: 50,
            catch_up_window: 16,
            snapshot_entries: 1_000,
            snapshot_interval_ms: 10_000,
            plants: crate::plants::Plants::none(),
            maintenance: crate::jobs::MaintenanceConfig::default(),
        }
    }
}

impl ControlPlaneConfig {
    pub fn validate(&self) -> Result<(), CpError> {
        self.maintenance.validate()?;
        if self.lease_ms == 0 || self.takeover_ms <= self.lease_ms {
            return Err(CpError::invalid(format!(
                "lease_ms ({}) must be positive and below takeover_ms ({})",
                self.lease_ms, self.takeover_ms
            )));
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.lease_ms {
            return Err(CpError::invalid(format!(
                "heartbeat_ms ({}) must be positive and below lease_ms ({})",
                self.heartbeat_ms, self.lease_ms
            )));
        }
        if self.lookup_batch_ms > LOOKUP_BATCH_MS_MAX {
            return Err(CpError::invalid(format!(
                "lookup_batch_ms ({}) must be at most {LOOKUP_BATCH_MS_MAX}",
                self.lookup_batch_ms
            )));
        }
        if self.follow_poll_ms == 0 || self.catch_up_window == 0 {
            return Err(CpError::invalid(
                "follow_poll_ms and catch_up_window must be positive",
            ));
        }
        Ok(())
    }
}

/// Request bytes read and not yet answered, over all connections of a replica.
pub const REQUEST_BYTES_IN_FLIGHT_MAX: usize = 256 * 1024 * 1024;
/// Requests read and not yet answered, over all connections of a replica (a Lookup may
/// wait up to `lookup_wait_ms_max` for new data, so agents keep many in flight).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 65_536;
/// Open connections a replica serves at once; more are closed at once.
pub const CONNECTIONS_MAX: usize = 4_096;
/// A connection with nothing in flight that sends nothing for this long is closed (agents
/// send a heartbeat every second).
pub const CONNECTION_IDLE: Duration = Duration::from_secs(600);
/// A frame must arrive whole this long after its length prefix.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The budgets every connection of a replica draws from.
pub(crate) struct Admission {
    bytes: Arc<tokio::sync::Semaphore>,
    requests: Arc<tokio::sync::Semaphore>,
    connections: Arc<tokio::sync::Semaphore>,
}

/// A request's share of the budgets, given back when dropped (once its answer is written).
pub(crate) struct Admitted {
    _bytes: tokio::sync::OwnedSemaphorePermit,
    _request: tokio::sync::OwnedSemaphorePermit,
}

impl Admission {
    fn new() -> Arc<Admission> {
        Arc::new(Admission {
            bytes: Arc::new(tokio::sync::Semaphore::new(REQUEST_BYTES_IN_FLIGHT_MAX)),
            requests: Arc::new(tokio::sync::Semaphore::new(REQUESTS_IN_FLIGHT_MAX)),
            connections: Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX)),
        })
    }

    /// A connection slot, or `None` when every one is taken.
    fn connect(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    /// Wait until a frame of `len` bytes fits the budgets (a frame is at most
    /// `FRAME_BYTES_MAX`, well below the byte budget, so every frame fits eventually).
    async fn admit(&self, len: u32) -> Admitted {
        let bytes = (len as usize).clamp(1, REQUEST_BYTES_IN_FLIGHT_MAX) as u32;
        let request = self.requests.clone().acquire_owned().await;
        let bytes = self.bytes.clone().acquire_many_owned(bytes).await;
        match (bytes, request) {
            (Ok(b), Ok(r)) => Admitted {
                _bytes: b,
                _request: r,
            },
            // The semaphores are never closed.
            _ => unreachable!("admission semaphores are never closed"),
        }
    }
}

pub(crate) struct Proposal {
    pub(crate) command: Command,
    pub(crate) reply: oneshot::Sender<CommandResult>,
}

pub(crate) struct Inner {
    pub(crate) config: ControlPlaneConfig,
    /// Unique id of this incarnation: written into its journal entries.
    pub(crate) writer: String,
    /// Address agents reach this replica at, advertised in its epoch entries.
    pub(crate) addr: Option<String>,
    pub(crate) journal: Journal,
    pub(crate) snapshots: Snapshots,
    pub(crate) core: Mutex<Core>,
    agents: Mutex<BTreeMap<i32, (AgentInfo, Instant)>>,
    proposals: mpsc::Sender<Proposal>,
    /// Bumped after every applied journal entry; long-polling lookups wait on it.
    pub(crate) applied: watch::Sender<u64>,
    /// When this replica started: lookup rounds (`lookup_batch_ms`) are counted from it.
    started: Instant,
    pub(crate) events: Mutex<Vec<ReplicaEvent>>,
    /// Consumer-group membership (soft state; see `groups.rs`).
    groups: crate::groups::Coordinator,
    /// The last confirmation that the applied state is the journal's latest: (the `next_seq`
    /// found free, when the read that found it began). One confirmation at a time.
    confirmed: tokio::sync::Mutex<Option<(u64, Instant)>>,
    /// What connections may make this replica hold (see [`Admission`]).
    admission: Arc<Admission>,
    /// Journal writes failing since, how many attempts, the last error (see
    /// [`ControlPlane::note_write`]).
    write_trouble: Mutex<Option<WriteTrouble>>,
    /// Whether the transaction timeout loop runs (started by the first transaction seen).
    pub(crate) txn_expiry_started: std::sync::atomic::AtomicBool,
}

/// A run of failed journal writes.
#[derive(Debug, Clone)]
struct WriteTrouble {
    since: Instant,
    failures: u64,
    last_error: String,
}

/// A running control-plane replica. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    pub(crate) inner: Arc<Inner>,
}

impl ControlPlane {
    /// Restore from object storage, then serve on `listen` (a replica that advertises no
    /// address: agents find it only by probing).
    pub async fn start(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
        transport: DynTransport,
        listen: SocketAddr,
    ) -> Result<ControlPlane, CpError> {
        Self::start_replica(config, store, transport, listen, None).await
    }

    /// Restore from object storage (latest snapshot, then the journal after it), then serve
    /// on `listen`. `advertise` (`host:port`) is how agents reach this replica; it goes
    /// into the epoch entry when this replica becomes leader, so followers can redirect.
    pub async fn start_replica(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
        transport: DynTransport,
        listen: SocketAddr,
        advertise: Option<String>,
    ) -> Result<ControlPlane, CpError> {
        config.validate()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| CpError::unavailable(format!("bind {listen}: {e}")))?;
        let cp = Self::open(config, store, advertise).await?;
        let server = cp.clone();
        tokio::spawn(async move { server.accept_loop(listener, transport).await });
        Ok(cp)
    }

    /// Restore and run the replica driver without listening (tests, embedding).
    pub async fn recover(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
    ) -> Result<ControlPlane, CpError> {
        Self::open(config, store, None).await
    }

    /// Restore from the latest snapshot (nothing else is read yet: the driver catches up on
    /// the journal before it may lead) and start the driver.
    pub async fn open(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
        advertise: Option<String>,
    ) -> Result<ControlPlane, CpError> {
        config.validate()?;
        let journal = Journal::new(store.clone());
        let snapshots = Snapshots::new(store);
        let (state, next_seq, through) = replica::restore(&snapshots).await?;
        let plants = config.plants.clone();
        let groups = crate::groups::Coordinator::with_plants(config.plants.clone());
        let (tx, rx) = mpsc::channel(config.queue_commands_max.max(1));
        let (applied, _) = watch::channel(0);
        let writer = format!("cp-{:016x}", madsim::rand::random::<u64>());
        let inner = Arc::new(Inner {
            config,
            writer,
            addr: advertise,
            journal,
            snapshots,
            core: Mutex::new(Core {
                state,
                plants,
                next_seq,
                role: Role::Follower,
                digest_memo: None,
                planted_skipped: false,
                last_entry_at: Instant::now(),
            }),
            agents: Mutex::new(BTreeMap::new()),
            proposals: tx,
            applied,
            started: Instant::now(),
            events: Mutex::new(vec![ReplicaEvent::Restored {
                snapshot_through: through,
                next_seq,
            }]),
            groups,
            confirmed: tokio::sync::Mutex::new(None),
            admission: Admission::new(),
            write_trouble: Mutex::new(None),
            txn_expiry_started: std::sync::atomic::AtomicBool::new(false),
        });
        let cp = ControlPlane { inner };
        tokio::spawn(replica::drive(cp.clone(), rx));
        tokio::spawn(crate::maintainer::run(cp.clone()));
        Ok(cp)
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &crate::groups::Coordinator {
        &self.inner.groups
    }

    /// A copy of the current state (tests, reports).
    pub fn state(&self) -> State {
        lock(&self.inner.core).state.clone()
    }

    /// Consistency checks (see [`crate::consistency`]): the last journal entry this replica
    /// applied and the digest of its state after it (`None` before the first). Replicas
    /// that applied the same entries report equal digests at equal entries.
    pub fn applied_digest(&self) -> Option<(u64, u64)> {
        lock(&self.inner.core).applied_digest()
    }

    /// Consistency checks: run `f` on this replica's applied state, with the number of the
    /// next entry it will apply, without copying the state.
    pub fn inspect<T>(&self, f: impl FnOnce(u64, &State) -> T) -> T {
        let core = lock(&self.inner.core);
        f(core.next_seq, &core.state)
    }

    /// Sequence number of the next journal entry this replica will read or write (every
    /// entry below it is applied).
    pub fn next_seq(&self) -> u64 {
        lock(&self.inner.core).next_seq
    }

    /// This incarnation's writer id (as written in its journal entries).
    pub fn writer_id(&self) -> &str {
        &self.inner.writer
    }

    /// Whether this replica leads and its lease holds (it would answer a read now).
    pub fn is_leader(&self) -> bool {
        lock(&self.inner.core).leads(Instant::now()).is_some()
    }

    /// Epoch this replica leads, if it believes it leads (lease or not).
    pub fn leading_epoch(&self) -> Option<u64> {
        match lock(&self.inner.core).role {
            Role::Leader { epoch, .. } => Some(epoch),
            Role::Follower => None,
        }
    }

    /// What this replica went through: restores, elections, lost claims, fencing, snapshots.
    pub fn events(&self) -> Vec<ReplicaEvent> {
        lock(&self.inner.events).clone()
    }

    /// The error a non-leader answers: with the leader's address when it knows one, and
    /// why no leader may be writing when the journal has been quiet.
    pub(crate) fn not_leader(&self, core: &Core) -> CpError {
        let hint = (core.state.leader != self.inner.writer)
            .then(|| core.state.leader_addr.clone())
            .flatten();
        let mut message = format!(
            "replica {} does not lead (epoch {})",
            self.inner.writer, core.state.epoch
        );
        let now = Instant::now();
        if self.journal_quiet(core, now) {
            message.push_str(&format!(
                "; no journal entry for {} ms",
                now.saturating_duration_since(core.last_entry_at)
                    .as_millis()
            ));
            if let Some(t) = lock(&self.inner.write_trouble).as_ref() {
                message.push_str(&format!(
                    ": journal writes failing for {} ms ({} attempts; last: {})",
                    now.saturating_duration_since(t.since).as_millis(),
                    t.failures,
                    t.last_error
                ));
            }
        }
        CpError::not_leader(message, hint)
    }

    /// Whether no leader can be answering under its lease: this replica has seen (applied or
    /// written) no journal entry for `lease_ms`, while a leader writes one every
    /// `heartbeat_ms`. Decides only where reads are answered; their correctness rests on
    /// [`Self::confirm_latest`].
    fn journal_quiet(&self, core: &Core, now: Instant) -> bool {
        now.saturating_duration_since(core.last_entry_at)
            >= Duration::from_millis(self.inner.config.lease_ms)
    }

    /// Run `read` on the state if this replica may answer reads now (it leads and its lease
    /// holds, so no newer leader can have committed anything); `NotLeader` otherwise.
    /// Request handlers use [`Self::read_latest`], which also answers through a write
    /// outage; this is for the leader's own work (maintenance, commit deduplication).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&State) -> T) -> Result<T, CpError> {
        let core = lock(&self.inner.core);
        match core.leads(Instant::now()) {
            Some(_) => Ok(read(&core.state)),
            None => {
                match core.role {
                    Role::Leader { .. } => eddy_probe::hit("cp.read.refused_lease_expired"),
                    Role::Follower => eddy_probe::hit("cp.read.refused_follower"),
                }
                Err(self.not_leader(&core))
            }
        }
    }

    /// Run `read` on the latest committed state: at once when this replica leads under its
    /// lease; when the journal has been quiet for a lease (no leader can be answering: the
    /// store refuses writes, or the leader is gone and nobody took over yet), after
    /// confirming that nothing was committed past this replica's state since the request
    /// arrived (see the module doc). `NotLeader` otherwise, or when the confirmation fails.
    pub(crate) async fn read_latest<T>(
        &self,
        read: impl FnOnce(&State) -> T,
    ) -> Result<T, CpError> {
        let arrived = Instant::now();
        {
            let core = lock(&self.inner.core);
            if self.answers_reads(&core, arrived)? {
                return Ok(read(&core.state));
            }
        }
        self.confirm_latest(arrived).await?;
        eddy_probe::hit("cp.read.confirmed_latest");
        // The driver may have applied more meanwhile: newer, and as committed.
        Ok(read(&lock(&self.inner.core).state))
    }

    /// Whether this replica answers reads at `now`: `Ok(true)` when it leads under its lease
    /// (its state is the latest as it stands), `Ok(false)` when the journal is quiet (it may
    /// answer once [`Self::confirm_latest`] says its state is the latest), `NotLeader`
    /// otherwise.
    fn answers_reads(&self, core: &Core, now: Instant) -> Result<bool, CpError> {
        if core.leads(now).is_some() {
            return Ok(true);
        }
        if self.journal_quiet(core, now) {
            return Ok(false);
        }
        match core.role {
            Role::Leader { .. } => eddy_probe::hit("cp.read.refused_lease_expired"),
            Role::Follower => eddy_probe::hit("cp.read.refused_follower"),
        }
        Err(self.not_leader(core))
    }

    /// Confirm that every journal entry written before `arrived` is applied here: a read of
    /// the next entry that began at or after `arrived` found nothing, and no snapshot covers
    /// that number. One confirmation runs at a time; a request that arrived before the
    /// latest one began needs no other.
    async fn confirm_latest(&self, arrived: Instant) -> Result<(), CpError> {
        let mut confirmed = self.inner.confirmed.lock().await;
        let seq = lock(&self.inner.core).next_seq;
        if matches!(*confirmed, Some((s, at)) if s == seq && at >= arrived) {
            eddy_probe::hit("cp.read.confirmation_shared");
            return Ok(());
        }
        let began = Instant::now();
        let bound = Duration::from_millis(self.inner.config.lease_ms);
        let check = async {
            let found = self.inner.journal.read_run(seq, 1).await?;
            let covered = self.inner.snapshots.latest_through().await?;
            Ok::<_, crate::journal::JournalError>((found.is_empty(), covered))
        };
        let (free, covered) = match tokio::time::timeout(bound, check).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                return Err(CpError::unavailable(format!(
                    "cannot confirm the latest state: reading the journal failed: {e}"
                )))
            }
            Err(_) => {
                return Err(CpError::unavailable(
                    "cannot confirm the latest state: reading the journal timed out",
                ))
            }
        };
        if !free || covered.is_some_and(|t| t >= seq) {
            // Behind: the driver catches up; until then a newer state exists somewhere.
            eddy_probe::hit("cp.read.confirmation_behind");
            let core = lock(&self.inner.core);
            return Err(self.not_leader(&core));
        }
        *confirmed = Some((seq, began));
        Ok(())
    }

    /// Record how a journal write ended: the first failure after a success is logged at
    /// warn, and so is the first success after failures (with how long writes failed).
    pub(crate) fn note_write(&self, result: Result<(), &str>) {
        let mut trouble = lock(&self.inner.write_trouble);
        match (result, trouble.as_mut()) {
            (Ok(()), None) => {}
            (Ok(()), Some(t)) => {
                tracing::warn!(
                    writer = %self.inner.writer,
                    failed_ms = t.since.elapsed().as_millis() as u64,
                    failures = t.failures,
                    "journal writes succeed again"
                );
                eddy_probe::hit("cp.journal.writes_recovered");
                *trouble = None;
            }
            (Err(e), Some(t)) => {
                t.failures += 1;
                t.last_error = e.to_string();
                tracing::debug!(writer = %self.inner.writer, error = e, "journal write failed");
            }
            (Err(e), None) => {
                tracing::warn!(
                    writer = %self.inner.writer,
                    error = e,
                    "journal writes failing: writes are refused until they succeed; reads are \
                     answered from committed state"
                );
                eddy_probe::hit("cp.journal.writes_failing");
                *trouble = Some(WriteTrouble {
                    since: Instant::now(),
                    failures: 1,
                    last_error: e.to_string(),
                });
            }
        }
    }

    /// Wait for the next lookup round (`lookup_batch_ms` after the replica started, and
    /// every interval after); no wait when rounds are off or now is a round boundary.
    async fn next_lookup_round(&self) {
        let round = Duration::from_millis(self.inner.config.lookup_batch_ms);
        if round.is_zero() {
            return;
        }
        let since = Instant::now().saturating_duration_since(self.inner.started);
        // Below `round` (at most LOOKUP_BATCH_MS_MAX), so it fits in a u64 of nanoseconds.
        let into = u64::try_from(since.as_nanos() % round.as_nanos()).unwrap_or(0);
        if into > 0 {
            tokio::time::sleep(round - Duration::from_nanos(into)).await;
        }
    }

    /// Journal `command`, apply it, and return its result.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, CpError> {
        {
            let core = lock(&self.inner.core);
            if !matches!(core.role, Role::Leader { .. }) {
                eddy_probe::hit("cp.propose.refused_follower");
                return Err(self.not_leader(&core));
            }
        }
        let (reply, rx) = oneshot::channel();
        self.inner
            .proposals
            .send(Proposal { command, reply })
            .await
            .map_err(|_| CpError::unavailable("commit loop stopped"))?;
        match rx.await {
            Ok(CommandResult::Rejected(e)) if e.kind.is_retriable() => Err(e),
            Ok(result) => Ok(result),
            Err(_) => Err(CpError::unavailable(
                "command dropped before it was journaled",
            )),
        }
    }

    pub(crate) fn record(&self, event: ReplicaEvent) {
        tracing::info!(writer = %self.inner.writer, ?event, "control-plane replica");
        lock(&self.inner.events).push(event);
    }

    async fn accept_loop(self, listener: TcpListener, transport: DynTransport) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let conn = transport.accepted(stream, peer);
                    let cp = self.clone();
                    tokio::spawn(async move { cp.serve_connection(conn).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Serve one connection: read frames, answer each in its own task, write the answers
    /// in the order they are ready. What a connection can make the replica hold is bounded
    /// (see [`Admission`]): a frame being read costs what has arrived of it (its buffer
    /// grows with its bytes, one frame per connection); a frame read takes its bytes and a
    /// request slot from budgets shared by every connection before it is served, and gives
    /// them back only once its answer is written, and the connection reads nothing more
    /// until then. So a client that sends without reading answers is slowed down, not
    /// served from unbounded memory, and a declared size holds nothing. A connection silent for [`CONNECTION_IDLE`] with nothing in
    /// flight when the wait for its next frame began, or whose frame does not arrive whole
    /// within [`FRAME_READ_TIMEOUT`], is closed.
    async fn serve_connection(self, conn: crate::net::Conn) {
        let admission = self.inner.admission.clone();
        let Some(_connection) = admission.connect() else {
            eddy_probe::hit("cp.server.connection_refused");
            tracing::warn!(
                max = CONNECTIONS_MAX,
                "refusing a control-plane connection: too many open"
            );
            return;
        };
        let (mut reader, mut writer) = tokio::io::split(conn);
        let (tx, mut rx) = mpsc::unbounded_channel::<(ResponseFrame, Admitted)>();
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer_in_flight = in_flight.clone();
        let writer_task = tokio::spawn(async move {
            while let Some((frame, admitted)) = rx.recv().await {
                let written = write_frame(&mut writer, &frame).await;
                drop(admitted);
                writer_in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if written.is_err() {
                    break;
                }
            }
        });
        loop {
            let idle = in_flight.load(std::sync::atomic::Ordering::Relaxed) == 0;
            let wait = if idle {
                CONNECTION_IDLE
            } else {
                // Answers are pending: the client is busy, not idle.
                Duration::from_secs(24 * 3600)
            };
            let len = match tokio::time::timeout(wait, read_frame_len(&mut reader)).await {
                Ok(Ok(Some(len))) => len,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "closing control-plane connection");
                    break;
                }
                Err(_) => {
                    eddy_probe::hit("cp.server.idle_closed");
                    tracing::debug!("closing an idle control-plane connection");
                    break;
                }
            };
            let frame: RequestFrame =
                match tokio::time::timeout(FRAME_READ_TIMEOUT, read_frame_body(&mut reader, len))
                    .await
                {
                    Ok(Ok(f)) => f,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "closing control-plane connection");
                        break;
                    }
                    Err(_) => {
                        eddy_probe::hit("cp.server.slow_frame_closed");
                        tracing::info!(
                            len,
                            "closing a control-plane connection: its frame did not arrive in time"
                        );
                        break;
                    }
                };
            // Taken for the bytes that arrived, not for a declared size: a connection that
            // declares a large frame and stalls holds no budget, only what it sent.
            let admitted = admission.admit(len).await;
            in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let cp = self.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let response = cp.handle(frame.request).await;
                let _ = tx.send((
                    ResponseFrame {
                        id: frame.id,
                        response,
                    },
                    admitted,
                ));
            });
        }
        drop(tx);
        let _ = writer_task.await;
    }

    /// Answer one RPC.
    pub async fn handle(&self, request: Request) -> Result<Response, CpError> {
        match request {
            Request::Heartbeat { agent } => {
                // Soft state of whichever replica answers reads: agents that talk to it are
                // the ones it lists. It reads no replicated state, so it needs no
                // confirmation that the state is the latest.
                self.answers_reads(&lock(&self.inner.core), Instant::now())?;
                Ok(Response::Agents {
                    agents: self.heartbeat(agent),
                })
            }
            Request::CreateTopics {
                topics,
                if_not_exists,
            } => {
                let mut results = Vec::with_capacity(topics.len());
                for t in topics {
                    let command = Command::CreateTopic {
                        name: t.name.clone(),
                        partitions: t.partitions,
                        if_not_exists,
                    };
                    results.push(match self.propose(command).await? {
                        CommandResult::TopicCreated { partitions } => Ok(TopicInfo {
                            name: t.name,
                            partitions,
                        }),
                        CommandResult::Rejected(e) => Err(e),
                        other => Err(CpError::internal(format!("unexpected result {other:?}"))),
                    });
                }
                Ok(Response::TopicsCreated { results })
            }
            Request::Retention { topics } => {
                if topics.len() > LOOKUP_QUERIES_MAX {
                    return Err(CpError::invalid(format!(
                        "{} topics in one retention request (max {LOOKUP_QUERIES_MAX})",
                        topics.len()
                    )));
                }
                let m = &self.inner.config.maintenance;
                Ok(Response::Retention {
                    policies: topics
                        .iter()
                        .map(|t| {
                            if m.enabled {
                                m.policy(t).clone()
                            } else {
                                crate::jobs::RetentionPolicy::default()
                            }
                        })
                        .collect(),
                })
            }
            Request::DescribeTopics { names } => Ok(Response::Topics {
                topics: self
                    .read_latest(|state| state.topic_infos(names.as_deref()))
                    .await?,
            }),
            Request::CommitFile { file } => {
                let done = self.read(|state| {
                    state
                        .files
                        .get(&file.id)
                        .map(|done| done.base_offsets.clone())
                })?;
                if let Some(base_offsets) = done {
                    eddy_probe::hit("cp.commit.dedup_by_file_id");
                    return Ok(Response::Committed { base_offsets });
                }
                let committed_at_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                match self
                    .propose(Command::CommitFile {
                        file,
                        committed_at_ms,
                    })
                    .await?
                {
                    CommandResult::FileCommitted { base_offsets } => {
                        Ok(Response::Committed { base_offsets })
                    }
                    CommandResult::Rejected(e) => Err(e),
                    other => Err(CpError::internal(format!("unexpected result {other:?}"))),
                }
            }
            Request::Lookup { queries, wait_ms } => {
                if queries.len() > LOOKUP_QUERIES_MAX {
                    return Err(CpError::invalid(format!(
                        "{} partitions in one lookup (max {LOOKUP_QUERIES_MAX})",
                        queries.len()
                    )));
                }
                let wait = Duration::from_millis(wait_ms.min(self.inner.config.lookup_wait_ms_max));
                let deadline = Instant::now() + wait;
                let mut applied = self.inner.applied.subscribe();
                let lso_ignores_open = self.inner.config.plants.has(Plant::LsoIgnoresOpen);
                let lookup_all = |state: &State| -> Vec<Result<LookupResult, CpError>> {
                    queries
                        .iter()
                        .map(|q| {
                            state.lookup(
                                &q.topic,
                                q.partition,
                                q.offset,
                                q.max_bytes,
                                q.read_committed && !lso_ignores_open,
                            )
                        })
                        .collect()
                };
                loop {
                    self.next_lookup_round().await;
                    applied.borrow_and_update();
                    // Every answer is computed under the lease or on a state confirmed to
                    // be the latest: the high watermarks are not stale.
                    let mut results = self.read_latest(lookup_all).await?;
                    if self
                        .inner
                        .config
                        .plants
                        .has(crate::plants::Plant::OutOfRangeAtHead)
                    {
                        crate::plants::planted::out_of_range_at_head(&queries, &mut results);
                    }
                    let anything = results
                        .iter()
                        .any(|r| r.as_ref().map_or(true, |l| !l.extents.is_empty()));
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if anything || remaining.is_zero() {
                        return Ok(Response::Lookups { results });
                    }
                    // Nothing new yet: wait for the next applied journal entry or the deadline.
                    if !matches!(
                        tokio::time::timeout(remaining, applied.changed()).await,
                        Ok(Ok(()))
                    ) {
                        return Ok(Response::Lookups {
                            results: self.read_latest(lookup_all).await?,
                        });
                    }
                }
            }
            Request::Group(request) => self.handle_group(request).await.map(Response::Group),
            Request::LeaseJob { worker } => Ok(Response::Job {
                job: self.lease_job(worker).await?,
            }),
            Request::FinishJob {
                job_id,
                attempt,
                outcome,
            } => {
                let (accepted, message) = self.finish_job(job_id, attempt, outcome).await?;
                Ok(Response::JobFinished { accepted, message })
            }
            Request::Txn(request) => self.handle_txn(request).await,
            Request::InitProducerId => Ok(Response::ProducerId {
                producer_id: self.init_producer_id().await?,
                producer_epoch: 0,
            }),
            Request::ListOffset {
                topic,
                partition,
                timestamp,
                read_committed,
            } => {
                self.read_latest(|state| {
                    let offset = state.list_offset(&topic, partition, timestamp, read_committed)?;
                    let high_watermark = state.partition(&topic, partition)?.high_watermark;
                    Ok(Response::Offset {
                        offset,
                        high_watermark,
                    })
                })
                .await?
            }
        }
    }

    fn heartbeat(&self, agent: AgentInfo) -> Vec<AgentInfo> {
        let now = Instant::now();
        let ttl = Duration::from_millis(self.inner.config.agent_ttl_ms);
        let mut agents = lock(&self.inner.agents);
        agents.insert(agent.node_id, (agent, now));
        agents.retain(|_, (_, seen)| now.duration_since(*seen) <= ttl);
        agents.values().map(|(a, _)| a.clone()).collect()
    }
}
