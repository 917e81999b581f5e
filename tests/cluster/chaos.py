"""Chaos: a training run over two Ray workers while workers are SIGKILLed and SIGSTOPped at
random moments (seeded). Every step either completes with exactly the values of an
undisturbed run (the loss, every parameter and Adam's state, bit for bit), or raises
WorkerDiedError / TimeoutError; then the faulted worker is replaced (restart_worker)
and training resumes from the last completed step. No step may hang (a watchdog
watches the run's progress) or give a silently different value. A TimeoutError with no
fault injected (a machine too busy for the deadline) is counted apart, and the step is
done again from the last completed one.

    python tests/cluster/chaos.py          # CHAOS_RUNS runs (default 100), then the figures
(`make chaos`); tests/cluster/test_chaos.py runs a few in the suite.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import WorkerDiedError
from watchdog import START_TIMEOUT_S  # (a restart has it too: the watchdog waits that long)

STEPS = 200
CALL_TIMEOUT_S = 2.0  # a stopped worker is given up on after this
HANG_S = 60.0  # no progress for this long: the run hung
# The watchdog above runs in this process's main thread: if that thread itself cannot run
# (blocked in C with the GIL held), faulthandler's own thread prints every thread's stack
# and ends the process after this long, so no stall goes unreported.
BACKSTOP_S = 5 * HANG_S
FAULTS_PER_RUN = 3
DEVICES = ("worker:0", "worker:1")


# ---- the model: a two-layer net, one layer per worker, trained with Adam ---------------------

def _data(seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {"x": f(32, 16), "y": f(32, 4), "w0": f(16, 32) * 0.3, "w1": f(32, 4) * 0.3}


class Model:
    """Parameters and optimizer state placed on the workers from a checkpoint (numpy)."""

    def __init__(self, data, ckpt):
        put = lambda a, dev, rg=False: dg.tensor(a, device=dev, requires_grad=rg)  # noqa: E731
        self.x, self.y = put(data["x"], DEVICES[0]), put(data["y"], DEVICES[1])
        self.params = [put(ckpt[f"w{k}"], DEVICES[k], True) for k in range(2)]
        self.opt = dg.optim.Adam(self.params, lr=1e-2)
        for k, p in enumerate(self.params):
            if f"step{k}" in ckpt:
                self.opt.state[p] = {"step": put(ckpt[f"step{k}"], DEVICES[k]),
                                     "exp_avg": put(ckpt[f"m{k}"], DEVICES[k]),
                                     "exp_avg_sq": put(ckpt[f"v{k}"], DEVICES[k])}

    def step(self) -> dict:
        """One training step; returns its values, read to the driver."""
        w0, w1 = self.params
        h = (self.x @ w0).tanh().to(DEVICES[1])
        loss = ((h @ w1 - self.y) ** 2).mean()
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        out = {"loss": np.array(loss.item(), dtype=np.float32)}
        for k, p in enumerate(self.params):  # one read per worker: its parameter and state
            s = self.opt.state[p]
            parts = [p.detach(), s["exp_avg"], s["exp_avg_sq"]]
            flat = dg.cat([t.reshape(-1) for t in parts] + [s["step"].reshape(1)]).cpu().numpy()
            n = p.numel()
            out[f"w{k}"] = flat[:n].reshape(p.shape)
            out[f"m{k}"] = flat[n:2 * n].reshape(p.shape)
            out[f"v{k}"] = flat[2 * n:3 * n].reshape(p.shape)
            out[f"step{k}"] = flat[3 * n].copy()
        return out


def reference(data, steps=STEPS) -> list:
    """The values of every step of an undisturbed run (given all the time it needs)."""
    model, out = Model(data, data), []
    with dist.call_timeout(HANG_S):
        for _ in range(steps):
            out.append(model.step())
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---- faults ------------------------------------------------------------------------------------

class Figures:
    def __init__(self):
        self.runs = self.steps = self.kills = self.stops = 0
        self.died = self.timed_out = self.hangs = self.mismatches = self.unexpected = 0
        self.restarts = self.slow = 0
        self.notes: list = []

    def line(self) -> str:
        return (f"runs {self.runs}, steps completed {self.steps}, faults injected "
                f"{self.kills + self.stops} ({self.kills} SIGKILL, {self.stops} SIGSTOP), "
                f"steps failed with WorkerDiedError {self.died} / TimeoutError {self.timed_out}, "
                f"restarts {self.restarts}, TimeoutError with no fault (a slow machine) "
                f"{self.slow}, hangs {self.hangs}, silent mismatches "
                f"{self.mismatches}, unexpected errors {self.unexpected}")


def _pids() -> list:
    s = dist.stats()
    return [s[d]["pid"] for d in DEVICES]


def _signal(pid, sig) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def one_run(seed: int, ref: list, data, figures: Figures, steps=STEPS) -> None:
    """One chaos run (in a thread the caller watches through `progress`)."""
    rng = np.random.default_rng(seed)
    fault_steps = set(rng.choice(np.arange(1, steps), size=FAULTS_PER_RUN, replace=False).tolist())
    stopped: list = []
    ckpt, done = dict(data), 0
    model = Model(data, ckpt)
    pids = _pids()
    outstanding = None  # (worker, kind) of a fault injected and not yet recovered from
    timer = None  # the thread that sends it
    try:
        while done < steps:
            if done in fault_steps and outstanding is None:
                fault_steps.discard(done)
                k = int(rng.integers(2))
                kind = signal.SIGKILL if rng.random() < 0.5 else signal.SIGSTOP
                delay = float(rng.uniform(0.0, 0.03))  # into the step, or just before it
                if kind == signal.SIGSTOP:
                    stopped.append(pids[k])
                    figures.stops += 1
                else:
                    figures.kills += 1
                timer = threading.Timer(delay, _signal, (pids[k], kind))
                timer.start()
                outstanding = k
            try:
                got = model.step()
            except Exception as e:
                if outstanding is None and isinstance(e, TimeoutError):
                    # No fault: the machine was too slow for the deadline. The step did not
                    # complete, as the deadline says; nothing needs restarting.
                    figures.slow += 1
                    model = Model(data, ckpt)
                    continue
                if outstanding is None or not isinstance(e, (WorkerDiedError, TimeoutError)):
                    figures.unexpected += 1
                    figures.notes.append(f"seed {seed} step {done}: {type(e).__name__}: {e}")
                    return
                if isinstance(e, TimeoutError):
                    figures.timed_out += 1
                else:
                    figures.died += 1
                timer.join()  # its signal has landed (on the old process) before the restart
                _restart(outstanding)
                figures.restarts += 1
                outstanding = None
                pids = _pids()
                model = Model(data, ckpt)  # from the last completed step
                progress[0] = time.monotonic()
                continue
            if not _same(got, ref[done]):
                figures.mismatches += 1
                figures.notes.append(f"seed {seed} step {done}: values differ from the "
                                     "undisturbed run")
                return
            ckpt, done = got, done + 1
            figures.steps += 1
            progress[0] = time.monotonic()
        if outstanding is not None:  # the fault landed after the last read
            timer.join()
            _restart(outstanding)
            figures.restarts += 1
    finally:
        for pid in stopped:  # a stopped process is continued and ended, whatever happened
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGKILL)


# When the run last made progress, a step completed or a fault recovered from (the
# watchdog reads it): a step that keeps timing out with no fault is no progress.
progress = [0.0]


def _restart(k: int) -> None:
    """restart_worker(k), which has START_TIMEOUT_S (or raises): the watchdog waits that."""
    progress[0] = time.monotonic() + START_TIMEOUT_S
    dist.restart_worker(k)


def chaos(runs: int, seed: int = 0, steps: int = STEPS, log=None) -> Figures:
    """`runs` chaos runs on one two-worker runtime (each run leaves it with both workers
    up: it restarts the ones it faulted); the figures."""
    figures = Figures()
    data = _data()
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", call_timeout_s=CALL_TIMEOUT_S, timeout_s=START_TIMEOUT_S)
    ref = reference(data, steps)
    for r in range(runs):
        if figures.unexpected or figures.mismatches:  # start again from a fresh runtime
            dist.shutdown()
            dist.init(2, backend="ray", call_timeout_s=CALL_TIMEOUT_S, timeout_s=START_TIMEOUT_S)
        box = {}

        def run():
            try:
                one_run(seed + r, ref, data, figures, steps)
            except BaseException as e:  # noqa: BLE001 -- counted above, reported by the caller
                box["error"] = e

        progress[0] = time.monotonic()
        t = threading.Thread(target=run, daemon=True, name=f"chaos-{r}")
        t.start()
        while t.is_alive():
            faulthandler.dump_traceback_later(BACKSTOP_S, exit=True)
            t.join(0.5)
            if time.monotonic() - progress[0] > HANG_S:
                figures.hangs += 1
                figures.notes.append(f"seed {seed + r}: no progress for {HANG_S} s")
                break
        figures.runs += 1
        if log is not None:
            log(f"run {r + 1}/{runs}: {figures.line()}")
        if t.is_alive():
            break  # a hung thread holds the runtime: stop here
    faulthandler.cancel_dump_traceback_later()
    if dist.is_initialized() and figures.hangs == 0:
        dist.shutdown()
    return figures


def main() -> int:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    runs = int(os.environ.get("CHAOS_RUNS", "100"))
    seed = int(os.environ.get("CHAOS_SEED", "0"))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    t0 = time.monotonic()
    figures = chaos(runs, seed, log=lambda s: print(s, flush=True))
    print(f"chaos: {figures.line()} in {time.monotonic() - t0:.0f} s")
    for note in figures.notes:
        print("  " + note)
    ray.shutdown()
    return 0 if figures.hangs == figures.mismatches == figures.unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
