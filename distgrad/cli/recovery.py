"""Checkpoints and recovery for `python -m distgrad train`: a run that survives a worker's death.

With --checkpoint-dir DIR the job saves its whole state to DIR with
distgrad.distributed.checkpoint (each worker writes its own shards) when it starts, every
--checkpoint-every N steps (in the background: async_save) and when it ends: the model's
parameters, the optimizer's state (SGD's momentum buffers, Adam's moments and step), how
many steps are done, the history of losses and accuracies, and the flags that make the
run what it is. When a step fails because a worker died (WorkerDiedError) or stopped
answering (TimeoutError), the job replaces that worker (restart_worker; all of them
with a fresh init if that fails), builds the model again, loads the last checkpoint
(without one: the seeded initial weights) and goes on from its step, at most
--max-restarts times. The data order is a function of the seed, the epoch and the step
(`epoch_order`), so the steps done again are the same steps and the run ends with the
parameters of an uninterrupted run, bit for bit. --resume starts from the checkpoint in
DIR (of a run that was stopped, killed, or is to train for more epochs).

The train loop calls `start()` once, `before_step(step)` and `after_step(step, ...)`
around each step, and `recover(error, step)` when a step raises one of FAULTS.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

import distgrad
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp
from distgrad import dtypes
from distgrad.distributed import WorkerDiedError

from .common import CLIError, start_workers

FAULTS = (WorkerDiedError, TimeoutError)

# The flags a checkpoint must have been made with to be resumed (the others, such as
# --epochs and --workers, may change: the checkpoint loads onto any placement).
RUN_FLAGS = ("hidden", "sharded", "seed", "batch_size", "lr", "test_fraction")


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the n training examples in `epoch` (from 1): a function of the seed
    and the epoch alone, so that a run resumed at any step sees the batches an
    uninterrupted run sees there."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def new_history() -> dict:
    """What the loop records: the loss of every step, and per epoch its last step and
    test accuracy."""
    return {"losses": [], "epoch_ends": [], "accs": []}


class Recovery:
    """One training run's checkpoints and restarts (see the module doc).

    `build()` returns a new (model, optimizer) on the current workers, initialised from
    the seed; `out` prints a line (the progress bar's write); `bar` is the progress bar.
    """

    def __init__(self, args, build, steps_per_epoch: int, out=print, bar=None):
        self.args = args
        self.build = build
        self.directory = getattr(args, "checkpoint_dir", None)
        self.steps_per_epoch = steps_per_epoch
        self.total = args.epochs * steps_per_epoch
        self.every = getattr(args, "checkpoint_every", None) or steps_per_epoch
        self.max_restarts = getattr(args, "max_restarts", 0)
        self.out = out
        self.bar = bar
        self.restarts = 0
        self.redone = 0  # steps done a second time, over all restarts
        self.pending = None  # the async save under way
        pause = getattr(args, "test_pause_at", None)
        self.pause = json.loads(pause) if pause else None

    # ---- the loop's hooks ----------------------------------------------------------------------
    def start(self):
        """(model, optimizer, history, step): new, or from DIR's checkpoint with --resume.
        A run that checkpoints saves its first one now (replacing another run's in DIR)."""
        model, opt = self.build()
        history, step = new_history(), 0
        if self.directory and getattr(self.args, "resume", False):
            loaded = self._load(model, opt)
            if loaded is None:
                self.out(f"resume: no checkpoint in {self.directory}; starting from step 0")
            else:
                step, history = loaded
                self.out(f"resume: loaded the checkpoint of step {step} ({self.where(step)}) "
                         f"from {self.directory}")
                if step > self.total:
                    raise CLIError(f"the checkpoint in {self.directory} is of step {step}, past "
                                   f"the end of --epochs {self.args.epochs} ({self.total} steps)")
        if self.directory and step == 0:
            self._save(model, opt, history, 0, wait=True)
        return model, opt, history, step

    def before_step(self, step: int) -> None:
        """Arms the test pause (--test-pause-at) as the run reaches its step."""
        p = self.pause
        if p is None or step != p["step"]:
            return
        from distgrad.distributed import testhooks

        self.pause = None  # once: the worker that replaces it runs on
        dist.synchronize()  # the earlier steps' work is done: the pause lands in this step
        if self.pending is not None:  # and so is the last checkpoint, whatever the timing
            self.pending.result()
        testhooks.pause_at(p["worker"], p["phase"], name=p.get("name"), skip=p.get("skip", 0),
                           report_to=tuple(p["report_to"]))

    def after_step(self, step: int, model, opt, history: dict) -> None:
        """`step` steps are done: checkpoint every N of them (in the background), and the
        last one (waited for)."""
        if not self.directory:
            return
        if step == self.total:
            self._save(model, opt, history, step, wait=True)
        elif step % self.every == 0:
            self._save(model, opt, history, step, wait=False)

    def recover(self, error: BaseException, step: int):
        """After `error` in step `step` + 1: replace the failed worker, build the model
        again, load the last checkpoint. Returns (model, optimizer, history, step) to go
        on from; raises CLIError past --max-restarts."""
        while True:
            self.restarts += 1
            worker = _worker_of(error)
            reason = str(error).splitlines()[0] if str(error) else ""
            self.out(f"{worker or 'a worker'} failed in step {step + 1} ({self.where(step + 1)}): "
                     f"{type(error).__name__}: {reason}")
            if self.restarts > self.max_restarts:
                raise CLIError(f"{worker or 'a worker'} failed ({type(error).__name__}) and the "
                               f"run has used its --max-restarts {self.max_restarts}; "
                               + (f"resume it from {self.directory} with --resume" if
                                  self.directory else "give --checkpoint-dir and "
                                  "--max-restarts to survive a worker's failure")) from error
            try:
                replaced = self._replace(worker)
                model, opt = self.build()
                loaded = self._load(model, opt) if self.directory else None
                break
            except FAULTS as e:  # another failure while recovering: one more restart
                error = e
        back_to, history = loaded if loaded is not None else (0, new_history())
        self.redone += step - back_to
        source = (f"loaded the checkpoint of step {back_to} from {self.directory}"
                  if loaded is not None else "no checkpoint: starting again from the initial "
                                             "weights")
        redo = (f"steps {back_to + 1}-{step} are done again" if step > back_to
                else "no step is lost")
        self.out(f"restart {self.restarts}/{self.max_restarts}: {replaced}; {source}; {redo}")
        if self.bar is not None:
            self.bar.n = back_to
            self.bar.refresh()
        return model, opt, history, back_to

    def postfix(self) -> dict:
        """What the progress bar shows of the restarts."""
        return {"restarts": self.restarts, "redone": self.redone} if self.restarts else {}

    def where(self, step: int) -> str:
        """Step number `step` (from 1) as its epoch and its step in the epoch."""
        epoch, i = divmod(step - 1, self.steps_per_epoch)
        if i == self.steps_per_epoch - 1:
            return f"end of epoch {epoch + 1}"
        return f"epoch {epoch + 1}, step {i + 1}/{self.steps_per_epoch}"

    # ---- workers ---------------------------------------------------------------------------------
    def _replace(self, worker) -> str:
        """Replace the failed worker (and any other found dead); if that fails, start all
        the workers again. Returns what was done, for the log."""
        try:
            todo = [int(worker.split(":")[1])] if worker else []
            replaced = []
            for _ in range(dist.num_workers() + 1):
                for k in todo:
                    dist.restart_worker(k)
                    replaced.append(k)
                todo = [int(dev.split(":")[1]) for dev, s in dist.stats().items()
                        if s.get("dead")]
                if not todo:
                    break
            stats = dist.stats()
            if not replaced:
                return "no worker was found dead"
            return "replaced " + ", ".join(
                f"worker:{k} (now pid {stats[f'worker:{k}']['pid']})" for k in replaced)
        except Exception as e:  # noqa: BLE001 -- a restart that fails: begin again from nothing
            self.out(f"restarting the worker failed ({type(e).__name__}: {e}); starting all "
                     "workers again")
            dist.shutdown()
            start_workers(self.args)
            return f"started {dist.num_workers()} new workers"

    # ---- checkpoints -----------------------------------------------------------------------------
    def _state(self, model, opt, history: dict, step: int) -> dict:
        return {"model": model.state_dict(), "optim": opt.state_dict(),
                "progress": {"step": step},
                "history": {k: list(v) for k, v in history.items()},
                "config": {k: getattr(self.args, k, None) for k in RUN_FLAGS}}

    def _save(self, model, opt, history, step: int, wait: bool) -> None:
        if self.pending is not None:  # the previous one is done first (its error raised here)
            pending, self.pending = self.pending, None
            pending.result()
        state = self._state(model, opt, history, step)
        if wait:
            dcp.save(state, checkpoint_id=self.directory)
        else:
            self.pending = dcp.async_save(state, checkpoint_id=self.directory)

    def _load(self, model, opt):
        """(step, history) of DIR's checkpoint, loaded into model and opt; None if there
        is none."""
        self.pending = None  # (load waits for it; a save a failure broke left the last one)
        try:
            manifest = dcp.read_manifest(self.directory)
        except FileNotFoundError:
            return None
        meta = {"progress": {"step": None}, "config": {k: None for k in RUN_FLAGS}}
        dcp.load(meta, checkpoint_id=self.directory)
        self._check_config(meta["config"])
        _give_optimizer_its_saved_state(opt, manifest)
        state = self._state(model, opt, new_history(), 0)
        dcp.load(state, checkpoint_id=self.directory)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        return int(state["progress"]["step"]), state["history"]

    def _check_config(self, saved: dict) -> None:
        differ = [(k, v, getattr(self.args, k, None)) for k, v in saved.items()
                  if v != getattr(self.args, k, None)]
        if differ:
            flags = "; ".join(f"--{k.replace('_', '-')} {v} there, {now} here"
                              for k, v, now in differ)
            raise CLIError(f"the checkpoint in {self.directory} is of another run ({flags}): "
                           "give the same flags, or another --checkpoint-dir")


def _give_optimizer_its_saved_state(opt, manifest: dict, key: str = "optim") -> None:
    """As torch's, checkpoint.load fills only the optimizer state that exists: a new
    optimizer is given the state tensors the checkpoint holds (zeros, placed like their
    parameters by load_state_dict), to be filled."""
    state: dict = {}
    for entry in manifest["entries"]:
        path = entry["path"]
        if len(path) == 4 and path[:2] == [key, "state"] and "dtype" in entry:
            state.setdefault(int(path[2]), {})[path[3]] = distgrad.zeros(
                entry["shape"], dtype=dtypes.from_name(entry["dtype"]))
    if state:
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def _worker_of(error: BaseException):
    """The device string of the worker an error names ("worker:1"), or None."""
    worker = getattr(error, "worker", None)
    if worker:
        return worker
    m = re.match(r"(worker:\d+)\b", str(error))
    return m.group(1) if m else None


def checkpoint_dir_arg(text: str) -> str:
    """--checkpoint-dir: a directory that exists or can be made (absolute: on a cluster,
    a path every node reaches at the same place)."""
    path = os.path.abspath(text)
    parent = os.path.dirname(path)
    if not os.path.isdir(path) and not os.path.isdir(parent):
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r}: directory {parent} does not exist")
    return path
