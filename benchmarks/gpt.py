"""`python -m distgrad bench --model gpt`: one training step of the GPT of `train --model gpt`
(4 layers, 4 heads, width 128, context 64, vocabulary 96; AdamW; a fixed batch), in

    distgrad_tp     distgrad, Megatron's tensor parallelism over 2 Ray workers (gpt_tp_plan())
    distgrad_tp_compiled
                    the same step under distgrad.compile (recorded on its first calls, then
                    one message per worker a step)
    torch_tp        PyTorch DTensor: parallelize_module with ColwiseParallel/RowwiseParallel
                    (vocabulary-parallel embedding, loss_parallel cross-entropy), 2 processes,
                    gloo on 127.0.0.1
    torch_local     the same model in one PyTorch process
    distgrad_local  distgrad in the driver alone (numpy kernels)

All start from the same weights (distgrad's initialisation, copied) and take the same
batch. Every process runs one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1, threadpoolctl,
torch.set_num_threads(1)); the torch systems run in processes of their own
(`python -m benchmarks.gpt torch_tp|torch_local ...`, commands on stdin). The steps go in
chunks, interleaved (A B C D A B C D ..., the order rotated each round); a chunk ends when
the system's work is done (distgrad_tp: dist.synchronize()), and ms/step = chunk time /
its steps. A step is forward, loss, zero_grad, backward, optimizer step, loss.item().

    python -m distgrad bench --model gpt --rounds 8 --chunk-steps 2 --json gpt.json
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SYSTEMS = ("distgrad_tp", "distgrad_tp_compiled", "torch_tp", "torch_local", "distgrad_local")
LR, WEIGHT_DECAY = 3e-3, 0.1


def _config(args):
    from distgrad.cli.models import GPTConfig

    return GPTConfig(vocab_size=96, block_size=args.context, n_layer=args.layers,
                     n_head=args.heads, n_embd=args.width)


def _batch(cfg, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, cfg.vocab_size, (batch, cfg.block_size))
    y = rng.integers(0, cfg.vocab_size, (batch * cfg.block_size,))
    return x, y


def _one_thread() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


# ---- distgrad systems (in the bench process) -----------------------------------------------------

class DistgradGPT:
    def __init__(self, cfg, state, batch, tensor_parallel: bool, compiled: bool = False):
        import distgrad
        from distgrad.cli.models import GPT, tensor_parallel_gpt

        self.distgrad = distgrad
        self.model = GPT(cfg)
        self.model.load_state_dict({k: distgrad.from_numpy(v) for k, v in state.items()})
        self.tp = tensor_parallel
        x, y = (distgrad.from_numpy(a) for a in batch)
        if tensor_parallel:
            from distgrad.distributed import replicate

            tensor_parallel_gpt(self.model)
            # The batch where the step reads it, as each DTensor rank holds its own copy.
            x, y = replicate(x), replicate(y)
        self.opt = distgrad.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.x, self.y = x, y
        self._step = distgrad.compile(self._whole_step) if compiled else self._whole_step

    def _whole_step(self):
        loss = self.distgrad.nn.functional.cross_entropy(self.model(self.x), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def step(self) -> float:
        return self._step().item()

    def sync(self) -> None:
        if self.tp:
            import distgrad.distributed as dist

            dist.synchronize()


# ---- torch systems (child processes) -------------------------------------------------------------

def _torch_model(cfg, state_path: str):
    import torch

    from distgrad.cli.models import define_gpt

    model = define_gpt(torch)(cfg)
    with np.load(state_path) as f:
        model.load_state_dict({k: torch.from_numpy(f[k]) for k in f.files})
    return model


def _dtensor_plan(cfg):
    """Megatron's plan in DTensor's terms, the same layers as distgrad's gpt_tp_plan()."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    plan = {"wte": RowwiseParallel(input_layouts=Replicate()),
            "lm_head": ColwiseParallel(output_layouts=Shard(-1), use_local_output=False)}
    for i in range(cfg.n_layer):
        for name in ("attn.q", "attn.k", "attn.v", "mlp.fc"):
            plan[f"blocks.{i}.{name}"] = ColwiseParallel()
        for name in ("attn.proj", "mlp.proj"):
            plan[f"blocks.{i}.{name}"] = RowwiseParallel()
    return plan


