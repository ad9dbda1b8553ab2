//! The produce path: one pending file per agent, shared by all connections. A request's
//! record sets are appended to it as chunks; the file is flushed when the batch timeout
//! passes or it reaches the size target: PUT to the ingest bucket, then CommitFile to the
//! control plane, then every waiting request is answered with its base offsets. A request
//! that would take the pending file past the size target seals it first (it is flushed as
//! is) and starts the next one, so files stay within the target unless one request alone
//! exceeds it (a request's record sets always share one file: they commit atomically).
//!
//! Invariant: a producer is acknowledged only after its file is committed. A failed PUT is a
//! definite failure (the file is never committed); a commit whose outcome stays unknown is
//! reported as such (REQUEST_TIMED_OUT), never as a failure.
//!
//! Order (Kafka's per-partition send order): the records of one partition are indexed in
//! the order their requests were appended here, because
//! - within a file, chunks are committed in append order (the control plane assigns a
//!   file's offsets chunk by chunk), and
//! - files are committed in the order they were cut: PUTs run concurrently (up to
//!   `flushes_in_flight_max`), but a file's CommitFile is sent only once the commit of the
//!   file before it has a definite outcome. A commit whose outcome is unknown when its
//!   producers are answered (REQUEST_TIMED_OUT) keeps being retried until the control plane
//!   answers it, committed or refused (deduplicated by file id), so it can never land after
//!   a later file.
//!
//! Callers append in the order they must be indexed: the Kafka server appends each
//! connection's produce requests in arrival order ([`crate::server`]).

use eddy_controlplane::sync::lock;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eddy_controlplane::api::{ChunkSpec, ControlPlaneClient, CpError, FileSpec, ProducerBatch};
use eddy_controlplane::plants::Plant;
use object_store::{path::Path, ObjectStore, PutPayload};
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::sleep;
use tokio::time::Instant;

use crate::config::AgentConfig;
use crate::planted::{self, PlantState};

/// One partition's record set, validated, ready to append.
#[derive(Debug, Clone)]
pub struct Part {
    pub topic: String,
    pub partition: i32,
    pub records: Bytes,
    pub offset_count: u64,
    pub max_timestamp: i64,
    /// Set when the part is exactly one batch of an idempotent producer.
    pub producer: Option<ProducerBatch>,
}

/// Why a produce could not be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceFailure {
    /// Writing the file failed: the records were definitely not committed.
    #[error("storage: {0}")]
    Storage(String),
    /// The commit's outcome is unknown (the control plane did not answer in time).
    #[error("commit outcome unknown: {0}")]
    Unknown(String),
    /// The control plane refused the file: definitely not committed.
    #[error("commit rejected: {0}")]
    Rejected(CpError),
    /// The agent is shutting down.
    #[error("agent stopping")]
    Stopping,
}

type Reply = oneshot::Sender<Result<Vec<i64>, ProduceFailure>>;

struct Waiter {
    chunks: Range<usize>,
    reply: Reply,
}

#[derive(Default)]
struct Pending {
    parts: Vec<Bytes>,
    bytes: u64,
    chunks: Vec<ChunkSpec>,
    waiters: Vec<Waiter>,
    opened: Option<Instant>,
}

/// The file being filled and those sealed at the size target, oldest first, waiting for a
/// flush slot.
#[derive(Default)]
struct Files {
    open: Pending,
    sealed: VecDeque<Pending>,
}

/// Counters of the produce path (for reports and tests).
#[derive(Debug, Default)]
pub struct IngestStats {
    pub files_committed: AtomicU64,
    pub files_failed: AtomicU64,
    pub bytes_committed: AtomicU64,
}

pub struct Ingest {
    config: AgentConfig,
    store: Arc<dyn ObjectStore>,
    cp: ControlPlaneClient,
    /// Distinguishes files of this incarnation from those of earlier runs of the agent.
    incarnation: u64,
    counter: AtomicU64,
    pending: Mutex<Files>,
    wake: Notify,
    flushes: Arc<Semaphore>,
    /// Set when the agent stops: the open file is flushed at once instead of at its timeout.
    stopping: AtomicBool,
    pub stats: IngestStats,
    /// State of planted bugs (unused unless one is on).
    planted: Arc<PlantState>,
}

