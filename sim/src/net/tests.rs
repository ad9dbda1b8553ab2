//! AZ network seam tests: bytes attributed to the right AZ pair, inter-AZ round trips slower
//! than intra-AZ ones, sub-millisecond delays kept exact.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use madsim::runtime::Handle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{AzMap, AzNet, AzTraffic, MeteredStream, NetMeter, NetProfile};

const PAYLOAD_BYTES: usize = 1000;

/// A client in `client_az` sends `PAYLOAD_BYTES` to an echo server in `az-b` through
/// metered streams on both ends; returns the round-trip time and the meter.
/// `host` picks the last octet of both nodes' addresses (unique per call in one test).
async fn echo_round_trip(client_az: &str, profile: NetProfile, host: u8) -> (Duration, NetMeter) {
    let handle = Handle::current();
    let server_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 2, host));
    let client_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 1, host));
    let net = AzNet::new(AzMap::new(), NetMeter::new(), profile);
    net.az_map.insert(server_ip, "az-b");
    net.az_map.insert(client_ip, client_az);

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server_net = net.clone();
    let server = handle.create_node().name("server").ip(server_ip).build();
    server.spawn(async move {
        let listener = TcpListener::bind(SocketAddr::new(server_ip, 9000))
            .await
            .unwrap();
        let _ = ready_tx.send(());
        let (conn, peer) = listener.accept().await.unwrap();
        let mut conn = server_net.wrap(conn, server_ip, peer.ip());
        let mut buf = vec![0u8; PAYLOAD_BYTES];
        conn.read_exact(&mut buf).await.unwrap();
        conn.write_all(&buf).await.unwrap();
        conn.flush().await.unwrap();
        // Keep the connection open until the client has read the echo.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });

    let client_net = net.clone();
    let client = handle.create_node().name("client").ip(client_ip).build();
    let rtt = client
        .spawn(async move {
            ready_rx.await.unwrap();
            let conn = TcpStream::connect(SocketAddr::new(server_ip, 9000))
                .await
                .unwrap();
            let mut conn = client_net.wrap(conn, client_ip, server_ip);
            let start = tokio::time::Instant::now();
            conn.write_all(&[7u8; PAYLOAD_BYTES]).await.unwrap();
            conn.flush().await.unwrap();
            let mut buf = vec![0u8; PAYLOAD_BYTES];
            conn.read_exact(&mut buf).await.unwrap();
            assert!(buf.iter().all(|b| *b == 7));
            start.elapsed()
        })
        .await
        .unwrap();
    (rtt, net.meter)
}

fn profile_20ms() -> NetProfile {
    NetProfile {
        inter_az_latency_ms: 20.0,
        intra_az_latency_ms: 0.0,
    }
}

#[madsim::test]
async fn inter_az_bytes_are_attributed_to_each_direction() {
    let (_, meter) = echo_round_trip("az-a", profile_20ms(), 1).await;
    let n = PAYLOAD_BYTES as u64;
    assert_eq!(
        meter.snapshot(),
        vec![
            AzTraffic {
                src: "az-a".into(),
                dst: "az-b".into(),
                bytes: n
            },
            AzTraffic {
                src: "az-b".into(),
                dst: "az-a".into(),
                bytes: n
            },
        ]
    );
    assert_eq!(meter.inter_az_bytes(), 2 * n);
}

#[madsim::test]
async fn intra_az_traffic_stays_in_the_zone() {
    let (_, meter) = echo_round_trip("az-b", profile_20ms(), 1).await;
    assert_eq!(meter.bytes("az-b", "az-b"), 2 * PAYLOAD_BYTES as u64);
    assert_eq!(meter.inter_az_bytes(), 0);
}

#[madsim::test]
async fn inter_az_round_trip_is_slower_than_intra_az() {
    let (inter, _) = echo_round_trip("az-a", profile_20ms(), 1).await;
    let (intra, _) = echo_round_trip("az-b", profile_20ms(), 2).await;
    // Each direction waits the 20 ms one-way delay before it is sent; madsim's own
    // per-message latency (1–10 ms by default) comes on top of both.
    assert!(inter >= Duration::from_millis(40), "inter {inter:?}");
    assert!(intra < Duration::from_millis(40), "intra {intra:?}");
    assert!(inter > intra, "inter {inter:?} intra {intra:?}");
}

#[madsim::test]
async fn sub_millisecond_delay_is_exact_and_only_owed_after_writes() {
    let (a, _b) = tokio::io::duplex(1 << 16);
    let meter = NetMeter::new();
    let mut s = MeteredStream::new(a, "az1", "az2", &meter, &NetProfile::default());
    let start = tokio::time::Instant::now();
    s.flush().await.unwrap();
    assert!(
        start.elapsed() < Duration::from_micros(10),
        "nothing written, nothing owed"
    );
    s.write_all(b"hello").await.unwrap();
    s.flush().await.unwrap();
    // madsim advances its clock by a few tens of ns per scheduling step.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_micros(500) && elapsed < Duration::from_micros(510),
        "{elapsed:?}"
    );
    assert_eq!(meter.bytes("az1", "az2"), 5);
    assert_eq!(meter.bytes("az2", "az1"), 0);
}

#[test]
fn net_profile_serde_defaults_and_validation() {
    let p: NetProfile = serde_json::from_str("{}").unwrap();
    assert_eq!(p, NetProfile::default());
    assert!(serde_json::from_str::<NetProfile>(r#"{"inter_az":1}"#).is_err());
    assert!(NetProfile {
        inter_az_latency_ms: -1.0,
        ..Default::default()
    }
    .validate()
    .is_err());
}

#[test]
fn az_map_lookups() {
    let map = AzMap::new();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    map.insert(ip, "az1");
    assert_eq!(map.az_of(&ip).as_deref(), Some("az1"));
    assert_eq!(
        map.az_of_or_unknown(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
        super::UNKNOWN_AZ
    );
    assert_eq!(map.azs(), vec!["az1".to_string()]);
}

#[test]
fn metered_streams_are_send_and_unpin() {
    fn assert_send_unpin<T: Send + Unpin>() {}
    assert_send_unpin::<MeteredStream<TcpStream>>();
    assert_send_unpin::<MeteredStream<tokio::io::DuplexStream>>();
}
