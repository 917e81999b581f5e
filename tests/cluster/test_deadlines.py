"""Every wait for a worker has a deadline: a worker that is alive but stuck (here stopped
with SIGSTOP, found by the pid the runtime reports) makes a read raise TimeoutError
naming it and what it was running, after init's call_timeout_s (or the thread's own
`call_timeout`); the other workers go on, and `restart_worker(k)` replaces the stuck one.
Ray only: a stuck process needs processes."""
from __future__ import annotations

import os
import signal
import time

import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import WorkerDiedError
from distgrad.distributed.testhooks import fail_at, limit_allocations, pause_at
from watchdog import START_TIMEOUT_S, PhaseGate, process_alive, started, wait_stopped, within

pytestmark = pytest.mark.cluster

HANG_LIMIT_S = 90.0  # a call that takes longer than this has hung
CALL_TIMEOUT_S = 2.0


@pytest.fixture(params=[False])
def stoppable(ray_session, request):
    """A fresh two-worker Ray runtime with a short call timeout (and the workers' test hooks
    if the test asks for them: `@pytest.mark.parametrize("stoppable", [True], indirect=True)`);
    `stop(k)` SIGSTOPs worker k. Afterwards every stopped process is continued and
    killed, and a default runtime is back."""
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", call_timeout_s=CALL_TIMEOUT_S, test_hooks=request.param,
              timeout_s=START_TIMEOUT_S)
    stopped = []

    def stop(k):
        pid = healthy(dist.stats)[f"worker:{k}"]["pid"]
        stopped.append(pid)
        os.kill(pid, signal.SIGSTOP)
        wait_stopped(pid)
        return pid

    yield stop
    _end_stopped(stopped)
    dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)


