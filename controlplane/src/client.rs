//! The agents' client for the control plane: one multiplexed connection, per-request
//! timeouts, reconnection, and retries of idempotent requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::{CpError, ErrorKind};
use crate::net::DynTransport;
use crate::rpc::{read_frame, write_frame, Request, RequestFrame, Response, ResponseFrame};
use crate::sync::lock;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Control-plane replicas to try, in order. A `NotLeader` answer naming one of them
    /// sends the next request there; otherwise the client tries the next one.
    pub addrs: Vec<SocketAddr>,
    /// Time allowed for one attempt (a long-polling lookup adds its wait to this).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl ClientConfig {
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        ClientConfig {
            addrs,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// The time one attempt of a call retried until `deadline` may take: the configured
/// request timeout, but at most half the deadline, so a call whose first answer is lost gets
/// a second attempt in time.
pub fn attempt_timeout(request_timeout: Duration, deadline: Duration) -> Duration {
    request_timeout.min((deadline / 2).max(ATTEMPT_MIN))
}

/// Longest a Lookup attempt waits beyond its long-poll wait: the longest lookup round
/// (`LOOKUP_BATCH_MS_MAX`) and a second for the network and a confirmation read of the
/// journal (see `ControlPlane::read_latest`).
pub const LOOKUP_ATTEMPT: Duration =
    Duration::from_millis(crate::server::LOOKUP_BATCH_MS_MAX + 1_000);

/// Shortest attempt [`attempt_timeout`] allows, however short the deadline.
const ATTEMPT_MIN: Duration = Duration::from_millis(100);

type Pending = Arc<Mutex<BTreeMap<u64, oneshot::Sender<Result<Response, CpError>>>>>;

struct Link {
    generation: u64,
    /// Cleared by the reader task when the connection ends.
    alive: Arc<AtomicBool>,
    to_writer: mpsc::UnboundedSender<RequestFrame>,
    pending: Pending,
}

struct Shared {
    config: ClientConfig,
    transport: DynTransport,
    next_id: Mutex<u64>,
    link: tokio::sync::Mutex<Option<Link>>,
    /// Index into `config.addrs` of the replica to try next.
    target: Mutex<usize>,
    generation: Mutex<u64>,
    /// Newest connection generation that already moved `target` on.
    rotated: Mutex<u64>,
    /// The replica a `NotLeader` answer named as leader, until a timeout moves the client
    /// on: connecting to it is retried before falling back to the other replicas, which
    /// would only answer `NotLeader` and send the client back.
    hinted: Mutex<Option<usize>>,
}

/// Connection attempts to the replica named as leader before trying the others. One lost
/// or slow handshake (a SYN retransmitted after 1 s, 3 s) must not send every call of the
/// agent to a follower; a dead leader costs `HINTED_CONNECTS × connect_timeout` once.
const HINTED_CONNECTS: usize = 3;

/// A client of the control plane. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct ControlPlaneClient {
    shared: Arc<Shared>,
}

impl ControlPlaneClient {
    pub fn new(config: ClientConfig, transport: DynTransport) -> Self {
        ControlPlaneClient {
            shared: Arc::new(Shared {
                config,
                transport,
                next_id: Mutex::new(0),
                link: tokio::sync::Mutex::new(None),
                target: Mutex::new(0),
                generation: Mutex::new(0),
                rotated: Mutex::new(0),
                hinted: Mutex::new(None),
            }),
        }
    }

    /// One attempt: send `request` and wait for its answer. `Unavailable` means the outcome
    /// is unknown. A Lookup's attempt is at most [`LOOKUP_ATTEMPT`] beyond its long-poll
    /// wait: a replica answers one within a lookup round of the wait, and a fetch should not
    /// wait out the whole request timeout on a leader that died without closing its
    /// connections (a crashed machine) before the next replica is tried.
    pub async fn call(&self, request: Request) -> Result<Response, CpError> {
        let attempt = match &request {
            Request::Lookup { .. } => self.shared.config.request_timeout.min(LOOKUP_ATTEMPT),
            _ => self.shared.config.request_timeout,
        };
        self.call_timed(request, attempt).await
    }

