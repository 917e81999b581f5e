"""init/shutdown and the two ways to reach a worker: a Ray actor, or in this process.

This is the only module that imports `ray`. Both backends speak the same wire messages
to the same `Worker` class; only the transport differs (on Ray, the driver's own
connection to each worker, control.py, or Ray actor calls with `DISTGRAD_CONTROL=ray`).

Faults. A worker is a Ray actor with no restarts and no task retries, owned by the driver
(not detached), so it exits when the driver process does. When a worker process dies,
the next call that waits on it (reading a value, `stats()`, a tensor computed from one
of its tensors) raises `WorkerDiedError` naming it, as soon as its connection to the
driver closes (control.py; with `DISTGRAD_CONTROL=ray`, as soon as Ray reports the death,
tens of milliseconds on one machine). From then on:
  - every call that touches the dead worker raises `WorkerDiedError` at once;
  - a surviving worker's run that waited for one of its tensors goes on without it (that
    tensor, and what is made from it, holds a failure record: worker.py), so survivors'
    other values read normally; a run that could not start at all is sent its frees
    again, so survivors keep no state of the interrupted graph once the driver drops it;
  - `stats()` still answers: a dead worker's entry is
    `{"pid", "node", "tensors": 0, "nodes": 0, "bytes": 0, "dead": True, "error": str}`
    (its process is gone, so it holds nothing); live entries have exactly the five keys;
  - `restart_worker(k)` starts a new process for it (as for a stuck worker, below), or
    `shutdown()` and `init()` again start new workers in the same process.
The in-process backend has no processes to kill; for fault tests, `LocalEndpoint.kill(k)`
stands in for a SIGKILL, with the same errors.

Stuck workers. Every wait of the driver for a worker ends after `call_timeout_s` with
TimeoutError naming the worker and the run it is on (coordinator.py). `restart_worker(k)`
kills the old process (SIGKILL when it runs on this node: a stopped process does not act
on Ray's request to exit), starts a new actor that connects to the other workers (they
take it in place of the old one, channels.py), and counts a new generation of the
worker's queue: the tensors made before are lost, and reading one raises WorkerDiedError.
"""
from __future__ import annotations

import atexit
import collections
import os
import secrets
import socket
import sys
import threading
import time

import numpy as np

from .. import storage
from ..autograd import record
from . import capacity, control, credentials, errors, wire
from .channels import HANDSHAKE_TIMEOUT_S, SECRET_BYTES, LocalHub, PeerLostError
from .coordinator import Counters, WorkerQueue, call_timeout, holding  # noqa: F401 (call_timeout: API)
from .errors import DeadlineExceeded, ThreadErrors, WorkerDiedError
from .memory import WORKER_ENV, keep_freed_memory
from .worker_hooks import WorkerHooks
from .worker import Worker
from .wire import WireFormatError

# (worker, op) -> how many times an op on sharded operands was gathered and computed on that
# worker, having no sharding rule (sharding.py counts them); stats() shows them.
fallbacks = collections.Counter()
collectives = collections.Counter()  # the collectives recorded, by kind (collectives.py)


_RESTART_HINT = ("its tensors and graph nodes are lost; call "
                 "distgrad.distributed.restart_worker(k) to replace it, or shutdown() and init() "
                 "to start new workers")


# ---- endpoints ----------------------------------------------------------------------------------

class LocalEndpoint:
    """Workers in the driver process: the same messages, arrays inline as msgpack ext."""

    concurrent = False  # a run runs when it is sent, to its end, before the next is sent

    def __init__(self, n: int, test_hooks: bool = False):
        self.workers = [Worker(i, node="local", hooks=WorkerHooks() if test_hooks else None)
                        for i in range(n)]
        self.hub = LocalHub(n)
        for w in self.workers:
            w.channels = self.hub.channels(w.index)
            w.channels.hooks = w.hooks
        self.lock = threading.RLock()  # one message at a time, whichever thread sends it
        self.dead: dict[int, str] = {}  # worker -> what its WorkerDiedError says (kill)

    def submit(self, index, instrs, args, n_exports):
        if index in self.dead:
            if all(ins[0] in ("free", "free_node") for ins in instrs):
                return 0, [wire.reply({"exports": 0})]  # what it held is gone with it
            return 0, [_Raised(self._died(index))] * (1 + n_exports)
        payload = wire.run_message(instrs, inline_arrays=[_as_array(a) for a in args])
        with self.lock:
            try:
                out = self.workers[index].handle(payload)
            except Exception as e:  # the run's error, for whoever reads from it (not this thread)
                return len(payload), [_Raised(e.with_traceback(None))] * (1 + n_exports)
        if index in self.dead:  # killed while in this run (paused in a test hook): it is lost
            return len(payload), [_Raised(self._died(index))] * (1 + n_exports)
        return len(payload), list(out)

    def kill(self, index: int) -> None:
        """The in-process stand-in for a worker's process being killed, for fault tests:
        the run it is in (when a test kills it paused in a test hook) and every later
        message to it fail with WorkerDiedError, and so do its peers' waits for tensors
        it had not sent, until restart() gives a new worker. Takes no lock: it may be
        called from another thread while the worker waits in a hook."""
        self.dead[index] = f"worker:{index} died (killed; backend local): {_RESTART_HINT}"
        for k, box in enumerate(self.hub.boxes):
            if k != index:
                box.close(index, "it was killed")

    def _died(self, index: int) -> WorkerDiedError:
        return WorkerDiedError(self.dead[index], index)

    def stage(self, array):
        return _as_array(array).copy()

    def busy(self, reply) -> bool:
        return False  # a run here is done when submit returns

    def get(self, ref, index, timeout=None):
        if isinstance(ref, _Raised):
            raise ref.error
        return ref

    def check(self, refs, index, timeout):
        out = []
        for r in refs:
            try:
                out.append(wire.decode_reply(self.get(r, index)))
            except Exception as e:
                out.append(e)
        return out

    def error_of(self, record, index):
        peer = record.get("peer")
        if record.get("type") == "PeerLostError" and peer in self.dead:
            return WorkerDiedError(f"{self.dead[peer]} (worker:{index}'s run needed a tensor "
                                   "from it)", peer)
        return errors.error_of(record)

    def request(self, kind, index, timeout=None):
        if index in self.dead:
            raise self._died(index)
        with self.lock:
            return wire.decode_reply(self.workers[index].handle(wire.simple_message(kind))[0])

    def raw(self, index, payload, *arrays):
        if index in self.dead:
            raise self._died(index)
        with self.lock:
            return self.workers[index].handle(payload, *arrays)

    def post(self, index, payload):
        """Handle a message now; `collect` gives its decoded reply (or raises its error)."""
        try:
            return True, self.raw(index, payload)
        except Exception as e:
            return False, e

    def collect(self, posted, index, timeout=None) -> dict:
        ok, out = posted
        if not ok:
            raise out
        return wire.decode_reply(out[0])

    def raw_batch(self, index, messages) -> list:
        """[(payload, arrays)] handled in order; each one's reply tuple or exception."""
        out = []
        for payload, arrays in messages:
            try:
                out.append(self.raw(index, payload, *arrays))
            except Exception as e:
                out.append(e)
        return out

    def restart(self, index) -> None:
        """A new worker in place of worker `index` (nothing can be stuck here: every run
        is done when submit returns)."""
        with self.lock:
            self.hub.boxes[index] = type(self.hub.boxes[index])()
            old = self.workers[index]
            w = Worker(index, node="local", hooks=WorkerHooks() if old.hooks is not None else None)
            w.channels = self.hub.channels(index)
            w.channels.hooks = w.hooks
            self.workers[index] = w
            if self.dead.pop(index, None) is not None:
                for k, box in enumerate(self.hub.boxes):
                    if k != index:
                        box.reopen(index)

    def dead_entry(self, index):
        err = self.dead.get(index)
        if err is None:
            return None
        return {"pid": os.getpid(), "node": "local", "tensors": 0, "nodes": 0, "bytes": 0,
                "sent_bytes": {}, "dead": True, "error": err}

    def configure_hooks(self, index, settings, timeout=None) -> None:
        if index in self.dead:
            raise self._died(index)
        with self.lock:
            self.workers[index].configure_hooks(settings)

    def close(self):
        self.workers = []


