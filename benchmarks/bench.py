"""`python -m distgrad bench`: distgrad against PyTorch's distributed autograd (SPEC section 4).

One training step, the same in every system (model.py): a 4-layer MLP, MSE loss, layers
1-2 on worker 0 and 3-4 on worker 1, forward + backward + SGD step, float32, the loss read
as a Python float every step. Systems:

    distgrad          Ray backend, 2 local workers (or --backend local)
    distgrad_sharded  column/row-parallel layers over both workers
    distgrad_compiled, distgrad_sharded_compiled
                      the distgrad and distgrad_sharded steps under distgrad.compile
    distgrad_dp       nn.parallel.DistributedDataParallel over both workers, global batch
    distgrad_pp       distributed.pipelining Schedule1F1B, 2 | 2 layers, 4 micro-batches
    distgrad_pp_zb    the same with ScheduleZeroBubble
    distgrad_pp_compiled, distgrad_pp_zb_compiled
                      the two pipeline steps under distgrad.compile
    torch_rpc         torch.distributed.autograd + rpc, TensorPipe on 127.0.0.1, 2 workers
    torch_ddp         DistributedDataParallel, 2 ranks (gloo), half the batch each
    torch_tp          DTensor parallelize_module, Colwise/Rowwise pairs, 2 ranks (gloo)
    torch_pp          torch.distributed.pipelining Schedule1F1B, 2 | 2 layers, 4 micro-batches
    torch_local       the same model in one PyTorch process
    numpy             forward + backward + update written by hand (the compute floor)

A distgrad row whose API is missing reads "not available: <why>"; `--systems` picks rows.

How each is measured alike:
  - Each system runs in processes of its own (runner.py; both distgrad systems share one
    driver and its workers), as its users run it: one thread per process, glibc's
    default memory settings except distgrad's workers, which keep freed memory (they set
    it themselves). While one system is timed the others' processes are idle; the bench
    measures their CPU time during every chunk (cpu.py) and says so when it is not small.
  - The timed steps go in chunks, interleaved (A B C A B C ..., the order rotated each
    round) so drift hits all alike. A chunk ends when the system's work is done
    (distgrad: `dist.synchronize()`; the peers' steps are synchronous), and ms per step is
    the chunk's time / its steps. Each step's own clock (until `loss.item()` returned) is
    kept as a second figure.

    python -m distgrad bench --sizes S,M --json bench.json
    python -m distgrad bench --systems torch_ddp,torch_tp,torch_pp,torch_local
    python -m distgrad bench --scaling          # workers 1,2,4 x depth 4,16,64 at S
    python -m distgrad bench --profile          # cProfile of the distgrad step at S
    python -m distgrad bench --simulate         # the driver alone, 2..256 simulated workers
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from . import cpu
from .model import SIZES, make_params
from .runner import ChildGroup, InProcess, time_chunk
from .groups import GROUPS
from .systems import Distgrad, DistgradCompiled

SYSTEMS = ("distgrad", "distgrad_sharded", "distgrad_dp", "distgrad_pp", "distgrad_pp_zb",
           "distgrad_compiled", "distgrad_sharded_compiled", "distgrad_pp_compiled",
           "distgrad_pp_zb_compiled", "torch_rpc", "torch_ddp",
           "torch_tp", "torch_pp", "torch_local", "numpy")
# Each distgrad row's like-for-like PyTorch row (ratio_to_peer).
PEERS = {"distgrad": "torch_rpc", "distgrad_sharded": "torch_tp", "distgrad_dp": "torch_ddp",
         "distgrad_pp": "torch_pp", "distgrad_pp_zb": "torch_pp",
         "distgrad_compiled": "torch_ddp", "distgrad_sharded_compiled": "torch_tp",
         "distgrad_pp_compiled": "torch_pp", "distgrad_pp_zb_compiled": "torch_pp"}
DEFAULT_STEPS = {"S": 200, "M": 60, "L": 12}  # timed steps per system
CHUNK_STEPS = {"S": 20, "M": 6, "L": 4}  # steps per chunk: the drain is a small part of it
WARMUP = {"S": 10, "M": 3, "L": 2}  # (a compiled step records on its first two calls)
OTHER_CPU_WARN_PCT = 3.0  # other systems' CPU during a system's chunks, in % of one core
OUTSIDE_CPU_WARN_PCT = 10.0  # processes outside the bench (other users of the machine)
THREADS_NOTE = ("one thread per process: OMP/OPENBLAS/MKL_NUM_THREADS=1, threadpoolctl and "
                "torch.set_num_threads(1) in every driver, Ray worker, torch RPC worker and "
                "torch gloo rank")
MEMORY_NOTE = ("glibc's default memory settings in every process but distgrad's workers, which "
               "keep freed memory for reuse (distgrad.distributed.memory, set by the workers "
               "themselves); numpy and PyTorch users set nothing, so their processes do not")
TIMING_NOTE = ("each system in processes of its own, timed in interleaved chunks that end when "
               "its work is done (distgrad: dist.synchronize(); torch's 2-rank peers: an "
               "all-reduce both ranks reach after their last step); ms/step = chunk time / steps; "
               "the processes the other systems started (Ray's daemons and workers, torch RPC "
               "workers, torch's rank 1) are stopped during a system's chunks")


# ---- the interleaved schedule ---------------------------------------------------------------------

def _percentile(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _chunks(steps: int, rounds: int) -> list:
    base, extra = divmod(steps, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


class _CpuWatch:
    """CPU time during one system's chunks: its own processes', the other systems', and
    the rest of the machine's (not the bench's: other users), as % of one core; and which
    of the other systems' processes used it."""

    def __init__(self, runners: dict):
        self.runners = runners
        self.on = cpu.available() and any(r.pids for r in runners.values())
        self.totals: dict = {}
        self.by_name: dict = {}  # system -> {process name of another system: CPU seconds}

    def measure(self, name, fn):
        if not self.on or not self.runners[name].pids:
            return fn()
        mine = self.runners[name].pids
        own = cpu.process_tree(mine)
        others = cpu.process_tree([p for r in self.runners.values() if r.pids != mine
                                   for p in r.pids]) - own
        me = {os.getpid()}
        b_others = cpu.per_process(others)
        b = (cpu.cpu_seconds(own), cpu.cpu_seconds(me), cpu.machine_busy_seconds(),
             time.perf_counter())
        out = fn()
        a = (cpu.cpu_seconds(own), cpu.cpu_seconds(me), cpu.machine_busy_seconds(),
             time.perf_counter())
        a_others = cpu.per_process(others)
        d_own, d_me, d_busy, wall = [x - y for x, y in zip(a, b)]
        names = self.by_name.setdefault(name, {})
        d_others = 0.0
        for pid, sec in a_others.items():
            d = sec - b_others.get(pid, sec)
            d_others += d
            if d > 0:
                key = cpu.name(pid)
                names[key] = names.get(key, 0.0) + d
        t = self.totals.setdefault(name, [0.0] * 4)
        t[0] += d_own
        t[1] += d_others
        t[2] += max(0.0, d_busy - d_own - d_others - d_me)
        t[3] += wall
        return out

    def figures(self, name) -> dict:
        t = self.totals.get(name)
        if not t or t[3] <= 0:
            return {}
        own, other, outside, wall = t
        top = sorted(self.by_name.get(name, {}).items(), key=lambda kv: -kv[1])[:4]
        return {"own_cpu_pct": 100 * own / wall, "other_systems_cpu_pct": 100 * other / wall,
                "other_systems_cpu_by_process_pct": {k: 100 * v / wall for k, v in top},
                "outside_cpu_pct": 100 * outside / wall}


