"""kafka-python against `eddy serve`: admin topic creation, produce and consume with every
compression codec."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from clients import TIMEOUT_S, check_read_back, records
from conftest import topic_name

PARTITIONS = 3


def kp_create_topic(bootstrap, name, partitions):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        assert name in admin.list_topics()
    finally:
        admin.close()


def kp_produce(bootstrap, topic, values, partitions, **extra):
    # kafka-python 3 makes producers idempotent by default (as the Java client does); the
    # idempotent case is in test_idempotence.py.
    extra.setdefault("enable_idempotence", False)
    extra.setdefault("linger_ms", 5)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **extra)
    futures = [producer.send(topic, value=v, partition=i % partitions)
               for i, v in enumerate(values)]
    producer.flush(timeout=TIMEOUT_S)
    acked = {}
    for value, fut in zip(values, futures):
        md = fut.get(timeout=TIMEOUT_S)
        acked.setdefault(md.partition, []).append((md.offset, value))
    producer.close()
    return acked


def kp_consume(bootstrap, topic, partitions, expected):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    got, count = {}, 0
    deadline = time.monotonic() + TIMEOUT_S
    while count < expected and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                got.setdefault(tp.partition, []).append((m.offset, m.value))
                count += 1
    consumer.close()
    return got


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_compressed(serve, codec):
    topic = topic_name(f"kp-{codec or 'none'}")
    kp_create_topic(serve.bootstrap, topic, PARTITIONS)
    values = records(300, prefix=str(codec), size=100)
    acked = kp_produce(serve.bootstrap, topic, values, PARTITIONS, compression_type=codec)
    got = kp_consume(serve.bootstrap, topic, PARTITIONS, len(values))
    check_read_back(acked, got)
