"""Consumer-group administration with real clients: ListGroups and DescribeGroups, as
`kafka-consumer-groups --list/--describe`, confluent-kafka's AdminClient and kafka-python's
KafkaAdminClient use them. Groups are listed once each (even by clients that query every
broker and do not remove duplicates), with Kafka's state names; a stable group shows its
members, their hosts and assignments."""

import time

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient

from clients import TIMEOUT_S, ck_create_topic, ck_produce, records
from conftest import cluster, topic_name
from test_groups import ck_group_consumer, drain

PARTITIONS = 4


def ck_listed(admin):
    """{group id: [state, …]} from confluent's ListConsumerGroups (all brokers)."""
    result = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result()
    assert not result.errors, result.errors
    listed = {}
    for g in result.valid:
        listed.setdefault(g.group_id, []).append(g.state)
    return listed


def ck_describe(admin, group):
    return admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()


def until(check, what):
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def stable_group(bootstrap, topic, group, members=2):
    """`members` consumers of `group` that have read `topic` (and committed)."""
    values = records(40)
    ck_produce(bootstrap, topic, values, PARTITIONS)
    consumers = [ck_group_consumer(bootstrap, group) for _ in range(members)]
    for c in consumers:
        c.subscribe([topic])
    got = drain(consumers, len(values))
    assert sorted(v for vs in got.values() for v in vs) == sorted(values)
    return consumers


def test_confluent_lists_and_describes_groups(serve):
    topic, group = topic_name("adm"), topic_name("group")
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    consumers = stable_group(serve.bootstrap, topic, group)
    admin = AdminClient({"bootstrap.servers": serve.bootstrap})
    try:
        listed = until(lambda: (l := ck_listed(admin)).get(group) == [ConsumerGroupState.STABLE]
                       and l, "the group to be listed as stable")
        assert listed[group] == [ConsumerGroupState.STABLE], listed

        d = ck_describe(admin, group)
        assert d.state == ConsumerGroupState.STABLE
        assert not d.is_simple_consumer_group
        assert d.partition_assignor, "the chosen assignor is shown"
        assert len(d.members) == 2
        assigned = []
        for m in d.members:
            assert m.client_id, m
            assert m.host.startswith("/127.0.0.1"), m.host
            assigned += [(tp.topic, tp.partition) for tp in m.assignment.topic_partitions]
        assert sorted(assigned) == [(topic, p) for p in range(PARTITIONS)], \
            "the members' assignments cover every partition once"
    finally:
        for c in consumers:
            c.close()

    # Every member left: the group is empty, and kept (it has committed offsets).
    until(lambda: ck_describe(admin, group).state == ConsumerGroupState.EMPTY, "an empty group")
    assert not ck_describe(admin, group).members
    assert ck_listed(admin)[group] == [ConsumerGroupState.EMPTY]
    # A group nobody knows is dead, not an error.
    assert ck_describe(admin, topic_name("nobody")).state == ConsumerGroupState.DEAD


def test_kafka_python_lists_and_describes_groups(serve):
    topic, group = topic_name("kpadm"), topic_name("group")
    ck_create_topic(serve.bootstrap, topic, PARTITIONS)
    consumers = stable_group(serve.bootstrap, topic, group, members=1)
    admin = KafkaAdminClient(bootstrap_servers=serve.bootstrap)
    try:
        def listed():
            return [g for g in admin.list_groups() if g["group_id"] == group]
        mine = until(lambda: (l := listed()) and l[0]["group_state"] == "Stable" and l,
                     "the group to be listed as stable")
        assert len(mine) == 1, mine
        assert mine[0]["protocol_type"] == "consumer"
        assert [g["group_id"] for g in admin.list_groups(states_filter=["Stable"])
                if g["group_id"] == group] == [group]
        assert [g for g in admin.list_groups(states_filter=["Empty"])
                if g["group_id"] == group] == []

        d = admin.describe_groups([group])[group]
        assert d["error"] is None, d
        assert d["group_state"] == "Stable"
        assert d["protocol_type"] == "consumer"
        [member] = d["members"]
        assert member["client_host"].startswith("/127.0.0.1"), member
        assert member["member_assignment"], member
    finally:
        for c in consumers:
            c.close()
        admin.close()


def test_groups_are_listed_once_across_agents(workdir):
    """Two agents of one virtual cluster: a client shown both lists each group once."""
    with cluster(workdir, ["az1", "az1"]) as agents:
        bootstrap = f"127.0.0.1:{agents[0].kafka_port}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        until(lambda: set(admin.list_topics(timeout=10).brokers) == {1, 2}, "both brokers")
        groups = [topic_name(f"g{i}") for i in range(6)]
        consumers = []
        try:
            for g in groups:
                topic = topic_name("two")
                ck_create_topic(bootstrap, topic, PARTITIONS)
                consumers += stable_group(bootstrap, topic, g, members=1)
            listed = until(lambda: (l := ck_listed(admin)) and all(g in l for g in groups) and l,
                           "every group listed")
            for g in groups:
                assert listed[g] == [ConsumerGroupState.STABLE], (g, listed[g])
            kp = KafkaAdminClient(bootstrap_servers=bootstrap)
            names = [x["group_id"] for x in kp.list_groups()]
            kp.close()
            for g in groups:
                assert names.count(g) == 1, (g, names)
        finally:
            for c in consumers:
                c.close()
