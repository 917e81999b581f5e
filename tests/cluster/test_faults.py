"""Faults: a worker killed mid-run, the driver killed, a cluster that is not there.

Death is Ray-only by nature: each test takes a fresh two-worker Ray runtime with the
workers' test hooks on, kills a worker by the pid `stats()` gives (SIGKILL), and checks that
  - the driver gets WorkerDiedError naming that worker before the call's own deadline
    (call_timeout, set by the test: a death missed would be a TimeoutError instead), and
    never hangs; how long it took is printed (run with -s), not asserted: it depends on
    the machine;
  - the surviving worker keeps nothing of the interrupted graph (stats());
  - shutdown() then init() gives working workers again in the same process.
A worker is killed mid-run where it says it is: it is told to pause as it enters a phase
(testhooks.pause_at: an op of its forward, backward or optimizer run), reports that it is
there, and is killed while it waits, so the kill never races the run however fast or
slow the machine is.
"""
from __future__ import annotations

import gc
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import WorkerDiedError
from distgrad.distributed.testhooks import pause_at
from watchdog import START_TIMEOUT_S, Killer, PhaseGate, process_alive, within

pytestmark = pytest.mark.cluster

# The deadline each call that meets a dead worker is given (call_timeout): its death must
# be reported before it, as WorkerDiedError (detected as the worker's connection closes),
# not as the TimeoutError of a worker that did not answer.
CALL_DEADLINE_S = 60.0
HANG_LIMIT_S = 2 * CALL_DEADLINE_S  # a call that takes longer than this has hung
N = 1000  # matmul size


@pytest.fixture
def ray2(ray_session, switch_runtime):
    """A fresh two-worker Ray runtime; afterwards a healthy one (these tests kill workers)."""
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", test_hooks=True, timeout_s=START_TIMEOUT_S)
    yield dist.current()
    dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)


@pytest.fixture
def gate():
    g = PhaseGate()
    yield g
    g.close()


def _kill_in(gate, worker, phase, name=None) -> Killer:
    """Pause `worker` as a run it is sent from now on enters `phase`, and kill it there.
    (Call it with nothing queued for the worker: what is queued goes with its next run.)"""
    pid = dist.stats()[worker]["pid"]
    pause_at(worker, phase, name=name, report_to=gate.address)
    return Killer(pid, gate=gate)


def _counts(worker: str):
    s = dist.stats()[worker]
    return s["tensors"], s["nodes"]


def _expect_death(fn, killer: Killer, worker: str = "worker:1", phase=None) -> float:
    """Run fn (which must raise WorkerDiedError for `worker`, killed in `phase` if given);
    seconds from kill to raise."""
    with pytest.raises(WorkerDiedError) as info:
        within(HANG_LIMIT_S, _before_deadline, fn)
    raised = time.monotonic()
    killed = killer.join()
    if phase is not None:
        assert (killer.report["worker"], killer.report["phase"]) == (int(worker[7:]), phase[0])
        assert phase[1] in (None, killer.report["name"]), killer.report
    err = info.value
    assert err.worker == worker and worker in str(err), str(err)
    assert "shutdown()" in str(err) and "init()" in str(err)  # the message names the fix
    del info
    return raised - killed


def _before_deadline(fn):
    """fn() with every wait for a worker bounded by CALL_DEADLINE_S."""
    with dist.call_timeout(CALL_DEADLINE_S):
        return fn()


def _model(batch=64):
    w0 = dg.randn(N, N, device="worker:0", requires_grad=True)
    w1 = dg.randn(N, N, device="worker:1", requires_grad=True)
    x = dg.randn(batch, N, device="worker:0")
    for t in (w0, w1, x):
        t.detach().sum().item()  # placed and flushed
    return w0, w1, x


def _restart_works():
    dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    s = dist.stats()
    assert all(not v.get("dead") for v in s.values())
    a = dg.ones(3, device="worker:0", requires_grad=True)
    b = (a * 2).to("worker:1").sum()
    b.backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0]


def _survivor_clean(baseline, report):
    gc.collect()
    s = dist.stats()
    assert s["worker:1"]["dead"] is True and s["worker:1"]["tensors"] == 0
    assert set(s["worker:0"]) == {"pid", "node", "tensors", "nodes", "bytes", "sent_bytes",
                                  "fallbacks"}
    assert (s["worker:0"]["tensors"], s["worker:0"]["nodes"]) == baseline, (baseline, s)
    report["survivor worker:0 after"] = (s["worker:0"]["tensors"], s["worker:0"]["nodes"])


