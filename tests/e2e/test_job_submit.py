"""End to end: a real two-node Ray cluster on 127.0.0.1, `ray job submit` of distgrad train.

scripts/local_cluster.sh starts a head and a second node (token auth on, each node with its
own temp dir, ports and object store, the dashboard on 127.0.0.1), scripts/submit.sh submits
`python -m distgrad train --workers 2 --epochs 2` (with checkpoints) and follows it, and the
test checks from the job's own logs that it SUCCEEDED, that its two workers ran on the
cluster's two nodes and that it reported a test accuracy. A second job is the same
training with one worker process SIGKILLed mid-step (where it reports it is): it must
replace the worker, go on from its last checkpoint, succeed, and end with the first
job's accuracy and, bit for bit, its parameters and optimizer state. The cluster is
stopped even when a check fails.

It stops exactly the processes its cluster started (found by a marker in their
environment, see local_cluster.sh), not every Ray process on the machine as `ray stop`
would, so it cannot take down another Ray runtime running on the same machine.

Nothing here is skipped: a machine that cannot run it fails it, with the reason.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)
RAY = PYTHON.parent / "ray"
LOCAL_CLUSTER = REPO / "scripts" / "local_cluster.sh"
SUBMIT = REPO / "scripts" / "submit.sh"
MARKER = "DISTGRAD_LOCAL_CLUSTER"


# ---- finding the cluster's processes ------------------------------------------------------------

def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def cluster_pids(cluster_dir: str) -> set:
    """The processes of the cluster in `cluster_dir`: those whose environment carries the
    marker local_cluster.sh exports, and their descendants (workers retitle themselves and
    can lose their environ)."""
    marker = f"{MARKER}={cluster_dir}".encode()
    parent, found = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        parent[pid] = _ppid(pid)
        if marker in _environ(pid).split(b"\0"):
            found.add(pid)
    changed = True
    while changed:
        changed = False
        for pid, pp in parent.items():
            if pid not in found and pp in found:
                found.add(pid)
                changed = True
    return {p for p in found if os.path.exists(f"/proc/{p}")}


def _free_port_block(size: int) -> int:
    """A base port with `size` consecutive ports free on 127.0.0.1 and on all interfaces."""
    for _ in range(200):
        base = 20000 + (uuid.uuid4().int % 30000)
        ok = True
        for port in range(base, base + size):
            for host in ("127.0.0.1", "0.0.0.0"):
                with socket.socket() as s:
                    try:
                        s.bind((host, port))
                    except OSError:
                        ok = False
                        break
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no block of free ports found")


def _local_addresses() -> set:
    """This machine's addresses (`ip -o addr`), loopback included."""
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    addrs = {"127.0.0.1", "::1"}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] in ("inet", "inet6"):
            addrs.add(fields[3].split("/")[0])
    return addrs


def _split_host_port(text: str):
    host, _, port = text.rpartition(":")
    host = host.strip("[]").split("%")[0]
    if host.startswith("::ffff:"):
        host = host[len("::ffff:"):]
    return host, port


def _sockets(pids: set) -> list:
    """(state, local host, local port, peer host, pid) of the TCP sockets of `pids`, from
    `ss -tanp`."""
    out = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        for pid in owners & pids:
            lhost, lport = _split_host_port(fields[3])
            phost, _ = _split_host_port(fields[4])
            rows.append((fields[0], lhost, lport, phost, pid))
    return rows


def _is_local(ip: str, local: set) -> bool:
    if ip in ("*", "0.0.0.0", "::"):
        return True  # the wildcard side of a listening socket, not a peer
    return ip in local or ipaddress.ip_address(ip).is_loopback


def _run(cmd, env, timeout, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-4000:]}\n"
                             f"--- stderr\n{proc.stderr[-4000:]}")
    return proc


