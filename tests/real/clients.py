"""Thin helpers around the real Kafka clients (confluent-kafka / librdkafka, kafka-python,
kcat) used by the tests: produce N records, read a topic back, create a topic."""

import shutil
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 60.0


def records(n, prefix="v", size=0):
    """Distinct values; `size` pads them (compressible padding)."""
    return [(f"{prefix}-{i:06d}-" + "x" * size).encode() for i in range(n)]


# --- confluent-kafka (librdkafka) -------------------------------------------------------


def ck_create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=TIMEOUT_S)
    return admin


def ck_produce(bootstrap, topic, values, partitions, extra=None):
    """Produce `values` round-robin over partitions; {partition: [(offset, value)]} acked."""
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 30000}
    conf.update(extra or {})
    producer = Producer(conf)
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))

    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value=value, key=str(i).encode(), partition=i % partitions,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records not delivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    return acked


def ck_consume(bootstrap, topic, partitions, expected, extra=None):
    """Read partitions from the beginning (no consumer group) until `expected` records."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "eddy-tests-unused",  # librdkafka wants one; assign() never uses it
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    }
    conf.update(extra or {})
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    deadline = time.monotonic() + TIMEOUT_S
    count = 0
    while count < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consume error: {msg.error()}")
        got.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))
        count += 1
    consumer.close()
    return got


def check_read_back(acked, got):
    """Every acknowledged record is read back at its acknowledged offset, in offset order, and
    offsets of a partition are dense from 0."""
    for partition, sent in acked.items():
        read = got.get(partition, [])
        assert read == sorted(read), f"partition {partition}: offsets out of order"
        read_map = dict(read)
        for offset, value in sent:
            assert read_map.get(offset) == value, (
                f"partition {partition} offset {offset}: sent {value!r}, read {read_map.get(offset)!r}"
            )
        offsets = [o for o, _ in read]
        assert offsets == list(range(len(offsets))), f"partition {partition}: gaps in {offsets[:20]}"


# --- kcat ---------------------------------------------------------------------------------


def kcat_path():
    return shutil.which("kcat") or shutil.which("kafkacat")


def kcat_produce(bootstrap, topic, partition, values, codec=None):
    args = [kcat_path(), "-b", bootstrap, "-P", "-t", topic, "-p", str(partition)]
    if codec:
        args += ["-z", codec]
    data = b"\n".join(values) + b"\n"
    subprocess.run(args, input=data, check=True, timeout=TIMEOUT_S, capture_output=True)


def kcat_consume(bootstrap, topic, partition, count):
    args = [kcat_path(), "-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o",
            "beginning", "-c", str(count), "-e", "-q", "-f", "%o %s\n"]
    out = subprocess.run(args, check=True, timeout=TIMEOUT_S, capture_output=True).stdout
    rows = []
    for line in out.splitlines():
        offset, _, value = line.partition(b" ")
        rows.append((int(offset), value))
    return rows
