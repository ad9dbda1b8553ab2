//! Garbage, truncated, oversized and hostile Kafka frames sent to an agent never panic or
//! abort it and cost its other connections nothing: well-formed clients keep producing and
//! fetching on their own connections, before, during and after the attack.

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eddy_agent::{Agent, AgentConfig};
use eddy_client::{tcp_dialer, Consumer, ConsumerConfig, Producer, ProducerConfig};
use eddy_controlplane::api::{ClientConfig, ControlPlaneClient};
use eddy_controlplane::net::PlainTcp;
use eddy_controlplane::{ControlPlane, ControlPlaneConfig};
use eddy_sim::{Meters, StorageProfile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENT: &str = "10.0.1.10:9092";

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&(6i16).to_be_bytes());
    h.extend_from_slice(b"attack");
    h
}

/// Send `bytes` on a fresh connection and report whether the agent closed it (EOF) within
/// two seconds, plus whatever it answered before closing.
async fn attack(bytes: Vec<u8>, then_close: bool) -> (bool, Vec<u8>) {
    let mut s = TcpStream::connect(AGENT).await.expect("connect");
    s.write_all(&bytes).await.expect("write");
    s.flush().await.expect("flush");
    if then_close {
        // The client goes away mid-frame: nothing to observe but that the agent survives.
        drop(s);
        return (true, Vec::new());
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (closed, got)
}

async fn produce(producer: &Producer, tag: &str, n: usize) {
    let acks: Vec<_> = (0..n)
        .map(|i| producer.send("t", (i % 2) as i32, None, Bytes::from(format!("{tag}-{i}"))))
        .collect();
    for (i, ack) in acks.into_iter().enumerate() {
        ack.await
            .unwrap_or_else(|e| panic!("{tag}-{i} not acknowledged: {e}"));
    }
}

/// A control plane and one agent at [`AGENT`] with `config` (identity filled in), and the
/// agent once it runs.
fn start_agent(config: AgentConfig) -> Arc<Mutex<Option<Agent>>> {
    let handle = madsim::runtime::Handle::current();
    let storage = common::storage_node();
    let meters = Meters::new();
    let ingest = common::bucket(
        "ingest",
        StorageProfile::s3_express(),
        meters.clone(),
        1,
        &storage,
    );
    let journal = common::bucket(
        "journal",
        StorageProfile::regional_log(),
        meters,
        2,
        &storage,
    );
    let cp_addr: SocketAddr = "10.0.1.2:7000".parse().unwrap();
    handle
        .create_node()
        .name("cp")
        .ip(cp_addr.ip())
        .init(move || {
            let journal = journal.clone();
            async move {
                let _cp = ControlPlane::start(
                    ControlPlaneConfig::default(),
                    Arc::new(journal),
                    Arc::new(PlainTcp),
                    "0.0.0.0:7000".parse().unwrap(),
                )
                .await
                .expect("control plane starts");
                std::future::pending::<()>().await
            }
        })
        .build();
    let running = Arc::new(Mutex::new(None));
    let out = running.clone();
    handle
        .create_node()
        .name("agent")
        .ip("10.0.1.10".parse().unwrap())
        .init(move || {
            let ingest = ingest.clone();
            let running = running.clone();
            let config = AgentConfig {
                node_id: 1,
                advertised_host: "10.0.1.10".into(),
                batch_timeout_ms: 50,
                default_partitions: 2,
                ..config.clone()
            };
            async move {
                let cp =
                    ControlPlaneClient::new(ClientConfig::new(vec![cp_addr]), Arc::new(PlainTcp));
                let agent = Agent::start(config, Arc::new(ingest), cp, Arc::new(PlainTcp))
                    .await
                    .expect("agent starts");
                *running.lock().unwrap() = Some(agent);
                std::future::pending::<()>().await
            }
        })
        .build();
    out
}

#[madsim::test]
async fn hostile_frames_cost_other_connections_nothing() {
    let handle = madsim::runtime::Handle::current();
    start_agent(AgentConfig::default());
    let client = handle
        .create_node()
        .name("client")
        .ip("10.0.1.100".parse().unwrap())
        .build();
    client
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let producer =
                Producer::new(ProducerConfig::default(), vec![AGENT.into()], tcp_dialer())
                    .expect("producer");
            produce(&producer, "before", 40).await;

            // A slow sender holds a half-sent frame open during everything below.
            let mut slow = TcpStream::connect(AGENT).await.expect("connect");
            slow.write_all(&1000i32.to_be_bytes()).await.unwrap();
            slow.write_all(&[0u8; 10]).await.unwrap();
            slow.flush().await.unwrap();

            let mut metadata_huge = header(3, 4, 1);
            metadata_huge.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
            metadata_huge.push(1);
            let mut produce_v2 = header(0, 2, 2);
            produce_v2.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 0]);
            let mut unknown_api = header(999, 0, 3);
            unknown_api.extend_from_slice(&[0; 8]);
            let mut truncated = 100i32.to_be_bytes().to_vec();
            truncated.extend_from_slice(&[1u8; 50]);
            let mut garbage: Vec<u8> = (0..64u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            garbage[0..4].copy_from_slice(&24i32.to_be_bytes());
            let cases: Vec<(&str, Vec<u8>, bool)> = vec![
                ("negative size", (-1i32).to_be_bytes().to_vec(), false),
                ("shorter than a header", frame(&[0, 3, 0]), false),
                (
                    "declares 200 MiB",
                    (200 * 1024 * 1024i32).to_be_bytes().to_vec(),
                    false,
                ),
                ("truncated then closed", truncated, true),
                ("metadata with 2^31 topics", frame(&metadata_huge), false),
                ("produce v2", frame(&produce_v2), false),
                ("unknown API key", frame(&unknown_api), false),
                ("garbage", garbage, false),
            ];
            for (name, bytes, close) in cases {
                let (closed, _) = attack(bytes, close).await;
                assert!(closed, "{name}: the agent should close the connection");
                // Interleave good traffic with the attack.
                produce(&producer, name, 4).await;
            }
            // KIP-511: an ApiVersions version the agent does not know is answered with v0
            // and UNSUPPORTED_VERSION, not dropped.
            let mut api_versions_v99 = header(18, 99, 42);
            api_versions_v99.extend_from_slice(&[0; 4]);
            let (_, answer) = attack(frame(&api_versions_v99), false).await;
            assert!(answer.len() >= 10, "ApiVersions v99 got no answer");
            assert_eq!(&answer[4..8], &42i32.to_be_bytes(), "correlation id echoed");
            assert_eq!(&answer[8..10], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");

            produce(&producer, "after", 40).await;
            let mut consumer =
                Consumer::new(ConsumerConfig::default(), vec![AGENT.into()], tcp_dialer());
            consumer.assign(vec![("t".into(), 0), ("t".into(), 1)]);
            consumer.seek("t", 0, 0);
            consumer.seek("t", 1, 0);
            let mut values = Vec::new();
            while values.len() < 40 + 8 * 4 + 40 {
                for b in consumer.poll(500).await.expect("poll") {
                    values.extend(
                        b.records
                            .into_iter()
                            .map(|(_, _, v)| String::from_utf8_lossy(&v).into_owned()),
                    );
                }
            }
            for tag in ["before-0", "before-39", "garbage-3", "after-0", "after-39"] {
                assert!(values.iter().any(|v| v == tag), "{tag} was not read back");
            }
            drop(slow);
        })
        .await
        .expect("client task");
}

