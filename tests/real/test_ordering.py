"""Per-partition order (issue 15). Kafka appends the records one producer sends to one
partition in the order sent, with several produce requests in flight, as long as nothing was
retried; an idempotent producer keeps that order through its retries.

Each test sends numbered values to partition 0 of a fresh one-partition topic and compares
the order sent with the order of the acknowledged offsets (delivery reports, where the client
gives them) and with the order read back from offset 0; a failure says how many adjacent
inversions and inverted pairs it saw (clients.order_problem). The server flushes a file
`--batch-timeout-ms` after its first batch: the `serve` fixture's 20 ms, where inversions
were the most frequent, unless a test says otherwise (250 ms is eddy's default).
"""

import time

import pytest

from clients import (check_read_back, ck_consume, ck_create_topic, ck_produce, kcat_consume,
                     kcat_path, kcat_produce, order_problem, records)
from conftest import INIT_PRODUCER_ID, require_apis, topic_name

from test_kafka_python import kp_consume, kp_produce

# librdkafka: one record per produce request, sent at once, never retried, idempotence off;
# max.in.flight stays at its default (1,000,000 requests per connection).
NO_RETRIES = {"linger.ms": 0, "batch.num.messages": 1, "message.send.max.retries": 0,
              "enable.idempotence": False}
IDEMPOTENT = {"enable.idempotence": True, "acks": "all", "max.in.flight": 5}


def check_order(values, acked, got, note=""):
    """`acked` and `got` ({0: [(offset, value)]}, as ck_produce/kp_produce and
    ck_consume/kp_consume give them) both hold `values`, in the order sent."""
    by_offset = [v for _, v in sorted(acked.get(0, []))]
    read = [v for _, v in got.get(0, [])]
    problems = [p for p in (order_problem("acknowledged offsets", values, by_offset),
                            order_problem("read back", values, read)) if p]
    assert not problems, note + "; ".join(problems)
    check_read_back(acked, got)


def ck_check_order(bootstrap, prefix, n, conf):
    """Produce `n` numbered values to a fresh one-partition topic with confluent-kafka and
    `conf` (every delivery report error-free, no fatal error, nothing left after flush()),
    then check the order of the acknowledged offsets and of the records read back."""
    topic = topic_name(prefix)
    ck_create_topic(bootstrap, topic, 1)
    values = records(n, prefix)
    started = time.monotonic()
    acked = ck_produce(bootstrap, topic, values, 1, conf)
    took = time.monotonic() - started
    got = ck_consume(bootstrap, topic, 1, n)
    check_order(values, acked, got, f"{n} records acknowledged in {took:.1f} s; ")


@pytest.mark.parametrize("serve", [{"batch_timeout_ms": 250}, {"batch_timeout_ms": 20}],
                         indirect=True, ids=["batch-250ms", "batch-20ms"])
def test_confluent_order_without_retries(serve):
    """librdkafka, idempotence off, retries 0, linger 0, one record per request and up to
    1,000,000 requests in flight: 20,000 records, about 5 s with 250 ms, 1 s with 20 ms."""
    ck_check_order(serve.bootstrap, "order", 20_000, NO_RETRIES)


def test_confluent_idempotent_order_one_record_requests(serve):
    """Idempotent (acks all), one record per request, linger 0, 5 requests in flight: 3,000
    records, about 15 s (as long as the same requests take without idempotence: each round
    of 5 waits for a flush). A request whose sequence numbers do not follow the last
    appended ones makes librdkafka raise a fatal OUT_OF_ORDER_SEQUENCE_NUMBER."""
    require_apis(serve, [INIT_PRODUCER_ID], "idempotent producer")
    ck_check_order(serve.bootstrap, "idem1", 3_000,
                   {**IDEMPOTENT, "linger.ms": 0, "batch.num.messages": 1})


def test_confluent_idempotent_order_lz4(serve):
    """An ordinary idempotent producer (acks all, lz4, linger 5 ms, librdkafka's batch
    sizes, 5 requests in flight): 20,000 records, about 1 s."""
    require_apis(serve, [INIT_PRODUCER_ID], "idempotent producer")
    ck_check_order(serve.bootstrap, "idemlz4", 20_000,
                   {**IDEMPOTENT, "linger.ms": 5, "compression.type": "lz4"})


def test_kafka_python_order_without_retries(serve):
    """kafka-python, idempotence off, retries 0, linger 0, 5 requests in flight, 1 KiB batches
    (about 50 records per request): 20,000 records, about 2 s."""
    topic = topic_name("kporder")
    ck_create_topic(serve.bootstrap, topic, 1)
    values = records(20_000, "kporder")
    acked = kp_produce(serve.bootstrap, topic, values, 1, retries=0, linger_ms=0,
                       max_in_flight_requests_per_connection=5, batch_size=1024)
    got = kp_consume(serve.bootstrap, topic, 1, len(values))
    check_order(values, acked, got)


@pytest.mark.skipif(kcat_path() is None, reason="kcat is not installed (apt-get install kcat)")
def test_kcat_order_without_retries(serve):
    """kcat -P of 20,000 numbered lines (librdkafka as NO_RETRIES: one record per request,
    never retried, many in flight), then kcat -C: the lines come back in input order."""
    topic = topic_name("kcatorder")
    ck_create_topic(serve.bootstrap, topic, 1)
    values = records(20_000, "kcatorder")
    kcat_produce(serve.bootstrap, topic, 0, values, conf=NO_RETRIES)
    rows = kcat_consume(serve.bootstrap, topic, 0, len(values))
    problem = order_problem("read back", values, [v for _, v in rows])
    assert problem is None, problem
    offsets = [o for o, _ in rows]
    assert offsets == list(range(len(values))), f"offsets are not 0, 1, …: {offsets[:20]}"