# ---- the cluster --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    for name, tool in (("ray", RAY), ("bash", shutil.which("bash")), ("ss", shutil.which("ss")),
                       ("ip", shutil.which("ip"))):
        assert tool and os.access(str(tool), os.X_OK), f"the e2e test needs `{name}` ({tool})"
    assert os.path.isdir("/proc"), "the e2e test finds its cluster's processes through /proc"
    # A short path: Ray's unix sockets live under it and must stay under ~107 characters.
    cluster_dir = tempfile.mkdtemp(prefix="dg-e2e-", dir="/tmp")
    base = _free_port_block(300)  # local_cluster.sh uses base .. base+299 (worker ports too)
    dashboard = _free_port_block(1)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAY_") and k != MARKER and not k.startswith("PYTEST")}
    env.update({
        "DISTGRAD_CLUSTER_DIR": cluster_dir, "RAY_BIN": str(RAY), "GCS_PORT": str(base),
        "DASHBOARD_PORT": str(dashboard), "NODE_CPUS": "1", "OBJECT_STORE_BYTES": "100000000",
        "RAY_USAGE_STATS_ENABLED": "0",
    })
    info = {"dir": cluster_dir, "gcs": f"127.0.0.1:{base}",
            "dashboard": f"http://127.0.0.1:{dashboard}", "dashboard_port": dashboard,
            "token_file": os.path.join(cluster_dir, "auth_token")}
    client_env = dict(env, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=info["token_file"],
                      RAY_ADDRESS=info["dashboard"])
    info["env"] = client_env
    t0 = time.monotonic()
    try:
        _run(["bash", LOCAL_CLUSTER, "start"], env, timeout=150)
        info["start_s"] = time.monotonic() - t0
        yield info
    finally:
        try:
            subprocess.run(["bash", str(LOCAL_CLUSTER), "stop"], env=env, capture_output=True,
                           text=True, timeout=90)
        finally:
            left = cluster_pids(cluster_dir)
            for pid in left:  # anything the script missed: ours by construction, by pid
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            shutil.rmtree(cluster_dir, ignore_errors=True)
            assert not left, f"local_cluster.sh stop left processes behind: {sorted(left)}"


# ---- the test -----------------------------------------------------------------------------------

def _node_ids(cluster, want: int = 2, wait_s: float = 60.0) -> set:
    """The node ids `ray status` lists, polled until `want` show up (the autoscaler's report
    lags a node's start by a few seconds)."""
    deadline = time.monotonic() + wait_s
    while True:
        out = _run([RAY, "status", "--address", cluster["gcs"]], cluster["env"],
                   timeout=60).stdout
        nodes = set(re.findall(r"node_([0-9a-f]{56})", out))
        if len(nodes) >= want or time.monotonic() > deadline:
            return nodes
        time.sleep(2.0)


def _http(url: str, token: str | None):
    """(status code, body) of a GET, with the token as a bearer header when given."""
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def _http_status(url: str, token: str | None) -> int:
    return _http(url, token)[0]


