"""Topic configuration with real clients: DescribeConfigs shows what applies to a topic and
to a broker (read-only), and CreateTopics refuses configs eddy would not honour (compaction
by key, a retention the control plane does not give the topic) with INVALID_CONFIG instead
of silently ignoring them."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import KafkaAdminClient

from clients import TIMEOUT_S, ck_create_topic
from conftest import topic_name


def create(admin, name, config):
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=2, replication_factor=1, config=config)])
    return futures[name].result(timeout=TIMEOUT_S)


def test_confluent_describes_topic_and_broker_configs(serve):
    topic = topic_name("cfg")
    admin = ck_create_topic(serve.bootstrap, topic, 2)
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    configs = list(futures.values())[0].result(timeout=TIMEOUT_S)
    assert configs["cleanup.policy"].value == "delete"
    assert configs["retention.ms"].value == "-1", "no retention without maintenance"
    assert configs["compression.type"].value == "producer"
    assert all(c.is_read_only for c in configs.values())

    broker = sorted(admin.list_topics(timeout=10).brokers)[0]
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, str(broker))])
    configs = list(futures.values())[0].result(timeout=TIMEOUT_S)
    assert configs["broker.id"].value == str(broker)
    assert int(configs["num.partitions"].value) > 0

    unknown = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic_name("nosuch"))])
    with pytest.raises(KafkaException) as e:
        list(unknown.values())[0].result(timeout=TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_topics_refuses_configs_eddy_would_not_honour(serve):
    admin = AdminClient({"bootstrap.servers": serve.bootstrap})
    # What eddy does anyway, and settings about local log files, are accepted.
    create(admin, topic_name("ok"), {"cleanup.policy": "delete", "retention.ms": "-1",
                                     "segment.bytes": "1073741824", "min.insync.replicas": "2"})
    for config, needle in [
        ({"cleanup.policy": "compact"}, "compact"),
        ({"retention.ms": "3600000"}, "control plane"),
        ({"compression.type": "zstd"}, "producer"),
        ({"no.such.config": "1"}, "unknown"),
    ]:
        name = topic_name("bad")
        with pytest.raises(KafkaException) as e:
            create(admin, name, config)
        err = e.value.args[0]
        assert err.code() == KafkaError.INVALID_CONFIG, (config, err)
        assert needle in err.str(), (config, err.str())
        # Nothing was created.
        assert name not in admin.list_topics(timeout=10).topics


def test_kafka_python_describes_topic_configs(serve):
    topic = topic_name("kpcfg")
    ck_create_topic(serve.bootstrap, topic, 2)
    admin = KafkaAdminClient(bootstrap_servers=serve.bootstrap)
    try:
        described = admin.describe_configs([KpConfigResource("TOPIC", topic)],
                                           config_filter="all")
        configs = described["topic"][topic]
        assert configs["cleanup.policy"]["value"] == "delete", configs
        assert configs["retention.ms"]["value"] == "-1", configs
    finally:
        admin.close()
