//! Producer, consumer and connection behaviour against the fake broker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::fake_broker::{self, lock};
use crate::{
    tcp_dialer, ClientError, CompressionKind, ConnConfig, Connection, Consumer, ConsumerConfig,
    PolledBatch, Producer, ProducerConfig, SendError,
};

const BROKER_IP: &str = "10.0.0.1";
const BOOTSTRAP: &str = "10.0.0.1:9092";

/// Runs `f` on a fresh client node (the broker is on its own node).
async fn on_client<F, T>(f: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let node = madsim::runtime::Handle::current()
        .create_node()
        .name("client")
        .ip("10.0.0.2".parse().expect("ip"))
        .build();
    node.spawn(f).await.expect("client task")
}

fn producer(config: ProducerConfig) -> Producer {
    Producer::new(config, vec![BOOTSTRAP.to_string()], tcp_dialer()).expect("producer")
}

fn consumer() -> Consumer {
    Consumer::new(
        ConsumerConfig::default(),
        vec![BOOTSTRAP.to_string()],
        tcp_dialer(),
    )
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("value-{i:05}"))
}

/// Polls until `want` records of (topic, partition) arrived or 50 polls passed.
async fn read_all(c: &mut Consumer, topic: &str, partition: i32, want: usize) -> Vec<(i64, Bytes)> {
    let mut got = Vec::new();
    for _ in 0..50 {
        if got.len() >= want {
            break;
        }
        let polled: Vec<PolledBatch> = c.poll(100).await.unwrap_or_default();
        for b in polled {
            if b.topic == topic && b.partition == partition {
                got.extend(b.records.into_iter().map(|(o, _, v)| (o, v)));
            }
        }
    }
    got
}

#[madsim::test]
async fn produced_offsets_are_dense_and_read_back_in_order() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    let (offsets, read0, read1) = on_client(async {
        let p = producer(ProducerConfig::default());
        let futures: Vec<_> = (0..200)
            .map(|i| p.send("t", (i % 2) as i32, Some(Bytes::from("k")), value(i)))
            .collect();
        let mut offsets = Vec::new();
        for f in futures {
            offsets.push(f.await.expect("acked"));
        }
        let mut c = consumer();
        c.assign(vec![("t".to_string(), 0), ("t".to_string(), 1)]);
        let mut read0 = Vec::new();
        let mut read1 = Vec::new();
        for _ in 0..50 {
            if read0.len() + read1.len() >= 200 {
                break;
            }
            for b in c.poll(100).await.expect("poll") {
                let into = if b.partition == 0 {
                    &mut read0
                } else {
                    &mut read1
                };
                into.extend(b.records.into_iter().map(|(o, _, v)| (o, v)));
            }
        }
        (offsets, read0, read1)
    })
    .await;
    for partition in 0..2usize {
        let per: Vec<i64> = offsets.iter().skip(partition).step_by(2).copied().collect();
        assert_eq!(per, (0..100).collect::<Vec<i64>>(), "partition {partition}");
    }
    let expect = |partition: usize| -> Vec<(i64, Bytes)> {
        (0..100)
            .map(|k| (k as i64, value(2 * k + partition)))
            .collect()
    };
    assert_eq!(read0, expect(0));
    assert_eq!(read1, expect(1));
    assert_eq!(lock(&broker).values("t", 0).len(), 100);
    assert!(lock(&broker)
        .client_ids
        .iter()
        .any(|c| c == "eddy-producer"));
}

#[madsim::test]
async fn linger_batches_records_into_few_requests() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    on_client(async {
        let p = producer(ProducerConfig {
            linger_ms: 50,
            ..ProducerConfig::default()
        });
        let futures: Vec<_> = (0..20).map(|i| p.send("t", 0, None, value(i))).collect();
        for (i, f) in futures.into_iter().enumerate() {
            assert_eq!(f.await, Ok(i as i64));
        }
    })
    .await;
    let st = lock(&broker);
    assert_eq!(
        st.produce_requests, 1,
        "20 records within linger share one request"
    );
    assert_eq!(st.logs[&("t".to_string(), 0)].batches.len(), 1);
}

