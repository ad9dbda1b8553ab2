"""Kafka transactions with librdkafka (confluent-kafka): commit and abort seen through
read_committed and read_uncommitted consumers, an open transaction holding read_committed
readers back, a new instance fencing a zombie, the admin views, and an exactly-once
consume-transform-produce pipeline run through a `kill -9` of `eddy serve`."""

import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from clients import ck_create_topic, ck_produce, records
from conftest import Serve, topic_name

TIMEOUT_S = 60.0


def txn_producer(bootstrap, txn_id, extra=None):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
            "transaction.timeout.ms": 10000, "message.timeout.ms": 10000}
    conf.update(extra or {})
    p = Producer(conf)
    p.init_transactions(TIMEOUT_S)
    return p


def read_all(bootstrap, topic, partitions, isolation, idle_s=2.0):
    """Every record of `topic` from the start, until nothing new arrives for `idle_s`:
    {partition: [(offset, value)]}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eddy-tests-unused",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof, last_new = {}, set(), time.monotonic()
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            if len(eof) == partitions and time.monotonic() - last_new > idle_s:
                break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise AssertionError(f"consume error: {msg.error()}")
        eof.discard(msg.partition())
        last_new = time.monotonic()
        got.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))
    c.close()
    return got


def values(got):
    return sorted(v for rows in got.values() for _, v in rows)


def produce_in_txn(p, topic, vals, partitions):
    for i, v in enumerate(vals):
        p.produce(topic, value=v, partition=i % partitions)
    p.flush(TIMEOUT_S)


def test_commit_and_abort_seen_by_each_isolation_level(serve):
    topic = topic_name("txn")
    ck_create_topic(serve.bootstrap, topic, 3)
    p = txn_producer(serve.bootstrap, "txn-basic")
    first, aborted, last = records(50, "c1"), records(30, "ab"), records(20, "c2")
    for vals, commit in ((first, True), (aborted, False), (last, True)):
        p.begin_transaction()
        produce_in_txn(p, topic, vals, 3)
        if commit:
            p.commit_transaction(TIMEOUT_S)
        else:
            p.abort_transaction(TIMEOUT_S)
    committed = read_all(serve.bootstrap, topic, 3, "read_committed")
    assert values(committed) == sorted(first + last), "read_committed: committed only, once"
    for rows in committed.values():
        offsets = [o for o, _ in rows]
        assert offsets == sorted(offsets)
    everything = read_all(serve.bootstrap, topic, 3, "read_uncommitted")
    assert values(everything) == sorted(first + aborted + last)
    # Each partition got three markers: the offsets after the data skip them.
    c = Consumer({"bootstrap.servers": serve.bootstrap, "group.id": "unused"})
    for part in range(3):
        low, high = c.get_watermark_offsets(TopicPartition(topic, part), TIMEOUT_S)
        assert high == len(everything[part]) + 3, (part, high)
    c.close()


def test_an_open_transaction_holds_read_committed_readers_back(serve):
    topic = topic_name("lso")
    ck_create_topic(serve.bootstrap, topic, 1)
    before = ck_produce(serve.bootstrap, topic, records(10, "plain"), 1)
    p = txn_producer(serve.bootstrap, "txn-open")
    p.begin_transaction()
    produce_in_txn(p, topic, records(5, "open"), 1)
    # Non-transactional records after the open transaction wait with it.
    ck_produce(serve.bootstrap, topic, records(5, "after"), 1)
    seen = read_all(serve.bootstrap, topic, 1, "read_committed", idle_s=1.5)
    assert values(seen) == sorted(v for _, v in before[0]), "stops at the last stable offset"
    assert len(values(read_all(serve.bootstrap, topic, 1, "read_uncommitted"))) == 20
    p.commit_transaction(TIMEOUT_S)
    seen = read_all(serve.bootstrap, topic, 1, "read_committed")
    assert len(values(seen)) == 20


def test_a_new_instance_fences_the_zombie_and_aborts_its_transaction(serve):
    topic = topic_name("fence")
    ck_create_topic(serve.bootstrap, topic, 2)
    zombie = txn_producer(serve.bootstrap, "txn-fence")
    zombie.begin_transaction()
    produce_in_txn(zombie, topic, records(10, "zombie"), 2)
    successor = txn_producer(serve.bootstrap, "txn-fence")
    successor.begin_transaction()
    produce_in_txn(successor, topic, records(10, "successor"), 2)
    successor.commit_transaction(TIMEOUT_S)
    with pytest.raises(KafkaException) as fenced:
        zombie.produce(topic, value=b"zombie-late", partition=0)
        zombie.flush(10)
        zombie.commit_transaction(10)
    assert fenced.value.args[0].fatal() or "fenced" in str(fenced.value).lower(), fenced.value
    seen = values(read_all(serve.bootstrap, topic, 2, "read_committed"))
    assert seen == sorted(records(10, "successor")), "nothing of the zombie is visible"


def _uvarint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _read_uvarint(data, at):
    shift = value = 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, at


def _compact_str(data, at):
    n, at = _read_uvarint(data, at)
    return data[at:at + n - 1].decode(), at + n - 1


def list_transactions(port):
    """ListTransactions v0 by hand (no client here has it): [(id, producer id, state)]."""
    import socket
    import struct
    client_id = b"eddy-test"
    header = struct.pack(">hhih", 66, 0, 7, len(client_id)) + client_id + b"\x00"
    body = _uvarint(1) + _uvarint(1) + b"\x00"  # no state filter, no producer filter, tags
    frame = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    at = 4 + 1  # correlation id, header tags
    _throttle, error = struct.unpack(">ih", data[at:at + 6])
    assert error == 0, f"ListTransactions error {error}"
    at += 6
    n, at = _read_uvarint(data, at)  # unknown state filters (none sent)
    assert n == 1
    n, at = _read_uvarint(data, at)
    out = []
    for _ in range(n - 1):
        txn_id, at = _compact_str(data, at)
        (pid,) = struct.unpack(">q", data[at:at + 8])
        state, at = _compact_str(data, at + 8)
        _tags, at = _read_uvarint(data, at)
        out.append((txn_id, pid, state))
    return out


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def test_list_transactions_shows_each_id_and_its_state(serve):
    topic = topic_name("adm")
    ck_create_topic(serve.bootstrap, topic, 1)
    p = txn_producer(serve.bootstrap, "txn-admin")
    p.begin_transaction()
    produce_in_txn(p, topic, records(3, "a"), 1)
    states = {t: s for t, _, s in list_transactions(serve.port)}
    assert states.get("txn-admin") == "Ongoing", states
    p.abort_transaction(TIMEOUT_S)
    states = {t: s for t, _, s in list_transactions(serve.port)}
    assert states.get("txn-admin") == "CompleteAbort", states


class Pipeline:
    """Consume `source` as group `group` (read_committed), write `out:<value>` to `sink`
    and commit the input offsets in the same transaction; every failure aborts (or, when
    fatal, starts a new instance, which fences the old one) and resumes from the committed
    offsets."""

    def __init__(self, bootstrap, source, sink, group, txn_id, partitions):
        self.bootstrap, self.source, self.sink = bootstrap, source, sink
        self.group, self.txn_id, self.partitions = group, txn_id, partitions
        self.stop = threading.Event()
        self.committed_batches = 0
        self.errors = []

    def clients(self):
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition(self.source, p) for p in range(self.partitions)])
        producer = txn_producer(self.bootstrap, self.txn_id,
                                {"transaction.timeout.ms": 5000, "message.timeout.ms": 5000})
        return consumer, producer

    def rewind(self, consumer):
        committed = consumer.committed(
            [TopicPartition(self.source, p) for p in range(self.partitions)], TIMEOUT_S)
        for tp in committed:
            consumer.seek(TopicPartition(self.source, tp.partition, max(tp.offset, 0)))

    def run(self, until_idle_s=None):
        consumer, producer = None, None
        idle_since, seen_any, started = time.monotonic(), False, time.monotonic()
        while not self.stop.is_set():
            try:
                if consumer is None:
                    consumer, producer = self.clients()
                    idle_since = time.monotonic()
                msgs = consumer.consume(50, 0.5)
                msgs = [m for m in msgs if not m.error()]
                if not msgs:
                    quiet = time.monotonic() - idle_since
                    if until_idle_s and (seen_any or time.monotonic() - started > TIMEOUT_S) \
                            and quiet > until_idle_s:
                        break
                    continue
                seen_any = True
                idle_since = time.monotonic()
                producer.begin_transaction()
                for m in msgs:
                    producer.produce(self.sink, value=b"out:" + m.value(), partition=m.partition())
                producer.send_offsets_to_transaction(
                    consumer.position(consumer.assignment()),
                    consumer.consumer_group_metadata(), TIMEOUT_S)
                producer.commit_transaction(TIMEOUT_S)
                self.committed_batches += 1
            except KafkaException as e:
                self.errors.append(str(e))
                err = e.args[0]
                try:
                    if err.txn_requires_abort():
                        producer.abort_transaction(TIMEOUT_S)
                        self.rewind(consumer)
                        continue
                except KafkaException:
                    pass
                # Fatal (fenced, or the abort failed): a new instance resumes.
                for c in (consumer,):
                    try:
                        c and c.close()
                    except Exception:
                        pass
                consumer, producer = None, None
                time.sleep(0.2)
        if consumer is not None:
            consumer.close()


def test_exactly_once_pipeline_through_kill_9(workdir):
    server = Serve(workdir).start()
    source, sink = topic_name("src"), topic_name("sink")
    ck_create_topic(server.bootstrap, source, 3)
    ck_create_topic(server.bootstrap, sink, 3)
    inputs = records(3000, "in")
    ck_produce(server.bootstrap, source, inputs, 3)
    pipeline = Pipeline(server.bootstrap, source, sink, "eos-group", "eos-pipeline", 3)
    t = threading.Thread(target=pipeline.run)
    t.start()
    deadline = time.monotonic() + TIMEOUT_S
    while pipeline.committed_batches < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipeline.committed_batches >= 8, f"the pipeline runs: {pipeline.errors[:3]}"
    server.kill()  # mid-transaction, most likely
    pipeline.stop.set()
    t.join()
    killed_after = pipeline.committed_batches

    # The same data folder and ports: a new pipeline instance resumes (and fences the old
    # one's transaction, which the restarted coordinator still holds open).
    restarted = Serve(workdir)
    restarted.args = [a.replace(str(restarted.port), str(server.port))
                      .replace(str(restarted.cp_port), str(server.cp_port))
                      for a in restarted.args]
    restarted.port, restarted.kafka_port = server.port, server.port
    restarted.start()
    try:
        resumed = Pipeline(restarted.bootstrap, source, sink, "eos-group", "eos-pipeline", 3)
        resumed.run(until_idle_s=4.0)
        out = read_all(restarted.bootstrap, sink, 3, "read_committed")
        got = [v for rows in out.values() for _, v in rows]
        dupes = len(got) - len(set(got))
        missing = set(b"out:" + v for v in inputs) - set(got)
        assert dupes == 0 and not missing, (
            f"exactly once: {dupes} duplicates, {len(missing)} missing of {len(inputs)} "
            f"({killed_after} batches before the kill, {resumed.committed_batches} after; "
            f"errors: {resumed.errors[:3]})")
        # The uncommitted tail of the killed instance exists, but only read_uncommitted
        # readers see it (when the kill caught a transaction with data written).
        everything = read_all(restarted.bootstrap, sink, 3, "read_uncommitted")
        assert len([v for rows in everything.values() for _, v in rows]) >= len(got)
    finally:
        restarted.stop()


def test_kafka_python_transactional_producer(serve):
    """kafka-python's own transaction manager against the same coordinator."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP

    topic = topic_name("kptxn")
    ck_create_topic(serve.bootstrap, topic, 2)
    p = KafkaProducer(bootstrap_servers=serve.bootstrap, transactional_id="kp-txn")
    p.init_transactions()
    for prefix, commit in (("kc1", True), ("kab", False), ("kc2", True)):
        p.begin_transaction()
        for i, v in enumerate(records(20, prefix)):
            p.send(topic, value=v, partition=i % 2)
        p.flush()
        if commit:
            p.commit_transaction()
        else:
            p.abort_transaction()
    p.close()
    seen = values(read_all(serve.bootstrap, topic, 2, "read_committed"))
    assert seen == sorted(records(20, "kc1") + records(20, "kc2"))
    c = KafkaConsumer(bootstrap_servers=serve.bootstrap, isolation_level="read_committed",
                      enable_auto_commit=False, consumer_timeout_ms=3000)
    c.assign([KTP(topic, 0), KTP(topic, 1)])
    c.seek_to_beginning()
    got = sorted(m.value for m in c)
    c.close()
    assert got == seen, "kafka-python's read_committed consumer agrees"