def _runner(obj):
    return obj if hasattr(obj, "chunk") else InProcess(obj)


def run_size(size: str, systems: dict, steps: int, warmup: int, log, chunk_steps=None,
             pause_others: bool = True) -> dict:
    """Set every system up and warm it up, then time interleaved chunks; one size.

    `systems` maps a name to a runner (runner.ChildSystem), a system object (run in this
    process), or a string saying why it is not measured. With `pause_others`, the
    processes started by the other systems' groups are stopped during a system's chunks."""
    live, rows, runners, chunks = [], {}, {}, {}
    for name, obj in systems.items():
        if isinstance(obj, str):  # not installed / not available
            rows[name] = {"status": obj, "median_ms": None, "p90_ms": None}
            continue
        runners[name] = r = _runner(obj)
        try:
            seconds = r.setup(size, warmup)
        except Exception as e:  # one system's failure is its row's, the others still run
            rows[name] = _failed(name, size, "set-up", e, log)
            _safe(r.teardown)
            continue
        log(f"  {size}: {name} set up and warmed up in {seconds:.1f} s")
        live.append(name)
        chunks[name] = []
    per_chunk = chunk_steps or CHUNK_STEPS.get(size, 1)
    plan = _chunks(steps, max(1, math.ceil(steps / per_chunk))) if steps else []
    watch = _CpuWatch({n: runners[n] for n in live})
    for r, n_steps in enumerate(plan):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for name in order:
            try:
                with _others_paused(runners[name], [runners[n] for n in live], pause_others):
                    chunks[name].append(watch.measure(name, lambda: runners[name].chunk(n_steps)))
            except Exception as e:
                rows[name] = _failed(name, size, "a timed chunk", e, log)
                live.remove(name)
                _safe(runners[name].teardown)
    for name in live:
        rows[name] = _row(chunks[name], warmup)
        rows[name].update(watch.figures(name))
        _safe(runners[name].teardown)
    _ratios(rows)
    _check(size, rows, live, log)
    return rows


