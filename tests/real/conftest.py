"""Fixtures for the real-client tests: start `eddy serve` (and friends) from the real-mode
binary on free loopback ports, wait until it answers Kafka requests, stop it.

The binary comes from $EDDY_BIN (tests/real/run.sh builds it with
`cargo build --config .cargo/real-mode.toml --release --target-dir target/real`).
"""

import contextlib
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

# Kafka API keys (https://kafka.apache.org/protocol#protocol_api_keys).
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP = 8, 9, 10, 11
HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 12, 13, 14
API_VERSIONS, CREATE_TOPICS, INIT_PRODUCER_ID = 18, 19, 22

GROUP_APIS = {
    FIND_COORDINATOR: "FindCoordinator",
    JOIN_GROUP: "JoinGroup",
    SYNC_GROUP: "SyncGroup",
    HEARTBEAT: "Heartbeat",
    LEAVE_GROUP: "LeaveGroup",
    OFFSET_COMMIT: "OffsetCommit",
    OFFSET_FETCH: "OffsetFetch",
}
API_NAMES = {**GROUP_APIS, INIT_PRODUCER_ID: "InitProducerId"}

STARTUP_TIMEOUT_S = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_versions(port, timeout=2.0):
    """ApiVersions v0 by hand: {api_key: (min, max)}. Raises OSError when nobody answers."""
    client_id = b"eddy-probe"
    body = struct.pack(">hhih", API_VERSIONS, 0, 1, len(client_id)) + client_id
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read_exact(s, 4))[0]
        data = _read_exact(s, size)
    _correlation, error, count = struct.unpack(">ihi", data[:10])
    if error != 0:
        raise OSError(f"ApiVersions error {error}")
    apis = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", data[10 + 6 * i : 16 + 6 * i])
        apis[key] = (lo, hi)
    return apis


def _read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def wait_port_answers(port, proc, log_path, timeout=STARTUP_TIMEOUT_S):
    """Wait until a Kafka listener answers ApiVersions (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"eddy exited with {proc.returncode}:\n{read_log(log_path)}")
        try:
            return api_versions(port, timeout=1.0)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"eddy did not answer on port {port}:\n{read_log(log_path)}")


def wait_tcp(port, proc, log_path, timeout=STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"eddy exited with {proc.returncode}:\n{read_log(log_path)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}:\n{read_log(log_path)}")


def read_log(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-20000:]
    except OSError:
        return "(no log)"


def eddy_bin():
    path = os.environ.get("EDDY_BIN")
    if not path or not os.path.exists(path):
        pytest.fail("EDDY_BIN must name the real-mode eddy binary (tests/real/run.sh sets it)")
    return path


class Process:
    """One eddy process (serve, controlplane or agent) with its log file."""

    def __init__(self, args, workdir, name, kafka_port=None, tcp_port=None, env=None):
        self.args = [eddy_bin()] + args
        self.workdir = workdir
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.kafka_port = kafka_port
        self.tcp_port = tcp_port
        self.env = dict(os.environ, EDDY_LOG=os.environ.get("EDDY_LOG", "info"), **(env or {}))
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.args, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        log.close()
        if self.kafka_port is not None:
            self.apis = wait_port_answers(self.kafka_port, self.proc, self.log_path)
        elif self.tcp_port is not None:
            wait_tcp(self.tcp_port, self.proc, self.log_path)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        """SIGKILL: no chance to flush or say goodbye."""
        self.stop(signal.SIGKILL)

    def log(self):
        return read_log(self.log_path)


class Serve(Process):
    """`eddy serve` on free ports with its own data folder (or an --object-store URL)."""

    def __init__(self, workdir, object_store=None, extra=None, env=None, batch_timeout_ms=20):
        self.port = free_port()
        self.cp_port = free_port()
        args = [
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--controlplane-listen",
            f"127.0.0.1:{self.cp_port}",
            "--batch-timeout-ms",
            str(batch_timeout_ms),
            "--default-partitions",
            "3",
        ]
        if object_store:
            args += ["--object-store", object_store]
        else:
            args += ["--data-dir", os.path.join(workdir, "data")]
        super().__init__(args + (extra or []), workdir, "serve", kafka_port=self.port, env=env)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def cluster(workdir, azs):
    """`eddy controlplane` and one `eddy agent` per entry of `azs` (its zone), node ids from
    1, sharing one data folder; yields the agents, stops everything on the way out."""
    data = os.path.join(workdir, "data")
    cp_port = free_port()
    cp = Process(["controlplane", "--listen", f"127.0.0.1:{cp_port}", "--data-dir", data],
                 workdir, "controlplane", tcp_port=cp_port).start()
    agents = []
    try:
        for i, az in enumerate(azs):
            port = free_port()
            agents.append(Process(
                ["agent", "--controlplane", f"127.0.0.1:{cp_port}", "--listen",
                 f"127.0.0.1:{port}", "--node-id", str(i + 1), "--az", az, "--data-dir", data,
                 "--batch-timeout-ms", "20"],
                workdir, f"agent{i + 1}", kafka_port=port).start())
        yield agents
    finally:
        for a in agents:
            a.stop()
        cp.stop()


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="eddy-real-") as d:
        yield d


@pytest.fixture
def serve(workdir, request):
    """`eddy serve`; indirect parametrization passes Serve's keyword arguments, e.g.
    @pytest.mark.parametrize("serve", [{"batch_timeout_ms": 250}], indirect=True)."""
    s = Serve(workdir, **getattr(request, "param", {})).start()
    yield s
    s.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(s.log())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def topic_name(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def require_apis(server, keys, what):
    """Skip when the agent does not advertise `keys`: the feature is not served yet."""
    missing = [API_NAMES.get(k, str(k)) for k in keys if k not in server.apis]
    if missing:
        pytest.skip(f"{what}: the agent does not serve {', '.join(missing)} yet (issue 6)")
