"""The S3 path against an S3-compatible server on loopback (moto's server): data files and
the journal in a bucket, a restart that replays the journal from S3, and the conditional
writes (If-None-Match: *) that make the object store the arbiter between two control
planes."""

import os
import shutil
import subprocess
import time

import pytest

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import Process, Serve, free_port, topic_name, wait_tcp

boto3 = pytest.importorskip("boto3")
BUCKET = "eddy-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def moto(workdir):
    exe = shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    log = open(os.path.join(workdir, "moto.log"), "ab")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    log.close()
    try:
        wait_tcp(port, proc, os.path.join(workdir, "moto.log"))
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint, s3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def keys(s3, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_serve_on_s3_survives_restart(workdir, moto):
    endpoint, s3 = moto
    url = f"s3://{BUCKET}/c1?endpoint={endpoint}&region=us-east-1"
    server = Serve(workdir, object_store=url, env=CREDENTIALS).start()
    topic = topic_name("s3")
    try:
        ck_create_topic(server.bootstrap, topic, 3)
        acked = ck_produce(server.bootstrap, topic, records(300, size=100), 3,
                           {"compression.type": "lz4"})
    finally:
        server.kill()
    assert keys(s3, "c1/journal/"), "the journal lives in the bucket"
    assert keys(s3, "c1/data/"), "the data files live in the bucket"
    # A fresh process with nothing local: the state comes back from the bucket.
    server = Serve(workdir, object_store=url, env=CREDENTIALS).start()
    try:
        got = ck_consume(server.bootstrap, topic, 3, 300)
        check_read_back(acked, got)
    finally:
        server.stop()


def test_conditional_writes_fence_a_second_control_plane(workdir, moto):
    """Two control planes on one S3 journal: the first claims the leadership epoch with a
    conditional write (S3 If-None-Match: * through object_store's PutMode::Create); the
    second cannot claim the same sequence number, stays a follower and refuses commands
    (so the history never forks), while the leader keeps serving."""
    endpoint, s3 = moto
    url = f"s3://{BUCKET}/c2?endpoint={endpoint}&region=us-east-1"
    a = Serve(workdir, object_store=url, env=CREDENTIALS).start()
    b_cp_port, b_port = free_port(), free_port()
    b_cp = Process(["controlplane", "--listen", f"127.0.0.1:{b_cp_port}", "--object-store", url],
                   workdir, "controlplane-b", tcp_port=b_cp_port, env=CREDENTIALS).start()
    b = Process(["agent", "--controlplane", f"127.0.0.1:{b_cp_port}", "--listen",
                 f"127.0.0.1:{b_port}", "--node-id", "7", "--object-store", url],
                workdir, "agent-b", kafka_port=b_port, env=CREDENTIALS).start()
    try:
        # B's control plane lost the claim: commands through it are refused, not forked.
        with pytest.raises(Exception, match="does not lead|fenced|taken by"):
            ck_create_topic(f"127.0.0.1:{b_port}", topic_name("loser"), 1)
        # The leader's history is intact and it keeps serving.
        winner = topic_name("winner")
        ck_create_topic(a.bootstrap, winner, 1)
        acked = ck_produce(a.bootstrap, winner, records(20), 1)
        check_read_back(acked, ck_consume(a.bootstrap, winner, 1, 20))
        assert keys(s3, "c2/journal/"), "the journal lives in the bucket"
    finally:
        b.stop()
        b_cp.stop()
        a.stop()
