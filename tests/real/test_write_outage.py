"""Issue 20: the object store refuses writes (a full disk, a read-only mount, a bucket policy
that denies writes) while reads still work. Nothing can be produced or committed then, but
what was committed stays readable and the cluster's metadata stays answerable: the control
plane answers reads from committed state once it has confirmed, with a read of the journal,
that nothing newer exists. The outage is logged once when it starts and once when it ends,
and producing works again afterwards with offsets that continue.

The store is moto's S3 server behind a small proxy that answers 403 AccessDenied to every
write (PUT, POST, DELETE) while `refuse_writes` is set, and forwards everything else."""

import http.client
import http.server
import os
import threading
import time

import pytest

from clients import check_read_back, ck_consume, ck_create_topic, ck_produce, records
from conftest import Serve, free_port, topic_name
from test_s3 import BUCKET, CREDENTIALS, moto  # noqa: F401 (the fixture)
from confluent_kafka.admin import AdminClient

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
          b"<Message>writes are refused (test)</Message></Error>")


class WriteRefusingProxy:
    """Forwards S3 requests to `upstream`; refuses writes while `refuse_writes` is set."""

    def __init__(self, upstream_port):
        self.refuse_writes = False
        self.refused = 0
        self.reads_while_refusing = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def forward(self):
                body = self.body()
                if self.command in ("PUT", "POST", "DELETE") and proxy.refuse_writes:
                    proxy.refused += 1
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(DENIED)))
                    self.end_headers()
                    self.wfile.write(DENIED)
                    return
                if proxy.refuse_writes:
                    proxy.reads_while_refusing += 1
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_reads_and_metadata_are_served_while_the_store_refuses_writes(workdir, moto):  # noqa: F811
    endpoint, _s3 = moto
    upstream = int(endpoint.rsplit(":", 1)[1])
    proxy = WriteRefusingProxy(upstream)
    url = f"s3://{BUCKET}/wo?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1"
    server = Serve(workdir, object_store=url, env=CREDENTIALS).start()
    topic = topic_name("wo")
    try:
        ck_create_topic(server.bootstrap, topic, 3)
        acked = ck_produce(server.bootstrap, topic, records(1000, size=100), 3)

        proxy.refuse_writes = True
        began = time.monotonic()
        rounds, slowest = 0, 0.0
        # Twenty seconds: far past the control plane's lease (1.5 s), so the leader has
        # stepped down and every answer comes from the confirmed committed state.
        while time.monotonic() - began < 20:
            t0 = time.monotonic()
            got = ck_consume(server.bootstrap, topic, 3, 1000)
            check_read_back(acked, got)
            md = AdminClient({"bootstrap.servers": server.bootstrap}).list_topics(timeout=10)
            assert topic in md.topics and len(md.topics[topic].partitions) == 3, md.topics
            slowest = max(slowest, time.monotonic() - t0)
            rounds += 1
        assert proxy.refused > 0, "the server never tried to write: the outage was not felt"
        assert proxy.reads_while_refusing > 0
        print(f"write outage: {rounds} full read-backs of 1,000 records and metadata in 20 s, "
              f"slowest {slowest:.2f} s; {proxy.refused} writes refused")
        log = server.log()
        assert log.count("journal writes failing") == 1, log[-4000:]

        proxy.refuse_writes = False
        more = ck_produce(server.bootstrap, topic, records(300, prefix="after", size=100), 3)
        for p, got in more.items():
            first = got[0][0]
            assert first == len(acked.get(p, [])), (p, first)
        assert "journal writes succeed again" in server.log(), server.log()[-4000:]
    finally:
        server.stop()
        proxy.close()
