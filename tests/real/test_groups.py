"""Consumer groups (classic protocol) with real clients. `require_apis` skips them, saying
why, against an agent that does not advertise the group APIs."""

import subprocess
import time

from confluent_kafka import Consumer, KafkaError
from kafka import KafkaConsumer

from clients import TIMEOUT_S, ck_create_topic, ck_produce, kcat_path, records
from conftest import GROUP_APIS, require_apis, topic_name

PARTITIONS = 4


def ck_group_consumer(bootstrap, group, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(conf)


def drain(consumers, expected, commit=True):
    """Poll all consumers until `expected` records arrived; {consumer index: [values]}."""
    got = {i: [] for i in range(len(consumers))}
    deadline = time.monotonic() + TIMEOUT_S
    while sum(len(v) for v in got.values()) < expected and time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            msg = c.poll(0.2)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            got[i].append(msg.value())
            if commit:
                c.commit(message=msg, asynchronous=False)
    return got


def test_confluent_group_splits_partitions_and_resumes(serve):
    require_apis(serve, GROUP_APIS, "consumer groups")
    topic, group = topic_name("grp"), topic_name("group")
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    first = records(200, "first")
    ck_produce(serve.bootstrap, topic, first, PARTITIONS)
    a, b = ck_group_consumer(serve.bootstrap, group), ck_group_consumer(serve.bootstrap, group)
    a.subscribe([topic])
    b.subscribe([topic])
    got = drain([a, b], len(first))
    assert sorted(got[0] + got[1]) == sorted(first), "the group read every record exactly once"
    assert got[0] and got[1], "both members got partitions"
    a.close()
    b.close()
    # A new member of the same group resumes after the committed offsets.
    second = records(100, "second")
    ck_produce(serve.bootstrap, topic, second, PARTITIONS)
    c = ck_group_consumer(serve.bootstrap, group)
    c.subscribe([topic])
    got = drain([c], len(second))
    assert sorted(got[0]) == sorted(second)
    c.close()


def test_kafka_python_group_commits_offsets(serve):
    require_apis(serve, GROUP_APIS, "consumer groups")
    topic, group = topic_name("kpgrp"), topic_name("group")
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    values = records(100)
    ck_produce(serve.bootstrap, topic, values, PARTITIONS)
    consumer = KafkaConsumer(topic, bootstrap_servers=serve.bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    seen = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(seen) < len(values) and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=500).values():
            seen += [m.value for m in msgs]
    consumer.commit()
    consumer.close()
    assert sorted(seen) == sorted(values)
    again = KafkaConsumer(topic, bootstrap_servers=serve.bootstrap, group_id=group,
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          consumer_timeout_ms=3000)
    assert list(again) == [], "committed offsets are where the group resumes"
    again.close()


def test_kcat_balanced_consumer(serve):
    require_apis(serve, GROUP_APIS, "consumer groups")
    if kcat_path() is None:
        import pytest

        pytest.skip("kcat is not installed")
    topic, group = topic_name("kcatgrp"), topic_name("group")
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    values = records(40)
    ck_produce(serve.bootstrap, topic, values, PARTITIONS)
    out = subprocess.run(
        [kcat_path(), "-b", serve.bootstrap, "-G", group, "-o", "beginning", "-c",
         str(len(values)), "-q", "-f", "%s\n", topic],
        check=True, timeout=TIMEOUT_S, capture_output=True,
    ).stdout
    assert sorted(out.splitlines()) == sorted(values)