def _child_main(role: str, rank: int, port: int, spec_path: str) -> None:
    import torch

    torch.set_num_threads(1)
    _one_thread()
    with open(spec_path) as f:
        spec = json.load(f)
    from distgrad.cli.models import GPTConfig

    cfg = GPTConfig(**spec["config"])
    model = _torch_model(cfg, spec["state"])
    x, y = (torch.from_numpy(a) for a in _batch(cfg, spec["batch"]))
    F = torch.nn.functional
    if role == "torch_tp":
        import warnings

        import torch.distributed as tdist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor.parallel import loss_parallel, parallelize_module

        warnings.filterwarnings("ignore")
        tdist.init_process_group("gloo", rank=rank, world_size=2,
                                 init_method=f"tcp://127.0.0.1:{port}")
        mesh = init_device_mesh("cpu", (2,))
        parallelize_module(model, mesh, _dtensor_plan(cfg))
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY,
                                foreach=False)

        def step():
            with loss_parallel():
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
            opt.step()
            return loss.full_tensor().item()
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

    out = sys.stdout
    sys.stdout = sys.stderr  # only replies on the pipe
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        out.write(json.dumps(time_chunk(step, None, cmd["steps"])) + "\n")
        out.flush()
    if role == "torch_tp":
        tdist.destroy_process_group()


class TorchChildren:
    """A torch system's processes (1, or 2 ranks); commands on stdin, replies on stdout."""

    def __init__(self, role: str, spec_path: str):
        ranks = 2 if role == "torch_tp" else 1
        port = _free_port()
        env = dict(os.environ, **ONE_THREAD_ENV)
        env["PYTHONPATH"] = os.pathsep.join([CHECKOUT] + [p for p in [env.get("PYTHONPATH")] if p])
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gpt", "--child", role, str(r), str(port),
             spec_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=CHECKOUT,
            text=True) for r in range(ranks)]
        for p in self.procs:
            self._reply(p)

    @staticmethod
    def _reply(p) -> dict:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark child {p.args[3:5]} exited with {p.wait()}")
        return json.loads(line)

    def chunk(self, steps: int) -> dict:
        for p in self.procs:
            p.stdin.write(json.dumps({"op": "steps", "steps": steps}) + "\n")
            p.stdin.flush()
        replies = [self._reply(p) for p in self.procs]
        return replies[0]

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.write(json.dumps({"op": "quit"}) + "\n")
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_chunk(step, sync, steps: int) -> dict:
    t0 = time.perf_counter()
    losses = [step() for _ in range(steps)]
    if sync is not None:
        sync()
    return {"chunk_ms": (time.perf_counter() - t0) * 1e3, "steps": steps, "loss": losses[-1]}


class InProcess:
    def __init__(self, system):
        self.system = system

    def chunk(self, steps: int) -> dict:
        return time_chunk(self.system.step, self.system.sync, steps)

    def close(self) -> None:
        pass


# ---- where a distgrad step's time goes -----------------------------------------------------------

