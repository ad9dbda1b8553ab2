//! Real mode: `eddy serve`, `eddy controlplane` and `eddy agent` run the same agent and
//! control-plane code the simulation tests, on real sockets, with object_store's
//! LocalFileSystem (default) or its S3 client against any S3-compatible endpoint.
//!
//! Only the real-mode build (without `--cfg madsim`) can serve: the simulated build has no
//! real sockets, so there these commands explain how to build the real binary. The argument
//! types and the object-store URL parser compile in both builds (the CLI is the same).
//! Doctests count as the simulated build: rustdoc collects them without `--cfg madsim`
//! while the dependencies (madsim-tokio among them) were built with it.
//!
//! Data files (`data/…`) and the control plane's journal (`journal/…`) live in the object
//! store, so restarting a process loses nothing that was acknowledged: the control plane
//! replays the journal on start. The local store syncs each file and its folder before the
//! put returns ([`crate::localstore`]), so a power loss loses nothing acknowledged either.
//!
//! SIGINT or SIGTERM stops a process cleanly: the agent accepts no more connections, reads
//! no more requests, flushes its pending file at once and answers what it read, for at most
//! `--shutdown-timeout-ms`; then the process exits. A second signal exits at once.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
#[cfg(any(madsim, doctest))]
use std::process::ExitCode;

use clap::Args;
use eddy_agent::AgentConfig;

/// The Kafka listener of `eddy serve` and `eddy agent`.
pub const KAFKA_LISTEN_DEFAULT: &str = "127.0.0.1:9092";
/// The control-plane listener of `eddy serve` and `eddy controlplane`.
pub const CONTROLPLANE_LISTEN_DEFAULT: &str = "127.0.0.1:9093";

/// Where data files and the journal are kept.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Folder of the local object store (object_store's LocalFileSystem), used unless
    /// --object-store is given. Created if missing.
    #[arg(long, default_value = "eddy-data")]
    pub data_dir: PathBuf,
    /// Object store URL: `file:///abs/dir`, or
    /// `s3://bucket[/prefix][?endpoint=http://host:port&region=R]` (credentials from the usual
    /// AWS_* environment variables). Journal entries are written with S3 conditional puts
    /// (If-None-Match: *), so the endpoint must support them.
    #[arg(long)]
    pub object_store: Option<String>,
    /// Local store only: do not sync files and folders to disk before acknowledging a put
    /// (faster; a power loss may then lose acknowledged records; a process crash does not).
    #[arg(long)]
    pub no_fsync: bool,
}

/// Agent settings shared by `eddy serve` and `eddy agent`.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Kafka listener: bound on its host (unless --bind says otherwise) and advertised to
    /// clients (unless --advertised-host says otherwise).
    #[arg(long, default_value = KAFKA_LISTEN_DEFAULT)]
    pub listen: SocketAddr,
    /// Address to bind the Kafka port on instead of the host of --listen, e.g. 0.0.0.0 for
    /// every interface.
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Host name clients are told to connect to (Metadata).
    #[arg(long)]
    pub advertised_host: Option<String>,
    /// Kafka broker id (default: the Kafka port, unique per host).
    #[arg(long)]
    pub node_id: Option<i32>,
    /// Availability zone of this agent (clients choose theirs with `ws_az=<az>` in client.id).
    #[arg(long, default_value = "az1")]
    pub az: String,
    /// Flush the pending file this long after its first batch (each flush is one PUT).
    #[arg(long, default_value_t = 250)]
    pub batch_timeout_ms: u64,
    /// Partitions of topics created implicitly or with -1.
    #[arg(long, default_value_t = 12)]
    pub default_partitions: i32,
    /// Largest request accepted (Kafka's socket.request.max.bytes); a larger declared size
    /// closes the connection before anything is allocated for it.
    #[arg(long, default_value_t = AgentConfig::default().frame_bytes_max)]
    pub socket_request_max_bytes: usize,
    /// Request bytes read and not yet answered, all connections together (Kafka's
    /// queued.max.request.bytes); beyond it, reading waits.
    #[arg(long, default_value_t = AgentConfig::default().queued_request_bytes_max)]
    pub queued_max_request_bytes: usize,
    /// Close connections idle this long (Kafka's connections.max.idle.ms), and those whose
    /// client reads no response for this long.
    #[arg(long, default_value_t = AgentConfig::default().connection_idle_ms)]
    pub connections_max_idle_ms: u64,
    /// A request must arrive whole within this long of its first byte.
    #[arg(long, default_value_t = AgentConfig::default().request_read_timeout_ms)]
    pub request_read_timeout_ms: u64,
    /// Connections open at once from one client address (Kafka's max.connections.per.ip).
    #[arg(long, default_value_t = AgentConfig::default().connections_per_ip_max)]
    pub max_connections_per_ip: usize,
    /// On SIGINT/SIGTERM, wait at most this long for in-flight requests to be answered.
    #[arg(long, default_value_t = SHUTDOWN_TIMEOUT_MS_DEFAULT)]
    pub shutdown_timeout_ms: u64,
}

