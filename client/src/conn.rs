//! One Kafka connection: frames requests (4-byte size, request header, body), matches
//! responses by correlation id so several requests can be in flight, applies a timeout per
//! request, and negotiates API versions with ApiVersions when it opens.
//!
//! A request that times out closes the connection (as the Java client does), so a late
//! response can never be mistaken for a newer one. The deadlines of all pending requests are
//! kept by one timer task per connection rather than one timer per request: under madsim a
//! timer holds its task's memory until it fires, even when the task has long finished, so a
//! 30 s timeout per request kept every finished request's task allocated for 30 s (a third of
//! a basic run's peak memory). Frames larger than `max_frame_bytes` close
//! the connection instead of allocating what the wire asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::ClientError;
use super::versions::{ApiVersionTable, API_VERSIONS_FIRST};

/// A byte stream a connection runs over (TCP, or the simulator's metered transport).
pub trait AsyncReadWrite: AsyncRead + AsyncWrite {}
impl<T: AsyncRead + AsyncWrite + ?Sized> AsyncReadWrite for T {}

/// A boxed stream as handed out by a [`DialFn`].
pub type BoxStream = Box<dyn AsyncReadWrite + Send + Unpin>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens a stream to a broker address. The simulator plugs in a metered transport here.
pub type DialFn =
    Arc<dyn Fn(SocketAddr) -> BoxFuture<'static, io::Result<BoxStream>> + Send + Sync>;

/// A dialer over plain (simulated or real) TCP with `TCP_NODELAY` set.
pub fn tcp_dialer() -> DialFn {
    Arc::new(|addr| {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxStream)
        })
    })
}

/// Settings of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    /// Sent in every request header; zone-aware routing reads `ws_az=<az>` from it.
    pub client_id: String,
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// How long dialing plus the ApiVersions handshake may take.
    pub connect_timeout: Duration,
    /// Largest response frame accepted; a larger one closes the connection.
    pub max_frame_bytes: usize,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            client_id: "eddy-workload".to_string(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_frame_bytes: 100 * 1024 * 1024,
        }
    }
}

type Reply = oneshot::Sender<Result<Bytes, ClientError>>;

/// A request written and not answered yet.
struct Waiting {
    reply: Reply,
    deadline: Instant,
    timeout_ms: u64,
}

#[derive(Default)]
struct Shared {
    pending: BTreeMap<i32, Waiting>,
    /// The pending requests' deadlines, earliest first.
    deadlines: BTreeSet<(Instant, i32)>,
    closed: bool,
}

impl Shared {
    fn take(&mut self, correlation_id: i32) -> Option<Waiting> {
        let waiting = self.pending.remove(&correlation_id)?;
        self.deadlines.remove(&(waiting.deadline, correlation_id));
        Some(waiting)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails every pending request with `ConnectionLost` and refuses new ones.
fn shut(shared: &Mutex<Shared>) {
    let pending = {
        let mut s = lock(shared);
        s.closed = true;
        s.deadlines.clear();
        std::mem::take(&mut s.pending)
    };
    for (_, waiting) in pending {
        let _ = waiting.reply.send(Err(ClientError::ConnectionLost));
    }
}

/// Fails each pending request whose deadline has passed with `Timeout` (its waiter then
/// closes the connection). `earlier` is signalled when a request's deadline comes before
/// every other pending one.
async fn expire_loop(shared: Arc<Mutex<Shared>>, earlier: Arc<Notify>) {
    loop {
        let next = lock(&shared).deadlines.first().map(|(at, _)| *at);
        let Some(at) = next else {
            earlier.notified().await;
            continue;
        };
        tokio::select! {
            biased;
            _ = earlier.notified() => continue,
            _ = tokio::time::sleep_until(at) => {}
        }
        let now = Instant::now();
        let expired: Vec<Waiting> = {
            let mut s = lock(&shared);
            let mut out = Vec::new();
            while let Some(&(at, id)) = s.deadlines.first() {
                if at > now {
                    break;
                }
                if let Some(waiting) = s.take(id) {
                    out.push(waiting);
                }
            }
            out
        };
        for waiting in expired {
            let _ = waiting
                .reply
                .send(Err(ClientError::Timeout(waiting.timeout_ms)));
        }
    }
}

/// A request written to a connection whose answer has not been read yet.
pub struct PendingResponse<R> {
    correlation_id: i32,
    version: i16,
    rx: oneshot::Receiver<Result<Bytes, ClientError>>,
    _request: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for PendingResponse<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingResponse")
            .field("correlation_id", &self.correlation_id)
            .field("version", &self.version)
            .finish()
    }
}

/// An open, version-negotiated connection to one broker.
pub struct Connection {
    addr: SocketAddr,
    client_id: StrBytes,
    request_timeout: Duration,
    writer: tokio::sync::Mutex<Option<WriteHalf<BoxStream>>>,
    shared: Arc<Mutex<Shared>>,
    next_correlation_id: AtomicI32,
    versions: ApiVersionTable,
    reader: JoinHandle<()>,
    /// Times out pending requests ([`expire_loop`]).
    expirer: JoinHandle<()>,
    /// Wakes the expirer for a deadline earlier than every pending one.
    earlier: Arc<Notify>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.expirer.abort();
        shut(&self.shared);
    }
}

