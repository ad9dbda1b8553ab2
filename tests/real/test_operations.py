"""Operating `eddy serve` (issue 20): a stop on SIGINT or SIGTERM answers the requests it
read (flushing the pending file at once, not at its batch timeout) and exits promptly; log
lines carry RFC 3339 UTC timestamps; the Kafka port is bound on the host of --listen
(loopback by default) unless --bind widens it."""

import re
import signal
import socket
import time

import pytest
from confluent_kafka import Producer

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import Serve, topic_name

PARTITIONS = 3
# Long enough that a prompt exit shows the stop flushed the pending file itself.
BATCH_TIMEOUT_MS = 3000
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_answers_what_it_read_and_exits_promptly(workdir, sig):
    server = Serve(workdir, batch_timeout_ms=BATCH_TIMEOUT_MS).start()
    topic = topic_name("stop")
    ck_create_topic(server.bootstrap, topic, PARTITIONS)
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is None:
            acked.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))
        else:
            errors.append(err)

    p = Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 5,
                  "message.timeout.ms": 10000})
    values = records(200, "stop")
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % PARTITIONS, on_delivery=on_delivery)
    p.poll(0.5)  # sent and read; their file waits for its 3 s batch timeout
    assert not acked, "acknowledged before the batch timeout: the test proves nothing"
    started = time.monotonic()
    server.proc.send_signal(sig)
    code = server.proc.wait(timeout=10)
    took = time.monotonic() - started
    p.flush(5)
    assert code == 0, f"exit status {code}:\n{server.log()}"
    assert took < BATCH_TIMEOUT_MS / 1000, f"took {took:.2f} s to stop:\n{server.log()}"
    assert sum(len(v) for v in acked.values()) == len(values), (
        f"{len(errors)} errors, the first: {errors[:3]}\n{server.log()}")

    log = server.log()
    assert "stopping: accepting no more connections" in log, log
    assert "every connection answered and closed" in log, log
    lines = [line for line in log.splitlines() if " INFO " in line]
    assert lines and all(TIMESTAMP.match(line) for line in lines), lines[:5]

    # What was acknowledged is there after a restart.
    server = Serve(workdir).start()
    try:
        check_read_back(acked, ck_consume(server.bootstrap, topic, PARTITIONS, len(values)))
    finally:
        server.stop()


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=1.0).close()
        return True
    except OSError:
        return False


def test_the_kafka_port_is_bound_on_the_listen_host_unless_widened(workdir):
    # 127.0.0.2 reaches a socket bound on 0.0.0.0 but not one bound on 127.0.0.1.
    server = Serve(workdir).start()
    try:
        assert reachable("127.0.0.1", server.port)
        assert not reachable("127.0.0.2", server.port), "bound beyond the listen host"
    finally:
        server.stop()
    server = Serve(workdir, extra=["--bind", "0.0.0.0"]).start()
    try:
        assert reachable("127.0.0.2", server.port), "--bind 0.0.0.0 serves every interface"
        topic = topic_name("bind")
        acked = ck_produce(server.bootstrap, topic, records(20, "bind"), PARTITIONS)
        check_read_back(acked, ck_consume(server.bootstrap, topic, PARTITIONS, 20))
    finally:
        server.stop()