/// How long a stopping agent waits for in-flight requests: a produce needs a batch timeout,
/// a PUT and a commit, a long-polling fetch its client's wait (librdkafka's and Java's
/// fetch.wait.max.ms default: 500 ms).
pub const SHUTDOWN_TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// `eddy serve`: one agent and an embedded control plane.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
    /// The embedded control plane's listener (other `eddy agent`s may join it).
    #[arg(long, default_value = CONTROLPLANE_LISTEN_DEFAULT)]
    pub controlplane_listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `eddy controlplane`: the virtual cluster alone.
#[derive(Debug, Clone, Args)]
pub struct ControlPlaneArgs {
    #[arg(long, default_value = CONTROLPLANE_LISTEN_DEFAULT)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `eddy agent`: one agent of a virtual cluster run by `eddy controlplane` (or `eddy serve`).
#[derive(Debug, Clone, Args)]
pub struct AgentProcessArgs {
    /// Control-plane address(es), comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub controlplane: Vec<SocketAddr>,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A parsed object-store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Local(PathBuf),
    S3 {
        bucket: String,
        /// Key prefix inside the bucket ("" for none).
        prefix: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreUrlError {
    #[error("object store URL {0:?}: expected file:///dir or s3://bucket[/prefix][?endpoint=…]")]
    Scheme(String),
    #[error("object store URL {0:?} names no bucket")]
    NoBucket(String),
    #[error("object store URL {url:?}: unknown parameter {key:?} (endpoint, region)")]
    Parameter { url: String, key: String },
}

impl StoreArgs {
    pub fn location(&self) -> Result<StoreUrl, StoreUrlError> {
        match &self.object_store {
            Some(url) => StoreUrl::parse(url),
            None => Ok(StoreUrl::Local(self.data_dir.clone())),
        }
    }
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreUrlError> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(StoreUrl::Local(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(StoreUrlError::Scheme(url.to_string()));
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(StoreUrlError::NoBucket(url.to_string()));
        }
        let (mut endpoint, mut region) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "endpoint" => endpoint = Some(value.to_string()),
                "region" => region = Some(value.to_string()),
                _ => {
                    return Err(StoreUrlError::Parameter {
                        url: url.to_string(),
                        key: key.to_string(),
                    })
                }
            }
        }
        Ok(StoreUrl::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint,
            region,
        })
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Local(dir) => write!(f, "file://{}", dir.display()),
            StoreUrl::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => {
                write!(f, "s3://{bucket}/{prefix}")?;
                if let Some(e) = endpoint {
                    write!(f, " at {e}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(not(any(madsim, doctest)))]
pub use real::{agent, controlplane, open_store, serve};

#[cfg(any(madsim, doctest))]
fn needs_real_build(command: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`eddy {command}` serves real sockets and this is the simulated build (--cfg madsim). \
         Build the real-mode binary: cargo build --config .cargo/real-mode.toml --release --target-dir target/real \
         && target/real/release/eddy {command}"
    )
}

#[cfg(any(madsim, doctest))]
pub fn serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    needs_real_build("serve")
}

#[cfg(any(madsim, doctest))]
pub fn controlplane(_args: ControlPlaneArgs) -> anyhow::Result<ExitCode> {
    needs_real_build("controlplane")
}

#[cfg(any(madsim, doctest))]
pub fn agent(_args: AgentProcessArgs) -> anyhow::Result<ExitCode> {
    needs_real_build("agent")
}

#[cfg(not(any(madsim, doctest)))]
mod real {
    use std::future::Future;
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context;
    use eddy_agent::{Agent, AgentConfig};
    use eddy_controlplane::api::{ClientConfig, ControlPlaneClient};
    use eddy_controlplane::net::{DynTransport, PlainTcp};
    use eddy_controlplane::{ControlPlane, ControlPlaneConfig};
    use object_store::aws::AmazonS3Builder;
    use object_store::local::LocalFileSystem;
    use object_store::prefix::PrefixStore;
    use object_store::ObjectStore;
    use tokio::signal::unix::{signal, Signal, SignalKind};

    use super::{AgentArgs, AgentProcessArgs, ControlPlaneArgs, ServeArgs, StoreArgs, StoreUrl};
    use crate::localstore::DurableLocalStore;

    /// After a stop's grace period, the process exits even if something still hangs.
    const EXIT_MARGIN: Duration = Duration::from_secs(2);

    /// Open the object store the arguments name.
    pub fn open_store(args: &StoreArgs) -> anyhow::Result<(Arc<dyn ObjectStore>, StoreUrl)> {
        let location = args.location()?;
        let store: Arc<dyn ObjectStore> = match &location {
            StoreUrl::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("resolving {}", dir.display()))?;
                if args.no_fsync {
                    Arc::new(
                        LocalFileSystem::new_with_prefix(&dir)
                            .with_context(|| format!("opening {}", dir.display()))?,
                    )
                } else {
                    Arc::new(
                        DurableLocalStore::new(&dir)
                            .with_context(|| format!("opening {}", dir.display()))?,
                    )
                }
            }
            StoreUrl::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                // Conditional puts (PutMode::Create, the journal's arbiter) default to
                // If-None-Match: *, which S3 has supported since August 2024.
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                let s3: Arc<dyn ObjectStore> =
                    Arc::new(builder.build().context("configuring the S3 client")?);
                if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok((store, location))
    }

    fn agent_config(args: &AgentArgs) -> AgentConfig {
        AgentConfig {
            node_id: args.node_id.unwrap_or(i32::from(args.listen.port())),
            az: args.az.clone(),
            advertised_host: args
                .advertised_host
                .clone()
                .unwrap_or_else(|| args.listen.ip().to_string()),
            bind_host: args.bind.unwrap_or(args.listen.ip()),
            port: args.listen.port(),
            batch_timeout_ms: args.batch_timeout_ms,
            default_partitions: args.default_partitions,
            frame_bytes_max: args.socket_request_max_bytes,
            queued_request_bytes_max: args.queued_max_request_bytes,
            connection_idle_ms: args.connections_max_idle_ms,
            request_read_timeout_ms: args.request_read_timeout_ms,
            connections_per_ip_max: args.max_connections_per_ip,
            ..AgentConfig::default()
        }
    }

    async fn start_controlplane(
        store: Arc<dyn ObjectStore>,
        listen: SocketAddr,
    ) -> anyhow::Result<ControlPlane> {
        let transport: DynTransport = Arc::new(PlainTcp);
        ControlPlane::start(ControlPlaneConfig::default(), store, transport, listen)
            .await
            .with_context(|| format!("starting the control plane on {listen}"))
    }

    async fn start_agent(
        args: &AgentArgs,
        store: Arc<dyn ObjectStore>,
        controlplane: Vec<SocketAddr>,
    ) -> anyhow::Result<Agent> {
        let transport: DynTransport = Arc::new(PlainTcp);
        let cp = ControlPlaneClient::new(ClientConfig::new(controlplane), transport.clone());
        let config = agent_config(args);
        if config.frame_bytes_max > config.queued_request_bytes_max {
            tracing::warn!(
                socket_request_max_bytes = config.frame_bytes_max,
                queued_max_request_bytes = config.queued_request_bytes_max,
                "requests are limited to --queued-max-request-bytes: a larger one could never be read whole"
            );
        }
        let bind = SocketAddr::from((config.bind_host, config.port));
        Agent::start(config, store, cp, transport)
            .await
            .with_context(|| format!("starting the agent on {bind}"))
    }

    /// What a process runs (dropped once stopped), and how it stops.
    struct Running {
        agent: Option<Agent>,
        _controlplane: Option<ControlPlane>,
    }

    impl Running {
        /// Drain the agent (its commits need the control plane, which stops after it).
        async fn stop(self, grace: Duration) {
            if let Some(agent) = &self.agent {
                let open = agent.inner().connections.open();
                tracing::info!(
                    connections = open,
                    grace_ms = grace.as_millis() as u64,
                    "stopping: accepting no more connections, answering requests in flight"
                );
                if agent.shutdown(grace).await {
                    tracing::info!("every connection answered and closed");
                } else {
                    tracing::warn!(
                        connections = agent.inner().connections.open(),
                        "grace period over; requests still in flight fail"
                    );
                }
            }
            drop(self);
        }
    }

    /// SIGINT and SIGTERM.
    struct Signals {
        int: Signal,
        term: Signal,
    }

    impl Signals {
        fn new() -> anyhow::Result<Signals> {
            Ok(Signals {
                int: signal(SignalKind::interrupt()).context("handling SIGINT")?,
                term: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            })
        }

        async fn next(&mut self) -> &'static str {
            tokio::select! {
                biased;
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
    }

    /// Run `start` on a multi-threaded runtime, serve until SIGINT or SIGTERM, then stop
    /// within `grace` (a second signal, or `grace` plus a margin, ends the process at once).
    fn run_until_signal<F>(start: F, grace: Duration) -> anyhow::Result<ExitCode>
    where
        F: Future<Output = anyhow::Result<Running>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let result = runtime.block_on(async {
            // Handlers first: a signal during start-up stops the process too.
            let mut signals = Signals::new()?;
            let running = tokio::select! {
                biased;
                sig = signals.next() => {
                    tracing::info!(signal = sig, "stopping during start-up");
                    return anyhow::Ok(());
                }
                running = start => running?,
            };
            tracing::info!("ready");
            let sig = signals.next().await;
            tracing::info!(signal = sig, "stop requested");
            std::thread::spawn(move || {
                std::thread::sleep(grace + EXIT_MARGIN);
                tracing::error!(
                    "still running {:?} after the stop signal; exiting",
                    grace + EXIT_MARGIN
                );
                std::process::exit(1);
            });
            tokio::select! {
                biased;
                sig = signals.next() => {
                    tracing::warn!(signal = sig, "second signal; exiting now");
                    std::process::exit(1);
                }
                () = running.stop(grace) => {}
            }
            tracing::info!("stopped");
            anyhow::Ok(())
        });
        // Nothing unacknowledged needs saving: producers are answered only after the commit.
        runtime.shutdown_timeout(Duration::from_millis(200));
        result.map(|()| ExitCode::SUCCESS)
    }

    pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
        let (store, location) = open_store(&args.store)?;
        let grace = Duration::from_millis(args.agent.shutdown_timeout_ms);
        run_until_signal(
            async move {
                let cp = start_controlplane(store.clone(), args.controlplane_listen).await?;
                let agent = start_agent(&args.agent, store, vec![args.controlplane_listen]).await?;
                let config = &agent.inner().config;
                tracing::info!(
                    "eddy serve: Kafka on {} (bound on {}, node {}), control plane on {}, object store {location}{}",
                    args.agent.listen,
                    config.bind_host,
                    config.node_id,
                    args.controlplane_listen,
                    fsync_note(&args.store, &location),
                );
                Ok(Running {
                    agent: Some(agent),
                    _controlplane: Some(cp),
                })
            },
            grace,
        )
    }

