"""Idempotent producers (InitProducerId, sequence numbers) with real clients. Skipped, with
the reason, while the agent does not advertise InitProducerId (issue 6)."""

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import INIT_PRODUCER_ID, require_apis, topic_name

from test_kafka_python import kp_consume, kp_produce


def test_confluent_idempotent_producer(serve):
    require_apis(serve, [INIT_PRODUCER_ID], "idempotent producer")
    topic = topic_name("idem")
    ck_create_topic(serve.bootstrap, topic, 3)
    values = records(500)
    acked = ck_produce(serve.bootstrap, topic, values, 3,
                       {"enable.idempotence": True, "acks": "all", "compression.type": "zstd"})
    got = ck_consume(serve.bootstrap, topic, 3, len(values))
    check_read_back(acked, got)
    assert sum(len(v) for v in got.values()) == len(values), "no duplicates"


def test_kafka_python_idempotent_producer(serve):
    require_apis(serve, [INIT_PRODUCER_ID], "idempotent producer")
    topic = topic_name("kpidem")
    ck_create_topic(serve.bootstrap, topic, 3)
    values = records(200)
    acked = kp_produce(serve.bootstrap, topic, values, 3, enable_idempotence=True, acks="all")
    got = kp_consume(serve.bootstrap, topic, 3, len(values))
    check_read_back(acked, got)
