"""`eddy controlplane` and several `eddy agent` processes form one virtual cluster: both
agents are brokers in Metadata, and what one agent ingests the other serves."""

import time

from confluent_kafka.admin import AdminClient

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import cluster, topic_name


def test_two_agents_one_virtual_cluster(workdir):
    with cluster(workdir, ["az1", "az2"]) as agents:
        first, second = (f"127.0.0.1:{a.kafka_port}" for a in agents)
        # Both agents appear as brokers once their heartbeats reached the control plane.
        deadline = time.monotonic() + 30
        brokers = set()
        while time.monotonic() < deadline and len(brokers) < 2:
            brokers = set(AdminClient({"bootstrap.servers": first}).list_topics(timeout=10).brokers)
            time.sleep(0.1)
        assert brokers == {1, 2}
        topic = topic_name("cluster")
        ck_create_topic(first, topic, 4)
        values = records(400)
        # Zone-aware routing: a client in az1 is only shown agent 1, one in az2 only agent 2.
        # So agent 1 ingests everything and agent 2 serves all of it back.
        acked = ck_produce(first, topic, values, 4, {"client.id": "producer,ws_az=az1"})
        got = ck_consume(second, topic, 4, len(values), {"client.id": "consumer,ws_az=az2"})
        check_read_back(acked, got)