def _submit(cluster, job_id: str, *train_args, on_line=None):
    """`scripts/submit.sh` of a training job, followed to its end; asserts it SUCCEEDED.
    Returns (its logs, seconds). `on_line` sees each line of the follow as it comes."""
    token = Path(cluster["token_file"]).read_text().strip()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["bash", str(SUBMIT), "--address", cluster["dashboard"], "--python", str(PYTHON),
         "--submission-id", job_id, "--", *train_args], env=cluster["env"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        follow = proc.wait(timeout=JOB_HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(30)
    job_s = time.monotonic() - t0
    code, body = _http(cluster["dashboard"] + "/api/jobs/" + job_id, token)
    status = json.loads(body).get("status") if code == 200 else f"HTTP {code}"
    logs = _run([RAY, "job", "logs", job_id, "--address", cluster["dashboard"]], cluster["env"],
                timeout=60).stdout
    assert follow == 0 and status == "SUCCEEDED", (
        f"job {job_id} did not succeed (exit {follow}):\n{status}\n--- logs\n{logs[-6000:]}"
        f"\n--- submit.sh\n{''.join(lines)[-3000:]}")
    return logs, job_s


# The training both jobs run (the second has a worker killed), checkpointing to a directory
# every node reaches (the nodes share this machine's /tmp). Its workers' start (and a
# restart's) gets START_S: the job's default, 120 s, is for a user's machine, and on a
# loaded one a Ray worker has taken over a minute to start.
START_S = 300
TRAIN = ["--workers", "2", "--epochs", "2", "--no-progress", "--checkpoint-every", "8",
         "--timeout", str(START_S)]
# A job that has not ended by then has hung: its start, a restart and its training.
JOB_HANG_S = 3 * START_S
KILL_STEP = 10  # steps done when worker:1 is killed (checkpoint 8 is the last one before)


@pytest.fixture(scope="module")
def plain_job(cluster):
    """The uninterrupted training job: its logs, seconds and final checkpoint."""
    ckpt = os.path.join(cluster["dir"], "ckpt-plain")
    logs, job_s = _submit(cluster, f"distgrad-e2e-{uuid.uuid4().hex[:8]}", *TRAIN,
                          "--checkpoint-dir", ckpt)
    return {"logs": logs, "job_s": job_s, "checkpoint": ckpt}


def _accuracy_line(logs: str) -> str:
    m = re.search(r"^test accuracy: (\d+\.\d+)% \((\d+)/(\d+) held-out images\)", logs,
                  re.MULTILINE)
    assert m, f"no test accuracy in the logs:\n{logs}"
    return m.group(0)


def test_train_job_on_two_nodes(cluster, plain_job):
    env = cluster["env"]

    # Two nodes joined, and the cluster refuses requests without the token.
    nodes = _node_ids(cluster)
    assert len(nodes) == 2, f"expected 2 nodes in `ray status`, got {nodes}"
    token = Path(cluster["token_file"]).read_text().strip()
    jobs_api = cluster["dashboard"] + "/api/jobs/"
    assert _http_status(jobs_api, None) in (401, 403), "the job API answered without a token"
    assert _http_status(jobs_api, "not-the-token") in (401, 403)
    assert _http_status(jobs_api, token) == 200

    # The job, submitted with scripts/submit.sh (ray job submit, working dir + runtime env)
    # and followed, SUCCEEDED (plain_job).
    logs, job_s = plain_job["logs"], plain_job["job_s"]

    # From the job's logs: its two workers ran on the cluster's two nodes ...
    placed = dict(re.findall(r"^\s+(worker:\d+)\s+pid \d+\s+node ([0-9a-f]{56})\s*$", logs,
                             re.MULTILINE))
    assert set(placed) == {"worker:0", "worker:1"}, f"no worker placement in the logs:\n{logs}"
    assert set(placed.values()) == nodes, (
        f"the workers ran on {placed}, the cluster's nodes are {nodes}")
    assert "workers: 2 on 2 nodes" in logs

    # ... and the job reported a test accuracy (2 epochs: well above chance, 10%).
    m = re.search(r"^test accuracy: (\d+\.\d+)% \((\d+)/(\d+) held-out", logs, re.MULTILINE)
    assert m, f"no test accuracy in the logs:\n{logs}"
    assert 50.0 < float(m.group(1)) <= 100.0, m.group(0)

    # Nothing the cluster started talks to anything but this machine (`ss`), and the
    # dashboard (the job API) listens on 127.0.0.1 only.
    pids = cluster_pids(cluster["dir"])
    assert pids, "found none of the cluster's processes"
    local = _local_addresses()
    sockets = _sockets(pids)
    assert sockets, "ss shows no sockets of the cluster's processes"
    remote = [row for row in sockets if not _is_local(row[3], local)]
    assert not remote, f"cluster processes connected off this machine: {remote}"
    dashboard = {row[1] for row in sockets
                 if row[0] == "LISTEN" and row[2] == str(cluster["dashboard_port"])}
    assert dashboard == {"127.0.0.1"}, (
        f"the dashboard listens on {dashboard}, expected 127.0.0.1 only")

    print(json.dumps({"cluster_start_s": round(cluster["start_s"], 1),
                      "job_s": round(job_s, 1), "accuracy": m.group(1)}))


# ---- a worker killed mid-run ---------------------------------------------------------------------

def read_checkpoint(directory) -> dict:
    """Every entry of a checkpoint, a tensor's as its bytes (read into the driver)."""
    import distgrad as dg
    import distgrad.distributed.checkpoint as dcp
    from distgrad import dtypes

    out = {}
    for e in dcp.read_manifest(directory)["entries"]:
        key = json.dumps(e["path"])
        if "value" in e:
            out[key] = e["value"]
            continue
        t = dg.zeros(e["shape"], dtype=dtypes.from_name(e["dtype"]))
        state = node = {}
        for k in e["path"][:-1]:
            node = node.setdefault(k, {})
        node[e["path"][-1]] = t
        dcp.load(state, checkpoint_id=directory)
        out[key] = (e["dtype"], t.numpy().tobytes())
    return out


class KillWhenReported:
    """Listens on 127.0.0.1 for the worker the job pauses (--test-pause-at), and SIGKILLs
    it while it waits there: by the pid the runtime gave for it in the job's log
    (stats(), "worker:1  pid N"), checked against the pid the worker reports."""

    def __init__(self, worker: str):
        self.worker = worker
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = ["127.0.0.1", self.server.getsockname()[1]]
        self.pids: dict = {}  # from the job's log, as it comes
        self.report = self.killed = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def on_line(self, line: str) -> None:
        m = re.match(r"^\s+(worker:\d+)\s+pid (\d+)\s+node", line)
        if m:
            self.pids.setdefault(m.group(1), int(m.group(2)))

    def _run(self):
        try:
            self.server.settimeout(JOB_HANG_S)  # (the job starts its workers first)
            conn, _ = self.server.accept()
            with conn, conn.makefile("rb") as f:
                self.report = json.loads(f.readline())
                deadline = time.monotonic() + 60  # the log line is printed before training
                while self.worker not in self.pids and time.monotonic() < deadline:
                    time.sleep(0.1)
                pid = self.pids.get(self.worker)
                if pid != self.report["pid"]:
                    raise AssertionError(f"the runtime gave pid {pid} for {self.worker}, "
                                         f"the paused worker reports {self.report}")
                os.kill(pid, signal.SIGKILL)
                self.killed = pid
        except BaseException as e:  # the test sees it at join()
            self.error = e
        finally:
            self.server.close()

    def join(self) -> int:
        self.thread.join(60)
        if self.error is not None:
            raise self.error
        assert self.killed is not None, "the worker was not killed"
        return self.killed


def test_train_job_survives_a_worker_killed_mid_run(cluster, plain_job):
    killer = KillWhenReported("worker:1")
    # worker:1 pauses as it sends its first tensor of step KILL_STEP + 1 (its backward's
    # gradient to worker:0), reports here and is killed there.
    pause = {"step": KILL_STEP, "worker": "worker:1", "phase": "send",
             "report_to": killer.address}
    ckpt = os.path.join(cluster["dir"], "ckpt-killed")
    logs, job_s = _submit(cluster, f"distgrad-e2e-kill-{uuid.uuid4().hex[:8]}", *TRAIN,
                          "--checkpoint-dir", ckpt, "--max-restarts", "1",
                          "--test-pause-at", json.dumps(pause), on_line=killer.on_line)
    killed = killer.join()
    assert (killer.report["worker"], killer.report["phase"]) == (1, "send"), killer.report

    # The job's log shows the death, the restart and the steps done again ...
    assert re.search(rf"^worker:1 failed in step {KILL_STEP + 1} \(epoch 1, step {KILL_STEP + 1}/23\): "
                     rf"WorkerDiedError: worker:1 died \(pid {killed}, ", logs, re.MULTILINE), logs
    m = re.search(r"^restart 1/1: replaced worker:1 \(now pid (\d+)\); loaded the checkpoint of "
                  rf"step 8 from {re.escape(ckpt)}; steps 9-{KILL_STEP} are done again$", logs,
                  re.MULTILINE)
    assert m and int(m.group(1)) != killed, logs
    assert f"restarts: 1 ({KILL_STEP - 8} steps done again)" in logs

    # ... and it ends with the uninterrupted job's accuracy, parameters and optimizer state.
    assert _accuracy_line(logs) == _accuracy_line(plain_job["logs"])
    got, want = read_checkpoint(ckpt), read_checkpoint(plain_job["checkpoint"])
    assert got.keys() == want.keys() and any("momentum_buffer" in k for k in want)
    assert [k for k in want if got[k] != want[k]] == []
    print(json.dumps({"killed_job_s": round(job_s, 1), "plain_job_s": round(plain_job["job_s"], 1),
                      "accuracy": _accuracy_line(logs)}))