def kernel_profile(system, steps: int = 2) -> dict:
    """Time inside each op's numpy forward (run_forward) during `steps` driver-only steps;
    the rest of the step is Python: recording, the engine, the optimizer's loop."""
    from distgrad.autograd import record
    from distgrad.ops import table

    orig = table.run_forward
    spent, calls = collections.Counter(), collections.Counter()

    def timed(op, values, attrs, out_dtypes):
        t = time.perf_counter()
        try:
            return orig(op, values, attrs, out_dtypes)
        finally:
            spent[op.name] += time.perf_counter() - t
            calls[op.name] += 1

    patched = [m for m in (table, record) if getattr(m, "run_forward", None) is orig]
    for m in patched:
        m.run_forward = timed
    try:
        t0 = time.perf_counter()
        for _ in range(steps):
            system.step()
        total = (time.perf_counter() - t0) / steps
    finally:
        for m in patched:
            m.run_forward = orig
    kernels = sum(spent.values()) / steps
    top = [(name, calls[name] // steps, 1e3 * t / steps) for name, t in spent.most_common(10)]
    return {"step_ms": 1e3 * total, "kernels_ms": 1e3 * kernels, "ops_per_step":
            sum(calls.values()) // steps, "top": top}


# ---- the run -------------------------------------------------------------------------------------

def _parser():
    ap = argparse.ArgumentParser(prog="python -m distgrad bench --model gpt",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="chunks per system (default 6)")
    ap.add_argument("--chunk-steps", type=int, default=2, help="steps per chunk (default 2)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--batch", type=int, default=32, help="sequences per batch (default 32)")
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of "
                    + ", ".join(SYSTEMS))
    ap.add_argument("--backend", choices=("ray", "local"), default="ray",
                    help="distgrad_tp's workers (default ray)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    return ap


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        _child_main(argv[1], int(argv[2]), int(argv[3]), argv[4])
        return {}
    args = _parser().parse_args(argv)
    os.environ.update(ONE_THREAD_ENV)
    _one_thread()
    import distgrad
    import distgrad.distributed as dist

    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(wanted) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"bench --model gpt: unknown systems {sorted(unknown)}")
    cfg = _config(args)
    distgrad.manual_seed(0)
    from distgrad.cli.models import GPT

    state = {k: v.detach().numpy().copy() for k, v in GPT(cfg).state_dict().items()}
    batch = _batch(cfg, args.batch)
    tmp = tempfile.mkdtemp(prefix="distgrad-bench-gpt-")
    np.savez(os.path.join(tmp, "state.npz"), **state)
    spec = os.path.join(tmp, "spec.json")
    with open(spec, "w") as f:
        json.dump({"config": vars(cfg), "batch": args.batch,
                   "state": os.path.join(tmp, "state.npz")}, f)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    runners = {}
    try:
        for name in wanted:
            log(f"bench gpt: starting {name}")
            if name.startswith("distgrad_tp"):
                if not dist.is_initialized():
                    dist.init(2, backend=args.backend)
                runners[name] = InProcess(DistgradGPT(cfg, state, batch, True,
                                                      compiled=name == "distgrad_tp_compiled"))
            elif name == "distgrad_local":
                runners[name] = InProcess(DistgradGPT(cfg, state, batch, False))
            else:
                runners[name] = TorchChildren(name, spec)
            runners[name].chunk(args.warmup)
        counters = None
        if "distgrad_tp" in runners:
            before = dist.counters()
            runners["distgrad_tp"].chunk(1)
            after = dist.counters()
            counters = {k: sum(after[k]) - sum(before[k]) if isinstance(after[k], list)
                        else after[k] - before[k] for k in after
                        if isinstance(after[k], (list, int, float))}
        chunks = {name: [] for name in runners}
        order = list(runners)
        for r in range(args.rounds):
            for name in order[r % len(order):] + order[:r % len(order)]:
                c = runners[name].chunk(args.chunk_steps)
                chunks[name].append(c["chunk_ms"] / c["steps"])
                chunks[name + ":loss"] = c["loss"]
            log(f"bench gpt: round {r + 1}/{args.rounds}")
        profile = None
        if "distgrad_local" in runners:
            profile = kernel_profile(runners["distgrad_local"].system)
    finally:
        for runner in runners.values():
            runner.close()
        if dist.is_initialized():
            dist.shutdown()
    rows = {name: {"median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90)),
                   "loss_after": chunks[name + ":loss"]} for name, ms in chunks.items()
            if not name.endswith(":loss")}
    result = {"model": vars(cfg), "batch": args.batch, "rounds": args.rounds,
              "chunk_steps": args.chunk_steps, "systems": rows,
              "distgrad_tp_per_step": counters, "distgrad_local_profile": profile,
              "loadavg": os.getloadavg()}
    print_result(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


def print_result(result: dict, out=sys.stdout) -> None:
    cfg, rows = result["model"], result["systems"]
    print(f"\nGPT training step ({cfg['n_layer']} layers, {cfg['n_head']} heads, width "
          f"{cfg['n_embd']}, context {cfg['block_size']}, batch {result['batch']}; AdamW), "
          f"ms per step, one thread per process:", file=out)
    print(f"  {'system':<22}{'median ms':>11}{'p90 ms':>10}", file=out)
    for name, row in rows.items():
        print(f"  {name:<22}{row['median_ms']:>11.1f}{row['p90_ms']:>10.1f}", file=out)

    def ratio(a, b, what):
        if a in rows and b in rows:
            print(f"  {a} / {b}: {rows[a]['median_ms'] / rows[b]['median_ms']:.2f}x  ({what})",
                  file=out)
    ratio("distgrad_tp", "torch_tp", "target <= 1.0")
    ratio("distgrad_tp_compiled", "torch_tp", "target <= 1.0")
    ratio("distgrad_local", "torch_local", "target <= 2.0")
    c = result.get("distgrad_tp_per_step")
    if c:
        print(f"  distgrad_tp per step: {c['messages']} driver->worker messages, "
              f"{c['bytes_sent']} bytes sent, {c['bytes_received']} bytes received", file=out)
    p = result.get("distgrad_local_profile")
    if p:
        print(f"  distgrad_local: {p['step_ms']:.0f} ms/step, of which {p['kernels_ms']:.0f} ms "
              f"in numpy kernels ({p['ops_per_step']} ops); the rest is Python (recording, the "
              f"engine, the optimizer). Kernels by op:", file=out)
        for name, calls, ms in p["top"]:
            print(f"    {name:<32}{calls:>5} calls {ms:>8.1f} ms", file=out)
    print(f"  load average at the end: {result['loadavg'][0]:.1f}", file=out)


if __name__ == "__main__":
    main()