/// Wait until the server closes `s` (EOF or reset), at most `within`; the time it took, or
/// `None` if it stayed open.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// The limits that bound what hostile connections hold: declared sizes cost only what
/// arrives (and take it from the request budget), slow requests and idle connections are
/// closed on time, one address gets a bounded number of connections, and a stopping agent
/// answers what it read before closing. Good clients keep producing throughout.
#[madsim::test]
async fn limits_bound_what_hostile_connections_hold() {
    let handle = madsim::runtime::Handle::current();
    const BUDGET: usize = 4 * 1024 * 1024;
    let agent = start_agent(AgentConfig {
        queued_request_bytes_max: BUDGET,
        request_read_timeout_ms: 2_000,
        connection_idle_ms: 3_000,
        connections_per_ip_max: 12,
        ..AgentConfig::default()
    });
    let attacker = handle
        .create_node()
        .name("attacker")
        .ip("10.0.1.101".parse().unwrap())
        .build();
    let client = handle
        .create_node()
        .name("client")
        .ip("10.0.1.100".parse().unwrap())
        .build();
    let (holding_tx, holding_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let agent_in_attack = agent.clone();
    let attack = attacker.spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let agent = agent_in_attack.lock().unwrap().clone().expect("agent runs");
        let budget = agent.inner().request_budget.clone();
        // Ten connections declare the largest request the budget allows and send 10 bytes.
        let mut held = Vec::new();
        for _ in 0..10 {
            let mut s = TcpStream::connect(AGENT).await.expect("connect");
            s.write_all(&(BUDGET as i32).to_be_bytes()).await.unwrap();
            s.write_all(&[0u8; 10]).await.unwrap();
            s.flush().await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // (Plus what the good producer has in flight.)
        let taken = BUDGET - budget.available_permits();
        assert!(
            taken <= 11 * eddy_agent::wire::FRAME_CHUNK_BYTES,
            "10 frames of 10 bytes took {taken} bytes of the request budget"
        );
        // More than the budget is refused at once.
        let mut over = TcpStream::connect(AGENT).await.expect("connect");
        over.write_all(&(BUDGET as i32 + 1).to_be_bytes())
            .await
            .unwrap();
        over.flush().await.unwrap();
        assert!(
            closed_within(&mut over, Duration::from_millis(500))
                .await
                .is_some(),
            "a request over the budget closes the connection"
        );
        // Two more fill this address's 12 places; the next is closed on accept.
        let mut idle = TcpStream::connect(AGENT).await.expect("connect");
        let mut slow = TcpStream::connect(AGENT).await.expect("connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            agent
                .inner()
                .connections
                .open_from("10.0.1.101".parse().unwrap()),
            12
        );
        let mut extra = TcpStream::connect(AGENT).await.expect("connect");
        assert!(
            closed_within(&mut extra, Duration::from_millis(500))
                .await
                .is_some(),
            "the 13th connection from one address is refused"
        );
        holding_tx.send(()).unwrap();
        // Slowloris: a byte every 400 ms never completes a request in 2 s.
        let started = tokio::time::Instant::now();
        let mut frame = frame(&header(18, 0, 1));
        frame.resize(40, 0);
        let mut closed_at = None;
        for b in frame {
            if slow.write_all(&[b]).await.is_err() || slow.flush().await.is_err() {
                break;
            }
            if let Some(t) = closed_within(&mut slow, Duration::from_millis(400)).await {
                closed_at = Some(started.elapsed() - Duration::from_millis(400) + t);
                break;
            }
        }
        let closed_at = closed_at.expect("the slow request's connection closes");
        assert!(
            closed_at >= Duration::from_millis(1_900) && closed_at <= Duration::from_millis(3_000),
            "slow request closed after {closed_at:?} (read timeout 2 s, checked every 500 ms)"
        );
        // The idle connection (and those holding 10 bytes of a frame for over 2 s) are gone.
        assert!(
            closed_within(&mut idle, Duration::from_millis(1_500))
                .await
                .is_some(),
            "idle connection closes"
        );
        for s in held.iter_mut() {
            assert!(
                closed_within(s, Duration::from_millis(100)).await.is_some(),
                "stalled request closes"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            budget.available_permits(),
            BUDGET,
            "the budget is whole again"
        );
        assert_eq!(
            agent
                .inner()
                .connections
                .open_from("10.0.1.101".parse().unwrap()),
            0
        );
        release_tx.send(()).unwrap();
    });
    client
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let producer =
                Producer::new(ProducerConfig::default(), vec![AGENT.into()], tcp_dialer())
                    .expect("producer");
            produce(&producer, "before", 20).await;
            holding_rx.await.unwrap();
            produce(&producer, "during", 20).await;
            release_rx.await.unwrap();
            produce(&producer, "after", 20).await;
            // A stop answers what was read: every send in flight is acknowledged, then the
            // connection closes and no new one is accepted.
            let acks: Vec<_> = (0..20)
                .map(|i| producer.send("t", (i % 2) as i32, None, Bytes::from(format!("stop-{i}"))))
                .collect();
            // Sent (5 ms linger) and read, not yet committed (50 ms batch timeout).
            tokio::time::sleep(Duration::from_millis(20)).await;
            let agent = agent.lock().unwrap().clone().expect("agent runs");
            assert!(
                agent.shutdown(Duration::from_secs(5)).await,
                "every connection drained"
            );
            for (i, ack) in acks.into_iter().enumerate() {
                ack.await
                    .unwrap_or_else(|e| panic!("stop-{i} not acknowledged: {e}"));
            }
            assert_eq!(agent.inner().connections.open(), 0);
            assert!(
                TcpStream::connect(AGENT).await.is_err(),
                "a stopped agent accepts no connection"
            );
        })
        .await
        .expect("client task");
    attack.await.expect("attack task");
}

