"""`python -m distgrad demo`: the PyTorch autograd tutorial, its tensors on workers.

Each step of seed/autograd_tutorial.md is printed (`>>>` lines) and then executed with
`torch` bound to distgrad, so what is shown is what ran. The only changes to the
tutorial's code are the placements: `device="worker:0"` for the input x, `"worker:1"` for
y, w and b, and `x.to("worker:1")` where x meets w (ops need operands on one device). At
the end the same computation runs in the driver, and in PyTorch when it is installed,
and the numbers are compared side by side.
"""
from __future__ import annotations

import importlib

import numpy as np

import distgrad
import distgrad.distributed as dist

from .common import describe_workers, start_workers

# The tutorial's cells, with placements added.
CELLS = [
    ("Tensors, Functions and Computational graph", """\
x = torch.ones(5, device="worker:0")  # input tensor
y = torch.zeros(3, device="worker:1")  # expected output
w = torch.randn(5, 3, requires_grad=True, device="worker:1")
b = torch.randn(3, requires_grad=True, device="worker:1")
z = torch.matmul(x.to("worker:1"), w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)"""),
    ("The backward functions", """\
print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")"""),
    ("Computing Gradients", """\
loss.backward()
print(w.grad)
print(b.grad)"""),
    ("Disabling Gradient Tracking", """\
z = torch.matmul(x.to("worker:1"), w)+b
print(z.requires_grad)

with torch.no_grad():
    z = torch.matmul(x.to("worker:1"), w)+b
print(z.requires_grad)"""),
    ("detach()", """\
z = torch.matmul(x.to("worker:1"), w)+b
z_det = z.detach()
print(z_det.requires_grad)"""),
    ("Tensor Gradients and Jacobian Products", """\
inp = torch.eye(4, 5, requires_grad=True, device="worker:0")
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\\n{inp.grad}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\\nSecond call\\n{inp.grad}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\\nCall after zeroing gradients\\n{inp.grad}")"""),
]


def _echo_and_run(source: str, ns: dict) -> None:
    """Show each top-level statement as a `>>>` prompt, then run it, as a REPL would."""
    import ast

    lines = source.splitlines()
    tree = ast.parse(source)
    for stmt in tree.body:
        # include blank lines that precede the statement, as the tutorial's cell has them
        start = stmt.lineno - 1
        while start > 0 and not lines[start - 1].strip():
            start -= 1
            print(">>>")
        for i, line in enumerate(lines[stmt.lineno - 1:stmt.end_lineno]):
            print(("... " if i else ">>> ") + line)
        code = compile(ast.Module(body=[stmt], type_ignores=[]), "<tutorial>", "exec")
        exec(code, ns)  # noqa: S102 - the tutorial's own code, shown above


def _placement(ns: dict, names) -> None:
    print("# where each tensor lives, and its grad_fn node:")
    for name in names:
        t = ns[name]
        node = f"   {t.grad_fn.name()} on {t.grad_fn.device}" if t.grad_fn is not None else ""
        print(f"#   {name:<5} {t.device_str}{node}")


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _tutorial_values(torch, w0, b0):
    """The tutorial's computation in one process (`torch` is distgrad in the driver, or
    PyTorch), from the same w and b: what the side-by-side check compares."""
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    out.backward(torch.ones_like(out), retain_graph=True)
    inp.grad.zero_()
    out.backward(torch.ones_like(out), retain_graph=True)
    return {"loss": loss.detach().numpy(), "w.grad": w.grad.numpy(), "b.grad": b.grad.numpy(),
            "inp.grad": inp.grad.numpy()}


def _driver_twin(w0, b0):
    return _tutorial_values(distgrad, w0, b0)


def _pytorch_twin(w0, b0):
    """The same in PyTorch, when it is installed (it is the test oracle, not a dependency)."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return None
    return _tutorial_values(torch, w0, b0)


def _short(a: np.ndarray) -> str:
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    text = " ".join(f"{v:.4f}" for v in flat[:3])
    return f"[{text}{' …' if flat.size > 3 else ''}]"


def _side_by_side(ns: dict, w0, b0) -> bool:
    worker = {"loss": _numpy(ns["loss"]), "w.grad": _numpy(ns["w"].grad),
              "b.grad": _numpy(ns["b"].grad), "inp.grad": _numpy(ns["inp"].grad)}
    where = {"loss": ns["loss"].device_str, "w.grad": ns["w"].grad.device_str,
             "b.grad": ns["b"].grad.device_str, "inp.grad": ns["inp"].grad.device_str}
    driver = _driver_twin(w0, b0)
    reference = _pytorch_twin(w0, b0)
    print()
    print("Side by side: the tensors on the workers against the same computation in the driver"
          + (" and in PyTorch" if reference is not None else "")
          + " (from the same w and b; inp.grad after the last call).")
    head = f"  {'':<9}{'workers':<38}{'driver':<30}{'max|diff|':>10}"
    if reference is not None:
        head += f"  {'PyTorch':<30}{'max|diff|':>10}"
    print(head)
    ok = True
    for key in worker:
        got, want = worker[key], driver[key]
        d = float(np.max(np.abs(got - want))) if got.size else 0.0
        ok &= got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6)
        line = (f"  {key:<9}{_short(got) + ' ' + where[key]:<38}{_short(want):<30}{d:>10.1e}")
        if reference is not None:
            ref = reference[key]
            dr = float(np.max(np.abs(got - ref))) if got.size else 0.0
            ok &= got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-6)
            line += f"  {_short(ref):<30}{dr:>10.1e}"
        print(line)
    print("match: yes" if ok else "match: NO: the worker results differ from the driver's")
    return ok


def run_demo(args) -> int:
    start_workers(args)
    try:
        kind = ("local backend (workers inside this process)" if args.backend == "local" else
                f"Ray cluster at {args.address}" if args.address else "local Ray runtime")
        print(f"distgrad demo: the PyTorch autograd tutorial on {args.workers} workers, {kind}")
        describe_workers()
        distgrad.manual_seed(args.seed)
        ns: dict = {"torch": distgrad}
        for k, (title, source) in enumerate(CELLS, 1):
            print(f"\n[{k}] {title}")
            _echo_and_run(source, ns)
            if k == 1:
                _placement(ns, ("x", "y", "w", "b", "z", "loss"))
                w0, b0 = _numpy(ns["w"]), _numpy(ns["b"])
                if args.graph:
                    from .. import viz

                    path = viz.render({"loss": ns["loss"]}, args.graph,
                                      params={"w": ns["w"], "b": ns["b"]},
                                      title="the autograd tutorial's graph, on distgrad workers")
                    print(f"# graph of loss written to {path}")
            elif k == 3:
                print(f"# w.grad on {ns['w'].grad.device_str}, b.grad on "
                      f"{ns['b'].grad.device_str}: leaf gradients accumulate on the leaf's worker")
            elif k == 6:
                _placement(ns, ("inp", "out"))
        ok = _side_by_side(ns, w0, b0)
        stats = dist.stats()
        print("\nworker state after the tutorial (stats()):")
        for dev, s in stats.items():
            print(f"  {dev}: {s['tensors']} tensors, {s['nodes']} graph nodes with saved state, "
                  f"{s['bytes']} bytes")
        return 0 if ok else 1
    finally:
        dist.shutdown()
