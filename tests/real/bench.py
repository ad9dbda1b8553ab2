#!/usr/bin/env python3
"""Benchmark `eddy serve` with a real client (confluent-kafka, i.e. librdkafka).

Start the server first, e.g.
    target/real/release/eddy serve --data-dir /tmp/eddy-bench
then
    python3 tests/real/bench.py --bootstrap 127.0.0.1:9092 --mib 256

Produce: records of --record-bytes, round-robin over --partitions, acks=all; throughput is
acknowledged bytes over the time from the first send to the last acknowledgement; the
latency of a record is the time from produce() to its delivery report (it includes the
agent's batch timeout, the object-store PUT and the control-plane commit).
Consume: one consumer reads every partition from offset 0; MiB/s of record values.
"""

import argparse
import json
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

MIB = 1024 * 1024


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def produce(args, topic, count):
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "linger.ms": args.linger_ms,
        "batch.size": 1_000_000,
        "compression.type": args.codec,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": 120_000,
    })
    payload = bytes(args.record_bytes)
    latencies, errors = [], []
    now = time.perf_counter

    def report(err, _msg, sent):
        if err is not None:
            errors.append(err)
        else:
            latencies.append(now() - sent)

    start = now()
    for i in range(count):
        sent = now()
        while True:
            try:
                producer.produce(topic, payload, partition=i % args.partitions,
                                 on_delivery=lambda e, m, s=sent: report(e, m, s))
                break
            except BufferError:
                producer.poll(0.005)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(300)
    elapsed = now() - start
    if errors:
        raise SystemExit(f"{len(errors)} delivery errors, first: {errors[0]}")
    latencies.sort()
    return {
        "records": len(latencies),
        "mib_per_s": len(latencies) * args.record_bytes / MIB / elapsed,
        "records_per_s": len(latencies) / elapsed,
        "latency_ms_p50": percentile(latencies, 0.50) * 1000,
        "latency_ms_p99": percentile(latencies, 0.99) * 1000,
        "latency_ms_max": latencies[-1] * 1000 if latencies else float("nan"),
    }


def consume(args, topic, count):
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "eddy-bench-unused",
        "enable.auto.commit": False,
        "fetch.max.bytes": 64 * MIB,
        "max.partition.fetch.bytes": 16 * MIB,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(args.partitions)])
    got, value_bytes = 0, 0
    start = time.perf_counter()
    deadline = start + 600
    while got < count and time.perf_counter() < deadline:
        for msg in consumer.consume(num_messages=10_000, timeout=1.0):
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit(f"consume error: {msg.error()}")
            got += 1
            value_bytes += len(msg.value())
    elapsed = time.perf_counter() - start
    consumer.close()
    return {"records": got, "mib_per_s": value_bytes / MIB / elapsed}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--mib", type=float, default=256, help="MiB of record values to produce")
    p.add_argument("--record-bytes", type=int, default=1024)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--linger-ms", type=int, default=5)
    p.add_argument("--codec", default="none")
    p.add_argument("--json", action="store_true", help="print JSON only")
    args = p.parse_args()

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions,
                                  replication_factor=1)])[topic].result(60)
    count = int(args.mib * MIB / args.record_bytes)
    result = {
        "topic": topic,
        "record_bytes": args.record_bytes,
        "partitions": args.partitions,
        "codec": args.codec,
        "produce": produce(args, topic, count),
        "consume": consume(args, topic, count),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    pr, co = result["produce"], result["consume"]
    print(f"records: {count} x {args.record_bytes} B over {args.partitions} partitions, codec {args.codec}")
    print(f"produce: {pr['mib_per_s']:.1f} MiB/s ({pr['records_per_s']:.0f} records/s), ack latency "
          f"p50 {pr['latency_ms_p50']:.1f} ms, p99 {pr['latency_ms_p99']:.1f} ms, max {pr['latency_ms_max']:.1f} ms")
    print(f"consume: {co['mib_per_s']:.1f} MiB/s ({co['records']} records)")


if __name__ == "__main__":
    main()