def _end_stopped(pids) -> None:
    """Continue and kill each process a test stopped (if it is still there)."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def healthy(fn, *args):
    """fn's result, given a worker's whole deadline: for calls that a loaded machine may
    make slow but that must not fail (init's call timeout is kept short for the stuck ones)."""
    def call():
        with dist.call_timeout(HANG_LIMIT_S / 2):
            return fn(*args)

    return within(HANG_LIMIT_S, call)


def _gone(pid) -> bool:
    t0 = time.monotonic()
    while process_alive(pid) and time.monotonic() - t0 < HANG_LIMIT_S:
        time.sleep(0.05)
    return not process_alive(pid)


def test_a_read_of_a_stuck_worker_times_out_and_the_worker_can_be_restarted(stoppable):
    a = dg.ones(3, device="worker:0")
    b = dg.ones(3, device="worker:1") * 2
    assert healthy(b.tolist) == [2.0, 2.0, 2.0]
    pid = stoppable(1)
    with pytest.raises(TimeoutError) as info:
        within(HANG_LIMIT_S, lambda: (b * 3).sum().item())
    msg = str(info.value)
    assert "worker:1" in msg and f"{CALL_TIMEOUT_S} s" in msg, msg
    assert "mul" in msg and "sum" in msg, msg  # what it was running
    assert "restart_worker(1)" in msg, msg
    # the other worker is not affected
    assert healthy(lambda: (a * 2).sum().item()) == 6.0
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    assert _gone(pid), "the stuck process outlived its restart"
    # its tensors are lost, and say so; the new worker 1 works, with worker 0 too
    with pytest.raises(WorkerDiedError, match="worker:1 was restarted"):
        healthy(b.tolist)
    c = healthy(lambda: ((a.to("worker:1") * 2).to("worker:0") + a).tolist())
    assert c == [3.0, 3.0, 3.0]
    s = healthy(dist.stats)
    assert s["worker:1"]["pid"] != pid and not s["worker:1"].get("dead")
    assert healthy(a.tolist) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("stoppable", [True], indirect=True)
def test_a_new_process_that_does_not_start_in_time_fails_as_inits_workers_do(stoppable,
                                                                             monkeypatch):
    """restart_worker gives the new process init's timeout_s (or its own) to start: one
    held as it starts raises init's TimeoutError naming the worker, which then stays dead
    (not half replaced) until a restart succeeds."""
    a = dg.ones(3, device="worker:0")
    healthy(a.tolist)
    gate = PhaseGate()
    try:
        pause_at("worker:1", "start", report_to=gate.address)
        with pytest.raises(TimeoutError) as info:
            within(HANG_LIMIT_S, dist.restart_worker, 1, timeout_s=1)
        msg = str(info.value)
        assert "restart_worker: worker:1's new process did not start within timeout_s=1" in msg
        assert "Allow a larger timeout_s (a worker process takes a second or more" in msg, msg
        with pytest.raises(WorkerDiedError, match="worker:1 is not running: its restart failed"):
            healthy(lambda: dg.ones(2, device="worker:1").sum().item())
        assert healthy(lambda: (a * 2).sum().item()) == 6.0
    finally:
        gate.close()
    given = []  # without timeout_s, init's
    restart = dist.current().endpoint.restart
    monkeypatch.setattr(dist.current().endpoint, "restart",
                        lambda k, timeout_s: (given.append(timeout_s), restart(k, timeout_s)))
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    assert given == [START_TIMEOUT_S]
    assert healthy(lambda: (a.to("worker:1") * 2).to("worker:0").tolist()) == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("stoppable", [True], indirect=True)
def test_a_run_sent_as_a_peer_takes_in_the_new_process_sends_to_it(stoppable):
    """restart_worker returns once the new process has connected from its side; worker 0
    takes that connection in on a thread of its own, held here until the driver has sent it
    a run that sends to worker 1. The send waits for the new process's connection. (Before,
    it went into the old process's connection and was lost, and the runs of both workers
    waited for each other until the call timeout.)"""
    a = dg.ones(3, device="worker:0")
    healthy(a.tolist)
    stoppable(1)
    gate = PhaseGate()
    try:
        pause_at("worker:0", "rejoin", report_to=gate.address)
        within(HANG_LIMIT_S, dist.restart_worker, 1)
        assert gate.wait()["worker"] == 0  # the new connection is not taken in yet
        c = (a.to("worker:1") * 2).to("worker:0") + a
        dist.current().flush_all()
        gate.release()
        assert healthy(c.tolist) == [3.0, 3.0, 3.0]
    finally:
        gate.close()


def test_a_run_waiting_for_a_stuck_worker_times_out_and_fails_after_its_restart(stoppable):
    a = dg.ones(3, device="worker:0")
    b = dg.ones(3, device="worker:1")
    healthy(b.tolist), healthy(a.tolist)
    stoppable(1)
    y = b.to("worker:0") * 2  # worker 0's run waits for worker 1's tensor
    z = a * 7  # in the same run, needs nothing from worker 1
    with pytest.raises(TimeoutError) as info:
        within(HANG_LIMIT_S, y.tolist)
    msg = str(info.value)
    assert "worker:0" in msg and "recv from worker:1" in msg, msg
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    with pytest.raises(WorkerDiedError, match="worker:1"):
        healthy(y.tolist)
    assert healthy(z.tolist) == [7.0, 7.0, 7.0]


def test_call_timeout_and_synchronize_timeout_are_per_call(stoppable):
    dist.shutdown()
    # no default limit: each call sets one (and the workers' start the suite's time)
    dist.init(2, backend="ray", call_timeout_s=None, timeout_s=START_TIMEOUT_S)
    b = dg.ones(3, device="worker:1")
    b.tolist()
    stoppable(1)
    def read_with_a_limit():
        with dist.call_timeout(1.0):  # this thread's own limit
            return (b + 1).tolist()

    with pytest.raises(TimeoutError, match="worker:1"):
        within(HANG_LIMIT_S, read_with_a_limit)
    with pytest.raises(TimeoutError, match="worker:1"):
        within(HANG_LIMIT_S, dist.synchronize, timeout=1.0)
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    assert within(HANG_LIMIT_S, lambda: dg.ones(2, device="worker:1").sum().item()) == 2.0


@pytest.mark.parametrize("stoppable", [True], indirect=True)
def test_setting_a_stuck_workers_test_hooks_times_out(stoppable):
    """A test hook set on a stuck worker waits for it as any call does: TimeoutError
    naming it after the call timeout (before, the driver waited for ever)."""
    stoppable(1)
    for arm in (lambda: limit_allocations("worker:1", 1 << 20),
                lambda: fail_at("worker:1", "op")):
        with pytest.raises(TimeoutError, match="worker:1 did not answer within"):
            within(HANG_LIMIT_S, arm)
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    assert healthy(lambda: dg.ones(2, device="worker:1").sum().item()) == 2.0


@pytest.mark.parametrize("how", ["save", "async_save"])
def test_a_checkpoint_of_a_stuck_worker_times_out(stoppable, tmp_path, how):
    """A distributed checkpoint waits for each worker's write within the call timeout, as a
    read does: a stuck worker makes it raise TimeoutError naming the worker. (Its tensors
    are all on the stuck worker: a healthy one's write, on a loaded machine, may itself
    take longer than the short call timeout.)"""
    import distgrad.distributed.checkpoint as dcp

    state = {"a": dg.ones(3, device="worker:1"), "b": dg.ones(2, device="worker:1")}
    healthy(state["b"].sum().item)
    stoppable(1)
    save = (lambda: dcp.save(state, checkpoint_id=tmp_path / "c")) if how == "save" else \
        (lambda: dcp.async_save(state, checkpoint_id=tmp_path / "c").result())
    with pytest.raises(TimeoutError, match="worker:1"):
        within(HANG_LIMIT_S, save)


@pytest.mark.parametrize("stoppable", [True], indirect=True)
def test_a_run_sent_before_a_restart_does_not_wait_for_the_new_process(stoppable):
    """Worker 0 starts a run that waits for worker 1's tensor only after worker 1 was
    restarted (it was busy), while the new worker 1 waits for worker 0: the run was sent
    for the old process, so its receive fails at once (WorkerDiedError when read), and
    worker 0 goes on to the run the new worker 1 waits for. (Before, it waited for the new
    process, which waited for it: both waited for ever.)"""
    a = dg.ones(3, device="worker:0")
    b = dg.ones(3, device="worker:1")
    healthy(b.tolist), healthy(a.tolist)
    gate = PhaseGate()
    try:
        pause_at("worker:0", "run", report_to=gate.address)
        stoppable(1)  # its send of b never happens
        y = b.to("worker:0") * 2  # worker 0's run waits for b
        dist.current().flush_all()
        assert gate.wait()["worker"] == 0  # worker 0 holds there, before that run
        within(HANG_LIMIT_S, dist.restart_worker, 1)
        z = a.to("worker:1") * 3  # the new worker 1 waits for worker 0's next run
        dist.current().flush_all()
        gate.release()
        assert healthy(z.tolist) == [3.0, 3.0, 3.0]
        with pytest.raises(WorkerDiedError, match="worker:1"):
            healthy(y.tolist)
    finally:
        gate.close()


# How long a new process holds its hello to a peer below: longer than a peer that says it
# at once takes (the deadline used to be 0.5 s), as a loaded machine or a pause of the
# process may make it. A lower bound: a slower machine only makes the stall longer.
HELLO_STALL_S = 1.5


@pytest.mark.parametrize("stoppable", [True], indirect=True)
def test_a_new_process_slow_to_say_hello_joins_and_a_dead_one_fails_the_restart(stoppable):
    """A restarted process connects to worker 0 and stalls before its hello (held in the
    "hello" phase): worker 0 waits for it as long as the runtime gives a worker to start,
    and the restart succeeds. One killed there fails the restart at once, in init's words
    (before, Ray's own ActorDiedError came out of restart_worker)."""
    a = dg.ones(3, device="worker:0")
    healthy(a.tolist)
    for outcome in ("slow", "dead"):
        gate = PhaseGate()
        try:
            pause_at("worker:1", "hello", report_to=gate.address)
            restart = started(HANG_LIMIT_S, dist.restart_worker, 1)
            report = gate.wait(HANG_LIMIT_S)  # connected to worker 0, its hello held
            if outcome == "slow":
                time.sleep(HELLO_STALL_S)
                gate.release()
                restart()
                assert healthy(lambda: (a.to("worker:1") * 2).to("worker:0").tolist()) == \
                    [2.0, 2.0, 2.0]
            else:
                os.kill(report["pid"], signal.SIGKILL)
                with pytest.raises(TimeoutError) as info:
                    restart()
                msg = str(info.value)
                assert msg.startswith("distgrad.distributed.restart_worker: worker:1's new "
                                      "process started but did not connect to the other "
                                      "workers within timeout_s="), msg
                assert "(the process died)" in msg, msg
                with pytest.raises(WorkerDiedError, match="its restart failed"):
                    healthy(lambda: dg.ones(2, device="worker:1").sum().item())
        finally:
            gate.close()
    assert healthy(lambda: (a * 2).sum().item()) == 6.0


@pytest.mark.parametrize("where", ["this node", "another node"])
def test_a_failed_restarts_process_has_ended_when_the_next_restart_returns(stoppable,
                                                                         monkeypatch, where):
    """A restart fails after its new process started and joined the others (here the
    driver's connection to it fails, and the process is stopped, so Ray's request to exit
    is not acted on): the next restart ends it before it starts another, so worker 1 never
    has two processes at once. (Before, the next restart started its process at once,
    next to the stopped one, still connected to worker 0 as worker 1, until Ray's kill of
    it, sent from a thread, got round to a SIGKILL; a process on another node, as the
    driver sees them here, was not waited for at all, only refused by its peers.)"""
    from distgrad.distributed import runtime

    if where == "another node":  # the workers' processes are out of the driver's reach
        monkeypatch.setattr(runtime, "_local_node_id", lambda: "the driver's node")
    a = dg.ones(3, device="worker:0")
    healthy(a.tolist)
    failed = []

    def stop_it_and_fail(actors, replies, secret, timeout_s, indices=None):
        failed.append(replies[0]["pid"])
        os.kill(failed[0], signal.SIGSTOP)
        wait_stopped(failed[0])
        raise OSError("the driver cannot reach it (a test's failure)")

    try:
        with monkeypatch.context() as failing, pytest.raises(
                TimeoutError, match="worker:1's new process started but did not connect.*"
                                    "the driver cannot reach it"):
            failing.setattr(runtime, "_open_links", stop_it_and_fail)
            within(HANG_LIMIT_S, dist.restart_worker, 1)
        endpoint = dist.current().endpoint
        make_actor, alive_at_start = endpoint.make_actor, []
        monkeypatch.setattr(endpoint, "make_actor", lambda *a: (
            alive_at_start.append(process_alive(failed[0])), make_actor(*a))[1])
        within(HANG_LIMIT_S, dist.restart_worker, 1)
        assert alive_at_start == [False], "the failed restart's process ran as the next started"
        assert healthy(lambda: (a.to("worker:1") * 2).to("worker:0").tolist()) == [2.0] * 3
    finally:
        _end_stopped(failed)


def test_a_restarted_workers_death_is_named_as_its_own(stoppable):
    """The driver's connection to a restarted worker 1 carries its number: when the new
    process dies, reads name worker:1. (Before, the connection was numbered 0, as the
    first of the list it was opened in, and the death was reported as worker:0's.)"""
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    b = dg.ones(3, device="worker:1")
    healthy(b.tolist)
    os.kill(healthy(dist.stats)["worker:1"]["pid"], signal.SIGKILL)
    with pytest.raises(WorkerDiedError) as info:
        healthy(lambda: (b * 2).tolist())
    assert info.value.index == 1 and str(info.value).startswith("worker:1 died"), info.value