    /// One attempt allowed `attempt` (plus a long poll's wait) before its outcome is unknown.
    async fn call_timed(&self, request: Request, attempt: Duration) -> Result<Response, CpError> {
        let extra = match &request {
            Request::Lookup { wait_ms, .. } => Duration::from_millis(*wait_ms),
            Request::Group(g) => g.wait_hint(),
            _ => Duration::ZERO,
        };
        let timeout = attempt + extra;
        let (generation, rx, id) = {
            let mut link = self.shared.link.lock().await;
            if link
                .as_ref()
                .is_none_or(|l| !l.alive.load(Ordering::Relaxed))
            {
                *link = Some(self.connect().await?);
            }
            let l = link
                .as_ref()
                .ok_or_else(|| CpError::internal("link vanished"))?;
            let id = {
                let mut n = lock(&self.shared.next_id);
                *n += 1;
                *n
            };
            let (tx, rx) = oneshot::channel();
            lock(&l.pending).insert(id, tx);
            if l.to_writer.send(RequestFrame { id, request }).is_err() {
                lock(&l.pending).remove(&id);
                let generation = l.generation;
                *link = None;
                return Err(CpError::unavailable(format!(
                    "connection {generation} closed"
                )));
            }
            (l.generation, rx, id)
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => {
                if let Err(e) = &result {
                    if e.kind == ErrorKind::NotLeader {
                        self.redirect(generation, e.leader.as_deref()).await;
                    }
                }
                result
            }
            Ok(Err(_)) => Err(CpError::unavailable("connection lost before the answer")),
            Err(_) => {
                eddy_probe::hit("cp.client.attempt_timed_out");
                // Forget the request; drop the connection so a dead (or paused) replica is
                // noticed, and try the next replica: the leader may have changed meanwhile.
                self.drop_link(generation, Some(id)).await;
                self.rotate(generation).await;
                Err(CpError::unavailable(format!(
                    "no answer within {timeout:?}"
                )))
            }
        }
    }