def _print(case, seconds, report):
    print(f"\n[faults] {case}: WorkerDiedError {seconds * 1000:.0f} ms after SIGKILL; {report}")


def test_death_while_idle(ray2):
    w0, w1, x = _model()
    baseline = _counts("worker:0")
    pid = dist.stats()["worker:1"]["pid"]
    killer = Killer(pid)  # now, while both workers wait for work

    def step():
        h = (x @ w0).tanh().to("worker:1")
        return (h @ w1).sum().item()

    took = _expect_death(step, killer)
    report = {}
    _survivor_clean(baseline, report)
    # the dead worker fails at once from now on: with no time at all to wait for a worker,
    # the call still says it died (it knows without waiting); the survivor still computes
    def read_dead():
        with dist.call_timeout(1e-9):
            return w1.detach().sum().item()

    with pytest.raises(WorkerDiedError, match="worker:1"):
        within(HANG_LIMIT_S, read_dead)
    assert within(HANG_LIMIT_S, lambda: dg.ones(4, device="worker:0").sum().item()) == 4.0
    # dropping the dead worker's tensors is not an error, and work on survivors goes on
    del w1
    gc.collect()
    for _ in range(20):  # more than the unchecked replies a queue lets pile up
        loss = (x @ w0).tanh().sum()
        loss.backward()
    assert within(HANG_LIMIT_S, lambda: w0.grad.abs().sum().item()) > 0
    del loss
    _print("idle", took, report)
    del w0, x
    _restart_works()


def test_death_during_forward(ray2, gate):
    w0, w1, x = _model()
    baseline = _counts("worker:0")
    killer = _kill_in(gate, "worker:1", "op", "mm")  # its forward's first matmul

    def forward():
        h = (x @ w0).tanh().to("worker:1")
        return (h @ w1).sum().item()

    took = _expect_death(forward, killer, phase=("op", "mm"))
    report = {}
    _survivor_clean(baseline, report)
    _print("forward", took, report)
    del w0, w1, x
    _restart_works()


def test_death_during_backward(ray2, gate):
    w0, w1, x = _model(batch=N)
    baseline = _counts("worker:0")
    h = (x @ w0).tanh().to("worker:1")
    for _ in range(6):
        h = (h @ w1 * (1.0 / N)).tanh()
    loss = h.sum()
    within(HANG_LIMIT_S, loss.item)
    assert _counts("worker:0")[1] > baseline[1]  # the graph holds saved state on worker 0
    killer = _kill_in(gate, "worker:1", "op")  # the first op of its backward run

    def backward():
        loss.backward()
        return w0.grad.sum().item()  # needs worker 1's gradient

    took = _expect_death(backward, killer, phase=("op", None))
    del loss, h
    if w0.grad is not None:  # the gradient that was to come from worker:1 is lost, and says so
        with pytest.raises(WorkerDiedError, match="worker:1"):
            within(HANG_LIMIT_S, w0.grad.tolist)
        w0.grad = None
    report = {}
    _survivor_clean(baseline, report)
    _print("backward", took, report)
    del w0, w1, x
    _restart_works()


def test_death_during_optimizer_step(ray2, gate):
    w0, w1, x = _model()
    opt = dg.optim.SGD([w0, w1], lr=1e-3, momentum=0.9)
    loss = ((x @ w0).tanh().to("worker:1") @ w1).pow(2).mean()
    within(HANG_LIMIT_S, loss.backward)
    del loss
    within(HANG_LIMIT_S, lambda: w1.grad.sum().item())
    gc.collect()
    baseline = _counts("worker:0")
    killer = _kill_in(gate, "worker:1", "op")  # the first op of its update

    def step():
        opt.step()  # worker 0 updates w0; worker 1 is killed in its update
        opt.zero_grad()
        return w1.detach().sum().item()

    took = _expect_death(step, killer, phase=("op", None))
    report = {}
    gc.collect()
    s = dist.stats()
    assert s["worker:1"]["dead"] is True
    # worker 0's step finished: it keeps w0, x and w0's momentum buffer, and nothing else
    assert s["worker:0"]["nodes"] == 0
    assert s["worker:0"]["tensors"] <= baseline[0] + 1, (baseline, s)
    report["survivor worker:0 after"] = (s["worker:0"]["tensors"], s["worker:0"]["nodes"])
    _print("optimizer step", took, report)
    del w0, w1, x, opt
    _restart_works()