class _Raised:
    """What a local run that failed as a whole returns in place of its reply and values."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def _as_array(a):
    import numpy as np

    return np.asarray(a)


class RayEndpoint:
    """Workers as Ray actors. Ray starts, places and ends them; the messages go over the
    driver's own connection to each worker (control.py), or, without one (`links` None),
    as Ray actor calls with the driver's arrays as Ray objects. Tensors go between workers
    over their own connections (channels.py).

    Replies are checked lazily by the queues; this class turns transport errors into
    distgrad's (see the module doc) and remembers which workers died.
    """

    concurrent = True  # every worker runs its runs while the others run theirs

    def __init__(self, actors, pings, make_actor=None, channels=None, links=None,
                 test_hooks=False):
        self.actors = actors
        self.ids = {a._actor_id.hex(): i for i, a in enumerate(actors)}
        self.info = [(p.get("pid"), p.get("node", "?")) for p in pings]
        self.dead: dict[int, str] = {}  # worker -> what its WorkerDiedError says (a raised
        # exception is not kept: its traceback would keep the interrupted graph alive)
        self.lock = threading.Lock()
        self.runs: dict = {}  # reply ref -> (free ids, node ids) of a sent run that frees
        self.quieted = False  # whether we set RAY_IGNORE_UNHANDLED_ERRORS (see _died)
        self.make_actor = make_actor  # (index, start pause or None) -> a new actor (restart)
        self.test_hooks = test_hooks
        self.start_pauses: dict = {}  # worker -> the pause its next new process starts with
        # How the workers reach each other: their addresses, and how they were set up.
        (self.table, self.spans_nodes, self.secret, self._idle_timeout,
         self.shared_memory) = channels or ([], False, b"", 60.0, False)
        # Per worker, the processes of its failed restarts that may still run ((pid, node)
        # each): the next restart ends them before it starts another (_end_everywhere).
        self.strays: dict[int, list] = {}
        self.retired: dict = {}  # actor id of a restarted worker's old process -> index
        self.incarnation = [1] * len(actors)  # which of its processes each worker runs now
        # How many processes were started for each worker, those of failed restarts too: a
        # new one's number (its incarnation) is above theirs, so peers refuse them.
        self.processes = [1] * len(actors)
        self.runs_sent = [0] * len(actors)  # runs sent to each worker's current process
        self.links = links  # control.ControlLink per worker, or None: Ray actor calls

    def _call(self, index, payload, *arrays, returns=1) -> list:
        """Send worker `index` one message; handles on the first `returns` parts of its
        answer (the reply, then the exported arrays)."""
        if self.links is not None:
            return self.links[index].call((payload,) + arrays, returns)
        method = self.actors[index].handle
        if returns > 1:
            return list(method.options(num_returns=returns).remote(payload, *arrays))
        return [method.remote(payload, *arrays)]

    def submit(self, index, instrs, args, n_exports):
        if index in self.dead and all(ins[0] in ("free", "free_node") for ins in instrs):
            # Its process is gone, and what it held with it: nothing to send, nothing to fail.
            return 0, [self._answered(wire.reply({"exports": 0}))]
        # (a run's recv from a peer knows the peer's run that sends to it was sent before
        # it: until the peer has started that many runs it is not idle, only late)
        payload = wire.run_message(instrs, peers=self.incarnation, runs=self.runs_sent)
        refs = self._call(index, payload, *args, returns=1 + n_exports)
        self.runs_sent[index] += 1
        frees = [i for ins in instrs if ins[0] == "free" for i in ins[1]]
        node_frees = [i for ins in instrs if ins[0] == "free_node" for i in ins[1]]
        if frees or node_frees:
            with self.lock:
                self.runs[refs[0]] = (frees, node_frees)
        return len(payload), refs

    def _answered(self, value):
        if self.links is not None:
            return control.answered(value)
        import ray

        return ray.put(value)

    def stage(self, array):
        if self.links is not None:
            return np.array(array, copy=True)  # sent with the run; copied now
        import ray

        return ray.put(array)

    def busy(self, reply) -> bool:
        if self.links is not None:
            return not reply.done()
        import ray

        ready, _ = ray.wait([reply], timeout=0)
        return not ready

    def get(self, ref, index, timeout=None):
        return self._get(ref, index, timeout)

    def check(self, refs, index, timeout):
        """Per reply of a sent run, in order: its decoded body, the run's exception, or
        None if it is not done. timeout=0 looks at those done; otherwise all are waited
        for, and TimeoutError is raised if they are not done in `timeout` s (None: no limit)."""
        ready = self._ready(refs, timeout)
        if timeout != 0 and len(ready) < len(refs):
            raise DeadlineExceeded(f"worker:{index}: {len(refs) - len(ready)} runs not done")
        out = []
        for r in refs:
            if r not in ready:
                out.append(None)
                continue
            try:
                out.append(wire.decode_reply(_first(self._get(r, index))))
            except Exception as e:
                out.append(e.with_traceback(None))
            finally:
                with self.lock:
                    self.runs.pop(r, None)
        return out

    def _ready(self, refs, timeout) -> set:
        """The refs whose answers are in, waiting up to `timeout` s for all (0: not at all)."""
        if self.links is None:
            import ray

            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
            return set(ready)
        if timeout != 0:
            deadline = None if timeout is None else time.monotonic() + timeout
            for r in refs:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not r.reply.event.wait(left):
                    break
        return {r for r in refs if r.done()}

    def error_of(self, record, index):
        """What a read of a tensor holding failure `record` raises (errors.py); a tensor
        that was to come from a worker that died is that worker's WorkerDiedError."""
        peer = record.get("peer")
        if record.get("type") == "PeerLostError" and peer is not None and \
                0 <= peer < len(self.incarnation):
            if record.get("incarnation", 0) < self.incarnation[peer]:
                return WorkerDiedError(f"worker:{peer} was restarted while worker:{index} waited "
                                       f"for a tensor from it: that tensor is lost", peer)
            return self._died(peer, index)
        return errors.error_of(record)

    def request(self, kind, index, timeout=None):
        if index in self.dead:
            raise WorkerDiedError(self.dead[index], index)
        ref = self._call(index, wire.simple_message(kind))[0]
        return wire.decode_reply(_first(self._get(ref, index, timeout)))

    def raw(self, index, payload, *arrays):
        return self._get(self._call(index, payload, *arrays)[0], index)

    def post(self, index, payload):
        """Send a message without waiting (the workers posted to work at once)."""
        if index in self.dead:
            raise WorkerDiedError(self.dead[index], index)
        return self._call(index, payload)[0]

    def collect(self, posted, index, timeout=None) -> dict:
        """A posted message's reply; TimeoutError after `timeout` s (a stuck worker)."""
        return wire.decode_reply(_first(self._get(posted, index, timeout)))

    def raw_batch(self, index, messages) -> list:
        """[(payload, arrays)] sent at once, handled in order; each one's reply or exception."""
        refs = [self._call(index, payload, *arrays)[0] for payload, arrays in messages]
        out = []
        for r in refs:
            try:
                out.append(self._get(r, index))
            except Exception as e:
                out.append(e)
        return out

    def arm_start(self, index, pause) -> None:
        """The next process started for worker `index` pauses as it starts (testhooks.py)."""
        if not self.test_hooks:
            raise RuntimeError("test hooks are off: start the runtime with "
                               "distgrad.distributed.init(test_hooks=True)")
        with self.lock:
            self.start_pauses[index] = pause

    def restart(self, index, timeout_s) -> None:
        """Worker `index` as a new process (the old one, stuck or dead, is killed): it
        connects to the other workers, which take it in place of the old one. Within
        timeout_s, or TimeoutError as init's (the new process is ended, and the worker
        stays dead until a restart succeeds)."""
        import ray

        deadline = time.monotonic() + timeout_s
        old = self.actors[index]
        with self.lock:
            self.retired[old._actor_id.hex()] = index
        if self.links is not None:
            self.links[index].close("restart_worker", retired=True)
        try:
            ray.kill(old, no_restart=True)
        except Exception:
            pass
        # The old process, and those of failed restarts, end before a new one starts: two
        # processes of one worker at once could both reach its peers.
        left_running = _end_everywhere([self.info[index]] + self.strays.pop(index, []),
                                       deadline)
        if left_running:
            self.strays[index] = left_running
            self._restart_failed(index, f"old process (pid {left_running[0][0]}) did not end "
                                 f"within timeout_s={timeout_s}, so no new one was started")
        with self.lock:
            pause = self.start_pauses.pop(index, None)
        new = self.make_actor(index, pause)
        with self.lock:
            self.processes[index] += 1
            number = self.processes[index]
        ping = None
        try:
            ping = wire.decode_reply(_first(ray.get(
                new.handle.remote(wire.simple_message("ping")), timeout=_left(deadline))))
            table = [ray.get(new.open_channels.remote(self.spans_nodes, self._idle_timeout,
                                                      self.secret, self.shared_memory,
                                                      number, timeout_s),
                             timeout=_left(deadline))]
            others = [t for t in self.table if t["index"] != index]
            ray.get(new.rejoin_channels.remote(table + others, _worker_share(deadline)),
                    timeout=_left(deadline))
            link = None
            if self.links is not None:
                link = _open_links([new], [ping], self.secret, _left(deadline), [index])[0]
        except BaseException as e:
            self._end_failed_start(index, new, ping)
            if not isinstance(e, (ray.exceptions.RayError, OSError)):  # (GetTimeoutError: Ray's)
                raise
            what = ("started but did not connect to the other workers" if ping is not None
                    else "did not start")
            self._restart_failed(index, f"new process {what} within timeout_s={timeout_s}",
                                 _cause(e))
        with self.lock:
            self.actors[index] = new
            self.ids[new._actor_id.hex()] = index
            self.info[index] = (ping.get("pid"), ping.get("node", "?"))
            self.incarnation[index] = number
            self.runs_sent[index] = 0
            self.dead.pop(index, None)
            self.table = others + table
            if link is not None:
                self.links[index] = link

    def _end_failed_start(self, index, new, ping) -> None:
        """End the process a failed restart started, on whichever node: Ray ends it (or does
        not start it) once its actor is killed, a stopped process too, in a few seconds; on
        this node it is killed at once. The next restart waits until it has ended."""
        import ray

        try:
            ray.kill(new, no_restart=True)
        except Exception:
            pass  # (Ray has it dead already)
        if ping is None or not ping.get("pid"):
            return
        if ping.get("node") == _local_node_id():
            _kill_pid(ping["pid"])
        self.strays.setdefault(index, []).append((ping["pid"], ping.get("node")))

    def _restart_failed(self, index, what: str, cause: str = ""):
        """Raise init's TimeoutError for a restart that failed; the worker stays dead."""
        message = f"distgrad.distributed.restart_worker: worker:{index}'s {what}. {_START_HINT}"
        with self.lock:
            self.dead[index] = (f"worker:{index} is not running: its restart failed "
                                f"({message}); call restart_worker({index}) again, or "
                                "shutdown() and init()")
        raise TimeoutError(f"{message} ({cause})" if cause else message) from None

    def configure_hooks(self, index, settings, timeout=None) -> None:
        """Set worker `index`'s test hooks; DeadlineExceeded after `timeout` s."""
        if index in self.dead:
            raise WorkerDiedError(self.dead[index], index)
        if self.links is None:
            self._get(self.actors[index].configure_hooks.remote(settings), index, timeout)
            return
        # In its place among the runs, as the actor call was.
        self._get(self._call(index, wire.body_message("hooks", settings))[0], index, timeout)

    def dead_entry(self, index):
        err = self.dead.get(index)
        if err is None:
            return None
        pid, node = self.info[index]
        return {"pid": pid, "node": node, "tensors": 0, "nodes": 0, "bytes": 0, "sent_bytes": {},
                "dead": True, "error": err}

    def close(self):
        import ray

        for link in self.links or ():
            link.close("shutdown")
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:
                pass
        self.actors = []
        if self.quieted:
            os.environ.pop("RAY_IGNORE_UNHANDLED_ERRORS", None)

    # ---- errors ---------------------------------------------------------------------------
    def _get(self, ref, index, timeout=None):
        """The answer `ref` stands for, with the transport's errors made distgrad's
        (TimeoutError after `timeout` s)."""
        if self.links is not None:
            try:
                return ref.result(timeout)
            except TimeoutError:  # (Part.result's own: the wait's deadline)
                raise DeadlineExceeded(f"worker:{index} did not answer within {timeout} s") from None
            except control.LinkLost as e:
                if e.retired:
                    raise self._retired(e.index) from None
                err = self._died(e.index if e.index >= 0 else index, index)
            except control.Raised as e:
                err = self._run_error(e.cause, index)
            if isinstance(err, WorkerDiedError) and err.index != index:
                self._resend_releases(ref, index)
            raise err from None
        return self._ray_get(ref, index, timeout)

    def _ray_get(self, ref, index, timeout=None):
        import ray
        from ray.exceptions import (ActorDiedError, ActorUnavailableError, GetTimeoutError,
                                    ObjectLostError, RayTaskError)

        try:
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError:
            raise DeadlineExceeded(f"worker:{index} did not answer within {timeout} s") from None
        except (ActorDiedError, ActorUnavailableError) as e:
            actor = getattr(e, "actor_id", None)
            if actor in self.retired:
                raise self._retired(self.retired[actor]) from None
            dead = self.ids.get(actor)
            if dead is None:
                dead = self._find_dead(default=index)
            err = self._died(dead, index)
        except ObjectLostError as e:  # a tensor held by a dead worker's node
            err = self._died(self._find_dead(default=index), index, f" ({type(e).__name__})")
        except RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e.as_instanceof_cause()
            err = self._run_error(cause, index)
        if isinstance(err, WorkerDiedError) and err.index != index:
            self._resend_releases(ref, index)
        raise err from None

    def _retired(self, k: int) -> WorkerDiedError:
        if k in self.dead:  # its restart failed: what stands in its place is nothing
            return WorkerDiedError(self.dead[k], k)
        return WorkerDiedError(f"worker:{k} was restarted (restart_worker) before this run of "
                               "it finished: its tensors and graph nodes are lost", k)

    def _run_error(self, cause, index):
        """What the driver raises for an exception a run of worker `index` raised."""
        if isinstance(cause, PeerLostError):
            return self._died(cause.peer, index)
        if isinstance(cause, WireFormatError) and self.dead:
            # After a death, a survivor's run may name a tensor that was lost with it.
            k = next(iter(self.dead))
            return WorkerDiedError(f"{self.dead[k]} (worker:{index}'s run failed after it: "
                                   f"{cause})", k)
        return cause

    def _died(self, dead: int, index: int, detail: str = "") -> WorkerDiedError:
        with self.lock:
            if dead not in self.dead:
                # The runs lost with it are reported here, once; Ray would also log every
                # tensor they were to return as an "unhandled error" when dropped.
                if "RAY_IGNORE_UNHANDLED_ERRORS" not in os.environ:
                    os.environ["RAY_IGNORE_UNHANDLED_ERRORS"] = "1"
                    self.quieted = True
                pid, node = self.info[dead]
                self.dead[dead] = (f"worker:{dead} died (pid {pid}, node {node}){detail}: "
                                   f"{_RESTART_HINT}")
            first = self.dead[dead]
        if dead == index:
            return WorkerDiedError(first, dead)
        return WorkerDiedError(f"{first} (worker:{index}'s run needed a tensor from it)", dead)

    def _find_dead(self, default: int) -> int:
        """Which worker is dead, by pinging them all (for errors that do not say)."""
        import ray
        from ray.exceptions import RayActorError

        refs = [a.handle.remote(wire.simple_message("ping")) for a in self.actors]
        ray.wait(refs, num_returns=len(refs), timeout=5.0)
        for i, r in enumerate(refs):
            try:
                ray.get(r, timeout=0)
            except RayActorError:
                return i
            except Exception:
                pass
        return default

    def _resend_releases(self, ref, index) -> None:
        """A run that never started (a tensor it imported was lost): send its frees again."""
        with self.lock:
            run = self.runs.get(ref)
        if run is None or index in self.dead:
            return
        frees, node_frees = run
        instrs = ([["free", frees]] if frees else []) + ([["free_node", node_frees]]
                                                         if node_frees else [])
        self._call(index, wire.run_message(instrs))


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