/// The control plane's port bounds what a connection can make it hold too (issue 20): a
/// declared size over the frame limit closes the connection at once, a frame that does not
/// arrive whole within 30 s closes it then, an undecodable frame closes it, and the agent
/// keeps committing through the same control plane meanwhile.
#[madsim::test]
async fn control_plane_connections_are_bounded_too() {
    const CP: &str = "10.0.1.2:7000";
    let handle = madsim::runtime::Handle::current();
    start_agent(AgentConfig::default());
    let client = handle
        .create_node()
        .name("client")
        .ip("10.0.1.100".parse().unwrap())
        .build();
    client
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let producer =
                Producer::new(ProducerConfig::default(), vec![AGENT.into()], tcp_dialer())
                    .expect("producer");
            produce(&producer, "before", 20).await;

            let too_large = eddy_controlplane::api::FRAME_BYTES_MAX + 1;
            let mut huge = TcpStream::connect(CP).await.expect("connect");
            huge.write_all(&too_large.to_be_bytes()).await.unwrap();
            huge.flush().await.unwrap();
            let closed = closed_within(&mut huge, Duration::from_secs(1)).await;
            assert!(closed.is_some(), "an oversized frame must close at once");

            let mut garbage = TcpStream::connect(CP).await.expect("connect");
            garbage.write_all(&8u32.to_be_bytes()).await.unwrap();
            garbage.write_all(&[0xff; 8]).await.unwrap();
            garbage.flush().await.unwrap();
            let closed = closed_within(&mut garbage, Duration::from_secs(1)).await;
            assert!(
                closed.is_some(),
                "an undecodable frame must close the connection"
            );

            let mut slow = TcpStream::connect(CP).await.expect("connect");
            slow.write_all(&1000u32.to_be_bytes()).await.unwrap();
            slow.write_all(&[0u8; 10]).await.unwrap();
            slow.flush().await.unwrap();
            // Declared sizes hold no budget: eight frames of the largest size, stalled after
            // a few bytes (4 would spend the whole budget if it were taken up front), cost
            // the agent's commits nothing.
            let mut declared = Vec::new();
            for _ in 0..8 {
                let mut s = TcpStream::connect(CP).await.expect("connect");
                let max = eddy_controlplane::api::FRAME_BYTES_MAX;
                s.write_all(&max.to_be_bytes()).await.unwrap();
                s.write_all(&[0u8; 10]).await.unwrap();
                s.flush().await.unwrap();
                declared.push(s);
            }
            let started = tokio::time::Instant::now();
            produce(&producer, "during", 20).await;
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "commits waited {:?} behind stalled frames",
                started.elapsed()
            );
            let closed = closed_within(&mut slow, Duration::from_secs(40))
                .await
                .expect("a frame stalled mid-way must be closed");
            assert!(
                closed >= Duration::from_secs(25) && closed <= Duration::from_secs(31),
                "closed after {closed:?}"
            );
            produce(&producer, "after", 20).await;
        })
        .await
        .unwrap();
}
