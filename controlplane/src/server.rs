//! The control-plane server: recovers the state from the journal, group-commits commands
//! (journal first, then apply), answers agents' RPCs, and keeps the soft state of which
//! agents are alive.

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
use crate::error::{CpError, ErrorKind};
use crate::journal::{Entry, Journal, JournalError};
use crate::net::DynTransport;
use crate::rpc::{read_frame, write_frame, Request, RequestFrame, Response, ResponseFrame};
use crate::state::State;
use crate::types::{AgentInfo, LookupResult, TopicInfo};

/// Most partitions in one Lookup request.
pub const LOOKUP_QUERIES_MAX: usize = 100_000;

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
    /// Queued, not yet journaled commands; beyond it proposers wait (backpressure).
    pub queue_commands_max: usize,
    /// Planted bugs (off by default; see [`crate::plants`]).
    pub plants: crate::plants::Plants,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            group_commit_ms: 0,
            group_commit_commands_max: 1024,
            agent_ttl_ms: 3_000,
            lookup_wait_ms_max: 30_000,
            queue_commands_max: 16_384,
            plants: crate::plants::Plants::none(),
        }
    }
}

struct Proposal {
    command: Command,
    reply: oneshot::Sender<CommandResult>,
}

struct Inner {
    config: ControlPlaneConfig,
    state: Mutex<State>,
    agents: Mutex<BTreeMap<i32, (AgentInfo, Instant)>>,
    proposals: mpsc::Sender<Proposal>,
    /// Bumped after every applied journal entry; long-polling lookups wait on it.
    applied: watch::Sender<u64>,
    /// Set when another writer took our journal sequence: stop accepting commands.
    fenced: Mutex<Option<String>>,
    /// Consumer-group membership (soft state; see `groups.rs`).
    groups: crate::groups::Coordinator,
}

/// A running control-plane replica. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