class _RayActorWorker(Worker):
    """The actor class: the plain worker, told which Ray node it runs on."""

    def __init__(self, index: int, blas_threads: int = 1, test_hooks: bool = False,
                 start_pause=None):
        import ray

        _limit_blas(blas_threads)
        keep_freed_memory()
        super().__init__(index, node=ray.get_runtime_context().get_node_id(),
                         hooks=WorkerHooks() if test_hooks else None)
        self.control = None  # the driver's connection (open_control)
        if start_pause is not None:  # (testhooks.pause_at(..., "start" or "hello"))
            self.hooks.configure(pause=start_pause)
            self.hooks.enter(index, "start")

    def open_channels(self, spans_nodes: bool, idle_timeout_s: float, secret: bytes,
                      shared_memory: bool = False, incarnation: int = 1,
                      start_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> dict:
        """Listen for the other workers (on TCP too if they are on other nodes).
        incarnation: which of this worker's processes this one is (1: its first);
        start_timeout_s: the runtime's time for a worker to start (init's timeout_s), which
        a peer's connection has to open."""
        import ray

        from .channels import SocketChannels

        if self.channels is None:
            self.channels = SocketChannels(self.index, self.node, idle_timeout_s, secret,
                                           self.MAX_ELEMENTS, self.hooks, shared_memory,
                                           incarnation, start_timeout_s)
        return self.channels.address(ray.util.get_node_ip_address() if spans_nodes else None)

    def connect_channels(self, table: list, timeout_s: float | None = None) -> bool:
        self.channels.connect(table, timeout_s=timeout_s)
        return True

    def rejoin_channels(self, table: list, timeout_s: float | None = None) -> bool:
        """A restarted worker connects to every other one (they take it in place of the
        process it replaces)."""
        self.channels.connect(table, to_all=True, timeout_s=timeout_s)
        return True

    def open_control(self, secret: bytes, tcp: bool) -> dict:
        """Listen for the driver's connection (control.py), on TCP too when the driver is
        on another node."""
        import ray

        if self.control is None:
            self.control = control.ControlServer(
                self.handle, secret, ray.util.get_node_ip_address() if tcp else None,
                self.MAX_ELEMENTS)
        return self.control.address()


def _limit_blas(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except Exception:
        pass


# ---- the runtime --------------------------------------------------------------------------------

class Runtime:
    def __init__(self, backend, endpoint, n, owns_ray, call_timeout_s=None, start_timeout_s=None):
        self.backend = backend
        self.start_timeout_s = start_timeout_s  # init's timeout_s: a worker's time to start
        self.endpoint = endpoint
        self.counters = Counters(n)
        self.errors = ThreadErrors()
        self.call_timeout_s = call_timeout_s
        self.queues = [WorkerQueue(i, _Bound(endpoint, i), self.counters) for i in range(n)]
        self._by_device = {q.device: q for q in self.queues}
        for q in self.queues:
            q.peers = self.queues
            q.errors = self.errors
            q.call_timeout_s = call_timeout_s
        # One lock for every queue: a driver thread's flush of one queue flushes the queues
        # it imports from, so per-queue locks taken in two orders could deadlock.
        self.lock = threading.RLock()
        for q in self.queues:
            q.lock = self.lock
        self.owns_ray = owns_ray

    def queue(self, device: str) -> WorkerQueue:
        q = self._by_device.get(device)  # every remote op asks: a dict lookup, no parsing
        if q is not None:
            return q
        if device.startswith("worker:"):
            try:
                k = int(device.split(":", 1)[1])
            except ValueError:
                k = -1
            if 0 <= k < len(self.queues):
                return self.queues[k]
        storage.refuse_absent_backend(device)
        names = ", ".join(q.device for q in self.queues)
        raise RuntimeError(f"Invalid device string: '{device}' names no worker; this "
                           f"distgrad.distributed runtime has {len(self.queues)} workers: {names}. "
                           f"Use one of them, or init(num_workers=...) with more")

    def flush_all(self, eager_only: bool = False) -> None:
        if eager_only and holding():
            return  # the end of a backward inside hold_runs(): its block's end sends it
        for q in self.queues:
            if not eager_only or q.worth_sending():
                q.flush()


class _Bound:
    """An endpoint seen from one worker's queue."""

    def __init__(self, endpoint, index):
        self.endpoint = endpoint
        self.index = index

    def submit(self, instrs, args, n_exports):
        return self.endpoint.submit(self.index, instrs, args, n_exports)

    @property
    def concurrent(self) -> bool:
        return self.endpoint.concurrent

    def stage(self, array):
        return self.endpoint.stage(array)

    def busy(self, reply):
        return self.endpoint.busy(reply)

    def get(self, ref, index, timeout=None):
        return self.endpoint.get(ref, index, timeout)

    def check(self, refs, index, timeout):
        return self.endpoint.check(refs, index, timeout)

    def error_of(self, record, index):
        return self.endpoint.error_of(record, index)

    def request(self, kind, index, timeout=None):
        return self.endpoint.request(kind, index, timeout)


_runtime: Runtime | None = None
_lock = threading.Lock()


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("distgrad.distributed is not initialized: call "
                           "distgrad.distributed.init() first")
    return _runtime


def is_initialized() -> bool:
    return _runtime is not None


DEFAULT_CALL_TIMEOUT_S = 600.0  # ten minutes: longer than any one run should take
# On: 1.2-2.9x the socket's bandwidth between two workers at 4-16 MB, a 16 MB all-reduce
# of two 1.2-1.3x faster, the same at 1 MB (shm.py's doc has the figures).
SHARED_MEMORY_DEFAULT = True


# Further in-process backends, by name: endpoint factories their modules add (simulated.py),
# so this module does not import them.
_IN_PROCESS_BACKENDS: dict = {}


def add_in_process_backend(name: str, make_endpoint) -> None:
    _IN_PROCESS_BACKENDS[name] = make_endpoint


def init(num_workers: int = 2, address=None, backend: str = "ray", timeout_s: float = 60.0,
         worker_num_cpus=None, blas_threads: int = 1, recv_idle_timeout_s: float = 60.0,
         call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S, test_hooks: bool = False,
         shared_memory: bool | None = None, **ray_kwargs):
    """Start (or join) the workers. Returns the runtime handle.

    backend="ray", address=None: a local multi-process Ray runtime (the embedded default);
    address="auto" or "ray://host:port": join a running cluster, workers spread over its
    nodes; backend="local": the same workers and messages in this process, without Ray;
    backend="simulated": workers in this process that skip every kernel (simulated.py), to
    measure what the driver spends on many workers.

    timeout_s bounds all of init, at any worker count: an address that cannot be reached
    raises ConnectionError, and workers that do not all start and connect in time raise
    TimeoutError; neither leaves anything running (the workers that did start exit). More
    workers than the cluster's nodes can place (by their CPUs, for worker_num_cpus, and
    their memory: capacity.py) raise ValueError at once, before any starts.

    Workers send tensors to each other directly (channels.py); a run waiting for one from
    a worker that stays idle for recv_idle_timeout_s fails (a message naming a tensor no
    run sends) instead of waiting forever. Two workers on one node talk over a Unix
    socket; shared_memory=True also gives each pair shared-memory segments that tensors
    of 64 KiB or more go through (shm.py). None takes the environment's
    DISTGRAD_SHARED_MEMORY (1 or 0), else the default, `SHARED_MEMORY_DEFAULT`. On Ray,
    the driver's messages go over its own connection to each worker (control.py), or as
    Ray actor calls when the environment sets DISTGRAD_CONTROL=ray.

    call_timeout_s bounds every wait of the driver for a worker (a read, `synchronize()`,
    `stats()`): a worker that has not answered by then (stuck, or stopped) makes the call
    raise TimeoutError naming it and the run it is on; the other workers go on, and
    `restart_worker(k)` replaces the stuck one. None waits without limit; a thread may set
    its own limit for a block of calls with `call_timeout(seconds)`.

    test_hooks=True gives the workers the hooks of testhooks.py (pause in a phase of a
    run, limit allocations), for tests; off by default.
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            raise RuntimeError("distgrad.distributed is already initialized; call shutdown() "
                               "before init() again")
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
        if call_timeout_s is not None and not call_timeout_s > 0:
            raise ValueError(f"call_timeout_s must be positive or None, got {call_timeout_s!r}")
        if backend == "local":
            rt = Runtime("local", LocalEndpoint(num_workers, test_hooks), num_workers, False,
                         call_timeout_s)
        elif backend in _IN_PROCESS_BACKENDS:
            rt = Runtime(backend, _IN_PROCESS_BACKENDS[backend](num_workers), num_workers,
                         False, call_timeout_s)
        elif backend == "ray":
            rt = _init_ray(num_workers, address, timeout_s, worker_num_cpus, blas_threads,
                           recv_idle_timeout_s, test_hooks, ray_kwargs, call_timeout_s,
                           _shared_memory(shared_memory))
        else:
            raise ValueError(f"backend must be 'ray', 'local' or 'simulated', got {backend!r}")
        _runtime = rt
        record.register_runtime(rt)
        _report_unread_errors_at_exit()
        return rt


_EXIT_WAIT_S = 10.0  # at exit, how long the workers' last replies are waited for
_exit_report_registered = False


def _report_unread_errors_at_exit() -> None:
    """Once per process: at exit, the errors of work that no read raised and no
    synchronize() reported (an op that failed on a worker, its result never read) go to
    stderr rather than being lost. Registered after Ray's own exit handler, so it runs
    while the workers are still there."""
    global _exit_report_registered
    if not _exit_report_registered:
        _exit_report_registered = True
        atexit.register(_report_unread_errors)


def _report_unread_errors() -> None:
    rt = _runtime
    if rt is None:
        return
    unread = []
    try:
        with call_timeout(_EXIT_WAIT_S):
            for q in rt.queues:
                q.flush()
            for q in rt.queues:
                q.check(block=True)
    except Exception as e:  # noqa: BLE001  (a worker stuck or dead at exit: said too)
        unread.append(e)
    for err in rt.errors.take_all() + unread:
        sys.stderr.write("distgrad: an error of work on the workers that no read raised and "
                         f"no synchronize() reported: {type(err).__name__}: {err}\n")


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _check_reachable(address, timeout_s: float) -> None:
    """Fail within timeout_s, with ConnectionError, when no Ray server answers at `address`.

    ray.init() itself waits for a silent address for minutes, so this asks first: a TCP
    connection, then the HTTP/2 greeting that Ray's GCS and client servers (gRPC) answer
    with their settings. (Skipped for "auto" and with RAY_USE_TLS, where the greeting
    would be TLS's.)
    """
    if not address or address == "auto" or address.startswith(("local", "http://", "https://")):
        return
    client = address.startswith("ray://")
    hostport = address[len("ray://"):] if client else address
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = hostport, "10001" if client else "6379"
    try:
        port_n = int(port)
    except ValueError:
        raise ValueError(f"distgrad.distributed.init: address {address!r} is not host:port") from None
    deadline = time.monotonic() + max(0.1, float(timeout_s))
    tls = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")
    try:
        with socket.create_connection((host.strip("[]"), port_n), timeout=max(0.1, float(timeout_s))) as s:
            if not tls:
                s.sendall(_H2_PREFACE)
                got = b""
                while len(got) < 9:  # a frame header; a gRPC server sends SETTINGS first
                    s.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = s.recv(9 - len(got))
                    if not chunk:
                        raise ConnectionError("the connection was closed without an answer")
                    got += chunk
                if got[3] != 0x4:
                    raise ConnectionError("the server there does not speak gRPC")
    except (OSError, ConnectionError) as e:
        why = "no answer" if isinstance(e, (socket.timeout, TimeoutError)) else str(e) or type(e).__name__
        raise ConnectionError(f"distgrad.distributed.init: could not reach the Ray cluster at "
                              f"{address!r} within timeout_s={timeout_s} ({why}); check the address "
                              f"and that the cluster is up") from None


def _shared_memory(option) -> bool:
    """init's shared_memory, with None resolved (see init)."""
    if option is None:
        setting = os.environ.get("DISTGRAD_SHARED_MEMORY", "").strip()
        if not setting:
            return SHARED_MEMORY_DEFAULT
        if setting not in ("0", "1"):
            raise ValueError(f"DISTGRAD_SHARED_MEMORY must be 1 or 0, got {setting!r}")
        return setting == "1"
    if not isinstance(option, bool):
        raise ValueError(f"shared_memory must be True, False or None, got {option!r}")
    return option


def _init_ray(n, address, timeout_s, worker_num_cpus, blas_threads, recv_idle_timeout_s,
              test_hooks, ray_kwargs, call_timeout_s, shared_memory=False):
    import ray

    deadline = time.monotonic() + timeout_s  # for all of init, whatever the worker count
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _check_reachable(address, timeout_s)
    owns = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=True)
        if address is None:
            # Ray starts its workers at nice 15; ours do the compute the driver waits for.
            kwargs["_system_config"] = {"worker_niceness": 0}
        kwargs.update(ray_kwargs)
        # A runtime started here may create Ray's auth token: private from the start.
        placeholder = (credentials.prepare_for_new_runtime() if address in (None, "local")
                       else None)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError) as e:
            ray.shutdown()  # whatever of it did start
            raise ConnectionError(f"distgrad.distributed.init: could not reach the Ray cluster at "
                                  f"{address!r}: {e}") from None
        except Exception:
            ray.shutdown()
            raise
        finally:
            credentials.settle(placeholder)
        owns = True
    if worker_num_cpus is None:
        # On a local runtime the workers share the machine's cores with the driver; on a
        # cluster each worker takes a CPU, which also spreads them over the nodes.
        worker_num_cpus = 0 if address is None else 1
    try:
        capacity.check(n, worker_num_cpus, ray.nodes())
    except ValueError:
        if owns:
            ray.shutdown()
        raise
    # Not detached: the actors belong to this driver and Ray ends them when it exits. Their
    # environment (memory.py) makes Ray start processes of their own for them, not take
    # idle ones from its pool (~0.5 s more to start here).
    actor_cls = ray.remote(_RayActorWorker).options(
        num_cpus=worker_num_cpus, max_restarts=0, max_task_retries=0,
        scheduling_strategy="SPREAD", runtime_env={"env_vars": WORKER_ENV})
    actors, pings = [], []
    while len(actors) < n and time.monotonic() < deadline:  # (~5 ms a worker)
        actors.append(actor_cls.remote(len(actors), blas_threads, test_hooks))
        pings.append(actors[-1].handle.remote(wire.simple_message("ping")))
    ready, _ = ray.wait(pings, num_returns=len(pings), timeout=_left(deadline))
    replies = None
    if len(ready) == n:
        try:
            replies = [wire.decode_reply(_first(r)) for r in ray.get(pings, timeout=_left(deadline))]
        except Exception:
            replies = None
    if replies is None:
        total = ray.cluster_resources().get("CPU", 0)
        free = ray.available_resources().get("CPU", 0)
        if owns:
            ray.shutdown()  # and its processes with it
        else:
            _let_go(actors)
        del actors, pings
        raise TimeoutError(
            f"distgrad.distributed.init: only {len(ready)} of {n} workers started within "
            f"timeout_s={timeout_s}: each asks for num_cpus={worker_num_cpus} and the cluster "
            f"has {total:g} CPUs, {free:g} free. {_START_HINT}, or ask for fewer workers")
    try:
        channels = _connect_workers(actors, replies, deadline, recv_idle_timeout_s,
                                    shared_memory, timeout_s)
    except ray.exceptions.RayError as e:  # the time-out, or a worker's error (naming who)
        if owns:
            ray.shutdown()
        else:
            _let_go(actors)
        del actors
        cause = _cause(e)
        raise TimeoutError(f"distgrad.distributed.init: the {n} workers started but did not "
                           f"connect to each other within timeout_s={timeout_s}"
                           + (f" ({cause})" if cause else "")) from None
    links = None
    if os.environ.get("DISTGRAD_CONTROL", "direct") != "ray":
        try:
            links = _open_links(actors, replies, channels[2], _left(deadline))
        except (ray.exceptions.GetTimeoutError, OSError) as e:
            if owns:
                ray.shutdown()
            else:
                _let_go(actors)
            del actors
            raise TimeoutError(f"distgrad.distributed.init: the driver could not connect to "
                               f"its {n} workers within timeout_s={timeout_s} ({e}); a driver "
                               f"outside the cluster's network may not reach the workers' "
                               f"ports: run it on a node, or set DISTGRAD_CONTROL=ray to "
                               f"send its messages as Ray actor calls") from None
    endpoint = RayEndpoint(actors, replies,
                           lambda i, pause: actor_cls.remote(i, blas_threads, test_hooks, pause),
                           channels, links, test_hooks)
    return Runtime("ray", endpoint, n, owns, call_timeout_s, timeout_s)


_START_HINT = "Allow a larger timeout_s (a worker process takes a second or more to start)"


def _let_go(actors) -> None:
    """End the workers of a failed init. Killed, Ray no longer starts processes for those
    still waiting for one (dropping their handles alone leaves it starting each); killed
    from a thread, as a kill takes milliseconds and init's time is up."""
    import ray

    def kill_all(actors):
        for a in actors:
            try:
                ray.kill(a)
            except Exception:
                pass

    threading.Thread(target=kill_all, args=(list(actors),), daemon=True,
                     name="distgrad-init-cleanup").start()


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _connect_workers(actors, replies, deadline, idle_timeout_s, shared_memory,
                     start_timeout_s) -> tuple:
    """Every pair of workers gets its connection for sending tensors (channels.py).
    Returns what a restarted worker needs to join them (RayEndpoint.restart)."""
    import ray

    spans_nodes = len({r.get("node") for r in replies}) > 1
    secret = secrets.token_bytes(SECRET_BYTES)
    table = ray.get([a.open_channels.remote(spans_nodes, idle_timeout_s, secret, shared_memory,
                                            1, start_timeout_s)
                     for a in actors], timeout=_left(deadline))
    ray.get([a.connect_channels.remote(table, _worker_share(deadline)) for a in actors],
            timeout=_left(deadline))
    return table, spans_nodes, secret, idle_timeout_s, shared_memory


def _worker_share(deadline: float) -> float:
    """The time a worker is given for a step of the set-up whose deadline is `deadline`:
    most of what is left, so that its own error (naming the peers it did not reach)
    comes back before the driver's wait for it ends."""
    return 0.9 * _left(deadline)


def _cause(e: BaseException) -> str:
    """What a failed set-up step says of its cause: a worker's own error (a Ray task's),
    not Ray's wrapping of it; "" for the driver's own time-out."""
    import ray

    if isinstance(e, ray.exceptions.GetTimeoutError):
        return ""
    cause = getattr(e, "cause", None)
    if isinstance(e, ray.exceptions.RayTaskError) and cause is not None:
        return str(cause)
    if isinstance(e, ray.exceptions.RayActorError):
        return "the process died"
    return str(e)


def _open_links(actors, replies, secret: bytes, timeout_s: float, indices=None) -> list:
    """The driver's connection to each worker (control.py): by a Unix socket to those on
    its node, by TCP to the others; connected again while timeout_s lasts (control.py).
    indices: the workers' numbers (default 0, 1, ...: all of them, at init)."""
    import ray

    here = _local_node_id()
    remote = [r.get("node") != here for r in replies]
    addresses = ray.get([a.open_control.remote(secret, far) for a, far in zip(actors, remote)],
                        timeout=timeout_s)
    indices = range(len(actors)) if indices is None else indices
    return [control.ControlLink(i, addr, secret, same_node=not far, timeout_s=timeout_s)
            for i, addr, far in zip(indices, addresses, remote)]


def _local_node_id():
    import ray

    return ray.get_runtime_context().get_node_id()


def _kill_pid(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _end_processes(pids, deadline: float) -> list:
    """SIGKILL each process (of this node) and wait until it has ended, until `deadline`;
    the pids still running then."""
    for pid in pids:
        _kill_pid(pid)
    running = list(pids)
    while True:
        running = [pid for pid in running if _running(pid)]
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.005)


def _end_everywhere(processes, deadline: float) -> list:
    """_end_processes for (pid, node) pairs, each on its own node (another node's by a task
    placed there); the pairs still running at `deadline`."""
    import ray

    by_node: dict = {}
    for pid, node in processes:
        if pid and node not in (None, "?"):  # (a process that never said where it runs)
            by_node.setdefault(node, []).append(pid)
    running, here = [], _local_node_id()
    for node, pids in by_node.items():
        if node == here:
            running += [(pid, node) for pid in _end_processes(pids, deadline)]
            continue
        try:
            left = ray.get(_ender(node).remote(pids, _left(deadline)), timeout=_left(deadline))
        except ray.exceptions.GetTimeoutError:
            left = pids
        except ray.exceptions.RayError:
            left = []  # its node is gone, and its processes with it
        running += [(pid, node) for pid in left]
    return running


def _ender(node: str):
    """_end_processes as a task placed on `node` (taking no CPU there: it must start however
    busy the node is)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return ray.remote(_end_processes_within).options(
        num_cpus=0, max_retries=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))


def _end_processes_within(pids, seconds: float) -> list:
    return _end_processes(pids, time.monotonic() + seconds)


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def shutdown() -> None:
    """Stop the workers (and the Ray runtime init() started, if it did). Tensors on
    workers become unusable; init() may be called again."""
    global _runtime
    with _lock:
        rt = _runtime
        if rt is None:
            return
        _runtime = None
        record.register_runtime(None)
        for q in rt.queues:
            q.closed = True
        rt.endpoint.close()
        if rt.owns_ray:
            import ray

            ray.shutdown()


def nodes() -> list:
    """The cluster's nodes as Ray reports them (id, address, resources, alive); one entry
    named "local" for the in-process backend."""
    rt = current()
    if rt.backend == "local":
        return [{"NodeID": "local", "Alive": True, "NodeManagerAddress": "127.0.0.1",
                 "Resources": {}}]
    import ray

    return ray.nodes()


def num_workers() -> int:
    return len(current().queues)


def workers() -> list:
    return [q.device for q in current().queues]


def stats() -> dict:
    """Per worker: pid, Ray node, live tensors, live graph nodes, and their bytes; the
    bytes it has sent to other workers, by how (`sent_bytes`: "socket", "shared_memory";
    "in_process" on the local backend); and `fallbacks`, {op: count} of the ops on
    sharded tensors that no sharding rule covered, gathered and computed on that worker.

    A worker that died has `"dead": True` (and an `"error"`), with zero counts.
    """
    import gc

    gc.collect()
    rt = current()
    out = {}
    for q in rt.queues:
        out[q.device] = _worker_stats(rt, q)
    return out


def _worker_stats(rt, q) -> dict:
    err = None
    for _ in range(3):
        entry = rt.endpoint.dead_entry(q.index)
        if entry is not None:
            return entry
        try:
            body = q.request("stats")
        except WorkerDiedError as e:
            # This worker died (see dead_entry), or a run of it needed a dead worker's tensor:
            # that run's failure is now reported and its frees sent again; ask once more.
            err = e
            continue
        out = {k: body[k] for k in ("pid", "node", "tensors", "nodes", "bytes", "sent_bytes")}
        out["fallbacks"] = {op: n for (w, op), n in fallbacks.items() if w == q.device}
        return out
    raise err


def synchronize(timeout: float | None = None) -> None:
    """Return when every worker has run everything sent to it so far, as
    `torch.cuda.synchronize()` does for a GPU's queue. An error of the calling thread's
    work that no read has raised (an op that failed on a worker, a worker's death) is
    raised here, the first one; another thread's errors are its own.

    A read such as `loss.item()` waits only for the run that made its value, so a step's
    weight gradients and optimizer update may still be running (or queued in the driver)
    when it returns: time a loop of steps up to a `synchronize()`.

    `timeout` (s) bounds the wait for each worker (default: init's call_timeout_s);
    TimeoutError names a worker that did not finish in time.
    """
    rt = current()
    for q in rt.queues:  # queued work goes out first (a run after the runs it receives from)
        q.flush()
    first = None
    with call_timeout(timeout) if timeout is not None else _no_limit():
        for q in rt.queues:  # wait for every worker, even after one has timed out
            try:
                q.check(block=True)
            except Exception as e:
                first = first or e
    if first is not None:
        raise first
    err = rt.errors.take(threading.get_ident())
    if err is not None:
        raise err


class _no_limit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def restart_worker(index: int, timeout_s: float | None = None) -> None:
    """Replace worker `index` with a new process: for a worker that is stuck (a read of it
    raised TimeoutError) or dead (WorkerDiedError). The old process is killed; the
    tensors and graph nodes it held are lost, and reading one of them (or a tensor made
    from one that it had not sent yet) raises WorkerDiedError. The other workers keep
    their tensors, and the new worker is reached as `worker:{index}` again.

    The new process has timeout_s (default: init's timeout_s) to start and connect, or
    TimeoutError says so as init's does; the worker then stays dead (WorkerDiedError)
    until a restart succeeds.
    """
    rt = current()
    if not isinstance(index, int) or not 0 <= index < len(rt.queues):
        raise ValueError(f"restart_worker: no worker {index!r}; this runtime has workers "
                         f"0..{len(rt.queues) - 1}")
    q = rt.queues[index]
    with rt.lock:
        for other in rt.queues:  # what the others were to send it is sent (and then fails)
            if other is not q:
                other.flush()
        q.restarted()
        if rt.backend == "local":
            rt.endpoint.restart(index)
        else:
            rt.endpoint.restart(index, rt.start_timeout_s if timeout_s is None else timeout_s)


def counters() -> dict:
    """Messages and bytes the driver exchanged with each worker since init, and the
    collectives recorded ({kind: count})."""
    return {**current().counters.snapshot(), "collectives": dict(collectives)}