#[madsim::test]
async fn without_linger_sequential_sends_use_one_request_each() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    on_client(async {
        let p = producer(ProducerConfig {
            linger_ms: 0,
            ..ProducerConfig::default()
        });
        for i in 0..5 {
            assert_eq!(p.send("t", 0, None, value(i)).await, Ok(i as i64));
        }
    })
    .await;
    assert_eq!(lock(&broker).produce_requests, 5);
}

#[madsim::test]
async fn batch_max_bytes_splits_batches() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    on_client(async {
        let p = producer(ProducerConfig {
            linger_ms: 1000,
            batch_max_bytes: 200,
            ..ProducerConfig::default()
        });
        let futures: Vec<_> = (0..20).map(|i| p.send("t", 0, None, value(i))).collect();
        for (i, f) in futures.into_iter().enumerate() {
            assert_eq!(f.await, Ok(i as i64));
        }
    })
    .await;
    let batches = lock(&broker).logs[&("t".to_string(), 0)].batches.len();
    assert!(
        batches >= 4,
        "20 x ~32-byte records in 200-byte batches: got {batches}"
    );
}

#[madsim::test]
async fn fetch_from_mid_batch_returns_only_later_records() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    let polled = on_client(async {
        let p = producer(ProducerConfig {
            linger_ms: 1000,
            ..ProducerConfig::default()
        });
        let futures: Vec<_> = (0..10).map(|i| p.send("t", 0, None, value(i))).collect();
        p.flush().await;
        for f in futures {
            f.await.expect("acked");
        }
        let mut c = consumer();
        c.assign(vec![("t".to_string(), 0)]);
        c.seek("t", 0, 4);
        let polled = c.poll(100).await.expect("poll");
        (polled, c.position("t", 0))
    })
    .await;
    assert_eq!(lock(&broker).logs[&("t".to_string(), 0)].batches.len(), 1);
    let (polled, position) = polled;
    assert_eq!(polled.len(), 1);
    let b = &polled[0];
    assert_eq!(b.fetch_offset, 4);
    assert_eq!(b.high_watermark, 10);
    let offsets: Vec<i64> = b.records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, (4..10).collect::<Vec<i64>>());
    assert_eq!(b.records[0].2, value(4));
    assert_eq!(position, Some(10));
}

#[madsim::test]
async fn truncated_trailing_batch_is_skipped_then_read_whole() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).truncate_fetch_tail = true;
    let (first, all) = on_client(async {
        let p = producer(ProducerConfig::default());
        for i in 0..3 {
            // three separate batches
            assert_eq!(p.send("t", 0, None, value(i)).await, Ok(i as i64));
        }
        let mut c = consumer();
        c.assign(vec![("t".to_string(), 0)]);
        let first = c.poll(100).await.expect("poll");
        let mut all: Vec<i64> = first
            .iter()
            .flat_map(|b| b.records.iter().map(|r| r.0))
            .collect();
        all.extend(read_all(&mut c, "t", 0, 2).await.into_iter().map(|r| r.0));
        (first, all)
    })
    .await;
    let first_offsets: Vec<i64> = first[0].records.iter().map(|r| r.0).collect();
    assert_eq!(
        first_offsets,
        vec![0],
        "the half batch after offset 0 is ignored"
    );
    assert_eq!(all, vec![0, 1, 2]);
}

#[madsim::test]
async fn compressed_batches_round_trip() {
    let _broker = fake_broker::start("broker", BROKER_IP).await;
    let reads = on_client(async {
        let mut reads = Vec::new();
        for (partition, compression) in [(0, CompressionKind::Gzip), (1, CompressionKind::Snappy)] {
            let p = producer(ProducerConfig {
                compression,
                linger_ms: 20,
                ..ProducerConfig::default()
            });
            let futures: Vec<_> = (0..50)
                .map(|i| p.send("z", partition, None, value(i)))
                .collect();
            for f in futures {
                f.await.expect("acked");
            }
            let mut c = consumer();
            c.assign(vec![("z".to_string(), partition)]);
            reads.push((compression, read_all(&mut c, "z", partition, 50).await));
        }
        reads
    })
    .await;
    let expect: Vec<(i64, Bytes)> = (0..50).map(|i| (i as i64, value(i))).collect();
    for (compression, read) in reads {
        assert_eq!(read, expect, "{compression:?}");
    }
}