impl Connection {
    /// Dials `addr` and negotiates versions, both within `config.connect_timeout`.
    pub async fn connect(
        dialer: &DialFn,
        addr: SocketAddr,
        config: &ConnConfig,
    ) -> Result<Connection, ClientError> {
        let dial_error = |message: String| ClientError::Dial {
            addr: addr.to_string(),
            message,
        };
        let stream = match tokio::time::timeout(config.connect_timeout, dialer(addr)).await {
            Err(_) => return Err(dial_error("connect timed out".to_string())),
            Ok(Err(e)) => return Err(dial_error(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        match tokio::time::timeout(
            config.connect_timeout,
            Self::handshake(stream, addr, config),
        )
        .await
        {
            Err(_) => Err(dial_error("ApiVersions handshake timed out".to_string())),
            Ok(Err(e)) => Err(dial_error(format!("ApiVersions handshake: {e}"))),
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    /// Wraps an already open stream and negotiates versions over it.
    pub async fn handshake(
        stream: BoxStream,
        addr: SocketAddr,
        config: &ConnConfig,
    ) -> Result<Connection, ClientError> {
        let (rd, wr) = tokio::io::split(stream);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let reader = tokio::spawn(read_loop(rd, shared.clone(), config.max_frame_bytes));
        let earlier = Arc::new(Notify::new());
        let expirer = tokio::spawn(expire_loop(shared.clone(), earlier.clone()));
        let mut conn = Connection {
            addr,
            client_id: StrBytes::from_string(config.client_id.clone()),
            request_timeout: config.request_timeout,
            writer: tokio::sync::Mutex::new(Some(wr)),
            shared,
            next_correlation_id: AtomicI32::new(0),
            versions: ApiVersionTable::default(),
            reader,
            expirer,
            earlier,
        };
        conn.versions = conn.negotiate().await?;
        Ok(conn)
    }

    /// ApiVersions, with the KIP-511 fallback: a broker that does not know our version
    /// answers UNSUPPORTED_VERSION with its own range encoded as v0.
    async fn negotiate(&self) -> Result<ApiVersionTable, ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("eddy-workload"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = API_VERSIONS_FIRST;
        for _ in 0..2 {
            let frame = self
                .round_trip(&request, version, self.request_timeout)
                .await?;
            let mut body = strip_header::<ApiVersionsRequest>(frame, version)?;
            let error_code = match body.get(0..2) {
                Some(b) => i16::from_be_bytes([b[0], b[1]]),
                None => return Err(ClientError::Protocol("empty ApiVersions response".into())),
            };
            if error_code == ResponseError::UnsupportedVersion.code() {
                let fallback = ApiVersionsResponse::decode(&mut body, 0)
                    .map_err(|e| ClientError::Protocol(format!("ApiVersions v0: {e}")))?;
                let key = kafka_protocol::messages::ApiKey::ApiVersions as i16;
                let broker_max = fallback
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == key)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                if broker_max >= version {
                    return Err(ClientError::Protocol(
                        "broker rejected an ApiVersions version it advertises".into(),
                    ));
                }
                version = broker_max.max(0);
                continue;
            }
            let resp = ApiVersionsResponse::decode(&mut body, version)
                .map_err(|e| ClientError::Protocol(format!("ApiVersions v{version}: {e}")))?;
            if let Some(err) = ResponseError::try_from_code(resp.error_code) {
                return Err(ClientError::Broker(err));
            }
            return Ok(ApiVersionTable::negotiate(&resp));
        }
        Err(ClientError::Protocol(
            "ApiVersions negotiation did not converge".into(),
        ))
    }

    /// The broker address this connection goes to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The negotiated versions.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// True once the connection broke or was closed; a closed connection sends nothing.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    /// Closes the connection: pending requests fail with `ConnectionLost`.
    pub async fn close(&self) {
        shut(&self.shared);
        self.reader.abort();
        self.expirer.abort();
        let mut writer = self.writer.lock().await;
        if let Some(mut w) = writer.take() {
            let _ = w.shutdown().await;
        }
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Response, ClientError> {
        self.request_with_timeout(request, self.request_timeout)
            .await
    }

    /// Like [`Connection::request`] with a specific timeout (e.g. a long-polling Fetch).
    pub async fn request_with_timeout<R: Request>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let version = self.versions.version(R::KEY)?;
        self.request_at_version(request, version, timeout).await
    }

    /// Sends `request` encoded at `version` and decodes the response at that version.
    pub async fn request_at_version<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let pending = self.send_at_version(request, version, timeout).await?;
        self.wait(pending).await
    }

    /// Writes `request` (negotiated version) and returns without waiting for the answer.
    /// Requests written by one task in sequence reach the broker in that order; wait for
    /// each answer with [`Connection::wait`] (possibly from other tasks).
    pub async fn send<R: Request>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<PendingResponse<R>, ClientError> {
        let version = self.versions.version(R::KEY)?;
        self.send_at_version(request, version, timeout).await
    }

    /// Waits for the answer to a request written with [`Connection::send`].
    pub async fn wait<R: Request>(
        &self,
        pending: PendingResponse<R>,
    ) -> Result<R::Response, ClientError> {
        let version = pending.version;
        let frame = self.wait_raw(pending).await?;
        let mut body = strip_header::<R>(frame, version)?;
        R::Response::decode(&mut body, version)
            .map_err(|e| ClientError::Protocol(format!("decode response to api {}: {e}", R::KEY)))
    }

    /// Writes one request frame and waits for the frame answering it.
    async fn round_trip<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let pending = self.send_at_version(request, version, timeout).await?;
        self.wait_raw(pending).await
    }

    async fn send_at_version<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<PendingResponse<R>, ClientError> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode_frame(request, version, correlation_id)?;
        let (tx, rx) = oneshot::channel();
        let deadline = Instant::now() + timeout;
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        {
            let mut s = lock(&self.shared);
            if s.closed {
                return Err(ClientError::NotSent("connection closed".into()));
            }
            let earliest = s.deadlines.first().is_none_or(|&(at, _)| deadline < at);
            s.pending.insert(
                correlation_id,
                Waiting {
                    reply: tx,
                    deadline,
                    timeout_ms,
                },
            );
            s.deadlines.insert((deadline, correlation_id));
            if earliest {
                self.earlier.notify_one();
            }
        }
        let write = async {
            let mut writer = self.writer.lock().await;
            let Some(w) = writer.as_mut() else {
                return Err(ClientError::NotSent("connection closed".into()));
            };
            // Simulated TCP sends only on flush.
            w.write_all(&frame)
                .await
                .map_err(|e| ClientError::NotSent(e.to_string()))?;
            w.flush()
                .await
                .map_err(|e| ClientError::NotSent(e.to_string()))
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(PendingResponse {
                correlation_id,
                version,
                rx,
                _request: PhantomData,
            }),
            Ok(Err(e)) => {
                lock(&self.shared).take(correlation_id);
                self.close().await;
                Err(e)
            }
            Err(_) => {
                // Part of the frame may be out; treat it as possibly processed.
                lock(&self.shared).take(correlation_id);
                self.close().await;
                Err(ClientError::Timeout(timeout_ms))
            }
        }
    }

    async fn wait_raw<R>(&self, pending: PendingResponse<R>) -> Result<Bytes, ClientError> {
        match pending.rx.await {
            Ok(Err(ClientError::Timeout(ms))) => {
                self.close().await;
                Err(ClientError::Timeout(ms))
            }
            Ok(result) => result,
            Err(_) => Err(ClientError::ConnectionLost),
        }
    }

    fn encode_frame<R: Request>(
        &self,
        request: &R,
        version: i16,
        correlation_id: i32,
    ) -> Result<Bytes, ClientError> {
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| ClientError::NotSent(format!("encode request header: {e}")))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| ClientError::NotSent(format!("encode request {}: {e}", R::KEY)))?;
        let size = i32::try_from(buf.len() - 4)
            .map_err(|_| ClientError::NotSent("request larger than 2 GiB".into()))?;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        Ok(buf.freeze())
    }
}

