"""`python -m distgrad bench`: distgrad against PyTorch's distributed autograd (SPEC section 4).

One training step, the same in every system: a 4-layer MLP (Linear, ReLU after all but
the last), MSE loss, layers 1-2 on worker 0 and 3-4 on worker 1, forward + backward + SGD
step, float32, the loss read as a Python float every step. Systems:

    distgrad          Ray backend, 2 local workers (or --backend local)
    distgrad_sharded  column/row-parallel layers over both workers (when distgrad has them)
    torch_rpc         torch.distributed.autograd + rpc, TensorPipe on 127.0.0.1, 2 workers
    torch_local       the same model in one PyTorch process
    numpy             forward + backward + update written by hand (the compute floor)

Every system starts once per size from the same numpy weights, then the timed steps go
in interleaved chunks (A B C A B C ..., the order rotated each round), so drift hits all
alike. Every process runs one BLAS thread (threadpoolctl) and torch one intra-op thread.

    python -m distgrad bench --sizes S,M --json bench.json
    python -m distgrad bench --scaling          # workers 1,2,4 x depth 4,16,64 at S
    python -m distgrad bench --profile          # cProfile of the distgrad step at S
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

SIZES = {"S": (32, 64), "M": (256, 1024), "L": (1024, 4096)}  # (batch, width)
DEFAULT_STEPS = {"S": 100, "M": 30, "L": 5}
WARMUP = {"S": 10, "M": 3, "L": 1}
MAX_ROUNDS = 10
LR = 0.01
SYSTEMS = ("distgrad", "distgrad_sharded", "torch_rpc", "torch_local", "numpy")
THREADS_NOTE = ("one BLAS thread per process (threadpoolctl) and torch.set_num_threads(1), "
                "in the driver, the Ray workers and the torch RPC workers")
MEMORY_NOTE = ("every process keeps freed memory for reuse (glibc mmap/trim thresholds "
               "raised, distgrad.distributed.memory), the setting distgrad's workers run with")


# ---- the model's numbers, shared by every system --------------------------------------------------

def make_params(batch: int, width: int, depth: int = 4, workers: int = 2, seed: int = 0) -> dict:
    """Weights as torch.nn.Linear initialises them, input and target; layer l on worker
    l * workers // depth (so 4 layers on 2 workers: 1-2 on worker 0, 3-4 on worker 1)."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / math.sqrt(width)
    weights = [rng.uniform(-bound, bound, (width, width)).astype(np.float32) for _ in range(depth)]
    biases = [rng.uniform(-bound, bound, width).astype(np.float32) for _ in range(depth)]
    placement = [l * workers // depth for l in range(depth)]
    return {"weights": weights, "biases": biases, "placement": placement,
            "split": placement.index(1) if 1 in placement else depth,
            "x": rng.standard_normal((batch, width), dtype=np.float32),
            "y": rng.standard_normal((batch, width), dtype=np.float32), "lr": LR}


# ---- (5) numpy: the compute floor --------------------------------------------------------------

class NumpyFloor:
    """Forward, backward and SGD update by hand, float32, in this process. Like torch and
    distgrad it skips the input's gradient (the input does not require grad)."""

    name = "numpy"

    def setup(self, p) -> None:
        self.W = [w.copy() for w in p["weights"]]
        self.b = [b.copy() for b in p["biases"]]
        self.x, self.y = p["x"], p["y"]
        self.lr = np.float32(p["lr"])

    def step(self) -> float:
        W, b, n = self.W, self.b, len(self.W)
        acts = [self.x]  # the input of each layer (a ReLU output after the first)
        h = self.x
        for i in range(n):
            h = h @ W[i].T
            h += b[i]
            if i < n - 1:
                np.maximum(h, 0, out=h)
                acts.append(h)
        d = h - self.y
        loss = float(np.dot(d.ravel(), d.ravel())) / d.size
        g = d
        g *= np.float32(2.0 / d.size)
        for i in reversed(range(n)):
            a = acts[i]
            gw = g.T @ a
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ W[i]
                g *= a > 0
            gw *= self.lr
            W[i] -= gw
            gb *= self.lr
            b[i] -= gb
        return loss

    def teardown(self) -> None:
        self.W = self.b = self.x = self.y = None

    close = teardown


# ---- (1) distgrad, layers placed on workers ---------------------------------------------------

class Distgrad:
    """The step written with distgrad's public API, as a user would.

    With `distgrad.nn` and `distgrad.optim`: `nn.Linear(...).to("worker:K")`,
    `F.linear`/`F.relu`/`F.mse_loss` and `optim.SGD`; without them ("raw"): leaf tensors
    created on their worker, `h @ w.t() + b`, and `p.sub_(lr * p.grad)` under `no_grad`.
    """

    name = "distgrad"

    def __init__(self, api: str = "auto"):
        self.api = _distgrad_api(api)

    def setup(self, p) -> None:
        import distgrad as dg

        devs = [f"worker:{k}" for k in p["placement"]]
        self.devs = devs
        self.x = dg.tensor(p["x"], device=devs[0])
        self.y = dg.tensor(p["y"], device=devs[-1])
        if self.api == "nn":
            import distgrad.nn as nn
            import distgrad.optim as optim

            self.layers = []
            for w, b, dev in zip(p["weights"], p["biases"], devs):
                lin = nn.Linear(w.shape[1], w.shape[0])
                with dg.no_grad():
                    lin.weight.copy_(dg.from_numpy(w))
                    lin.bias.copy_(dg.from_numpy(b))
                self.layers.append(lin.to(dev))
            self.params = [q for lin in self.layers for q in lin.parameters()]
            self.opt = optim.SGD(self.params, lr=p["lr"])
            self.F = nn.functional
        else:
            self.layers = [(dg.tensor(w, device=dev, requires_grad=True),
                            dg.tensor(b, device=dev, requires_grad=True))
                           for w, b, dev in zip(p["weights"], p["biases"], devs)]
            self.params = [q for wb in self.layers for q in wb]
            self.lr = p["lr"]

    def forward(self):
        """The loss, as a distgrad tensor on the last layer's worker."""
        h, devs, last = self.x, self.devs, len(self.layers) - 1
        if self.api == "nn":
            F = self.F
            for i, lin in enumerate(self.layers):
                if i and devs[i] != devs[i - 1]:
                    h = h.to(devs[i])
                h = F.linear(h, lin.weight, lin.bias)
                if i < last:
                    h = F.relu(h)
            return F.mse_loss(h, self.y)
        for i, (w, b) in enumerate(self.layers):
            if i and devs[i] != devs[i - 1]:
                h = h.to(devs[i])
            h = h @ w.t() + b
            if i < last:
                h = h.relu()
        return ((h - self.y) ** 2).mean()

    def step(self) -> float:
        if self.api == "nn":
            self.opt.zero_grad()
            loss = self.forward()
            loss.backward()
            self.opt.step()
            return loss.item()
        import distgrad as dg

        loss = self.forward()
        loss.backward()
        with dg.no_grad():
            for q in self.params:
                q.sub_(self.lr * q.grad)
                q.grad = None
        return loss.item()

    def teardown(self) -> None:
        self.layers = self.params = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


def _distgrad_api(api: str) -> str:
    if api != "auto":
        return api
    try:
        import distgrad.nn as nn
        import distgrad.optim as optim

        return "nn" if hasattr(nn, "Linear") and hasattr(optim, "SGD") else "raw"
    except ImportError:
        return "raw"


# ---- (2) distgrad, sharded layers --------------------------------------------------------------

def sharded_available() -> str | None:
    """None when `distgrad.distributed.nn.ColumnParallelLinear` exists, else why not."""
    try:
        from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear  # noqa: F401
    except ImportError:
        return "not available (no distgrad.distributed.nn.ColumnParallelLinear)"
    return None


class DistgradSharded:
    """Megatron-style pairs over both workers: column-parallel, ReLU, row-parallel, ReLU, ...

    Both workers compute every layer at once (half the columns or rows each); one
    all-reduce per pair. The input and the target are replicated on both workers once.
    """

    name = "distgrad_sharded"

    def setup(self, p) -> None:
        import distgrad as dg
        import distgrad.distributed as dist
        import distgrad.nn as nn
        import distgrad.optim as optim
        from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

        workers = ["worker:0", "worker:1"]
        self.layers = []
        for i, (w, b) in enumerate(zip(p["weights"], p["biases"])):
            lin = nn.Linear(w.shape[1], w.shape[0])
            with dg.no_grad():
                lin.weight.copy_(dg.from_numpy(w))
                lin.bias.copy_(dg.from_numpy(b))
            cls = ColumnParallelLinear if i % 2 == 0 else RowParallelLinear
            self.layers.append(cls.from_linear(lin, workers=workers))
        self.x = dist.replicate(dg.tensor(p["x"], device="worker:0"), workers)
        self.y = dist.replicate(dg.tensor(p["y"], device="worker:1"), workers)
        self.opt = optim.SGD([q for m in self.layers for q in m.parameters()], lr=p["lr"])

    def step(self) -> float:
        import distgrad.nn.functional as F

        self.opt.zero_grad()
        h, last = self.x, len(self.layers) - 1
        for i, m in enumerate(self.layers):
            h = m(h)
            if i < last:
                h = F.relu(h)
        loss = F.mse_loss(h, self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def teardown(self) -> None:
        self.layers = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


# ---- the harness ---------------------------------------------------------------------------------

def _percentile(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _chunks(steps: int, rounds: int) -> list:
    base, extra = divmod(steps, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def _counters_total():
    """Per worker: messages, bytes sent, bytes received by the driver; then the bytes
    moved worker to worker (one number, repeated per worker; 0 if not counted)."""
    import distgrad.distributed as dist

    c = dist.counters()
    moved = [c.get("bytes_moved", 0)] * len(c["messages"])
    return np.array([c["messages"], c["bytes_sent"], c["bytes_received"], moved], dtype=np.int64)


def run_size(size: str, systems: dict, steps: int, warmup: int, log) -> dict:
    """Set every system up, warm it up, then time interleaved chunks; one size."""
    batch, width = SIZES[size]
    p = make_params(batch, width)
    live, rows = [], {}
    for name, sysobj in systems.items():
        if isinstance(sysobj, str):  # not installed / not available
            rows[name] = {"status": sysobj, "median_ms": None, "p90_ms": None}
            continue
        t0 = time.perf_counter()
        try:
            sysobj.setup(p)
            for _ in range(warmup):
                sysobj.step()
        except Exception as e:  # one system's failure is its row's, the others still run
            rows[name] = _failed(name, size, "set-up", e, log)
            _safe(sysobj.teardown)
            continue
        log(f"  {size}: {name} set up and warmed up in {time.perf_counter() - t0:.1f} s")
        live.append(name)
        rows[name] = {"status": "ok", "times_ms": [], "losses": []}
    uses_counters = [n for n in live if n.startswith("distgrad")]
    comm = {n: np.zeros(4, dtype=np.int64) for n in uses_counters}
    per_worker = {n: None for n in uses_counters}
    plan = _chunks(steps, min(steps, MAX_ROUNDS)) if steps else []
    for r, chunk in enumerate(plan):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for name in order:
            sysobj, row = systems[name], rows[name]
            before = _counters_total() if name in comm else None
            try:
                for _ in range(chunk):
                    t0 = time.perf_counter()
                    loss = sysobj.step()
                    row["times_ms"].append((time.perf_counter() - t0) * 1e3)
                    row["losses"].append(loss)
            except Exception as e:
                rows[name] = _failed(name, size, "a timed step", e, log)
                live.remove(name)
                _safe(sysobj.teardown)
                continue
            if before is not None:
                d = _counters_total() - before
                comm[name][:3] += d[:3].sum(axis=1)
                comm[name][3] += d[3, 0]
                per_worker[name] = d if per_worker[name] is None else per_worker[name] + d
    for name in live:
        row = rows[name]
        ts = row["times_ms"]
        row.update(median_ms=statistics.median(ts), p90_ms=_percentile(ts, 0.9), steps=len(ts),
                   warmup_steps=warmup, final_loss=row["losses"][-1] if row["losses"] else None)
        del row["losses"]
        if name in comm and ts:
            m, sent, recv, moved = comm[name] / len(ts)
            row.update(messages_per_step=float(m), driver_bytes_sent_per_step=float(sent),
                       driver_bytes_received_per_step=float(recv),
                       worker_to_worker_bytes_per_step=float(moved),
                       messages_per_step_per_worker=[float(v) for v in per_worker[name][0] / len(ts)])
        _safe(systems[name].teardown)
    ref_rpc = rows.get("torch_rpc", {}).get("median_ms")
    ref_np = rows.get("numpy", {}).get("median_ms")
    for row in rows.values():
        med = row.get("median_ms")
        row["ratio_to_torch_rpc"] = med / ref_rpc if med and ref_rpc else None
        row["ratio_to_numpy"] = med / ref_np if med and ref_np else None
    losses = {n: rows[n]["final_loss"] for n in live}
    if len(losses) > 1:
        vals = list(losses.values())
        spread = (max(vals) - min(vals)) / max(abs(min(vals)), 1e-12)
        rows["check"] = {"final_loss_rel_spread": spread, "final_losses": losses}
        if spread > 1e-3:
            log(f"  WARNING {size}: the systems' final losses differ by {spread:.2e} (relative): "
                f"{losses}")
    return rows


def _failed(name, size, when, e, log) -> dict:
    msg = f"failed in {when}: {type(e).__name__}: {e}"
    log(f"  {size}: {name} {msg}")
    return {"status": msg, "median_ms": None, "p90_ms": None}


def _safe(fn) -> None:
    try:
        fn()
    except Exception as e:
        print(f"bench: ignoring error in clean-up: {type(e).__name__}: {e}", file=sys.stderr)


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(result: dict, out=sys.stdout) -> None:
    hdr = (f"{'size':<4} {'system':<17} {'median ms':>10} {'p90 ms':>10} {'x rpc':>7} {'x numpy':>8} "
           f"{'msgs/step':>10} {'sent B/step':>12} {'recv B/step':>12}")
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
            print(f"{size:<4} {name:<17} {r['median_ms']:>10.3f} {r['p90_ms']:>10.3f} "
                  f"{_fmt(r.get('ratio_to_torch_rpc'), '7.2f'):>7} "
                  f"{_fmt(r.get('ratio_to_numpy'), '8.2f'):>8} "
                  f"{_fmt(r.get('messages_per_step'), '10.2f'):>10} "
                  f"{_fmt(r.get('driver_bytes_sent_per_step'), '12.0f'):>12} "
                  f"{_fmt(r.get('driver_bytes_received_per_step'), '12.0f'):>12}", file=out)
        chk = rows.get("check")
        if chk:
            print(f"{size:<4} (final losses agree to {chk['final_loss_rel_spread']:.1e} relative)",
                  file=out)


def machine_info() -> dict:
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "threads": THREADS_NOTE, "memory": MEMORY_NOTE}
    for mod in ("torch", "ray"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
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


# ---- the modes -----------------------------------------------------------------------------------

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
        # Ray starts workers at nice 15; the torch RPC workers and the driver run at 0.
        # One priority for every process keeps the comparison fair on a busy machine.
        kwargs["_system_config"] = {"worker_niceness": int(args.ray_worker_niceness)}
    dist.init(num_workers, backend=args.backend, **kwargs)
    return True


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
    systems: dict = {}
    owned_runtime = False
    rpc_threads = None
    try:
        torch_mod = _torch_baselines()
        for name in SYSTEMS:
            if name not in wanted:
                continue
            if name == "numpy":
                systems[name] = NumpyFloor()
            elif name == "distgrad":
                systems[name] = Distgrad(args.api)
            elif name == "distgrad_sharded":
                why = sharded_available()
                systems[name] = why if why else DistgradSharded()
            elif torch_mod is None:
                systems[name] = "not installed (torch)"
            elif name == "torch_local":
                systems[name] = torch_mod.TorchLocal()
            elif name == "torch_rpc":
                t0 = time.perf_counter()
                rpc_sys = torch_mod.TorchRPC(args.torch_transports)
                try:
                    rpc_sys.start()  # on failure its processes are already reaped
                except Exception as e:
                    systems[name] = f"failed to start: {type(e).__name__}: {e}"
                    log(f"torch RPC {systems[name]}")
                    continue
                systems[name] = rpc_sys
                rpc_threads = rpc_sys.thread_info()
                log(f"torch RPC: driver + 2 worker processes up in {time.perf_counter() - t0:.1f} s; "
                    f"worker thread pools {rpc_threads}")
        if any(n.startswith("distgrad") and not isinstance(s, str) for n, s in systems.items()):
            t0 = time.perf_counter()
            owned_runtime = _start_distgrad(args, 2)
            log(f"distgrad: {args.backend} backend, 2 workers up in {time.perf_counter() - t0:.1f} s")
        result = {"sizes": {}}
        for size in sizes:
            steps = args.steps if args.steps is not None else DEFAULT_STEPS[size]
            if size == "L" and args.steps is not None and args.steps_l is None:
                steps = min(args.steps, DEFAULT_STEPS["L"])
            if size == "L" and args.steps_l is not None:
                steps = args.steps_l
            warmup = args.warmup if args.warmup is not None else WARMUP[size]
            log(f"size {size} (batch {SIZES[size][0]}, width {SIZES[size][1]}): "
                f"{warmup} warm-up + {steps} timed steps per system")
            result["sizes"][size] = run_size(size, systems, steps, warmup, log)
        result["config"] = {"backend": args.backend, "distgrad_api": systems["distgrad"].api
                            if isinstance(systems.get("distgrad"), Distgrad) else None,
                            "torch_rpc_transports": args.torch_transports,
                            "ray_worker_niceness": args.ray_worker_niceness,
                            "lr": LR, "layers": 4, "placement": "layers 1-2 worker 0, 3-4 worker 1",
                            "interleaving": f"up to {MAX_ROUNDS} rounds per size, each system one "
                                            "chunk per round, order rotated",
                            "threads": THREADS_NOTE, "torch_rpc_worker_thread_pools": rpc_threads}
        return result
    finally:
        for s in systems.values():
            if not isinstance(s, str):
                _safe(s.close)
        if owned_runtime:
            import distgrad.distributed as dist

            _safe(dist.shutdown)


def _torch_baselines():
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    import warnings

    with warnings.catch_warnings():  # torch.distributed.optim's TorchScript notes, at import
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated",
                                category=DeprecationWarning)
        from . import bench_torch_rpc
    return bench_torch_rpc


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
    """Workers 1, 2, 4 x depth 4, 16, 64 at S: the coordinator's time per graph node."""
    import distgrad.distributed as dist

    workers = [int(w) for w in args.scaling_workers.split(",")]
    depths = [int(d) for d in args.scaling_depths.split(",")]
    steps = args.steps if args.steps is not None else 30
    warmup = args.warmup if args.warmup is not None else 3
    batch, width = SIZES["S"]
    owned = _start_distgrad(args, max(workers))
    rows = []
    try:
        for n in workers:
            for depth in depths:
                p = make_params(batch, width, depth=depth, workers=n)
                s = Distgrad(args.api)
                s.setup(p)
                for _ in range(warmup):
                    s.step()
                nodes = _graph_nodes(s.forward())  # one extra forward, not timed
                gc.collect()
                before = _counters_total()
                wall, cpu = [], []
                for _ in range(steps):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    s.step()
                    cpu.append((time.thread_time() - c0) * 1e3)
                    wall.append((time.perf_counter() - t0) * 1e3)
                d = (_counters_total() - before) / max(steps, 1)
                s.teardown()
                med, med_cpu = statistics.median(wall), statistics.median(cpu)
                row = {"workers": n, "depth": depth, "graph_nodes": nodes, "steps": steps,
                       "median_ms": med, "p90_ms": _percentile(wall, 0.9),
                       "driver_cpu_ms": med_cpu, "us_per_node": med / nodes * 1e3,
                       "driver_cpu_us_per_node": med_cpu / nodes * 1e3,
                       "messages_per_step": float(d[0].sum()),
                       "max_messages_per_worker": float(d[0].max()),
                       "driver_bytes_sent_per_step": float(d[1].sum()),
                       "driver_bytes_received_per_step": float(d[2].sum())}
                rows.append(row)
                log(f"  scaling: {n} workers, depth {depth}: {med:.2f} ms/step")
    finally:
        if owned:
            _safe(dist.shutdown)
    return rows


def print_scaling(rows, out=sys.stdout) -> None:
    hdr = (f"{'workers':>7} {'depth':>5} {'nodes':>6} {'ms/step':>9} {'drv cpu ms':>10} "
           f"{'us/node':>8} {'cpu us/node':>11} {'msgs/step':>9} {'max/worker':>10} {'recv B/step':>11}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in rows:
        print(f"{r['workers']:>7} {r['depth']:>5} {r['graph_nodes']:>6} {r['median_ms']:>9.2f} "
              f"{r['driver_cpu_ms']:>10.2f} {r['us_per_node']:>8.1f} "
              f"{r['driver_cpu_us_per_node']:>11.1f} "
              f"{r['messages_per_step']:>9.2f} {r['max_messages_per_worker']:>10.2f} "
              f"{r['driver_bytes_received_per_step']:>11.0f}", file=out)
    print("nodes: graph nodes per step, AccumulateGrad excluded; us/node = median wall time per "
          "step / nodes; cpu us/node = the driver's main-thread CPU time per step / nodes", file=out)


def bench_profile(args, log) -> dict:
    """cProfile of the distgrad step at S (after warm-up): top functions by cumulative time."""
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
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for _ in range(steps):
            s.step()
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
                    "and a numpy floor: a 4-layer model-parallel MLP training step.")
    ap.add_argument("--sizes", default="S,M", help="comma list of S, M, L (default S,M; L is "
                    "slow, about 5 s/step per system)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per system and size "
                    f"(default {DEFAULT_STEPS}; L takes at most {DEFAULT_STEPS['L']} unless --steps-l)")
    ap.add_argument("--steps-l", type=int, default=None, help="timed steps at L")
    ap.add_argument("--warmup", type=int, default=None, help=f"untimed steps first (default {WARMUP})")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of " + ", ".join(SYSTEMS))
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--backend", choices=("ray", "local"), default="ray",
                    help="distgrad's backend (default ray: 2 local Ray worker actors)")
    ap.add_argument("--torch-transports", default="uv",
                    help="TensorPipe transports of the torch RPC baseline: uv (default: TCP on "
                         "127.0.0.1) or default (TensorPipe's choice; its shm transport "
                         "busy-polls about 30%% of a core per idle process)")
    ap.add_argument("--ray-worker-niceness", default="0",
                    help="nice level of distgrad's Ray workers (default 0, as the torch RPC "
                         "processes; 'keep' leaves Ray's default of 15)")
    ap.add_argument("--api", choices=("auto", "nn", "raw"), default="auto",
                    help="distgrad model code: nn.Linear + optim.SGD, or raw tensors "
                         "(auto: nn if present)")
    ap.add_argument("--scaling", action="store_true",
                    help="instead of the table: workers x depth at S, coordinator time per node")
    ap.add_argument("--scaling-workers", default="1,2,4")
    ap.add_argument("--scaling-depths", default="4,16,64")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the table: cProfile of the distgrad step at S")
    ap.add_argument("--profile-top", type=int, default=30)
    ap.add_argument("--profile-out", metavar="FILE", help="also dump the cProfile stats here")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def main(argv=None) -> dict:
    """Entry point of `python -m distgrad bench`; returns what it wrote as JSON."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    result: dict = {}
    load_start = _loadavg()
    with _one_thread() as threads:
        if args.scaling:
            result["scaling"] = bench_scaling(args, log)
            print(f"\nScaling at S (batch {SIZES['S'][0]}, width {SIZES['S'][1]}), distgrad "
                  f"{args.backend} backend, layers spread evenly over the workers:")
            print_scaling(result["scaling"])
        if args.profile:
            result["profile"] = bench_profile(args, log)
            pr = result["profile"]
            print(f"\ncProfile of {pr['steps']} distgrad steps at S ({args.backend} backend, "
                  f"{pr['ms_per_step_under_profile']:.2f} ms/step under the profiler):")
            print(pr["by_cumulative"])
            print(pr["by_tottime"])
        if not (args.scaling or args.profile):
            result.update(bench_table(args, log))
            print(f"\ndistgrad bench: 4-layer MLP, layers 1-2 on worker 0, 3-4 on worker 1; "
                  f"ms per training step (forward + backward + SGD + loss.item()).")
            print(f"Threads: {THREADS_NOTE}.")
            print(f"Memory: {MEMORY_NOTE}.")
            print_table(result)
    result["machine"] = machine_info()
    result["machine"]["loadavg_1min_start_end"] = [load_start, _loadavg()]
    result["machine"]["driver_thread_pools"] = threads.info
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


class _one_thread:
    """One BLAS thread and one torch intra-op thread in this process, restored after; and
    freed memory kept for reuse, as in the workers (not restored)."""

    def __enter__(self):
        from .distributed.memory import keep_freed_memory

        keep_freed_memory()  # as in every worker of every system: a floor without page faults
        self.limits = None
        self.torch_threads = None
        if _torch_baselines() is not None:  # load torch's libraries first, then limit them
            import torch

            self.torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)
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
        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)
        return False


if __name__ == "__main__":
    main()
