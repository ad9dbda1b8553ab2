"""confluent-kafka (librdkafka) against `eddy serve`: topic creation through the admin API,
produce and consume with every compression codec."""

import pytest
from confluent_kafka.admin import AdminClient

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import topic_name

PARTITIONS = 3


def test_admin_creates_topic_with_partitions(serve):
    topic = topic_name("admin")
    ck_create_topic(serve.bootstrap, topic, 5)
    meta = AdminClient({"bootstrap.servers": serve.bootstrap}).list_topics(topic, timeout=30)
    assert meta.topics[topic].error is None
    assert sorted(meta.topics[topic].partitions) == [0, 1, 2, 3, 4]
    # Creating it again is an error the client sees.
    with pytest.raises(Exception, match="(?i)exist"):
        ck_create_topic(serve.bootstrap, topic, 5)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_compressed(serve, codec):
    topic = topic_name(codec)
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    values = records(600, prefix=codec, size=200)
    acked = ck_produce(serve.bootstrap, topic, values, PARTITIONS,
                       {"compression.type": codec, "batch.num.messages": 50})
    assert sum(len(v) for v in acked.values()) == len(values)
    got = ck_consume(serve.bootstrap, topic, PARTITIONS, len(values))
    check_read_back(acked, got)


def test_auto_created_topic_on_produce(serve):
    topic = topic_name("auto")
    values = records(30)
    acked = ck_produce(serve.bootstrap, topic, values, 3)
    got = ck_consume(serve.bootstrap, topic, 3, len(values))
    check_read_back(acked, got)