/// Decodes and drops the response header, returning the body.
fn strip_header<R: Request>(mut frame: Bytes, version: i16) -> Result<Bytes, ClientError> {
    ResponseHeader::decode(&mut frame, R::Response::header_version(version))
        .map_err(|e| ClientError::Protocol(format!("response header: {e}")))?;
    Ok(frame)
}

/// Reads response frames and hands each to the request waiting for its correlation id.
/// Read exactly `len` bytes into a new buffer, like `read_exact` into `vec![0; len]` but
/// without zeroing the buffer first: a fetch response is megabytes, written once by the read.
/// The stream is polled exactly as `read_exact` polls it (each read asks for what is missing).
async fn read_exact_vec<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        let missing = (len - body.len()) as u64;
        if (&mut *r).take(missing).read_buf(&mut body).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

async fn read_loop(mut rd: ReadHalf<BoxStream>, shared: Arc<Mutex<Shared>>, max_frame: usize) {
    loop {
        let mut size = [0u8; 4];
        if rd.read_exact(&mut size).await.is_err() {
            break;
        }
        let size = i32::from_be_bytes(size);
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if !(4..=max_frame).contains(&size) {
            break;
        }
        let Ok(body) = read_exact_vec(&mut rd, size).await else {
            break;
        };
        let correlation_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let waiting = lock(&shared).take(correlation_id);
        if let Some(waiting) = waiting {
            let _ = waiting.reply.send(Ok(Bytes::from(body)));
        }
    }
    shut(&shared);
}