def test_driver_death_ends_its_workers(ray_session):
    """A second driver joins this session's Ray cluster, starts two workers and is
    SIGKILLed: its workers exit (their memory goes with them). How soon is Ray's (it
    notices the driver's death) and the machine's: printed, and bounded only by
    HANG_LIMIT_S."""
    address = ray_session.get_runtime_context().gcs_address
    code = (
        "import json, sys, time\n"
        "import distgrad as dg, distgrad.distributed as dist\n"
        "dist.init(2, address=sys.argv[1], timeout_s=300, worker_num_cpus=0)\n"
        "x = dg.randn(500, 500, device='worker:0', requires_grad=True)\n"
        "(x @ x.to('worker:0')).sum().backward(retain_graph=True)\n"
        "print(json.dumps([v['pid'] for v in dist.stats().values()]), flush=True)\n"
        "time.sleep(600)\n")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    driver = subprocess.Popen([sys.executable, "-c", code, address], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = within(START_TIMEOUT_S + HANG_LIMIT_S, driver.stdout.readline)
        pids = json.loads(line)
        assert len(pids) == 2 and all(process_alive(p) for p in pids)
        Killer(driver.pid)
        driver.wait(timeout=10)
        killed = time.monotonic()
        while any(process_alive(p) for p in pids) and time.monotonic() - killed < HANG_LIMIT_S:
            time.sleep(0.05)
        gone = time.monotonic() - killed
        assert not any(process_alive(p) for p in pids), f"workers {pids} outlived their driver"
        print(f"\n[faults] driver SIGKILLed: its workers exited after {gone * 1000:.0f} ms")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


# ---- time-outs ---------------------------------------------------------------------------------

@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never says a word (ray.init alone would wait
    there for minutes)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize("kind", ["refused", "refused-client", "silent", "silent-client"])
def test_init_unreachable_address_fails_fast(ray_session, silent_port, kind):
    port = 1 if kind.startswith("refused") else silent_port
    address = ("ray://" if kind.endswith("client") else "") + f"127.0.0.1:{port}"
    if dist.is_initialized():
        dist.shutdown()
    with pytest.raises(ConnectionError, match="could not reach the Ray cluster") as info:
        within(HANG_LIMIT_S, dist.init, 2, address=address, timeout_s=2)
    # init's own check gave up (not ray.init, which waits minutes for a silent address):
    # it names its deadline and why, the refusal or the silence it waited out
    msg = str(info.value)
    assert address in msg and "within timeout_s=2 (" in msg, msg
    assert ("refused" in msg) if kind.startswith("refused") else ("(no answer)" in msg), msg
    assert not dist.is_initialized()


@pytest.mark.parametrize("n, cpus", [(1000, None), (2, 4), (3, 1)])
def test_init_more_workers_than_the_cluster_places_fails_at_once(ray_session, n, cpus):
    if dist.is_initialized():
        dist.shutdown()
    # at once: with a deadline of ten minutes, it does not wait for one
    with pytest.raises(ValueError) as info:
        within(HANG_LIMIT_S, dist.init, n, backend="ray", worker_num_cpus=cpus, timeout_s=600)
    msg = str(info.value)
    assert f"num_workers={n} workers do not fit this Ray cluster" in msg, msg
    assert f"num_cpus={cpus or 0}" in msg and "2 CPUs" in msg and "room for" in msg
    assert "fewer workers" in msg
    assert not dist.is_initialized()
    # nothing was left behind: the cluster's CPUs are free and init works again
    assert ray_session.available_resources().get("CPU") == 2
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    assert dg.ones(2, device="worker:1").sum().item() == 2.0


def test_init_honours_timeout_at_any_worker_count(ray_session):
    """100 workers cannot start in a second on this machine (a Ray worker process takes
    about one): init gives up when timeout_s is up, not after starting all of them.
    (As many as the cluster has room for, up to 100: its memory for tasks, set from the
    memory free when it started, may hold fewer on a busy machine, and init refuses more
    at once.)"""
    from distgrad.distributed import capacity

    if dist.is_initialized():
        dist.shutdown()
    n = min(100, capacity.places(ray_session.nodes(), 0))
    with pytest.raises(TimeoutError, match=f"only (\\d+) of {n} workers started within "
                                           "timeout_s=1") as info:
        within(HANG_LIMIT_S, dist.init, n, backend="ray", timeout_s=1)
    # It gave up with workers still to start (what it does after the deadline, asking the
    # cluster for its CPUs, takes what a loaded machine makes it: not timed here).
    started = int(re.search(r"only (\d+) of", str(info.value)).group(1))
    assert started < n
    assert not dist.is_initialized()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    assert dg.ones(2, device="worker:1").sum().item() == 2.0