#[madsim::test]
async fn connection_dropped_before_apply_is_retried_once_written() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_before_apply = 1;
    let result = on_client(async {
        let p = producer(ProducerConfig::default());
        p.send("t", 0, None, value(0)).await
    })
    .await;
    assert_eq!(result, Ok(0));
    let st = lock(&broker);
    assert_eq!(st.produce_requests, 2);
    assert_eq!(st.values("t", 0).len(), 1);
}

#[madsim::test]
async fn connection_dropped_after_apply_retry_duplicates_without_idempotence() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_after_apply = 1;
    let result = on_client(async {
        let p = producer(ProducerConfig::default());
        p.send("t", 0, None, value(0)).await
    })
    .await;
    // The first copy was written but never acknowledged; the retry is a second copy.
    assert_eq!(result, Ok(1));
    assert_eq!(lock(&broker).values("t", 0).len(), 2);
}

#[madsim::test]
async fn a_delivery_tells_how_many_requests_carried_the_record_and_where() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_after_apply = 1;
    let (retried, first_time, never) = on_client(async {
        let p = producer(ProducerConfig::default());
        let retried = p.send_traced("t", 0, None, value(0)).await;
        let first_time = p.send_traced("t", 0, None, value(1)).await;
        let unreachable = Producer::new(
            ProducerConfig {
                delivery_timeout_ms: 2_000,
                ..ProducerConfig::default()
            },
            vec!["10.9.9.9:9092".to_string()],
            tcp_dialer(),
        )
        .expect("producer");
        let never = unreachable.send_traced("t", 0, None, value(2)).await;
        (retried, first_time, never)
    })
    .await;
    let at = Some(BOOTSTRAP.parse().expect("addr"));
    assert_eq!(
        (retried.result, retried.attempts, retried.broker),
        (Ok(1), 2, at)
    );
    assert_eq!(
        (first_time.result, first_time.attempts, first_time.broker),
        (Ok(2), 1, at)
    );
    // Never sent: no request carried it, no broker.
    assert!(matches!(never.result, Err(SendError::Failed { .. })));
    assert_eq!((never.attempts, never.broker), (0, None));
}

#[madsim::test]
async fn idempotent_retry_is_answered_with_the_original_offset() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_after_apply = 1;
    let (result, later, pid) = on_client(async {
        let p = producer(ProducerConfig {
            idempotent: true,
            ..ProducerConfig::default()
        });
        let first = p.send("t", 0, None, value(0)).await;
        let later = p.send("t", 0, None, value(1)).await;
        (first, later, p.producer_id())
    })
    .await;
    assert_eq!(result, Ok(0));
    assert_eq!(later, Ok(1));
    assert_eq!(pid, Some((1001, 0)));
    assert_eq!(
        lock(&broker).values("t", 0).len(),
        2,
        "no duplicate written"
    );
}

#[madsim::test]
async fn idempotent_pipelined_batches_recover_from_a_lost_connection() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_before_apply = 1;
    let results = on_client(async {
        let p = producer(ProducerConfig {
            idempotent: true,
            linger_ms: 0,
            batch_max_bytes: 100,
            ..ProducerConfig::default()
        });
        let futures: Vec<_> = (0..30).map(|i| p.send("t", 0, None, value(i))).collect();
        let mut out = Vec::new();
        for f in futures {
            out.push(f.await);
        }
        out
    })
    .await;
    let offsets: Vec<i64> = results.into_iter().map(|r| r.expect("acked")).collect();
    assert_eq!(offsets, (0..30).collect::<Vec<i64>>());
    let values: Vec<Bytes> = lock(&broker)
        .values("t", 0)
        .into_iter()
        .map(|v| v.1)
        .collect();
    assert_eq!(
        values,
        (0..30).map(value).collect::<Vec<_>>(),
        "in order, no duplicates"
    );
}

