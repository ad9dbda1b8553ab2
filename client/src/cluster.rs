//! Connections to the brokers of one cluster plus the metadata cache, shared by a client's
//! producer and consumer. At most one connection per broker address; a broken one is
//! replaced on next use. Metadata refreshes are serialized so a burst of errors causes one
//! refresh, not one per failed request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::conn::{ConnConfig, Connection, DialFn};
use super::error::ClientError;
use super::metadata::Metadata;

/// How to reach a cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    /// `host:port` of brokers to ask for metadata first.
    pub bootstrap: Vec<String>,
    /// Client id, timeouts and frame cap of every connection.
    pub conn: ConnConfig,
    /// Opens the byte streams (plain TCP, or the simulator's metered transport).
    pub dialer: DialFn,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("bootstrap", &self.bootstrap)
            .field("conn", &self.conn)
            .finish()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// Connection pool and metadata of one cluster.
pub struct Cluster {
    config: ClusterConfig,
    slots: Mutex<BTreeMap<SocketAddr, Slot>>,
    metadata: Mutex<Metadata>,
    refresh_lock: tokio::sync::Mutex<()>,
    refresh_generation: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Resolves `host:port` (an IP literal needs no lookup).
async fn resolve(endpoint: &str) -> Result<SocketAddr, ClientError> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let dial = |message: String| ClientError::Dial {
        addr: endpoint.to_string(),
        message,
    };
    let mut addrs = tokio::net::lookup_host(endpoint)
        .await
        .map_err(|e| dial(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| dial("name resolved to no address".to_string()))
}

impl Cluster {
    /// A cluster handle; connects lazily.
    pub fn new(config: ClusterConfig) -> Cluster {
        Cluster {
            config,
            slots: Mutex::new(BTreeMap::new()),
            metadata: Mutex::new(Metadata::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
            refresh_generation: AtomicU64::new(0),
        }
    }

    /// The connection settings (client id, timeouts).
    pub fn conn_config(&self) -> &ConnConfig {
        &self.config.conn
    }

    /// Reads the metadata cache.
    pub fn with_metadata<T>(&self, f: impl FnOnce(&Metadata) -> T) -> T {
        f(&lock(&self.metadata))
    }

    /// Address of a partition's leader, if the cache knows it.
    pub fn leader_addr(&self, topic: &str, partition: i32) -> Option<SocketAddr> {
        lock(&self.metadata).leader_addr(topic, partition)
    }

    /// Marks a topic's leaders as out of date.
    pub fn invalidate(&self, topic: &str) {
        lock(&self.metadata).invalidate(topic);
    }

    /// The open connection to `addr`, dialing it if there is none.
    pub async fn connection(&self, addr: SocketAddr) -> Result<Arc<Connection>, ClientError> {
        let slot = lock(&self.slots).entry(addr).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref() {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
        }
        *slot = None;
        let conn =
            Arc::new(Connection::connect(&self.config.dialer, addr, &self.config.conn).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Closes and forgets the connection to `addr` (the next user dials again).
    pub async fn drop_connection(&self, addr: SocketAddr) {
        let slot = lock(&self.slots).get(&addr).cloned();
        if let Some(slot) = slot {
            let conn = slot.lock().await.take();
            if let Some(conn) = conn {
                conn.close().await;
            }
        }
    }

    /// Addresses to ask for metadata: open connections first, then known brokers, then the
    /// bootstrap list.
    async fn candidates(&self) -> Vec<Result<SocketAddr, ClientError>> {
        let mut out: Vec<Result<SocketAddr, ClientError>> = Vec::new();
        let known: Vec<SocketAddr> = self.with_metadata(|m| m.brokers().map(|(_, a)| a).collect());
        let open: Vec<SocketAddr> = {
            let slots = lock(&self.slots);
            slots
                .iter()
                .filter(|(_, slot)| {
                    slot.try_lock()
                        .map(|s| s.as_ref().is_some_and(|c| !c.is_closed()))
                        .unwrap_or(false)
                })
                .map(|(a, _)| *a)
                .collect()
        };
        for a in open.iter().chain(known.iter()) {
            if !out.iter().any(|o| o.as_ref() == Ok(a)) {
                out.push(Ok(*a));
            }
        }
        for endpoint in &self.config.bootstrap {
            let resolved = resolve(endpoint).await;
            if let Ok(a) = &resolved {
                if out.iter().any(|o| o.as_ref() == Ok(a)) {
                    continue;
                }
            }
            out.push(resolved);
        }
        out
    }

    /// A connection to any reachable broker.
    pub async fn any_connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut last = ClientError::NoBroker;
        for candidate in self.candidates().await {
            match candidate {
                Ok(addr) => match self.connection(addr).await {
                    Ok(conn) => return Ok(conn),
                    Err(e) => last = e,
                },
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Asks a broker for metadata about `topics` and updates the cache. Concurrent callers
    /// share one refresh.
    pub async fn refresh_metadata(&self, topics: &[String]) -> Result<(), ClientError> {
        let generation = self.refresh_generation.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if self.refresh_generation.load(Ordering::Acquire) != generation {
            let covered = self.with_metadata(|m| topics.iter().all(|t| !m.needs_refresh(t)));
            if covered {
                return Ok(());
            }
        }
        let request = Metadata::request(topics);
        let mut last = ClientError::NoBroker;
        for candidate in self.candidates().await {
            let addr = match candidate {
                Ok(addr) => addr,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let conn = match self.connection(addr).await {
                Ok(conn) => conn,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let resp = match conn.request(&request).await {
                Ok(resp) => resp,
                Err(e) => {
                    self.drop_connection(addr).await;
                    last = e;
                    continue;
                }
            };
            let mut addrs = BTreeMap::new();
            for (node, endpoint) in Metadata::broker_endpoints(&resp) {
                if let Ok(a) = resolve(&endpoint).await {
                    addrs.insert(node, a);
                }
            }
            lock(&self.metadata).apply(&resp, addrs);
            self.refresh_generation.fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
        Err(last)
    }

    /// The leader of a partition and an open connection to it, refreshing metadata first
    /// if the cache has no leader.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(SocketAddr, Arc<Connection>), ClientError> {
        let addr = match self.leader_addr(topic, partition) {
            Some(addr) => addr,
            None => {
                self.refresh_metadata(&[topic.to_string()]).await?;
                self.leader_addr(topic, partition)
                    .ok_or_else(|| ClientError::NoLeader {
                        topic: topic.to_string(),
                        partition,
                    })?
            }
        };
        let conn = self.connection(addr).await?;
        Ok((addr, conn))
    }
}