    /// Retry `request` on retriable errors until `deadline` passes. Only for idempotent
    /// requests (all of the control plane's requests are). Each attempt gets at most half
    /// the deadline (see [`attempt_timeout`]), so an attempt whose answer is lost (a paused
    /// or crashed replica, a dropped reply) is retried before the deadline.
    pub async fn call_with_retry(
        &self,
        request: Request,
        deadline: Duration,
    ) -> Result<Response, CpError> {
        let give_up = tokio::time::Instant::now() + deadline;
        let attempt = attempt_timeout(self.shared.config.request_timeout, deadline);
        let mut backoff = Duration::from_millis(20);
        loop {
            match self.call_timed(request.clone(), attempt).await {
                Err(e)
                    if e.kind.is_retriable() && tokio::time::Instant::now() + backoff < give_up =>
                {
                    eddy_probe::hit("cp.client.retry");
                    tracing::debug!(error = %e, "control-plane call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// After `NotLeader`: go to the leader the replica named, when it is one of ours;
    /// otherwise to the next replica.
    async fn redirect(&self, generation: u64, leader: Option<&str>) {
        let hinted = leader.and_then(|l| {
            self.shared
                .config
                .addrs
                .iter()
                .position(|a| a.to_string() == l)
        });
        match hinted {
            Some(idx) => {
                eddy_probe::hit("cp.client.redirected");
                self.drop_link(generation, None).await;
                *lock(&self.shared.target) = idx;
                *lock(&self.shared.hinted) = Some(idx);
            }
            None => self.rotate(generation).await,
        }
    }

    /// The replica this client sends to next (index into `addrs`).
    pub fn target(&self) -> SocketAddr {
        let addrs = &self.shared.config.addrs;
        let t = *lock(&self.shared.target);
        addrs
            .get(t)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Move on to the next replica, once per connection: of many requests failing on the
    /// same connection, only the first moves the target.
    async fn rotate(&self, generation: u64) {
        let mut link = self.shared.link.lock().await;
        let current = link.as_ref().map(|l| l.generation);
        if current == Some(generation) {
            *link = None;
        }
        if current == Some(generation) || *lock(&self.shared.rotated) < generation {
            *lock(&self.shared.rotated) = generation;
            *lock(&self.shared.hinted) = None;
            let mut t = lock(&self.shared.target);
            *t = (*t + 1) % self.shared.config.addrs.len().max(1);
        }
    }

    async fn drop_link(&self, generation: u64, id: Option<u64>) {
        let mut link = self.shared.link.lock().await;
        if let Some(l) = link.as_ref() {
            if let Some(id) = id {
                lock(&l.pending).remove(&id);
            }
            if l.generation == generation {
                *link = None;
            }
        }
    }

    async fn connect(&self) -> Result<Link, CpError> {
        let addrs = &self.shared.config.addrs;
        if addrs.is_empty() {
            return Err(CpError::invalid("no control-plane address configured"));
        }
        let start = *lock(&self.shared.target);
        let tries = if *lock(&self.shared.hinted) == Some(start) {
            HINTED_CONNECTS
        } else {
            1
        };
        let order = std::iter::repeat_n(start, tries - 1)
            .chain((0..addrs.len()).map(|i| (start + i) % addrs.len()));
        let mut last_error = String::new();
        for idx in order {
            let addr = addrs[idx];
            match tokio::time::timeout(
                self.shared.config.connect_timeout,
                self.shared.transport.connect(addr),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    *lock(&self.shared.target) = idx;
                    let generation = {
                        let mut g = lock(&self.shared.generation);
                        *g += 1;
                        *g
                    };
                    return Ok(spawn_link(conn, generation));
                }
                Ok(Err(e)) => last_error = format!("connect {addr}: {e}"),
                Err(_) => last_error = format!("connect {addr}: timed out"),
            }
            eddy_probe::hit("cp.client.connect_attempt_failed");
        }
        eddy_probe::hit("cp.client.connect_failed");
        Err(CpError::unavailable(last_error))
    }
}

fn spawn_link(conn: crate::net::Conn, generation: u64) -> Link {
    let (mut reader, mut writer) = tokio::io::split(conn);
    let (to_writer, mut from_callers) = mpsc::unbounded_channel::<RequestFrame>();
    let pending: Pending = Arc::new(Mutex::new(BTreeMap::new()));
    let reader_pending = pending.clone();
    let alive = Arc::new(AtomicBool::new(true));
    let reader_alive = alive.clone();
    tokio::spawn(async move {
        while let Some(frame) = from_callers.recv().await {
            if write_frame(&mut writer, &frame).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok(Some(frame)) = read_frame::<_, ResponseFrame>(&mut reader).await {
            if let Some(tx) = lock(&reader_pending).remove(&frame.id) {
                let _ = tx.send(frame.response);
            }
        }
        // Connection gone: every request still waiting has an unknown outcome.
        reader_alive.store(false, Ordering::Relaxed);
        let waiting = std::mem::take(&mut *lock(&reader_pending));
        if !waiting.is_empty() {
            eddy_probe::hit("cp.client.connection_lost");
        }
        for (_, tx) in waiting {
            let _ = tx.send(Err(CpError::unavailable(
                "connection to the control plane lost",
            )));
        }
    });
    Link {
        generation,
        alive,
        to_writer,
        pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_leaves_room_for_a_retry_within_the_deadline() {
        let s = Duration::from_secs;
        // The plants scenario: 5 s requests, 3 s commit deadline: a lost answer is noticed
        // after 1.5 s and retried.
        assert_eq!(attempt_timeout(s(5), s(3)), Duration::from_millis(1_500));
        // The default 10 s deadline keeps the configured 5 s.
        assert_eq!(attempt_timeout(s(5), s(10)), s(5));
        assert_eq!(attempt_timeout(s(5), Duration::ZERO), ATTEMPT_MIN);
    }
}