    pub fn controlplane(args: ControlPlaneArgs) -> anyhow::Result<ExitCode> {
        let (store, location) = open_store(&args.store)?;
        run_until_signal(
            async move {
                let cp = start_controlplane(store, args.listen).await?;
                tracing::info!(
                    "eddy controlplane: on {}, object store {location}{}",
                    args.listen,
                    fsync_note(&args.store, &location),
                );
                Ok(Running {
                    agent: None,
                    _controlplane: Some(cp),
                })
            },
            Duration::ZERO,
        )
    }

    pub fn agent(args: AgentProcessArgs) -> anyhow::Result<ExitCode> {
        let (store, location) = open_store(&args.store)?;
        let grace = Duration::from_millis(args.agent.shutdown_timeout_ms);
        run_until_signal(
            async move {
                let agent = start_agent(&args.agent, store, args.controlplane.clone()).await?;
                let config = &agent.inner().config;
                tracing::info!(
                    "eddy agent: Kafka on {} (bound on {}, node {}), control plane {:?}, object store {location}{}",
                    args.agent.listen,
                    config.bind_host,
                    config.node_id,
                    args.controlplane,
                    fsync_note(&args.store, &location),
                );
                Ok(Running {
                    agent: Some(agent),
                    _controlplane: None,
                })
            },
            grace,
        )
    }