def _request(port, api_key, version, body, flexible=False):
    """One raw request (header v1, or v2 when flexible); the response bytes after the
    correlation id (and the header's tags when flexible)."""
    import socket
    import struct
    client_id = b"eddy-test"
    header = struct.pack(">hhih", api_key, version, 9, len(client_id)) + client_id
    if flexible:
        header += b"\x00"
    frame = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    return data[4 + (1 if flexible else 0):]


def _str(s):
    import struct
    return struct.pack(">h", len(s)) + s


def test_bad_transactional_requests_get_kafka_errors_and_lose_nothing(serve):
    import struct
    topic = topic_name("badtxn")
    ck_create_topic(serve.bootstrap, topic, 1)
    # EndTxn v0 for a transactional id nobody initialised: INVALID_PRODUCER_ID_MAPPING.
    body = _str(b"nobody") + struct.pack(">qh?", 1234, 0, True)
    _throttle, code = struct.unpack(">ih", _request(serve.port, 26, 0, body)[:6])
    assert code == 49, code
    p = txn_producer(serve.bootstrap, "txn-bad")
    p.begin_transaction()
    produce_in_txn(p, topic, records(5, "good"), 1)
    # AddPartitionsToTxn v0 with a stale epoch of a live id: INVALID_PRODUCER_EPOCH (v0
    # predates PRODUCER_FENCED).
    listed = {t: pid for t, pid, _ in list_transactions(serve.port)}
    pid = listed["txn-bad"]
    body = (_str(b"txn-bad") + struct.pack(">qh", pid, 7) + struct.pack(">i", 1)
            + _str(topic.encode()) + struct.pack(">ii", 1, 0))
    data = _request(serve.port, 24, 0, body)
    # throttle, [topic: name, [partition, code]]
    at = 4 + 4
    (n,) = struct.unpack(">h", data[at:at + 2])
    at += 2 + n + 4
    _part, code = struct.unpack(">ih", data[at:at + 6])
    assert code == 47, code
    # AddOffsetsToTxn v0 for a producer id that is not the id's: INVALID_PRODUCER_ID_MAPPING.
    body = _str(b"txn-bad") + struct.pack(">qh", pid + 99, 0) + _str(b"some-group")
    _throttle, code = struct.unpack(">ih", _request(serve.port, 25, 0, body)[:6])
    assert code == 49, code
    # The live transaction is untouched by all of that: it commits what it wrote.
    p.commit_transaction(TIMEOUT_S)
    seen = values(read_all(serve.bootstrap, topic, 1, "read_committed"))
    assert seen == sorted(records(5, "good"))