#[madsim::test]
async fn exhausted_retries_after_possible_writes_are_indeterminate() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_after_apply = 100;
    let result = on_client(async {
        let p = producer(ProducerConfig {
            retries: 2,
            ..ProducerConfig::default()
        });
        p.send("t", 0, None, value(0)).await
    })
    .await;
    assert!(
        matches!(result, Err(SendError::Indeterminate { .. })),
        "{result:?}"
    );
    assert_eq!(lock(&broker).produce_requests, 3);
}

#[madsim::test]
async fn connection_lost_after_send_stays_indeterminate_even_if_not_applied() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).drop_before_apply = 100;
    let result = on_client(async {
        let p = producer(ProducerConfig {
            retries: 2,
            ..ProducerConfig::default()
        });
        p.send("t", 0, None, value(0)).await
    })
    .await;
    // The connection drops after the request was sent: the client cannot know it was not
    // applied, so the outcome must stay indeterminate.
    assert!(
        matches!(result, Err(SendError::Indeterminate { .. })),
        "{result:?}"
    );
}

#[madsim::test]
async fn non_retriable_broker_error_is_a_definite_failure() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).max_batch_bytes = 100;
    let (big, small) = on_client(async {
        let p = producer(ProducerConfig::default());
        let big = p.send("t", 0, None, Bytes::from(vec![7u8; 500])).await;
        let small = p.send("t", 0, None, value(1)).await;
        (big, small)
    })
    .await;
    assert!(
        matches!(
            big,
            Err(SendError::Failed {
                error_code: Some(10),
                ..
            })
        ),
        "MESSAGE_TOO_LARGE means not written: {big:?}"
    );
    assert_eq!(small, Ok(0));
}

#[madsim::test]
async fn unreachable_cluster_fails_definitely_at_delivery_timeout() {
    let result = on_client(async {
        let p = Producer::new(
            ProducerConfig {
                delivery_timeout_ms: 2_000,
                ..ProducerConfig::default()
            },
            vec!["10.9.9.9:9092".to_string()],
            tcp_dialer(),
        )
        .expect("producer");
        p.send("t", 0, None, value(0)).await
    })
    .await;
    assert!(
        matches!(result, Err(SendError::Failed { .. })),
        "never sent: {result:?}"
    );
}

#[madsim::test]
async fn out_of_range_position_is_reset_and_reported() {
    let _broker = fake_broker::start("broker", BROKER_IP).await;
    let (first, second, earliest, latest) = on_client(async {
        let p = producer(ProducerConfig::default());
        for i in 0..3 {
            p.send("t", 0, None, value(i)).await.expect("acked");
        }
        let mut c = consumer();
        c.seek("t", 0, 1000);
        let first = c.poll(10).await.expect("poll");
        let second = c.poll(10).await.expect("poll");
        let earliest = c.list_offsets("t", 0, -2).await;
        let latest = c.list_offsets("t", 0, -1).await;
        (first, second, earliest, latest)
    })
    .await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].reset_from, Some(1000));
    assert_eq!(first[0].fetch_offset, 0);
    assert!(first[0].records.is_empty());
    let offsets: Vec<i64> = second[0].records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2]);
    assert_eq!(earliest, Ok(0));
    assert_eq!(latest, Ok(3));
}

#[madsim::test]
async fn versions_are_negotiated_with_kip511_fallback_and_pipelined() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).api_versions_max = 2;
    let (list_offsets_version, produce_version, answers) = on_client(async {
        let config = ConnConfig {
            client_id: "ws_az=az1,app".to_string(),
            ..ConnConfig::default()
        };
        let conn = Arc::new(
            Connection::connect(&tcp_dialer(), BOOTSTRAP.parse().expect("addr"), &config)
                .await
                .expect("connect"),
        );
        let lo = conn.versions().version(2);
        let pr = conn.versions().version(0);
        let mut handles = Vec::new();
        for i in 0..8 {
            let conn = conn.clone();
            handles.push(tokio::spawn(async move {
                let req = crate::Metadata::request(&[format!("topic-{i}")]);
                conn.request(&req)
                    .await
                    .map(|r| r.topics[0].name.as_ref().map(|n| n.0.as_str().to_string()))
            }));
        }
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.expect("task"));
        }
        (lo, pr, answers)
    })
    .await;
    assert_eq!(list_offsets_version, Ok(7), "min(client 10, broker 7)");
    assert_eq!(produce_version, Ok(12), "min(client 12, broker 12)");
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a, Ok(Some(format!("topic-{i}"))));
    }
    assert!(lock(&broker)
        .client_ids
        .iter()
        .any(|c| c == "ws_az=az1,app"));
}