class _others_paused:
    """The other groups' started processes stopped while `timed` runs a chunk."""

    def __init__(self, timed, runners, on: bool):
        mine = getattr(timed, "group", None)
        groups = {id(r.group): r.group for r in runners if getattr(r, "group", None) is not None}
        self.groups = [g for g in groups.values() if g is not mine] if on else []
        self.paused: list = []

    def __enter__(self):
        for g in self.groups:
            g.pause()
            self.paused.append(g)
        return self

    def __exit__(self, *exc):
        for g in self.paused:
            _safe(g.resume)
        return False


def _row(chunks: list, warmup: int) -> dict:
    per_step = [c["chunk_ms"] / c["steps"] for c in chunks]
    clock = [t for c in chunks for t in c["step_ms"]]
    n = sum(c["steps"] for c in chunks)
    total_ms = sum(c["chunk_ms"] for c in chunks)
    row = {"status": "ok", "median_ms": statistics.median(per_step),
           "p90_ms": _percentile(per_step, 0.9), "mean_ms": total_ms / n, "steps": n,
           "chunks": len(chunks), "steps_per_chunk": max(c["steps"] for c in chunks),
           "warmup_steps": warmup, "step_clock_median_ms": statistics.median(clock),
           "step_clock_p90_ms": _percentile(clock, 0.9),
           "drain_ms_mean": statistics.fmean(c["drain_ms"] for c in chunks),
           "drain_share": sum(c["drain_ms"] for c in chunks) / total_ms,
           "final_loss": chunks[-1].get("final_loss", chunks[-1]["losses"][-1])}
    if "counters" in chunks[0]:
        d = np.sum([np.array(c["counters"], dtype=np.int64) for c in chunks], axis=0)
        m, sent, recv = d[:3].sum(axis=1) / n
        row.update(messages_per_step=float(m), driver_bytes_sent_per_step=float(sent),
                   driver_bytes_received_per_step=float(recv),
                   worker_to_worker_bytes_per_step=float(d[3, 0] / n),
                   messages_per_step_per_worker=[float(v) for v in d[0] / n])
    if "timeline" in chunks[0]:  # the pipeline rows: idle share of the workers' time
        tls = [c["timeline"] for c in chunks]
        idle = sum(sum(t["idle_ms"].values()) for t in tls)
        spans = sum(t["span_ms"] * len(t["idle_ms"]) for t in tls)
        row.update(bubble_fraction=idle / spans if spans else None,
                   theoretical_bubble_fraction=tls[0]["theory"],
                   busy_ms_per_step={w: sum(t["busy_ms"][w] for t in tls) / n
                                     for w in tls[0]["busy_ms"]})
    return row


def _ratios(rows: dict) -> None:
    ref_rpc = rows.get("torch_rpc", {}).get("median_ms")
    ref_np = rows.get("numpy", {}).get("median_ms")
    for name, row in rows.items():
        med = row.get("median_ms")
        row["ratio_to_torch_rpc"] = med / ref_rpc if med and ref_rpc else None
        row["ratio_to_numpy"] = med / ref_np if med and ref_np else None
        if name in PEERS:
            ref = rows.get(PEERS[name], {}).get("median_ms")
            row["peer"] = PEERS[name]
            row["ratio_to_peer"] = med / ref if med and ref else None


def _check(size, rows, live, log) -> None:
    """The systems computed the same training; each ran alone while it was timed."""
    losses = {n: rows[n]["final_loss"] for n in live}
    check: dict = {}
    if len(losses) > 1:
        vals = list(losses.values())
        spread = (max(vals) - min(vals)) / max(abs(min(vals)), 1e-12)
        check.update(final_loss_rel_spread=spread, final_losses=losses)
        if spread > 1e-3:
            log(f"  WARNING {size}: the systems' final losses differ by {spread:.2e} (relative): "
                f"{losses}")
    for n in live:
        other = rows[n].get("other_systems_cpu_pct")
        if other is not None and other > OTHER_CPU_WARN_PCT:
            who = ", ".join(f"{k} {v:.1f}%" for k, v in
                            rows[n].get("other_systems_cpu_by_process_pct", {}).items())
            check.setdefault("warnings", []).append(
                f"{size} {n}: other systems' processes used {other:.1f}% of a core during its "
                f"chunks (over {OTHER_CPU_WARN_PCT:g}%; {who})")
        outside = rows[n].get("outside_cpu_pct")
        if outside is not None and outside > OUTSIDE_CPU_WARN_PCT:
            check.setdefault("warnings", []).append(
                f"{size} {n}: processes outside the bench used {outside:.0f}% of a core during "
                f"its chunks: the machine was busy")
    for w in check.get("warnings", []):
        log(f"  WARNING {w}")
    if check:
        rows["check"] = check


