"""Thin helpers around the real Kafka clients (confluent-kafka / librdkafka, kafka-python,
kcat) used by the tests: produce N records, read a topic back, create a topic, compare the
order records were read in with the order they were sent."""

import shutil
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 60.0


def records(n, prefix="v", size=0):
    """Distinct values; `size` pads them (compressible padding)."""
    return [(f"{prefix}-{i:06d}-" + "x" * size).encode() for i in range(n)]


def inversions(seq):
    """(adjacent, total) inversions of `seq`: neighbours with seq[i] > seq[i + 1], and all
    pairs i < j with seq[i] > seq[j]. (0, 0) exactly when `seq` is in ascending order."""
    adjacent = sum(1 for a, b in zip(seq, seq[1:]) if a > b)

    def sort_count(xs):
        if len(xs) <= 1:
            return xs, 0
        left, a = sort_count(xs[: len(xs) // 2])
        right, b = sort_count(xs[len(xs) // 2 :])
        merged, count, i, j = [], a + b, 0, 0
        while i < len(left) and j < len(right):
            if right[j] < left[i]:
                merged.append(right[j])
                count += len(left) - i
                j += 1
            else:
                merged.append(left[i])
                i += 1
        return merged + left[i:] + right[j:], count

    return adjacent, sort_count(list(seq))[1]


def order_problem(what, sent, seen):
    """None when `seen` is `sent`, in the same order; else a sentence for an assertion
    message: inversions of the send positions in the order seen (adjacent, all pairs),
    records lost, duplicated or never sent, and the first difference."""
    if seen == sent:
        return None
    position = {v: i for i, v in enumerate(sent)}
    known = [position[v] for v in seen if v in position]
    adjacent, total = inversions(known)
    lost = len(sent) - len(set(known))
    first = next((i for i, (a, b) in enumerate(zip(seen, sent)) if a != b),
                 min(len(seen), len(sent)))
    at = seen[first] if first < len(seen) else "the end"
    expected = sent[first] if first < len(sent) else "the end"
    return (f"{what}: {adjacent} adjacent inversions, {total} inverted pairs in {len(seen)} "
            f"records ({lost} of {len(sent)} sent missing, {len(known) - len(set(known))} "
            f"duplicated, {len(seen) - len(known)} never sent); first difference at "
            f"position {first}: {at!r} where {expected!r} was sent")


# --- confluent-kafka (librdkafka) -------------------------------------------------------


def ck_create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=TIMEOUT_S)
    return admin


def ck_produce(bootstrap, topic, values, partitions, extra=None):
    """Produce `values` round-robin over partitions; {partition: [(offset, value)]} acked, in
    delivery-report order. Fails on a delivery error, a fatal producer error (an idempotent
    producer's OUT_OF_ORDER_SEQUENCE_NUMBER, say) or a record flush() leaves undelivered."""
    fatal = []
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 30000,
            "error_cb": lambda err: fatal.append(err) if err.fatal() else None}
    conf.update(extra or {})
    producer = Producer(conf)
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))

    produced = 0
    try:
        for i, value in enumerate(values):
            while True:
                try:
                    producer.produce(topic, value=value, key=str(i).encode(),
                                     partition=i % partitions, on_delivery=on_delivery)
                    produced += 1
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(TIMEOUT_S)
    except (KafkaException, SystemError) as e:
        # confluent-kafka raises a fatal error from produce(), poll() or flush(), and wraps it
        # in a SystemError when a callback runs while it is pending.
        raise AssertionError(
            f"fatal producer error with {produced} of {len(values)} records produced "
            f"({len(errors)} delivery errors, the first: {errors[:1]}): {e.__cause__ or e}"
        ) from None
    assert not fatal, f"fatal producer error: {fatal[0]} ({len(errors)} delivery errors)"
    assert remaining == 0, f"{remaining} records not delivered"
    assert not errors, f"{len(errors)} delivery errors, the first: {errors[:5]}"
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
                f"partition {partition} offset {offset}: sent {value!r}, "
                f"read {read_map.get(offset)!r}")
        offsets = [o for o, _ in read]
        assert offsets == list(range(len(offsets))), (
            f"partition {partition}: gaps in {offsets[:20]}")


# --- kcat ---------------------------------------------------------------------------------


def kcat_path():
    return shutil.which("kcat") or shutil.which("kafkacat")


def kcat_produce(bootstrap, topic, partition, values, codec=None, conf=None):
    """One line per value on kcat's stdin; `conf` adds librdkafka properties (-X k=v)."""
    args = [kcat_path(), "-b", bootstrap, "-P", "-t", topic, "-p", str(partition)]
    if codec:
        args += ["-z", codec]
    for key, value in (conf or {}).items():
        args += ["-X", f"{key}={value}"]
    data = b"\n".join(values) + b"\n"
    done = subprocess.run(args, input=data, timeout=TIMEOUT_S, capture_output=True)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"kcat -P exited with {done.returncode}: {err[-2000:]}"


def kcat_consume(bootstrap, topic, partition, count):
    args = [kcat_path(), "-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o",
            "beginning", "-c", str(count), "-e", "-q", "-f", "%o %s\n"]
    out = subprocess.run(args, check=True, timeout=TIMEOUT_S, capture_output=True).stdout
    rows = []
    for line in out.splitlines():
        offset, _, value = line.partition(b" ")
        rows.append((int(offset), value))
    return rows