/// A Fetch of `t`/0 that the fake broker holds for its whole 1 s wait.
fn long_poll_fetch() -> kafka_protocol::messages::FetchRequest {
    kafka_protocol::messages::FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(1000)
        .with_topics(vec![
            kafka_protocol::messages::fetch_request::FetchTopic::default()
                .with_topic(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("t"),
                ))
                .with_partitions(vec![
                    kafka_protocol::messages::fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1024),
                ]),
        ])
}

#[madsim::test]
async fn request_timeout_closes_the_connection_and_is_ambiguous() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    let _ = &broker;
    let result = on_client(async {
        let config = ConnConfig {
            request_timeout: Duration::from_millis(50),
            ..ConnConfig::default()
        };
        let conn = Connection::connect(&tcp_dialer(), BOOTSTRAP.parse().expect("addr"), &config)
            .await
            .expect("connect");
        // A Fetch long-polling 1 s outlives the 50 ms timeout.
        let req = long_poll_fetch();
        let _ = conn
            .request(&crate::Metadata::request(&["t".to_string()]))
            .await;
        let r = conn.request(&req).await.map(|_| ());
        (r, conn.is_closed())
    })
    .await;
    assert_eq!(result.0, Err(ClientError::Timeout(50)));
    assert!(result
        .0
        .as_ref()
        .err()
        .is_some_and(|e| e.may_have_been_processed()));
    assert!(result.1, "a timed-out connection is closed");
}

/// A request whose deadline comes before every pending one times out on time: the
/// connection keeps one timer for all its requests and re-arms it for the earlier deadline.
#[madsim::test]
async fn a_short_timeout_behind_a_long_one_fires_on_time() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    let _ = &broker;
    let (result, elapsed) = on_client(async {
        let conn = Connection::connect(
            &tcp_dialer(),
            BOOTSTRAP.parse().expect("addr"),
            &ConnConfig::default(),
        )
        .await
        .expect("connect");
        // Fetches the broker holds for their whole 1 s wait.
        let fetch = long_poll_fetch();
        let _ = conn
            .request(&crate::Metadata::request(&["t".to_string()]))
            .await;
        let _long = conn
            .send(&fetch, Duration::from_secs(10))
            .await
            .expect("sent");
        let start = tokio::time::Instant::now();
        let short = conn
            .send(&fetch, Duration::from_millis(50))
            .await
            .expect("sent");
        let r = conn.wait(short).await.map(|_| ());
        (r, start.elapsed())
    })
    .await;
    assert_eq!(result, Err(ClientError::Timeout(50)));
    assert!(
        elapsed < Duration::from_millis(200),
        "timed out after {elapsed:?}, not at its 50 ms deadline"
    );
}

#[madsim::test]
async fn produce_requests_are_pipelined_up_to_max_in_flight() {
    let broker = fake_broker::start("broker", BROKER_IP).await;
    lock(&broker).produce_delay_ms = 50;
    let results = on_client(async {
        let p = producer(ProducerConfig {
            linger_ms: 0,
            batch_max_bytes: 100, // one record per batch
            max_in_flight: 3,
            ..ProducerConfig::default()
        });
        // Two partitions: up to 3 requests in flight on the one connection.
        let futures: Vec<_> = (0..20)
            .map(|i| p.send("t", (i % 2) as i32, None, value(i)))
            .collect();
        let mut out = Vec::new();
        for f in futures {
            out.push(f.await);
        }
        out
    })
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(lock(&broker).max_outstanding_produce, 3);
}