def _failed(name, size, when, e, log) -> dict:
    msg = f"failed in {when}: {type(e).__name__}: {e}"
    log(f"  {size}: {name} {msg}")
    return {"status": msg, "median_ms": None, "p90_ms": None}


def _safe(fn) -> None:
    try:
        fn()
    except Exception as e:
        print(f"bench: ignoring error in clean-up: {type(e).__name__}: {e}", file=sys.stderr)


# ---- output -------------------------------------------------------------------------------------

def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(result: dict, out=sys.stdout) -> None:
    hdr = (f"{'size':<4} {'system':<17} {'ms/step':>9} {'p90':>9} {'x rpc':>6} {'x peer':>6} "
           f"{'x numpy':>7} "
           f"{'clock ms':>9} {'drain %':>7} {'others %':>8} {'msgs/step':>9} {'sent B':>7} "
           f"{'recv B':>6}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for size, rows in result["sizes"].items():
        for name in SYSTEMS:
            if name not in rows:
                continue
            r = rows[name]
            if r.get("median_ms") is None:
                print(f"{size:<4} {name:<17} {r.get('status', '')}", file=out)
                continue
            print(f"{size:<4} {name:<17} {r['median_ms']:>9.3f} {r['p90_ms']:>9.3f} "
                  f"{_fmt(r.get('ratio_to_torch_rpc'), '6.2f'):>6} "
                  f"{_fmt(r.get('ratio_to_peer'), '6.2f'):>6} "
                  f"{_fmt(r.get('ratio_to_numpy'), '7.2f'):>7} "
                  f"{r['step_clock_median_ms']:>9.3f} {100 * r['drain_share']:>7.1f} "
                  f"{_fmt(r.get('other_systems_cpu_pct'), '8.1f'):>8} "
                  f"{_fmt(r.get('messages_per_step'), '9.2f'):>9} "
                  f"{_fmt(r.get('driver_bytes_sent_per_step'), '7.0f'):>7} "
                  f"{_fmt(r.get('driver_bytes_received_per_step'), '6.0f'):>6}", file=out)
        chk = rows.get("check", {})
        any_row = next((r for r in rows.values() if r.get("steps_per_chunk")), None)
        notes = []
        if any_row:
            notes.append(f"{any_row['chunks']} chunks of {any_row['steps_per_chunk']} steps")
        if "final_loss_rel_spread" in chk:
            notes.append(f"final losses agree to {chk['final_loss_rel_spread']:.1e} relative")
        outside = [r["outside_cpu_pct"] for r in rows.values() if "outside_cpu_pct" in r]
        if outside:
            notes.append(f"processes outside the bench: {max(outside):.1f}% of a core at most")
        if notes:
            print(f"{size:<4} ({'; '.join(notes)})", file=out)
        bubbles = [f"{n} {r['bubble_fraction']:.2f} ({r['theoretical_bubble_fraction']:.2f})"
                   for n, r in ((n, rows.get(n, {})) for n in SYSTEMS)
                   if r.get("bubble_fraction") is not None]
        if bubbles:
            print(f"{size:<4} (bubble, measured (schedule's theory): {', '.join(bubbles)})",
                  file=out)
        for w in chk.get("warnings", []):
            print(f"WARNING {w}", file=out)
    print("ms/step, p90: per chunk, chunk time / steps, the chunk ending when the system's work "
          "is done. clock ms: each step's own clock, until loss.item() returned. drain %: the "
          "share of chunk time spent in the end-of-chunk wait (distgrad: dist.synchronize(), "
          "one round trip plus the last step's tail; torch's 2-rank peers: one all-reduce). "
          "x peer: against the distgrad row's like-for-like torch row (" + ", ".join(
              f"{k} / {v}" for k, v in PEERS.items()) + "). others %: CPU used by the other systems' "
          "processes during this system's chunks, in % of one core. msgs/step and bytes: "
          "what distgrad's driver sent to / received from its workers per step.", file=out)


def machine_info() -> dict:
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "threads": THREADS_NOTE, "memory": MEMORY_NOTE, "timing": TIMING_NOTE}
    for mod in ("torch", "ray"):  # versions without importing them
        try:
            info[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            info[mod] = None
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = sorted({f"{d.get('internal_api')} {d.get('version')}"
                               for d in threadpool_info() if d.get("user_api") == "blas"})
    except Exception:
        pass
    if "OPENBLAS_CORETYPE" in os.environ:
        info["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"]
    return info


def _loadavg():
    """The 1-minute load average (other work on the machine skews every system's time)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- the table: every system, each in its own processes ----------------------------------------------

def _open_groups(wanted, args, log) -> tuple:
    """Start a process per group of the wanted systems: ({name: runner or why not}, groups)."""
    has_torch = importlib.util.find_spec("torch") is not None
    options = {"backend": args.backend, "api": args.api, "torch_transports": args.torch_transports,
               "ray_worker_niceness": args.ray_worker_niceness}
    systems, groups = {}, {}
    for name in SYSTEMS:
        if name not in wanted:
            continue
        group = GROUPS[name]
        if group.startswith("torch") and not has_torch:
            systems[name] = "not installed (torch)"
            continue
        if group not in groups:
            names = [n for n in wanted if GROUPS[n] == group]
            t0 = time.perf_counter()
            try:
                groups[group] = ChildGroup(group, names, options)
            except Exception as e:
                groups[group] = f"failed to start: {e}"
                log(f"{group}: {groups[group]}")
            else:
                log(f"{group}: process {groups[group].proc.pid} up in "
                    f"{time.perf_counter() - t0:.1f} s")
        g = groups[group]
        if isinstance(g, str):
            systems[name] = g
        elif g.names.get(name):
            systems[name] = g.names[name]  # why not
        else:
            systems[name] = g.system(name)
    return systems, groups


def bench_table(args, log) -> dict:
    if args.steps is not None and args.steps < 1:
        raise SystemExit("bench: --steps must be at least 1")
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"bench: unknown size {s!r}; choose from {', '.join(SIZES)}")
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in wanted:
        if s not in SYSTEMS:
            raise SystemExit(f"bench: unknown system {s!r}; choose from {', '.join(SYSTEMS)}")
    systems, groups = {}, {}
    try:
        systems, groups = _open_groups(wanted, args, log)
        result = {"sizes": {}}
        for size in sizes:
            steps = args.steps if args.steps is not None else DEFAULT_STEPS[size]
            if size == "L" and args.steps is not None and args.steps_l is None:
                steps = min(args.steps, DEFAULT_STEPS["L"])
            if size == "L" and args.steps_l is not None:
                steps = args.steps_l
            warmup = args.warmup if args.warmup is not None else WARMUP[size]
            chunk = args.chunk_steps or CHUNK_STEPS[size]
            log(f"size {size} (batch {SIZES[size][0]}, width {SIZES[size][1]}): "
                f"{warmup} warm-up + {steps} timed steps per system, chunks of {chunk}")
            result["sizes"][size] = run_size(size, systems, steps, warmup, log, chunk,
                                             pause_others=not args.no_pause)
        live = {g: grp for g, grp in groups.items() if not isinstance(grp, str)}
        result["config"] = {
            "backend": args.backend,
            "distgrad_api": live["distgrad"].info.get("distgrad_api") if "distgrad" in live else None,
            "torch_rpc_transports": args.torch_transports,
            "ray_worker_niceness": args.ray_worker_niceness, "layers": 4,
            "placement": "layers 1-2 worker 0, 3-4 worker 1",
            "timing": TIMING_NOTE, "threads": THREADS_NOTE, "memory": MEMORY_NOTE,
            "others_paused": not args.no_pause,
            "processes": {g: grp.info for g, grp in live.items()}}
        return result
    finally:
        for g in groups.values():
            if not isinstance(g, str):
                _safe(g.close)


# ---- distgrad alone: scaling and profile, in this process ----------------------------------------------

def _start_distgrad(args, num_workers: int):
    """Init distgrad's runtime unless the caller already did; returns whether we own it."""
    import distgrad.distributed as dist

    if dist.is_initialized():
        if dist.num_workers() < num_workers:
            raise RuntimeError(f"bench needs {num_workers} workers; distgrad.distributed is "
                               f"initialized with {dist.num_workers()}")
        return False
    kwargs = {}
    if args.backend == "ray" and args.ray_worker_niceness != "keep":
        kwargs["_system_config"] = {"worker_niceness": int(args.ray_worker_niceness)}
    dist.init(num_workers, backend=args.backend, **kwargs)
    return True


def _graph_nodes(loss) -> int:
    """Graph nodes of one step (excluding AccumulateGrad), walked from the loss."""
    seen, stack, count = set(), [loss.grad_fn], 0
    keep = []  # the visited nodes stay alive, so no id() is reused during the walk
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        keep.append(f)
        if "AccumulateGrad" not in f.name():
            count += 1
        stack.extend(g for g, _ in f.next_functions)
    return count


def bench_scaling(args, log) -> list:
    """Workers 1, 2, 4 x depth 4, 16, 64 at S, eager and under distgrad.compile: the
    coordinator's time per graph node. Timed like the table: chunks that end with
    `dist.synchronize()`."""
    import distgrad.distributed as dist

    workers = [int(w) for w in args.scaling_workers.split(",")]
    depths = [int(d) for d in args.scaling_depths.split(",")]
    modes = args.scaling_modes.split(",")
    steps = args.steps if args.steps is not None else 30
    per_chunk = args.chunk_steps or 10
    warmup = args.warmup if args.warmup is not None else 3
    batch, width = SIZES["S"]
    owned = _start_distgrad(args, max(workers))
    rows = []
    try:
        for n, depth, mode in [(n, d, m) for n in workers for d in depths for m in modes]:
            s = (DistgradCompiled if mode == "compiled" else Distgrad)(args.api)
            s.setup(make_params(batch, width, depth=depth, workers=n))
            for _ in range(warmup):
                s.step()
            nodes = _graph_nodes(s.forward())  # one extra forward, not timed
            gc.collect()
            dist.synchronize()
            chunks, cpu_ms = [], 0.0
            for k in _chunks(steps, max(1, math.ceil(steps / per_chunk))):
                c0 = time.thread_time()
                chunks.append(time_chunk(s, k, s.counters))
                cpu_ms += (time.thread_time() - c0) * 1e3
            paced = _paced_driver_cpu_ms(s, steps, args.scaling_pace_ms)
            s.teardown()
            row = _row(chunks, warmup)
            med = row["median_ms"]
            per_worker = np.sum([np.array(c["counters"][0]) for c in chunks], axis=0) / steps
            cpu_step = cpu_ms / steps
            rows.append({"workers": n, "depth": depth, "mode": mode, "graph_nodes": nodes,
                         "steps": steps,
                         "steps_per_chunk": row["steps_per_chunk"],
                         "median_ms": med, "p90_ms": row["p90_ms"],
                         "step_clock_median_ms": row["step_clock_median_ms"],
                         "driver_cpu_ms": cpu_step, "paced_driver_cpu_ms": paced,
                         "us_per_node": med / nodes * 1e3,
                         "driver_cpu_us_per_node": cpu_step / nodes * 1e3,
                         "messages_per_step": row["messages_per_step"],
                         "max_messages_per_worker": float(per_worker.max()),
                         "driver_bytes_sent_per_step": row["driver_bytes_sent_per_step"],
                         "driver_bytes_received_per_step": row["driver_bytes_received_per_step"]})
            log(f"  scaling: {n} workers, depth {depth}, {mode}: {med:.2f} ms/step")
    finally:
        if owned:
            _safe(dist.shutdown)
    return rows


def bench_simulated(args, log) -> list:
    """The driver alone at scale: the layer-placed step at S on n simulated workers
    (distgrad/distributed/simulated.py: every message handled, every kernel skipped), eager
    and compiled. Per step: the driver's CPU time (its thread's, less the time the
    in-process workers took) and its messages and bytes. No wall-clock figure: the
    workers compute nothing."""
    import distgrad.distributed as dist

    if dist.is_initialized():
        raise RuntimeError("bench --simulate starts its own runtimes: shut down the current one")
    workers = [int(w) for w in args.simulate_workers.split(",")]
    depths = [int(d) for d in args.simulate_depths.split(",")]
    modes = args.scaling_modes.split(",")
    steps = args.steps if args.steps is not None else 10
    warmup = args.warmup if args.warmup is not None else 3
    batch, width = SIZES["S"]
    rows = []
    for n in workers:
        rt = dist.init(n, backend="simulated")
        try:
            for depth, mode in [(d, m) for d in depths for m in modes]:
                s = (DistgradCompiled if mode == "compiled" else Distgrad)(args.api)
                params = make_params(batch, width, depth=depth, workers=n)
                s.setup(params)
                for _ in range(warmup):
                    s.step()
                dist.synchronize()
                gc.collect()
                before, w0 = dist.counters(), rt.endpoint.worker_cpu_s
                c0 = time.thread_time()
                for _ in range(steps):
                    s.step()
                cpu = time.thread_time() - c0 - (rt.endpoint.worker_cpu_s - w0)
                after = dist.counters()  # (each step ran when sent: no drain to charge)
                dist.synchronize()
                s.teardown()
                delta = {k: sum(after[k]) - sum(before[k]) for k in ("messages", "bytes_sent")}
                rows.append({"workers": n, "workers_used": len(set(params["placement"])),
                             "depth": depth, "mode": mode, "steps": steps,
                             "driver_cpu_ms": cpu / steps * 1e3,
                             "messages_per_step": delta["messages"] / steps,
                             "driver_bytes_sent_per_step": delta["bytes_sent"] / steps})
                log(f"  simulated: {n} workers, depth {depth}, {mode}: "
                    f"{rows[-1]['driver_cpu_ms']:.2f} ms of driver CPU per step")
        finally:
            _safe(dist.shutdown)
    return rows


def _paced_driver_cpu_ms(system, steps: int, pace_ms: float):
    """The driver's CPU time per step when a step starts every `pace_ms` whatever the
    model (None if pace_ms is 0 or a step takes longer). A longer step leaves the driver
    idle longer, and here an idle core comes back with cold caches: its next step costs
    more CPU for the same work. At one pace, every depth pays that alike, and what is
    left is the driver's own work."""
    if not pace_ms:
        return None
    spent, late = 0.0, False
    next_start = time.perf_counter() + pace_ms / 1e3
    for _ in range(steps):
        delay = next_start - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            late = True
        next_start += pace_ms / 1e3
        c0 = time.thread_time()
        system.step()
        spent += time.thread_time() - c0
    return None if late else spent / steps * 1e3


def print_simulated(rows, out=sys.stdout) -> None:
    hdr = (f"{'workers':>7} {'used':>5} {'depth':>5} {'mode':>8} {'drv cpu ms':>10} "
           f"{'msgs/step':>9} {'sent B/step':>11}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in rows:
        print(f"{r['workers']:>7} {r['workers_used']:>5} {r['depth']:>5} {r['mode']:>8} "
              f"{r['driver_cpu_ms']:>10.2f} {r['messages_per_step']:>9.1f} "
              f"{r['driver_bytes_sent_per_step']:>11.0f}", file=out)
    print("used: workers holding a layer (layer l on worker l * workers // depth); drv cpu ms: "
          "the driver thread's CPU time per step, the simulated workers' own time taken out",
          file=out)


def print_scaling(rows, out=sys.stdout) -> None:
    hdr = (f"{'workers':>7} {'depth':>5} {'mode':>8} {'nodes':>6} {'ms/step':>9} "
           f"{'drv cpu ms':>10} {'paced':>6} "
           f"{'us/node':>8} {'cpu us/node':>11} {'msgs/step':>9} {'max/worker':>10} {'recv B/step':>11}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in rows:
        print(f"{r['workers']:>7} {r['depth']:>5} {r.get('mode', 'eager'):>8} "
              f"{r['graph_nodes']:>6} {r['median_ms']:>9.2f} "
              f"{r['driver_cpu_ms']:>10.2f} {_ms(r.get('paced_driver_cpu_ms')):>6} "
              f"{r['us_per_node']:>8.1f} "
              f"{r['driver_cpu_us_per_node']:>11.1f} "
              f"{r['messages_per_step']:>9.2f} {r['max_messages_per_worker']:>10.2f} "
              f"{r['driver_bytes_received_per_step']:>11.0f}", file=out)
    print("nodes: graph nodes per step, AccumulateGrad excluded; ms/step: chunks ending with "
          "dist.synchronize(), chunk time / steps; us/node = ms/step / nodes; cpu us/node = the "
          "driver's main-thread CPU time per step / nodes; paced: the driver's CPU per step "
          "when steps start at a fixed pace (--scaling-pace-ms; '-' where a step is longer)",
          file=out)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def bench_profile(args, log) -> dict:
    """cProfile of the distgrad step at S (after warm-up), up to `dist.synchronize()`."""
    import cProfile
    import io
    import pstats

    import distgrad.distributed as dist

    steps = args.steps if args.steps is not None else 100
    owned = _start_distgrad(args, 2)
    try:
        s = Distgrad(args.api)
        s.setup(make_params(*SIZES["S"]))
        for _ in range(WARMUP["S"]):
            s.step()
        dist.synchronize()
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for _ in range(steps):
            s.step()
        dist.synchronize()
        prof.disable()
        wall = (time.perf_counter() - t0) / steps * 1e3
        s.teardown()
    finally:
        if owned:
            _safe(dist.shutdown)
    if args.profile_out:
        prof.dump_stats(args.profile_out)
    texts = {}
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.profile_top)
        texts[key] = buf.getvalue()
    return {"steps": steps, "ms_per_step_under_profile": wall, "backend": args.backend,
            "by_cumulative": texts["cumulative"], "by_tottime": texts["tottime"]}


# ---- the command line ----------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m distgrad bench",
        description="distgrad against torch.distributed.autograd over RPC, single-process torch "
                    "and a numpy floor: a 4-layer model-parallel MLP training step. " + TIMING_NOTE
                    + ".")
    ap.add_argument("--sizes", default="S,M", help="comma list of S, M, L (default S,M; L is "
                    "slow, seconds per step per system)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per system and size "
                    f"(default {DEFAULT_STEPS}; L takes at most {DEFAULT_STEPS['L']} unless --steps-l)")
    ap.add_argument("--steps-l", type=int, default=None, help="timed steps at L")
    ap.add_argument("--chunk-steps", type=int, default=None,
                    help=f"steps per timed chunk (default {CHUNK_STEPS}; scaling: 10)")
    ap.add_argument("--warmup", type=int, default=None, help=f"untimed steps first (default {WARMUP})")
    ap.add_argument("--no-pause", action="store_true",
                    help="leave the other systems' started processes (Ray's daemons and workers, "
                         "the torch RPC workers) running while a system is timed (default: "
                         "stopped with SIGSTOP, continued after its chunk)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of " + ", ".join(SYSTEMS))
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--backend", choices=("ray", "local"), default="ray",
                    help="distgrad's backend (default ray: 2 local Ray worker actors)")
    ap.add_argument("--torch-transports", default="uv",
                    help="TensorPipe transports of the torch RPC baseline: uv (default: TCP on "
                         "127.0.0.1) or default (TensorPipe's choice; its shm transport "
                         "busy-polls about 30%% of a core per idle process)")
    ap.add_argument("--ray-worker-niceness", default="0",
                    help="nice level of distgrad's Ray workers (default 0, as distgrad.distributed."
                         "init sets on a local runtime; 'keep' leaves Ray's default of 15)")
    ap.add_argument("--api", choices=("auto", "nn", "raw"), default="auto",
                    help="distgrad model code: nn.Linear + optim.SGD, or raw tensors "
                         "(auto: nn if present)")
    ap.add_argument("--scaling", action="store_true",
                    help="instead of the table: workers x depth at S, coordinator time per node")
    ap.add_argument("--scaling-workers", default="1,2,4")
    ap.add_argument("--scaling-depths", default="4,16,64")
    ap.add_argument("--simulate", action="store_true",
                    help="the driver alone on simulated workers (kernels skipped): "
                         "--simulate-workers x --simulate-depths, eager and compiled")
    ap.add_argument("--simulate-workers", default="2,8,32,128,256")
    ap.add_argument("--simulate-depths", default="4,16,64")
    ap.add_argument("--scaling-pace-ms", type=float, default=25.0,
                    help="after each scaling point's timed steps, as many steps started "
                         "every this many ms, for the driver's CPU at one pace (0: skip)")
    ap.add_argument("--scaling-modes", default="eager,compiled",
                    help="eager, compiled (the step under distgrad.compile), or both")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the table: cProfile of the distgrad step at S")
    ap.add_argument("--profile-top", type=int, default=30)
    ap.add_argument("--profile-out", metavar="FILE", help="also dump the cProfile stats here")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def main(argv=None) -> dict:
    """Entry point of `python -m distgrad bench`; returns what it wrote as JSON."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.chunk_steps is not None and args.chunk_steps < 1:
        raise SystemExit("bench: --chunk-steps must be at least 1")

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    result: dict = {}
    load_start = _loadavg()
    with _one_blas_thread() as threads:
        if args.scaling:
            result["scaling"] = bench_scaling(args, log)
            print(f"\nScaling at S (batch {SIZES['S'][0]}, width {SIZES['S'][1]}), distgrad "
                  f"{args.backend} backend, layers spread evenly over the workers:")
            print_scaling(result["scaling"])
        if args.profile:
            result["profile"] = bench_profile(args, log)
            pr = result["profile"]
            print(f"\ncProfile of {pr['steps']} distgrad steps at S ({args.backend} backend, "
                  f"{pr['ms_per_step_under_profile']:.2f} ms/step under the profiler, "
                  f"up to dist.synchronize()):")
            print(pr["by_cumulative"])
            print(pr["by_tottime"])
        if args.simulate:
            result["simulated"] = bench_simulated(args, log)
            print(f"\nSimulated cluster at S (batch {SIZES['S'][0]}, width {SIZES['S'][1]}): "
                  "in-process workers that handle every message and skip every kernel:")
            print_simulated(result["simulated"])
        if not (args.scaling or args.profile or args.simulate):
            result.update(bench_table(args, log))
            print("\ndistgrad bench: 4-layer MLP, layers 1-2 on worker 0, 3-4 on worker 1; "
                  "ms per training step (forward + backward + SGD + loss.item()).")
            print(f"Timing: {TIMING_NOTE}.")
            print(f"Threads: {THREADS_NOTE}.")
            print(f"Memory: {MEMORY_NOTE}.")
            print_table(result)
    result["machine"] = machine_info()
    result["machine"]["loadavg_1min_start_end"] = [load_start, _loadavg()]
    result["machine"]["bench_process_thread_pools"] = threads.info
    result["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']}, torch {m.get('torch')}, "
          f"ray {m.get('ray')}; load average {load_start} -> {m['loadavg_1min_start_end'][1]}; "
          f"{result['date']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        log(f"wrote {args.json}")
    return result


class _one_blas_thread:
    """One BLAS thread in this process (distgrad's driver in --scaling and --profile),
    restored after."""

    def __enter__(self):
        self.limits = None
        try:
            from threadpoolctl import threadpool_info, threadpool_limits

            self.limits = threadpool_limits(1)
            self.info = sorted({(d.get("internal_api"), d.get("num_threads"))
                                for d in threadpool_info()})
        except ImportError:
            self.info = "threadpoolctl not installed: BLAS threads not limited in the driver"
            print(f"bench: {self.info}", file=sys.stderr)
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.restore_original_limits()
        return False


if __name__ == "__main__":
    main()
