"""`python -m distgrad train` survives a worker killed mid-step: it replaces the worker, loads
the last checkpoint and ends with exactly the parameters, optimizer state and losses of an
uninterrupted run (compared bit for bit through the two runs' final checkpoints).

The worker is killed where it says it is: the job is told (--test-pause-at) to pause
worker:1 as it sends its first tensor of a step (its backward's gradient to worker:0:
forward done, backward half done, no optimizer update yet), the worker reports to a
listener here and waits, and is killed there: SIGKILL of the pid it reports (Ray), or
on the in-process backend `LocalEndpoint.kill`, which stands in for it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import threading

import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp
from distgrad import cli, dtypes
from watchdog import START_TIMEOUT_S, PhaseGate, within

pytestmark = pytest.mark.cluster

HANG_LIMIT_S = 600.0  # a run that takes longer has hung (two Ray worker starts included)
TRAIN = ["train", "--epochs", "2", "--hidden", "16", "--batch-size", "128", "--no-progress",
         "--checkpoint-every", "4"]
KILL_STEP = 6  # steps done when worker:1 is killed: checkpoint 4 is the last, 5-6 are redone


@pytest.fixture
def no_runtime(backend_name):
    """The job starts its own workers (on the session's Ray, for "ray")."""
    if dist.is_initialized():
        dist.shutdown()
    yield backend_name
    if dist.is_initialized():
        dist.shutdown()


def _run(argv, capsys):
    code = within(HANG_LIMIT_S, cli.main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def _train(backend, tmp_path, name, capsys, *extra):
    ckpt = tmp_path / name
    # A Ray worker's start (init's, and a restart's) gets the suite's time for it: the
    # job's default, 120 s, is for a user's machine, and a loaded one has taken more.
    start = ["--timeout", str(START_TIMEOUT_S)] if backend == "ray" else []
    argv = TRAIN + ["--backend", backend, "--checkpoint-dir", str(ckpt),
                    "--plot", str(tmp_path / f"{name}.png"), *start, *extra]
    code, out, err = _run(argv, capsys)
    assert code == 0, f"{out}\n{err}"
    return ckpt, out


def read_checkpoint(directory) -> dict:
    """Every entry of a checkpoint, a tensor's as its bytes (loaded into the driver)."""
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


class KillAtReport:
    """Kills the worker that reports to `gate`, in the phase it reports from: by its pid
    (a Ray worker), or LocalEndpoint.kill (the in-process backend)."""

    def __init__(self, gate: PhaseGate, backend: str):
        self.report = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(gate, backend), daemon=True)
        self.thread.start()

    def _run(self, gate, backend):
        try:
            self.report = gate.wait(HANG_LIMIT_S)
            if backend == "ray":
                os.kill(self.report["pid"], signal.SIGKILL)
            else:
                dist.current().endpoint.kill(self.report["worker"])
                gate.release()
        except BaseException as e:  # the test sees it at join()
            self.error = e

    def join(self) -> dict:
        self.thread.join(HANG_LIMIT_S)
        if self.error is not None:
            raise self.error
        return self.report


def _pids(out: str) -> dict:
    return {w: int(p) for w, p in re.findall(r"^\s+(worker:\d+)\s+pid (\d+)", out, re.M)}


def test_a_worker_killed_mid_step_is_replaced_and_the_run_ends_as_if_it_was_not(
        no_runtime, tmp_path, capsys):
    backend = no_runtime
    reference, ref_out = _train(backend, tmp_path, "uninterrupted", capsys)
    gate = PhaseGate()
    try:
        killer = KillAtReport(gate, backend)
        pause = {"step": KILL_STEP, "worker": "worker:1", "phase": "send",
                 "report_to": list(gate.address)}
        killed, out = _train(backend, tmp_path, "killed", capsys, "--max-restarts", "1",
                             "--test-pause-at", json.dumps(pause))
        report = killer.join()
    finally:
        gate.close()
    assert (report["worker"], report["phase"]) == (1, "send"), report
    if backend == "ray":  # the pid the runtime gave for worker:1 is the one that was killed
        assert report["pid"] == _pids(out)["worker:1"], (report, out)
    # The log shows the failure, the restart and the steps done again.
    assert re.search(rf"^worker:1 failed in step {KILL_STEP + 1} \(epoch 1, step {KILL_STEP + 1}/\d+\): "
                     r"WorkerDiedError: worker:1 ", out, re.M), out
    m = re.search(r"^restart 1/1: replaced worker:1 \(now pid (\d+)\); loaded the checkpoint of "
                  rf"step 4 from {re.escape(str(killed))}; steps 5-{KILL_STEP} are done again$",
                  out, re.M)
    assert m, out
    if backend == "ray":
        assert int(m.group(1)) != report["pid"]
    assert f"restarts: 1 ({KILL_STEP - 4} steps done again)" in out
    # The same run: parameters, momentum, losses and accuracies, bit for bit.
    got, want = read_checkpoint(killed), read_checkpoint(reference)
    assert got.keys() == want.keys()
    assert any("momentum_buffer" in k for k in want), sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    final = r"^test accuracy: .*held-out images\)"
    assert re.search(final, out, re.M).group(0) == re.search(final, ref_out, re.M).group(0)
    print(f"\n[train recovery, {backend}]\n{out}")


# ---- --resume and --max-restarts (the in-process backend: no process needs to die) ------------

@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """An uninterrupted run on the in-process backend: its final checkpoint and output."""
    if dist.is_initialized():
        dist.shutdown()
    tmp = tmp_path_factory.mktemp("reference")
    argv = TRAIN + ["--backend", "local", "--checkpoint-dir", str(tmp / "ckpt"),
                    "--plot", str(tmp / "curve.png")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert within(HANG_LIMIT_S, cli.main, argv) == 0
    return tmp / "ckpt", out.getvalue()


def _local(tmp_path, name, capsys, *extra):
    if dist.is_initialized():
        dist.shutdown()
    argv = TRAIN + ["--backend", "local", "--checkpoint-dir", str(tmp_path / name),
                    "--plot", str(tmp_path / f"{name}.png"), *extra]
    return _run(argv, capsys)


def _same_run(directory, reference) -> None:
    got, want = read_checkpoint(directory), read_checkpoint(reference)
    assert got.keys() == want.keys()
    assert [k for k in want if got[k] != want[k]] == []


def test_a_run_stopped_at_its_first_failure_resumes_from_its_checkpoint(local_reference,
                                                                        tmp_path, capsys):
    reference, _ = local_reference
    gate = PhaseGate()
    try:
        killer = KillAtReport(gate, "local")
        pause = {"step": KILL_STEP, "worker": "worker:1", "phase": "send",
                 "report_to": list(gate.address)}
        code, out, err = _local(tmp_path, "ckpt", capsys, "--test-pause-at", json.dumps(pause))
        killer.join()
    finally:
        gate.close()
    assert code == 1, out
    assert (f"distgrad train: error: worker:1 failed (WorkerDiedError) and the run has used its "
            f"--max-restarts 0; resume it from {tmp_path / 'ckpt'} with --resume") in err, err
    assert "test accuracy:" not in out
    code, out, err = _local(tmp_path, "ckpt", capsys, "--resume")
    assert code == 0, err
    assert f"resume: loaded the checkpoint of step 4 (epoch 1, step 4/12) from " \
           f"{tmp_path / 'ckpt'}" in out, out
    _same_run(tmp_path / "ckpt", reference)


def test_resume_trains_on_for_more_epochs(local_reference, tmp_path, capsys):
    reference, ref_out = local_reference
    epochs = TRAIN.index("--epochs") + 1
    one_epoch = TRAIN[:epochs] + ["1"] + TRAIN[epochs + 1:]
    if dist.is_initialized():
        dist.shutdown()
    argv = one_epoch + ["--backend", "local", "--checkpoint-dir", str(tmp_path / "ckpt"),
                        "--plot", str(tmp_path / "one.png")]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    code, out, err = _local(tmp_path, "ckpt", capsys, "--resume")  # --epochs 2
    assert code == 0, err
    assert "resume: loaded the checkpoint of step 12 (end of epoch 1)" in out, out
    assert "epoch 1/2" not in out and "epoch 2/2: loss" in out
    _same_run(tmp_path / "ckpt", reference)
    final = r"^test accuracy: .*held-out images\)"
    assert re.search(final, out, re.M).group(0) == re.search(final, ref_out, re.M).group(0)


def test_resume_refuses_another_runs_checkpoint(local_reference, tmp_path, capsys):
    code, out, err = _local(tmp_path, "ckpt", capsys, "--epochs", "1")
    assert code == 0, err
    code, out, err = _local(tmp_path, "ckpt", capsys, "--resume", "--hidden", "8", "--lr", "0.5")
    assert code == 1
    assert (f"distgrad train: error: the checkpoint in {tmp_path / 'ckpt'} is of another run "
            "(--hidden 16 there, 8 here; --lr 0.1 there, 0.5 here)") in err, err


def test_a_stuck_worker_is_replaced_after_the_call_timeout(ray_session, tmp_path, capsys):
    """worker:1 stays paused (its test hook is never released): the job's wait for it
    ends after --call-timeout with TimeoutError, and it is replaced as a dead one is."""
    if dist.is_initialized():
        dist.shutdown()
    reference, ref_out = _train("ray", tmp_path, "uninterrupted", capsys)
    gate = PhaseGate()
    reports = []
    listener = threading.Thread(target=lambda: reports.append(gate.wait(HANG_LIMIT_S)),
                                daemon=True)
    listener.start()
    try:
        pause = {"step": KILL_STEP, "worker": "worker:1", "phase": "send",
                 "report_to": list(gate.address)}
        # A deadline, not a measurement: a wait this long for a healthy worker would be one
        # more restart, and the run would still have to end as the reference.
        stuck, out = _train("ray", tmp_path, "stuck", capsys, "--max-restarts", "3",
                            "--call-timeout", "5", "--test-pause-at", json.dumps(pause))
        listener.join(HANG_LIMIT_S)
    finally:
        gate.close()
        if dist.is_initialized():
            dist.shutdown()
    assert reports and reports[0]["worker"] == 1, reports
    assert re.search(rf"^worker:1 failed in step {KILL_STEP + 1} \(epoch 1, step {KILL_STEP + 1}/\d+\): "
                     r"TimeoutError: worker:1 did not answer within 5.0 s", out, re.M), out
    # (which restart: a loaded machine may have made a healthy wait exceed the deadline
    # before, one more restart, as the comment above allows)
    assert re.search(r"^restart [123]/3: replaced worker:1 \(now pid \d+\); loaded the checkpoint of "
                     r"step 4 ", out, re.M), out
    assert not os.path.exists(f"/proc/{reports[0]['pid']}/status") or \
        "\nState:\tZ" in open(f"/proc/{reports[0]['pid']}/status").read()  # it was killed
    _same_run(stuck, reference)


def test_resume_refuses_a_checkpoint_past_the_last_epoch(local_reference, tmp_path, capsys):
    reference, _ = local_reference
    shutil.copytree(reference, tmp_path / "ckpt")  # 2 epochs done
    code, out, err = _local(tmp_path, "ckpt", capsys, "--epochs", "1", "--resume")
    assert code == 1
    assert (f"distgrad train: error: the checkpoint in {tmp_path / 'ckpt'} is of step 24, past "
            "the end of --epochs 1 (12 steps)") in err, err


def test_the_in_process_stand_in_for_a_killed_worker(switch_runtime):
    """LocalEndpoint.kill, which the in-process tests above kill a worker with, fails as a
    killed Ray worker does: its tensors, new work on it and its peers' waits for it raise
    WorkerDiedError naming it, stats() says it is dead, restart_worker replaces it."""
    switch_runtime("local", 2)
    a = dg.ones(3, device="worker:0")
    b = dg.ones(3, device="worker:1") * 2
    dist.current().endpoint.kill(1)
    for read in (b.tolist, lambda: (b.to("worker:0") + a).tolist(),
                 lambda: dg.ones(2, device="worker:1").tolist()):
        with pytest.raises(dist.WorkerDiedError, match="worker:1 died") as info:
            read()
        assert info.value.worker == "worker:1"
    assert dist.stats()["worker:1"]["dead"] is True
    assert a.tolist() == [1.0] * 3
    dist.restart_worker(1)
    c = dg.ones(3, device="worker:1")
    assert (c.to("worker:0") + a).to("worker:1").tolist() == [2.0] * 3
    assert not dist.stats()["worker:1"].get("dead")
    dist.shutdown()


def test_a_sharded_run_killed_mid_step_ends_as_if_it_was_not(tmp_path, capsys):
    """--sharded: every layer (and its momentum) split over both workers."""
    if dist.is_initialized():
        dist.shutdown()
    reference, ref_out = _train("local", tmp_path, "uninterrupted", capsys, "--sharded")
    gate = PhaseGate()
    try:
        killer = KillAtReport(gate, "local")
        pause = {"step": KILL_STEP, "worker": "worker:1", "phase": "send",
                 "report_to": list(gate.address)}
        killed, out = _train("local", tmp_path, "killed", capsys, "--sharded", "--max-restarts",
                             "1", "--test-pause-at", json.dumps(pause))
        killer.join()
    finally:
        gate.close()
    assert "each split over worker:0, worker:1" in out
    assert re.search(r"^restart 1/1: replaced worker:1 .* loaded the checkpoint of step 4 ", out,
                     re.M), out
    _same_run(killed, reference)