    fn fsync_note(args: &StoreArgs, location: &StoreUrl) -> &'static str {
        match location {
            StoreUrl::Local(_) if args.no_fsync => " (no fsync)",
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_object_store_urls() {
        assert_eq!(
            StoreUrl::parse("file:///var/eddy"),
            Ok(StoreUrl::Local(PathBuf::from("/var/eddy")))
        );
        assert_eq!(
            StoreUrl::parse("s3://b/some/prefix/?endpoint=http://127.0.0.1:5000&region=us-east-1"),
            Ok(StoreUrl::S3 {
                bucket: "b".into(),
                prefix: "some/prefix".into(),
                endpoint: Some("http://127.0.0.1:5000".into()),
                region: Some("us-east-1".into()),
            })
        );
        assert_eq!(
            StoreUrl::parse("s3://b"),
            Ok(StoreUrl::S3 {
                bucket: "b".into(),
                prefix: String::new(),
                endpoint: None,
                region: None,
            })
        );
        assert!(matches!(
            StoreUrl::parse("gs://b"),
            Err(StoreUrlError::Scheme(_))
        ));
        assert!(matches!(
            StoreUrl::parse("s3:///x"),
            Err(StoreUrlError::NoBucket(_))
        ));
        assert!(matches!(
            StoreUrl::parse("s3://b?secret=x"),
            Err(StoreUrlError::Parameter { .. })
        ));
    }

    #[test]
    fn the_data_dir_is_the_default_store() {
        let args = StoreArgs {
            data_dir: PathBuf::from("d"),
            object_store: None,
            no_fsync: false,
        };
        assert_eq!(args.location(), Ok(StoreUrl::Local(PathBuf::from("d"))));
    }
}