impl ControlPlane {
    /// Recover the state from the journal in `store`, then serve on `listen`.
    pub async fn start(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
        transport: DynTransport,
        listen: SocketAddr,
    ) -> Result<ControlPlane, CpError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| CpError::unavailable(format!("bind {listen}: {e}")))?;
        let cp = Self::recover(config, store).await?;
        let server = cp.clone();
        tokio::spawn(async move { server.accept_loop(listener, transport).await });
        Ok(cp)
    }

    /// Rebuild the state by replaying the journal, and start the commit loop. Does not listen.
    pub async fn recover(
        config: ControlPlaneConfig,
        store: Arc<dyn ObjectStore>,
    ) -> Result<ControlPlane, CpError> {
        let journal = Journal::new(store);
        let (mut state, next_seq) = replay(&journal, &config.plants).await?;
        state.plants = config.plants.clone();
        let (tx, rx) = mpsc::channel(config.queue_commands_max.max(1));
        let (applied, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(state),
            agents: Mutex::new(BTreeMap::new()),
            proposals: tx,
            applied,
            fenced: Mutex::new(None),
            groups: crate::groups::Coordinator::new(),
        });
        let writer = format!("cp-{:016x}", madsim::rand::random::<u64>());
        let cp = ControlPlane { inner };
        let committer = cp.clone();
        tokio::spawn(async move { committer.commit_loop(journal, rx, next_seq, writer).await });
        Ok(cp)
    }

    /// A copy of the current state (tests, reports).
    pub fn state(&self) -> State {
        lock(&self.inner.state).clone()
    }

    /// Read the current state without copying it.
    pub fn read_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&lock(&self.inner.state))
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &crate::groups::Coordinator {
        &self.inner.groups
    }

    /// Journal `command`, apply it, and return its result.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, CpError> {
        if let Some(winner) = lock(&self.inner.fenced).clone() {
            return Err(CpError::new(
                ErrorKind::NotLeader,
                format!("fenced by {winner}"),
            ));
        }
        let (reply, rx) = oneshot::channel();
        self.inner
            .proposals
            .send(Proposal { command, reply })
            .await
            .map_err(|_| CpError::unavailable("commit loop stopped"))?;
        rx.await
            .map_err(|_| CpError::unavailable("command dropped before it was journaled"))
    }

    async fn commit_loop(
        self,
        journal: Journal,
        mut rx: mpsc::Receiver<Proposal>,
        mut seq: u64,
        writer: String,
    ) {
        let config = self.inner.config.clone();
        while let Some(first) = rx.recv().await {
            if config.group_commit_ms > 0 {
                tokio::time::sleep(Duration::from_millis(config.group_commit_ms)).await;
            }
            let mut batch = vec![first];
            while batch.len() < config.group_commit_commands_max {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let entry = Entry {
                seq,
                epoch: 0,
                writer: writer.clone(),
                commands: batch.iter().map(|p| p.command.clone()).collect(),
            };
            // Retry the same bytes until the outcome is definite: an ambiguous failure may
            // have written the entry, and a different entry at this number would fork history.
            let mut backoff = Duration::from_millis(10);
            loop {
                match journal.append(&entry).await {
                    Ok(()) => break,
                    Err(JournalError::Fenced { winner, .. }) => {
                        *lock(&self.inner.fenced) = Some(winner.clone());
                        for p in batch {
                            let _ = p.reply.send(CommandResult::Rejected(CpError::new(
                                ErrorKind::NotLeader,
                                format!("journal sequence {seq} taken by {winner}"),
                            )));
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "journal append failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
            seq += 1;
            // BUGGIFY: the entry is durable but not applied yet: lookups and retried commits
            // arriving now must not see a half-applied state.
            if madsim::buggify::buggify_with_prob(0.02) {
                use rand::Rng;
                let ms = madsim::rand::thread_rng().gen_range(0..200u64);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            let results: Vec<CommandResult> = {
                let mut state = lock(&self.inner.state);
                entry.commands.iter().map(|c| state.apply(c)).collect()
            };
            self.inner.applied.send_modify(|n| *n += 1);
            for (p, r) in batch.into_iter().zip(results) {
                let _ = p.reply.send(r);
            }
        }
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

    async fn serve_connection(self, conn: crate::net::Conn) {
        let (mut reader, mut writer) = tokio::io::split(conn);
        let (tx, mut rx) = mpsc::unbounded_channel::<ResponseFrame>();
        let writer_task = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write_frame(&mut writer, &frame).await.is_err() {
                    break;
                }
            }
        });
        loop {
            let frame: RequestFrame = match read_frame(&mut reader).await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "closing control-plane connection");
                    break;
                }
            };
            let cp = self.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let response = cp.handle(frame.request).await;
                let _ = tx.send(ResponseFrame {
                    id: frame.id,
                    response,
                });
            });
        }
        drop(tx);
        let _ = writer_task.await;
    }

    /// Answer one RPC.
    pub async fn handle(&self, request: Request) -> Result<Response, CpError> {
        match request {
            Request::Heartbeat { agent } => Ok(Response::Agents {
                agents: self.heartbeat(agent),
            }),
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
            Request::DescribeTopics { names } => Ok(Response::Topics {
                topics: lock(&self.inner.state).topic_infos(names.as_deref()),
            }),
            Request::CommitFile { file } => {
                if let Some(done) = lock(&self.inner.state).files.get(&file.id) {
                    return Ok(Response::Committed {
                        base_offsets: done.base_offsets.clone(),
                    });
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
                loop {
                    applied.borrow_and_update();
                    let results: Vec<Result<LookupResult, CpError>> = {
                        let state = lock(&self.inner.state);
                        queries
                            .iter()
                            .map(|q| state.lookup(&q.topic, q.partition, q.offset, q.max_bytes))
                            .collect()
                    };
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
                        let state = lock(&self.inner.state);
                        let results = queries
                            .iter()
                            .map(|q| state.lookup(&q.topic, q.partition, q.offset, q.max_bytes))
                            .collect();
                        return Ok(Response::Lookups { results });
                    }
                }
            }
            Request::Group(request) => self.handle_group(request).await.map(Response::Group),
            Request::InitProducerId => Ok(Response::ProducerId {
                producer_id: self.init_producer_id().await?,
                producer_epoch: 0,
            }),
            Request::ListOffset {
                topic,
                partition,
                timestamp,
            } => {
                let state = lock(&self.inner.state);
                let offset = state.list_offset(&topic, partition, timestamp)?;
                let high_watermark = state.partition(&topic, partition)?.high_watermark;
                Ok(Response::Offset {
                    offset,
                    high_watermark,
                })
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

async fn replay(
    journal: &Journal,
    plants: &crate::plants::Plants,
) -> Result<(State, u64), CpError> {
    let mut backoff = Duration::from_millis(10);
    loop {
        match try_replay(journal, plants).await {
            Ok(r) => return Ok(r),
            Err(JournalError::Corrupt { key, source }) => {
                return Err(CpError::internal(format!(
                    "corrupt journal entry {key}: {source}"
                )))
            }
            Err(e) => {
                tracing::warn!(error = %e, "journal replay failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

async fn try_replay(
    journal: &Journal,
    plants: &crate::plants::Plants,
) -> Result<(State, u64), JournalError> {
    let mut state = State {
        plants: plants.clone(),
        ..State::default()
    };
    let mut next = 0;
    let seqs = journal.list().await?;
    let last = seqs.last().copied();
    for seq in seqs {
        if seq != next {
            // A hole: entries after it were never acknowledged as a prefix. Stop here.
            break;
        }
        if let Some(entry) = journal.read(seq).await? {
            // Planted bug: an off-by-one that drops the last entry's effects on recovery.
            let skip =
                plants.has(crate::plants::Plant::OffsetReuseAfterFailover) && Some(seq) == last;
            if !skip {
                for c in &entry.commands {
                    state.apply(c);
                }
            }
            next = seq + 1;
        }
    }
    Ok((state, next))
}

/// Lock a mutex, recovering from poisoning (a panicked holder cannot leave the state torn:
/// every critical section here is a plain assignment or a deterministic `apply`).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