impl Ingest {
    pub fn new(
        config: AgentConfig,
        store: Arc<dyn ObjectStore>,
        cp: ControlPlaneClient,
        incarnation: u64,
        planted: Arc<PlantState>,
    ) -> Arc<Self> {
        let flushes = Arc::new(Semaphore::new(config.flushes_in_flight_max.max(1)));
        let ingest = Arc::new(Ingest {
            config,
            store,
            cp,
            incarnation,
            counter: AtomicU64::new(0),
            pending: Mutex::new(Files::default()),
            wake: Notify::new(),
            flushes,
            stopping: AtomicBool::new(false),
            stats: IngestStats::default(),
            planted,
        });
        tokio::spawn(ingest.clone().flusher());
        ingest
    }

    /// The agent is stopping: flush what is pending now, and every later append at once.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Append `parts` to the pending file and wait until it is committed. Returns the base
    /// offset of each part, in order. All parts commit atomically, in one file.
    pub async fn append(&self, parts: Vec<Part>) -> Result<Vec<i64>, ProduceFailure> {
        self.enqueue(parts).await
    }

    /// Append `parts` to the pending file now (before this returns: appends are indexed in
    /// the order of these calls) and return the wait for their commit: the base offset of
    /// each part, in order. All parts commit atomically, in one file.
    pub fn enqueue(
        &self,
        parts: Vec<Part>,
    ) -> impl std::future::Future<Output = Result<Vec<i64>, ProduceFailure>> + Send + 'static {
        let rx = self.enqueue_now(parts);
        async move {
            match rx {
                None => Ok(Vec::new()),
                Some(rx) => rx.await.unwrap_or(Err(ProduceFailure::Stopping)),
            }
        }
    }

    fn enqueue_now(
        &self,
        parts: Vec<Part>,
    ) -> Option<oneshot::Receiver<Result<Vec<i64>, ProduceFailure>>> {
        if parts.is_empty() {
            return None;
        }
        let (reply, rx) = oneshot::channel();
        let wake = {
            let mut files = lock(&self.pending);
            let incoming: u64 = parts.iter().map(|p| p.records.len() as u64).sum();
            if seal_before(files.open.bytes, incoming, self.config.batch_bytes_max) {
                let full = std::mem::take(&mut files.open);
                files.sealed.push_back(full);
            }
            let sealed = !files.sealed.is_empty();
            let p = &mut files.open;
            let first = p.chunks.len();
            for part in parts {
                let len = part.records.len() as u64;
                let chunk = ChunkSpec {
                    topic: part.topic,
                    partition: part.partition,
                    byte_start: p.bytes,
                    byte_len: len,
                    record_count: part.offset_count,
                    max_timestamp: part.max_timestamp,
                    producer: part.producer,
                };
                p.chunks.push(chunk);
                p.parts.push(part.records);
                p.bytes += len;
            }
            let end = p.chunks.len();
            p.waiters.push(Waiter {
                chunks: first..end,
                reply,
            });
            let opened = p.opened.is_none();
            if opened {
                p.opened = Some(Instant::now());
            }
            sealed || opened || p.bytes >= self.config.batch_bytes_max
        };
        if wake {
            self.wake.notify_one();
        }
        Some(rx)
    }

    async fn flusher(self: Arc<Self>) {
        let timeout = Duration::from_millis(self.config.batch_timeout_ms);
        // Resolved once the previous file's commit has a definite outcome (or it never got
        // to commit): each file's commit waits for it, so files commit in the order cut.
        let mut previous: Option<oneshot::Receiver<()>> = None;
        loop {
            let (opened, bytes, sealed) = {
                let files = lock(&self.pending);
                (
                    files.open.opened,
                    files.open.bytes,
                    !files.sealed.is_empty(),
                )
            };
            let due = opened.map(|t| t + timeout);
            let ready = sealed
                || bytes >= self.config.batch_bytes_max
                || due.is_some_and(|d| d <= Instant::now())
                || (self.config.plants.has(Plant::FilePerRequest) && opened.is_some())
                || (self.stopping.load(Ordering::Relaxed) && opened.is_some());
            if ready {
                let permit = match self.flushes.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                };
                let taken = {
                    let mut files = lock(&self.pending);
                    match files.sealed.pop_front() {
                        Some(file) => file,
                        None => std::mem::take(&mut files.open),
                    }
                };
                if taken.chunks.is_empty() {
                    continue;
                }
                let (resolved, next) = oneshot::channel();
                let turn = CommitTurn {
                    previous: previous.replace(next),
                    resolved,
                };
                let me = self.clone();
                tokio::spawn(async move {
                    me.flush(taken, turn).await;
                    drop(permit);
                });
                continue;
            }
            match due {
                Some(due) => {
                    tokio::select! {
                        biased;
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    async fn flush(&self, mut file: Pending, turn: CommitTurn) {
        if self.config.plants.has(Plant::AckBeforeCommit) {
            self.ack_before_commit(&mut file).await;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{}-{}-{:016x}-{n:010}",
            self.config.az, self.config.node_id, self.incarnation
        );
        let key = format!("data/{}/{id}", self.config.az);
        let size = file.bytes;
        let payload = PutPayload::from_iter(file.parts.iter().cloned());
        let started = Instant::now();
        let age_ms = file
            .opened
            .map_or(0, |o| started.duration_since(o).as_millis());
        let outcome = self
            .put_then_commit(&id, &key, size, payload, file.chunks, turn)
            .await;
        tracing::debug!(file = %id, bytes = size, age_ms, took_ms = started.elapsed().as_millis() as u64, ok = outcome.is_ok(), "flushed");
        match &outcome {
            Ok(_) => {
                self.stats.files_committed.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes_committed
                    .fetch_add(size, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(file = %id, error = %e, "flush failed");
                self.stats.files_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        // BUGGIFY: hold acknowledgements back after the commit (the client may time out and
        // retry a send that is already committed).
        if madsim::buggify::buggify_with_prob(0.02) {
            buggify_delay("agent.produce.ack", 1_000).await;
        }
        for w in file.waiters {
            let answer = match &outcome {
                Ok(offsets) => offsets
                    .get(w.chunks.clone())
                    .map(<[i64]>::to_vec)
                    .ok_or_else(|| {
                        ProduceFailure::Unknown(format!(
                            "control plane returned {} offsets",
                            offsets.len()
                        ))
                    }),
                Err(e) => Err(e.clone()),
            };
            let _ = w.reply.send(answer);
        }
    }

    /// Planted bug `ack-before-commit` (body in [`crate::planted`]): answer the producers
    /// with guessed offsets before the commit.
    async fn ack_before_commit(&self, file: &mut Pending) {
        let key = format!(
            "data/{}/early-{}-{:016x}-{}",
            self.config.az,
            self.config.node_id,
            self.incarnation,
            self.counter.load(Ordering::Relaxed)
        );
        let payload = PutPayload::from_iter(file.parts.iter().cloned());
        let store = self.store.as_ref();
        let guessed = planted::ack_before_commit(&self.planted, store, key, payload, &file.chunks);
        if let Some(guessed) = guessed.await {
            for w in std::mem::take(&mut file.waiters) {
                let _ = w.reply.send(Ok(guessed[w.chunks.clone()].to_vec()));
            }
        }
    }

    /// PUT the file, wait for the previous file's commit to resolve, commit this one. The
    /// turn is passed on (to the next file) once this commit's outcome is definite; when it
    /// is still unknown at the commit deadline, the producers are answered and the commit
    /// goes on being retried in the background, holding the turn until it resolves.
    async fn put_then_commit(
        &self,
        id: &str,
        key: &str,
        size: u64,
        payload: PutPayload,
        chunks: Vec<ChunkSpec>,
        turn: CommitTurn,
    ) -> Result<Vec<i64>, ProduceFailure> {
        let path = Path::from(key);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let t = Instant::now();
            match self.store.put(&path, payload.clone()).await {
                Ok(_) => {
                    tracing::debug!(key, put_ms = t.elapsed().as_millis() as u64, "PUT done");
                    // BUGGIFY: widen the window between the PUT and the commit (a crash here
                    // leaves an orphan file; a slow commit makes producers retry).
                    if madsim::buggify::buggify_with_prob(0.05) {
                        buggify_delay("agent.produce.commit", 2_000).await;
                    }
                    break;
                }
                Err(e) if attempt >= self.config.put_attempts.max(1) => {
                    // Never committed: the next file may commit once the one before this
                    // has resolved.
                    eddy_probe::hit("agent.put.failed");
                    tokio::spawn(turn.pass_after_previous());
                    return Err(ProduceFailure::Storage(format!("PUT {key}: {e}")));
                }
                Err(e) => {
                    eddy_probe::hit("agent.put.retried");
                    tracing::debug!(key, error = %e, "PUT failed; retrying")
                }
            }
        }
        let planted_chunks = self
            .config
            .plants
            .has(Plant::AckBeforeCommit)
            .then(|| chunks.clone());
        let file = FileSpec {
            id: id.to_string(),
            key: key.to_string(),
            size,
            chunks,
        };
        let deadline = Duration::from_millis(self.config.commit_deadline_ms);
        // The commit runs in its own task, in turn, until its outcome is definite; the
        // producers wait for it at most `deadline` from here, the wait for the turn included
        // (past it they hear REQUEST_TIMED_OUT: the commit may still land, in order).
        let (tx, rx) = oneshot::channel();
        let cp = self.cp.clone();
        tokio::spawn(commit_in_turn(cp, file, turn, deadline, id.to_string(), tx));
        let answer = match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(ProduceFailure::Stopping),
            Err(_) => Err(CpError::unavailable(format!(
                "no commit answer within {} ms",
                deadline.as_millis()
            ))),
        };
        match answer {
            Ok(base_offsets) => {
                if let Some(chunks) = &planted_chunks {
                    planted::learn_committed(&self.planted, chunks, &base_offsets);
                }
                Ok(base_offsets)
            }
            Err(e) if e.kind.is_retriable() => {
                eddy_probe::hit("agent.commit.unknown_answered");
                Err(ProduceFailure::Unknown(e.to_string()))
            }
            Err(e) => {
                eddy_probe::hit("agent.commit.rejected");
                Err(ProduceFailure::Rejected(e))
            }
        }
    }
}

/// The append order of one connection's produce requests: each request gets the next turn
/// when it arrives, and appends only after the request before it has appended (or given up:
/// a turn dropped without appending passes too). Checks before the append run concurrently.
#[derive(Default)]
pub struct AppendOrder {
    last: Option<oneshot::Receiver<()>>,
}

impl AppendOrder {
    /// The turn of the request that arrived now.
    pub fn next_turn(&mut self) -> AppendTurn {
        let (done, next) = oneshot::channel();
        AppendTurn {
            previous: self.last.replace(next),
            done: Some(done),
        }
    }
}

/// One request's place in its connection's append order (see [`AppendOrder`]). Dropped
/// without running (a request refused before its append, or cancelled), it still passes the
/// turn on only after the request before it has.
pub struct AppendTurn {
    previous: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl AppendTurn {
    /// A turn that waits for nobody (a request outside any connection's order).
    pub fn unordered() -> AppendTurn {
        AppendOrder::default().next_turn()
    }

    /// Wait for the previous request to append, run `append`, then pass the turn on.
    pub async fn run<T>(mut self, append: impl FnOnce() -> T) -> T {
        if let Some(previous) = self.previous.as_mut() {
            let _ = previous.await;
        }
        self.previous = None;
        let out = append();
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        out
    }
}

impl Drop for AppendTurn {
    fn drop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        match self.previous.take() {
            None => {
                let _ = done.send(());
            }
            Some(previous) => {
                tokio::spawn(async move {
                    let _ = previous.await;
                    let _ = done.send(());
                });
            }
        }
    }
}

/// A file's place in the agent's commit order.
struct CommitTurn {
    /// Resolves when the previous file's commit is definite (`None`: the first file).
    previous: Option<oneshot::Receiver<()>>,
    /// Resolve once this file's commit is definite, or it will never be sent.
    resolved: oneshot::Sender<()>,
}

impl CommitTurn {
    /// For a file that will not be committed: pass the turn on once the previous file's
    /// commit has resolved.
    async fn pass_after_previous(self) {
        if let Some(previous) = self.previous {
            let _ = previous.await;
        }
        let _ = self.resolved.send(());
    }
}

/// Commit a file once the previous file's commit has resolved, and retry until the control
/// plane answers definitely: committed (a retry is deduplicated by file id and answered with
/// the first offsets) or refused. The first round's answer (after up to `deadline` of
/// retries) goes to `answer`; only then is the turn passed on.
async fn commit_in_turn(
    cp: ControlPlaneClient,
    file: FileSpec,
    turn: CommitTurn,
    deadline: Duration,
    id: String,
    answer: oneshot::Sender<Result<Vec<i64>, CpError>>,
) {
    let CommitTurn { previous, resolved } = turn;
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let mut answer = Some(answer);
    let mut rounds = 0u32;
    loop {
        rounds += 1;
        let result = cp.commit_file(&file, deadline).await;
        let unknown = matches!(&result, Err(e) if e.kind.is_retriable());
        if unknown && rounds == 1 {
            eddy_probe::hit("agent.commit.retried_after_unknown");
            tracing::warn!(file = %id, "commit outcome unknown; retrying until it resolves");
        } else if rounds > 1 && !unknown {
            eddy_probe::hit("agent.commit.unknown_resolved");
            tracing::info!(file = %id, rounds, ok = result.is_ok(), "unknown commit resolved");
        }
        if let Some(answer) = answer.take() {
            let _ = answer.send(result);
        }
        if !unknown {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    let _ = resolved.send(());
}

/// Whether a request of `incoming` bytes must go to a new file rather than the open one of
/// `open` bytes: when it would take a non-empty file past `max` (a request is never split,
/// so a request larger than `max` alone still makes one file).
fn seal_before(open: u64, incoming: u64, max: u64) -> bool {
    open > 0 && open.saturating_add(incoming) > max
}

/// Sleep a random time below `max_ms` (only reached from BUGGIFY sites, which are never
/// true outside the simulation).
pub(crate) async fn buggify_delay(site: &'static str, max_ms: u64) {
    use rand::Rng;
    let ms = madsim::rand::thread_rng().gen_range(0..max_ms.max(1));
    eddy_probe::delayed(site, ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{seal_before, AppendOrder};

    /// Requests of one connection append in arrival order even when a later one is ready
    /// first; a request refused or cancelled before its append passes its turn on, but only
    /// once the requests before it have appended.
    #[madsim::test]
    async fn a_connections_requests_append_in_arrival_order() {
        let appended = Arc::new(Mutex::new(Vec::new()));
        let mut order = AppendOrder::default();
        let mut tasks = Vec::new();
        // Request i is ready after (5 - i) * 10 ms: the last to arrive is ready first.
        for i in 0..5u64 {
            let turn = order.next_turn();
            let appended = appended.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((5 - i) * 10)).await;
                match i {
                    // A request refused before its append.
                    2 => drop(turn),
                    // A request cancelled while it waits for its turn.
                    3 => {
                        let append = turn.run(|| appended.lock().unwrap().push(i));
                        let cancelled = tokio::time::timeout(Duration::from_millis(1), append);
                        assert!(cancelled.await.is_err(), "request 3 had to wait");
                    }
                    _ => turn.run(|| appended.lock().unwrap().push(i)).await,
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*appended.lock().unwrap(), vec![0, 1, 4]);
    }

    #[test]
    fn files_are_cut_before_they_pass_the_size_target() {
        const MIB: u64 = 1024 * 1024;
        // 1 MiB requests into an 8 MiB target: the ninth starts a new file.
        let mut files = vec![0u64];
        for _ in 0..20 {
            if seal_before(*files.last().unwrap(), MIB, 8 * MIB) {
                files.push(0);
            }
            *files.last_mut().unwrap() += MIB;
        }
        assert_eq!(files, [8 * MIB, 8 * MIB, 4 * MIB]);
        // 3 MiB requests: files of 6 MiB, never 9.
        assert!(seal_before(6 * MIB, 3 * MIB, 8 * MIB));
        assert!(!seal_before(5 * MIB, 3 * MIB, 8 * MIB));
        // A request larger than the target on its own still gets a file (not split).
        assert!(!seal_before(0, 20 * MIB, 8 * MIB));
    }
}
