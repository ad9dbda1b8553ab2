"""Kill `eddy serve` (SIGKILL) in the middle of a stream and start it again on the same
data folder: every record acknowledged before the kill is still there, at its offset."""

import threading
import time

from confluent_kafka import Producer

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import Serve, topic_name

PARTITIONS = 3


def test_restart_mid_stream_loses_no_acknowledged_record(workdir):
    server = Serve(workdir).start()
    topic = topic_name("restart")
    ck_create_topic(server.bootstrap, topic, PARTITIONS)
    before = ck_produce(server.bootstrap, topic, records(300, "before"), PARTITIONS)

    # A producer streams while the server dies under it.
    acked, stop = {}, threading.Event()

    def stream():
        p = Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 2,
                      "message.timeout.ms": 5000, "retries": 0})

        def on_delivery(err, msg):
            if err is None:
                acked.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))

        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=f"during-{i:06d}".encode(), partition=i % PARTITIONS,
                          on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.001)
        p.flush(10)

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.monotonic() + 30
    while sum(len(v) for v in acked.values()) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    t.join()
    during = {p: list(v) for p, v in acked.items()}
    assert sum(len(v) for v in during.values()) >= 200, "the stream was running when killed"

    server = Serve(workdir)
    server.start()
    try:
        after = ck_produce(server.bootstrap, topic, records(30, "after"), PARTITIONS)
        everything = {}
        for part in (before, during, after):
            for p, rows in part.items():
                everything.setdefault(p, []).extend(rows)
        got = ck_consume(server.bootstrap, topic, PARTITIONS,
                         sum(max(o for o, _ in rows) + 1 for rows in everything.values()))
        for p, rows in everything.items():
            read = dict(got.get(p, []))
            for offset, value in rows:
                assert read.get(offset) == value, f"acknowledged record p{p}@{offset} lost"
        check_read_back(before, got)
    finally:
        server.stop()
