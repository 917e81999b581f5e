"""Differential program fuzzer: generated autograd programs run in PyTorch and distgrad.

A program is data: its inputs (shape, dtype, device, requires_grad, literal values) and a
list of op records (`{"kind": ..., "out": var, "uses": [vars], "src": one line}`), made
from a seed. Each record's `src` is one line of Python written against the torch API, with
the module bound to the name `torch`, so one interpreter (`run(program, module)`) runs the
same program under `torch` and under `distgrad`, and a failing program prints as a short
standalone script whose only difference between the two libraries is the import line.

Ops: views (slicing, select, t/transpose/permute/mT, reshape/view/flatten, expand,
unsqueeze/squeeze, narrow, split/chunk/unbind, views made under no_grad), in-place writes
on bases and views (add_ sub_ mul_ copy_ fill_ zero_ clamp_ relu_, __setitem__, some under
no_grad), elementwise ops, matmul, reductions, bool masks, detach/.data, hooks
(recording or doubling) and retain_grad, custom Functions (save_for_backward, mark_dirty,
a saved output, a view output), moves and shards. And the wider families, on one device:
int64 and bool tensors meeting floats (type promotion, integer division, comparisons as
numbers, in-place writes their result type forbids); gather/scatter/index_*/masked_*/
take/put, out of place and in place; cumulative scans; sort/topk/kthvalue/median/max(dim)
where no two values along the dim are close (or a stable sort); where/clamp with tensor
bounds; norms, var/std with correction, softmax; einsum; out=; torch.func's grad, vmap,
jvp, vjp, jacrev, hessian; nn.functional layers, losses and activations; an nn.Linear
trained two optimizer steps (`fit`); checkpoint; autograd.grad with grad_outputs, twice on
a retained graph, and backward(inputs=...). Widened: chains of views written in place (a
leaf's under no_grad) or read in one line, torch.func over code that writes in place, seeded
nn.Sequential models (Linear, BatchNorm1d, LayerNorm, in-place activations, dropout) in
train or eval mode, optimizers with param groups and lr schedulers, post-accumulate-grad
hooks, and statistics, activations and losses of sharded tensors. Widened again: two grad
modes nested (inference_mode among them) around ops and in-place writes, requires_grad_ on
detached views and on views, writes through .data and detach() between forward and
backward, custom Functions with a non-differentiable output, a saved view, a
once-differentiable backward or an input returned as it is, checkpoint over in-place code,
backward again on a retained graph (a leaf's .grad cleared or scaled between), optimizers'
state over steps (half batches accumulated, zero_grad(set_to_none) either way, state_dict
reloaded), hooks and retain_grad on views of views, views of sharded tensors written in
place. Widened a third time: torch.autograd.functional (jacobian, forward-mode too,
hessian, vjp, jvp, hvp, vhp) over functions with views and in-place writes, seeded layers
(Linear, Conv1d, RNN/GRU/LSTM cells, MultiheadAttention, GroupNorm, LayerNorm) in train or
eval mode with forward pre/post and full backward hooks and an in-place activation of their
output, gradient clipping between optimizer steps, autograd graph nodes (hooks and
pre-hooks on a grad_fn, its name and next functions' names, saved-tensor hooks, disabled
ones), gradients under anomaly mode, and misuse: backward twice, requires_grad of integers
and non-leaves, in-place writes of a wider result type. Widened a fourth time: views and
copies of views (detach, .data, clone, contiguous, reshape) written in place with their
version counters and `_base` read, in-place ops whose other operand broadcasts or has
another dtype (torch's result-type and broadcast-shape errors), out= into views, views
made under grad modes written outside them, autograd.grad's is_grads_batched, allow_unused
and materialize_grads, custom Functions that write a view and save it, return views of a
result they save or use needs_input_grad, and checkpoint returning views. Widened a fifth
time: ties and NaN through order statistics and their gradients, cumulative products and
sums through zeros and -inf, 0-dim and empty tensors through reductions, joins and
products, masks that broadcast (where, masked_*, index_reduce and scatter_reduce with
include_self), seeded layers (Embedding with padding_idx and max_norm, MultiheadAttention,
GroupNorm, dropout at p=0 or in eval) whose parameters are written in place or read through
views, scaled_dot_product_attention with masks and is_causal, optimizers (foreach or not,
amsgrad, nesterov) whose gradients are edited through views between backward and step, and
losses with every reduction and their options. Widened a sixth time: a tensor's memory
given another layout in place (set_, resize_, as_strided_ on detached aliases, copies and
results; set_ of a leaf under no_grad) or shared with numpy (from_numpy, as_tensor,
frombuffer, .numpy()) and written through the other side, detach_ of what the graph saved or
viewed, hooks on views that change the gradient with the view or its base written after,
saved-tensor hooks that pack a copy or an alias around writes, and grad_outputs of another
shape or dtype. Widened a seventh time: advanced-index writes and reads (`a[idx] += y`, a
mask assigned a 0-dim result, mixed basic and advanced indices, index_put_ accumulating
over repeated indices), unflatten/movedim/swapaxes/tensor_split/unfold views read or written
(triu_, tril_), repeat_interleave, allow_mutation_on_saved_tensors, register_multi_grad_hook
("all" and "any"), parametrized layers (nn.utils.parametrize, weight_norm, cached()) and
torch.func.functional_call. Widened an eighth time: in-place shape ops (t_, unsqueeze_,
transpose_, as_strided_ with a stride 0) on results and copies, under no_grad or not, written
through a narrow after; set_ of views; index_put with 0-dim bool masks; add/sub with an alpha
(floats with grad; integers and bools, and the order of their errors); clamp_ with tensor
bounds of other dtypes; and torch.utils.swap_tensors. An operand of a shape no variable has
is a new input (integer inputs hold small literal values).

What is compared (`compare`): the error type (the first builtin class in its MRO) and the
line that raised when PyTorch raises, else every variable's dtype, shape, value,
requires_grad and is_leaf after the forward ops, the first-order gradients of a loss
(`torch.autograd.grad(..., create_graph=True)`; None against a tensor is a difference),
the second-order gradients of their squared norm, the leaves' and retained `.grad` after
`loss.backward()`, and what every recording hook saw (gradients; a node's names). Floats
compare to rtol 1e-4 / atol 1e-5 (float32) or 1e-9 / 1e-10 (float64, about 30% of the
programs), atol scaled by the largest magnitude of the tensor. A float32 program whose numbers differ
where torch's own float32 and float64 runs of it differ too, or where distgrad's agree with
torch's float64 run, is roundoff, not counted.

Placements: `W[k]` is "worker:K" under distgrad and "cpu" under torch; a move is
`t.to(W[k], copy=True)` (a copy under both); `shard(t, d)` and `replicate(t)` are
distgrad.distributed's, and a plain copy under torch (a new leaf when `t` is a leaf, as
distgrad's sharded leaves are). Moves and shards only appear in programs that run with
workers (`mode` "local" or "ray").

Command line (what `make fuzz` runs): `python tests/fuzz/fuzz_programs.py` with
FUZZ_COUNT (default 20000), FUZZ_SEED (default 0), FUZZ_RAY (share of programs run on the
Ray backend, default 0.005), FUZZ_SHRINK (failures shrunk per kind, default 3; one
reproducer is printed per distinct set of ops left), FUZZ_SEEDS ("17,2000433:local": run
just those, with the mode given or the one the seed gets), FUZZ_OUT / FUZZ_FINDINGS (also
write the summary / a markdown version to these files). The programs run in a child
process first (`screen_in_children`): one that kills the interpreter (PyTorch 2.13 itself
segfaults on a few) is reported with its text and the run goes on after it; the failing
ones then run again here, to be shrunk.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import sys
import time
import traceback
import warnings
from collections import defaultdict

import numpy as np

MODES = ("driver", "local", "ray")
PROGRAM_TIMEOUT_S = 20

def _bytes_overlap(a, b) -> bool:
    """Whether the bytes the two tensors can reach meet (their data pointers and extents)."""
    def reach(t):
        if t.numel() == 0:
            return 0, 0
        last = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s > 0)
        first = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s < 0)
        return t.data_ptr() + first * t.element_size(), \
            t.data_ptr() + (last + 1) * t.element_size()
    (a0, a1), (b0, b1) = reach(a), reach(b)
    return a0 < b1 and b0 < a1


# ---------------------------------------------------------------------------------------
# Text shared by every program: the part that differs by library is selected at run time
# by torch.__name__, so the printed text is the same for both.

PRELUDE_WORKERS = '''\
if torch.__name__ == "distgrad":
    import distgrad.distributed as dist
    if not dist.is_initialized():
        dist.init(num_workers=2, backend="{backend}")
    W, shard, replicate = ["worker:0", "worker:1"], dist.shard, dist.replicate
else:  # torch: one device; a shard or replica is a contiguous copy (a new leaf when t is one)
    W = ["cpu", "cpu"]
    def shard(t, dim):
        c = torch.contiguous_format
        return t.detach().clone(memory_format=c).requires_grad_(t.requires_grad) if t.is_leaf \
            else t.clone(memory_format=c)
    replicate = lambda t: shard(t, 0)
'''

FUNCTIONS = {
    "Square": '''\
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a
    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return 2 * a * g
''',
    "MulAdd": '''\
class MulAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b + a
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * (b + 1), g * a
''',
    "Double_": '''\
class Double_(torch.autograd.Function):  # in place, mark_dirty
    @staticmethod
    def forward(ctx, a):
        a.mul_(2)
        ctx.mark_dirty(a)
        return a
    @staticmethod
    def backward(ctx, g):
        return g * 2
''',
    "ExpOut": '''\
class ExpOut(torch.autograd.Function):  # saves its output
    @staticmethod
    def forward(ctx, a):
        y = a.exp()
        ctx.save_for_backward(y)
        return y
    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y
''',
    "Head": '''\
class Head(torch.autograd.Function):  # returns a view of its input
    @staticmethod
    def forward(ctx, a):
        ctx.n = a.shape[0]
        return a[:1]
    @staticmethod
    def backward(ctx, g):
        rest = torch.zeros((ctx.n - 1,) + tuple(g.shape[1:]), dtype=g.dtype, device=g.device)
        return torch.cat([g, rest], 0)
''',
    "fit": '''\
def fit(x, w, b, make_optimizer, steps=2):  # an nn.Linear set to (w, b), trained, applied to x
    lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    lin.load_state_dict({"weight": w.detach(), "bias": b.detach()})
    opt = make_optimizer(lin.parameters())
    for _ in range(steps):
        opt.zero_grad()
        (lin(x.detach()) - 0.5).pow(2).mean().backward()
        opt.step()
    return lin(x) + lin.weight.sum()
''',
    "fit_groups": '''\
def fit_groups(x, w, b, make_optimizer, make_scheduler=None, add_group=False, steps=3):
    # fit's nn.Linear with the weight and the bias in two param groups (the bias's own lr and
    # no weight decay), added at construction or by add_param_group; a scheduler steps each
    lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    lin.load_state_dict({"weight": w.detach(), "bias": b.detach()})
    bias_group = {"params": [lin.bias], "lr": 0.02, "weight_decay": 0.0}
    opt = make_optimizer([{"params": [lin.weight]}] + ([] if add_group else [bias_group]))
    if add_group:
        opt.add_param_group(bias_group)
    sched = make_scheduler(opt) if make_scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        (lin(x.detach()) - 0.5).pow(2).mean().backward()
        opt.step()
        if sched:
            sched.step()
    return lin(x) + lin.weight.sum() + opt.param_groups[0]["lr"] + opt.param_groups[1]["lr"]
''',
    "SortVals": '''\
class SortVals(torch.autograd.Function):  # two outputs, the indices non-differentiable
    @staticmethod
    def forward(ctx, a):
        v, i = a.sort(-1)
        ctx.mark_non_differentiable(i)
        ctx.save_for_backward(i)
        return v, i
    @staticmethod
    def backward(ctx, gv, gi):
        i, = ctx.saved_tensors
        return torch.zeros_like(gv).scatter(-1, i, gv)
''',
    "SaveView": '''\
class SaveView(torch.autograd.Function):  # saves a view of its input and the input
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a[0], a)
        return a * a[0]
    @staticmethod
    def backward(ctx, g):
        row, a = ctx.saved_tensors
        ga = g * row
        ga[0] += (g * a).sum(0)
        return ga
''',
    "Once": '''\
class Once(torch.autograd.Function):  # a backward that cannot be differentiated
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.sin()
    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * a.cos()
''',
    "Ident": '''\
class Ident(torch.autograd.Function):  # returns its input as it is
    @staticmethod
    def forward(ctx, a):
        return a
    @staticmethod
    def backward(ctx, g):
        return g * 3
''',
    "Keep": '''\
class Keep(torch.autograd.Function):  # returns its input, marked non-differentiable
    @staticmethod
    def forward(ctx, a):
        ctx.mark_non_differentiable(a)
        return a
    @staticmethod
    def backward(ctx, g):
        return g
''',
    "Lazy": '''\
class Lazy(torch.autograd.Function):  # two outputs; an unused one's gradient stays None
    @staticmethod
    def forward(ctx, a):
        ctx.set_materialize_grads(False)
        return a * 2, a.exp()
    @staticmethod
    def backward(ctx, g1, g2):
        r = None if g1 is None else g1 * 2
        return r if g2 is None else (g2 * 0 if r is None else r) + g2 * 3
''',
    "fit_steps": '''\
def fit_steps(x, w, b, make_optimizer, set_to_none, reload=False, steps=3):
    # fit's nn.Linear: each step adds the gradients of two half batches, then zero_grad
    # (set_to_none or not); the optimizer is rebuilt from its state_dict after a step
    lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    lin.load_state_dict({"weight": w.detach(), "bias": b.detach()})
    opt = make_optimizer(lin.parameters())
    for i in range(steps):
        for part in x.detach().chunk(2):
            (lin(part) - 0.5).pow(2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)
        if reload and i == 0:
            state = opt.state_dict()
            opt = make_optimizer(lin.parameters())
            opt.load_state_dict(state)
    return lin(x) + lin.weight.sum()
''',
    "net": '''\
def net(x, layers, mode, seed=0):  # a seeded nn.Sequential run on x's values, then on x
    torch.manual_seed(seed)
    m = torch.nn.Sequential(*layers()).to(x.dtype)
    m.train(mode != "eval")
    m(x.detach().clone())  # (a first batch: batch norm's running statistics move)
    if mode == "train, then eval":
        m.eval()
    return m(x) + sum(b.sum() for b in m.buffers() if b.is_floating_point())
''',
    "layer": '''\
def layer(x, make, mode, record=None, act=None, seed=0):  # a seeded module applied to x
    # in train or eval mode; `record(k, t)` gets what forward pre/post and full backward
    # hooks see; `act` (an in-place activation) is applied to the module's output
    torch.manual_seed(seed)
    m = make().to(x.dtype)
    m.train(mode == "train")
    first = lambda o: o[0] if isinstance(o, tuple) else o
    if record:
        m.register_forward_pre_hook(lambda mod, args: record(0, args[0]))
        m.register_forward_hook(lambda mod, args, out: record(1, first(out)))
        m.register_full_backward_hook(lambda mod, gi, go: record(2, go[0]))
    out = first(m(x))
    if act:
        out = act(out)
    return out + sum(p.sum() for p in m.parameters())
''',
    "fit_clip": '''\
def fit_clip(x, w, b, make_optimizer, clip, steps=2):  # fit, the gradients clipped per step
    lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    lin.load_state_dict({"weight": w.detach(), "bias": b.detach()})
    opt = make_optimizer(lin.parameters())
    norms = []
    for _ in range(steps):
        opt.zero_grad()
        (lin(x.detach()) - 0.5).pow(2).mean().backward()
        norms.append(clip(lin.parameters()))
        opt.step()
    extra = sum(n for n in norms if n is not None)
    return lin(x) + lin.weight.sum() + extra
''',
    "Scale_": '''\
class Scale_(torch.autograd.Function):  # writes its input (a view, maybe), saves what it wrote
    @staticmethod
    def forward(ctx, a):
        a.mul_(3)
        ctx.mark_dirty(a)
        ctx.save_for_backward(a)
        return a
    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * 3 + a * 0
''',
    "Halves": '''\
class Halves(torch.autograd.Function):  # two views of one result it saves
    @staticmethod
    def forward(ctx, a):
        y = a * 2
        ctx.save_for_backward(y)
        return y[:1], y[1:]
    @staticmethod
    def backward(ctx, g1, g2):
        y, = ctx.saved_tensors
        return torch.cat([g1, g2]) * 2 + y * 0
''',
    "Mix": '''\
class Mix(torch.autograd.Function):  # a gradient only for the inputs that need one
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b.exp(), (a + b).detach()
    @staticmethod
    def backward(ctx, g, g2):
        a, b = ctx.saved_tensors
        ga = g * b.exp() + g2 if ctx.needs_input_grad[0] else None
        gb = g * a * b.exp() + g2 if ctx.needs_input_grad[1] else None
        return ga, gb
''',
    "edit_layer": '''\
def edit_layer(x, make, write, read, mode, seed=0, dtype=None):
    # a seeded module whose first parameter `write` changes in place (under no_grad) before
    # it runs on x, and `read` takes through a view after
    torch.manual_seed(seed)
    m = make().to(dtype or x.dtype)
    m.train(mode == "train")
    p = next(m.parameters())
    with torch.no_grad():
        write(p)
    out = m(x, x, x) if isinstance(m, torch.nn.MultiheadAttention) else m(x)
    out = out[0] if isinstance(out, tuple) else out
    return out.sum() + sum(q.sum() for q in m.parameters()) + read(p)
''',
    "fit_edit": '''\
def fit_edit(x, w, b, make_optimizer, edit, set_to_none, steps=3):
    # fit's nn.Linear; before each step `edit` changes the gradients through views of them,
    # and zero_grad keeps them (zeros) or not
    lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    lin.load_state_dict({"weight": w.detach(), "bias": b.detach()})
    opt = make_optimizer(lin.parameters())
    for _ in range(steps):
        opt.zero_grad(set_to_none=set_to_none)
        (lin(x.detach()) - 0.5).pow(2).mean().backward()
        edit(lin)
        opt.step()
    return lin(x) + lin.weight.sum() + sum(v.sum() for st in opt.state.values()
                                           for v in st.values() if torch.is_tensor(v))
''',
    "param_layer": '''\
class Sym(torch.nn.Module):  # a parametrization: the weight's upper triangle mirrored
    def forward(self, w):
        return w.triu() + w.triu(1).t()
class Scale(torch.nn.Module):  # a parametrization with a right inverse (assigning it)
    def forward(self, w):
        return w * 2
    def right_inverse(self, w):
        return w / 2
def param_layer(x, n, how, assign, cached, seed=0):
    # a seeded nn.Linear whose weight is parametrized (Sym, Scale, weight_norm), maybe
    # assigned through the parametrization, run on x (in parametrize.cached() or not)
    torch.manual_seed(seed)
    m = torch.nn.Linear(x.shape[-1], n).to(x.dtype)
    P = torch.nn.utils.parametrize
    if how == "weight_norm":
        m = torch.nn.utils.parametrizations.weight_norm(m)
    else:
        P.register_parametrization(m, "weight", Sym() if how == "sym" else Scale())
    if assign:
        with torch.no_grad():
            m.weight = torch.full_like(m.weight, 0.25)
    with P.cached() if cached else torch.enable_grad():
        out = m(x) + m(x.flip(0)).sum() * 0.5
    return out.sum(-1) + sum(q.sum() for q in m.parameters()) + m.weight.sum()
''',
    "call_layer": '''\
def call_layer(x, w, b, seed=0):
    # a seeded nn.Linear run by torch.func.functional_call with w (and b) in place of its
    # parameters, its own untouched
    torch.manual_seed(seed)
    m = torch.nn.Linear(w.shape[1], w.shape[0]).to(x.dtype)
    given = {"weight": w} if b is None else {"weight": w, "bias": b}
    out = torch.func.functional_call(m, given, (x,))
    return out + m.weight.sum() + (m.weight.grad is None)
''',
}


class Timeout(BaseException):
    """A program ran longer than PROGRAM_TIMEOUT_S (BaseException: no `except Exception`
    in the library swallows it)."""


def _on_alarm(signum, frame):
    raise Timeout(f"program ran over {PROGRAM_TIMEOUT_S} s")


def base_type(exc: BaseException) -> str:
    """The exception's first builtin class (torch and distgrad subclass builtins)."""
    if isinstance(exc, Timeout):
        return "Timeout"
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return type(exc).__name__


# ---------------------------------------------------------------------------------------
# Programs as text

def uses_workers(prog) -> bool:
    return prog["mode"] != "driver"


def functions_used(prog):
    return [name for name in FUNCTIONS
            if any(re.search(rf"\b{name}(\.apply)?\(", op["src"]) for op in prog["ops"])]


def input_line(inp, dtype) -> str:
    vals = np.array(inp["values"]).round(2).tolist()
    args = [repr(vals)]
    if inp.get("dtype"):  # an integer input
        args.append(f"dtype=torch.{inp['dtype']}")
    elif dtype == "float64":
        args.append("dtype=torch.float64")
    if inp["device"] != "cpu":
        args.append(f"device=W[{inp['device'][-1]}]")
    if inp["requires_grad"]:
        args.append("requires_grad=True")
    return f"{inp['name']} = torch.tensor({', '.join(args)})"


def epilogue_lines(prog):
    """The loss and its derivatives. Each line is one stage of the interpreter."""
    on = prog.get("devices", {})
    terms = " + ".join(f"({v} * {v}).sum()" + (".cpu()" if on.get(v, "cpu") != "cpu" else "")
                       for v in prog["loss"])
    leaves = "[" + ", ".join(prog["leaves"]) + "]"
    lines = []
    if not prog["loss"]:
        return lines
    lines.append(("loss", f"loss = {terms}"))
    lines.append(("grad", f"g = torch.autograd.grad(loss, {leaves}, create_graph=True, "
                          f"retain_graph=True, allow_unused=True)"))
    cpu = ".cpu()" if uses_workers(prog) else ""
    lines.append(("grad2", f"s = sum((gi * gi).sum(){cpu} for gi in g if gi is not None and "
                           f"gi.requires_grad)"))
    lines.append(("grad2", f"g2 = torch.autograd.grad(s, {leaves}, retain_graph=True, "
                           f"allow_unused=True) if torch.is_tensor(s) else None"))
    lines.append(("backward", "loss.backward()"))
    return lines


def prelude_text(prog) -> str:
    parts = []
    if uses_workers(prog):
        backend = "ray" if prog["mode"] == "ray" else "local"
        parts.append(PRELUDE_WORKERS.format(backend=backend))
    for name in functions_used(prog):
        parts.append(FUNCTIONS[name])
    if any("H.append" in op["src"] for op in prog["ops"]):
        parts.append("H = []  # what the recording hooks saw\n")
    return "".join(parts)


def body_lines(prog):
    """[(stage, line)]: inputs, ops, then the epilogue."""
    lines = [("input", input_line(inp, prog["dtype"])) for inp in prog["inputs"]]
    lines += [(op["kind"], op["src"]) for op in prog["ops"]]
    return lines


def to_text(prog, library: str = "distgrad", prints=(), stop_after: int | None = None) -> str:
    """The program as a standalone script for `library`; `prints` are expressions printed
    at the end, `stop_after` cuts the epilogue after that many lines."""
    lines = ["import distgrad as torch  # PyTorch: import torch" if library == "distgrad"
             else "import torch  # distgrad: import distgrad as torch"]
    pre = prelude_text(prog)
    if pre:
        lines.append(pre.rstrip("\n"))
    lines += [src for _, src in body_lines(prog)]
    epi = epilogue_lines(prog)
    if stop_after is not None:
        epi = epi[:stop_after]
    lines += [src for _, src in epi]
    lines += [f"print({p})" for p in prints]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# The interpreter

def snapshot(t):
    """(dtype, shape, float64/bool/int array) of a tensor of either library."""
    t = t.detach()  # (first: reading a value must not touch its history, as printing it doesn't)
    full = getattr(t, "full_tensor", None)
    if full is not None and getattr(t, "placements", None):
        t = full()
    dtype = str(t.dtype)
    shape = tuple(t.shape)
    zero = getattr(t, "_is_zerotensor", None)  # torch's storage-less zeros of some VJPs
    if zero is not None and zero():
        return dtype, shape, np.zeros(shape)
    return dtype, shape, np.array(t.tolist())


def safe_snapshot(t):
    """snapshot(t), or a marker of the error reading it raised (torch refuses to touch a
    custom Function's view output after its base was written)."""
    try:
        return snapshot(t)
    except Exception as e:
        return (f"<reading raises {base_type(e)}>", (), np.zeros(0))


def _recorded(x):
    """What a recording hook saw: a tensor's snapshot, or anything else (node names) by
    its repr, in the snapshot's dtype slot (so `close` compares it exactly)."""
    return snapshot(x) if _is_tensor(x) else (repr(x), (), np.zeros(0))


def _snap_or_none(t):
    return None if t is None else snapshot(t)


class Outcome:
    def __init__(self):
        self.error = None      # (stage, line index, base type, message)
        self.values = {}       # var -> snapshot
        self.flags = {}        # var -> (requires_grad, is_leaf)
        self.grads = None      # list of snapshot|None
        self.grads2 = None
        self.leaf_grads = {}   # leaf -> snapshot|None after loss.backward()
        self.retained = {}     # var -> snapshot|None
        self.hooks = None      # list of (hook id, snapshot)
        self.reached = []      # stages done


def run(prog, module) -> Outcome:
    """Interpret `prog` with `module` (torch or distgrad) bound to the name torch."""
    out = Outcome()
    ns = {"torch": module, "__name__": "fuzz_program"}
    stages = [("prelude", prelude_text(prog))] + body_lines(prog)
    n_forward = len(stages)
    stages += epilogue_lines(prog)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, PROGRAM_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, (stage, src) in enumerate(stages):
                if i == n_forward:
                    out.values, out.flags = read_vars(prog, ns)
                    out.reached.append("read")
                try:
                    exec(compile(src, f"<line {i}>", "exec"), ns)
                except (Exception, Timeout) as e:
                    out.error = (stage, i, base_type(e), f"{type(e).__name__}: {e}"[:300])
                    return out
                if stage == "grad":
                    out.grads = [_snap_or_none(gi) for gi in ns["g"]]
                elif stage == "grad2" and "g2" in ns:
                    g2 = ns["g2"]
                    out.grads2 = [None] * len(prog["leaves"]) if g2 is None else \
                        [_snap_or_none(gi) for gi in g2]
                out.reached.append(stage)
            if len(stages) == n_forward:
                out.values, out.flags = read_vars(prog, ns)
                out.reached.append("read")
            if prog["loss"]:
                out.leaf_grads = {v: _snap_or_none(ns[v].grad) for v in prog["leaves"]}
                out.retained = {v: _snap_or_none(ns[v].grad) for v in prog["retained"]}
            if "H" in ns:
                out.hooks = [(k, _recorded(g)) for k, g in ns["H"]]
    except (Exception, Timeout) as e:
        out.error = ("read", -1, base_type(e), f"{type(e).__name__}: {e}"[:300])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return out


def read_vars(prog, ns):
    values, flags = {}, {}
    for v in prog["vars"]:
        t = ns.get(v)
        if t is None or not _is_tensor(t):
            continue
        values[v] = safe_snapshot(t)
        pair = []
        for attr in ("requires_grad", "is_leaf"):
            try:
                pair.append(bool(getattr(t, attr)))
            except Exception as e:  # torch: a view it forbids using after a write
                pair.append(f"<raises {base_type(e)}>")
        flags[v] = tuple(pair)
    return values, flags


def _is_tensor(x) -> bool:
    return hasattr(x, "requires_grad") and hasattr(x, "dtype") and hasattr(x, "shape")


# ---------------------------------------------------------------------------------------
# Comparison

TOL = {"float32": (1e-4, 1e-5), "float64": (1e-9, 1e-10)}
_TOL_SCALE = [1.0]  # (the float32 roundoff test widens or narrows every tolerance a while)


@contextlib.contextmanager
def _tolerances_times(k: float):
    _TOL_SCALE[0] = k
    try:
        yield
    finally:
        _TOL_SCALE[0] = 1.0


def close(a, b, dtype) -> bool:
    """a (distgrad) against b (torch) as snapshots."""
    if a[0] != b[0] or a[1] != b[1]:
        return False
    x, y = a[2], b[2]
    if x.dtype.kind in "fc" or y.dtype.kind in "fc":
        x, y = x.astype(np.float64), y.astype(np.float64)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return False
        x, y = np.nan_to_num(x, nan=0.0), np.nan_to_num(y, nan=0.0)
        fin = np.isfinite(y)
        if not np.array_equal(x[~fin], y[~fin]):
            return False
        x, y = x[fin], y[fin]
        # A float32 value (a float op on bools in a float64 program) is held to float32's
        # tolerance: numpy's and torch's float32 maths differ in the last place.
        rtol, atol = (t * _TOL_SCALE[0] for t in TOL["float32" if "float32" in str(b[0])
                                                       else dtype])
        scale = max(1.0, float(np.abs(y).max())) if y.size else 1.0
        return bool(np.all(np.abs(x - y) <= atol * scale + rtol * np.abs(y)))
    return np.array_equal(x, y)


def _fmt(s) -> str:
    if s is None:
        return "None"
    dtype, shape, arr = s
    return f"{dtype}{list(shape)} {np.array2string(np.asarray(arr), precision=5, threshold=20)}"


class Mismatch:
    """One difference: a coarse `kind` (for grouping) and what differed."""

    def __init__(self, kind: str, detail: str, prints=(), stop_after=None, silent=True):
        self.kind, self.detail, self.prints, self.stop_after = kind, detail, prints, stop_after
        self.silent = silent

    def __repr__(self) -> str:
        return f"Mismatch({self.kind!r})"


def _norm_msg(msg: str) -> str:
    msg = msg.split("\n")[0]
    msg = re.sub(r"\[[^\]]*\]|\([^)]*\)|'[^']*'|\d+", "#", msg)
    return msg[:80]


def _line_of(prog, stage_index: int) -> str:
    lines = [("prelude", "")] + body_lines(prog) + epilogue_lines(prog)
    return lines[stage_index][1] if 0 <= stage_index < len(lines) else ""


def _stop_at(prog, *errors):
    """How many epilogue lines a reproducer of these errors needs."""
    first = 1 + len(prog["inputs"]) + len(prog["ops"])
    last = max((e[1] for e in errors if e is not None), default=-1)
    if last < 0:
        return None
    return max(0, last - first + 1)


def compare(prog, dg: Outcome, th: Outcome):
    """The first difference between distgrad's outcome and torch's, or None."""
    if th.error is not None or dg.error is not None:
        return _error_difference(prog, dg, th)
    return next(differences(prog, dg, th), None)


def _error_difference(prog, dg: Outcome, th: Outcome):
    """The difference when either library raised, or None (the same error)."""
    stop = _stop_at(prog, th.error, dg.error)
    if th.error is not None and dg.error is not None and th.error[2] == dg.error[2]:
        same_line = th.error[1] == dg.error[1] or th.error[3][:60] == dg.error[3][:60]
        # workers raise a run's error at the next read, after the line that failed
        later = prog["mode"] != "driver" and (dg.error[1] > th.error[1] or dg.error[1] < 0)
        if same_line or later:
            return None
        return Mismatch(f"torch raises {th.error[2]} at {th.error[0]}, distgrad at "
                        f"{dg.error[0]}", f"torch: {th.error[3]}\n    at: "
                        f"{_line_of(prog, th.error[1])}\n    distgrad: {dg.error[3]}\n    at: "
                        f"{_line_of(prog, dg.error[1])}", stop_after=stop, silent=False)
    if th.error is not None and dg.error is None and prog["mode"] != "driver" and \
            f"<reading raises {th.error[2]}>" in (v[0] for v in dg.values.values()):
        return None  # (the failed run's error, raised by the read of what it made)
    if th.error is not None and dg.error is None:
        return Mismatch(f"torch raises {th.error[2]} at {th.error[0]} "
                        f"({_norm_msg(th.error[3].split(': ', 1)[-1])[:50]!r}), "
                        f"distgrad does not",
                        f"torch: {th.error[3]}\n    at: {_line_of(prog, th.error[1])}",
                        stop_after=stop, silent=True)
    if th.error is None:
        return Mismatch(f"distgrad raises {dg.error[2]}: "
                        f"{_norm_msg(dg.error[3].split(': ', 1)[-1])!r}, torch does not",
                        f"distgrad: {dg.error[3]}\n    at: {_line_of(prog, dg.error[1])}",
                        stop_after=stop, silent=False)
    return Mismatch(f"torch raises {th.error[2]} at {th.error[0]}, distgrad raises "
                    f"{dg.error[2]} at {dg.error[0]}",
                    f"torch: {th.error[3]}\n    distgrad: {dg.error[3]}", stop_after=stop,
                    silent=False)


def differences(prog, dg: Outcome, th: Outcome):
    """Every difference of two outcomes that both ran to their end, in order."""
    dtype = prog["dtype"]
    for v in prog["vars"]:
        if v in th.values:
            a, b = dg.values.get(v), th.values[v]
            if a is None or not close(a, b, dtype):
                kind = prog["kinds"].get(v, "input")
                what = "dtype" if a is not None and a[0] != b[0] else "value"
                yield Mismatch(f"wrong {what} of a `{kind}` result",
                                f"{v}: distgrad {_fmt(a)}\n    torch    {_fmt(b)}",
                                prints=(v,), stop_after=0)
    for v in prog["vars"]:
        if v in th.flags and dg.flags.get(v) != th.flags[v]:
            kind = prog["kinds"].get(v, "input")
            (rg, leaf), ref = dg.flags.get(v, (None, None)), th.flags[v]
            what = "requires_grad" if rg != ref[0] else "is_leaf"
            torch_says = ref[0] if what == "requires_grad" else ref[1]
            if isinstance(torch_says, str):  # "<raises RuntimeError>"
                title = (f"torch raises {torch_says[8:-1]} reading .{what} of a `{kind}` "
                         f"result (a view it forbids after a write), distgrad does not")
            else:
                title = f"wrong {what} of a `{kind}` result"
            yield Mismatch(title,
                            f"{v}: distgrad requires_grad={rg} is_leaf={leaf}\n"
                            f"    torch    requires_grad={ref[0]} is_leaf={ref[1]}",
                            prints=(f"{v}.requires_grad, {v}.is_leaf",), stop_after=0)
    leaves = prog["leaves"]
    for name, mine, ref, stop in (("grad", dg.grads, th.grads, 2),
                                  ("2nd-order grad", dg.grads2, th.grads2, 4)):
        if ref is None:
            continue
        for k, leaf in enumerate(leaves):
            a, b = mine[k] if mine else None, ref[k]
            if name == "2nd-order grad":  # None is zeros here (requires_grad of a grad varies)
                a = a or (b and (b[0], b[1], np.zeros_like(b[2])))
                b = b or (a and (a[0], a[1], np.zeros_like(a[2])))
                if a is None and b is None:
                    continue
            if (a is None) != (b is None):
                yield Mismatch(f"{name} None against a tensor",
                                f"d/d{leaf}: distgrad {_fmt(a)}\n    torch    {_fmt(b)}",
                                prints=("g" if stop == 2 else "g2",), stop_after=stop)
            if a is not None and not close(a, b, dtype):
                yield Mismatch(f"wrong {name}",
                                f"d/d{leaf}: distgrad {_fmt(a)}\n    torch    {_fmt(b)}",
                                prints=("g" if stop == 2 else "g2",), stop_after=stop)
    for label, mine, ref in (("leaf .grad", dg.leaf_grads, th.leaf_grads),
                             ("retained .grad", dg.retained, th.retained)):
        for v, b in ref.items():
            a = mine.get(v)
            if (a is None) != (b is None) or (a is not None and not close(a, b, dtype)):
                yield Mismatch(f"wrong {label} after backward",
                                f"{v}.grad: distgrad {_fmt(a)}\n    torch    {_fmt(b)}",
                                prints=(f"{v}.grad",), stop_after=None)
    if th.hooks is not None:
        mine = dg.hooks or []
        ok = len(mine) == len(th.hooks) and all(
            ka == kb and close(a, b, dtype) for (ka, a), (kb, b) in zip(mine, th.hooks))
        if not ok:
            yield Mismatch("hooks saw different gradients",
                            f"distgrad {[(k, _fmt(s)) for k, s in mine]}\n"
                            f"    torch    {[(k, _fmt(s)) for k, s in th.hooks]}",
                            prints=("H",), stop_after=None)


# ---------------------------------------------------------------------------------------
# The generator: builds a program op by op, running each op in torch as it goes (so it
# knows every variable's shape, dtype, requires_grad and leafness); an op torch rejects is
# kept as the program's last op now and then (the error is then what is compared).

def _rand_values(rng: random.Random, shape):
    n = int(np.prod(shape)) if shape else 1
    vals = [round(rng.uniform(-2, 2), 2) for _ in range(n)]
    return np.array(vals).reshape(shape).tolist()


SHAPES = [(4, 3), (3, 4), (2, 3), (4,), (3,), (2, 3, 2), (4, 1), (1, 3), (3, 3)]


class Gen:
    def __init__(self, seed: int, mode: str):
        import torch

        self.torch = torch
        self.rng = random.Random(seed)
        self.seed, self.mode = seed, mode
        self.dtype = "float64" if self.rng.random() < 0.3 else "float32"
        self.prog = {"seed": seed, "mode": mode, "dtype": self.dtype, "inputs": [],
                     "ops": [], "vars": [], "kinds": {}, "loss": [], "leaves": [],
                     "retained": []}
        self.ns = {"torch": torch, "__name__": "fuzz_program"}
        self.dev = {}      # var -> "cpu" | "w0" | "w1" | "s:<sig>" (sharded or replicated)
        self.n = 0
        self.hook_ids = 0
        self.functions_loaded = set()
        self.view_version = {}  # var -> its version counter when it was made
        self.written_now = set()  # vars the line that makes them writes in place too
        exec(PRELUDE_WORKERS.format(backend="local"), self.ns)
        self.ns["H"] = []

    # -- helpers --------------------------------------------------------------------------
    def t(self, v):
        return self.ns[v]

    def new_var(self) -> str:
        v = f"v{self.n}"
        self.n += 1
        return v

    def usable(self, v) -> bool:
        """`v` is defined and torch still lets us look at it (a custom Function's view
        output whose base was written in place raises on any access to its grad_fn)."""
        t = self.ns.get(v)
        if t is None:
            return False
        try:
            t.grad_fn, t.is_leaf
        except RuntimeError:
            return False
        return True

    def float_vars(self, grad=None):
        out = []
        for v in self.prog["vars"]:
            t = self.ns.get(v)
            if not self.usable(v) or not t.dtype.is_floating_point or t.numel() == 0:
                continue
            if grad is not None and t.requires_grad != grad:
                continue
            out.append(v)
        return out

    def pick(self, vs, recent=0.6):
        if not vs:
            return None
        if self.rng.random() < recent:
            return vs[-1 - min(len(vs) - 1, int(self.rng.expovariate(0.7)))]
        return self.rng.choice(vs)

    def same_dev(self, a, b) -> bool:
        da, db = self.dev[a], self.dev[b]
        if da == db:
            return True
        # torch lets a 0-dim CPU tensor meet a tensor of another device (as a scalar)
        if (da == "cpu" and self.t(a).dim() == 0 and db[0] == "w") or (
                db == "cpu" and self.t(b).dim() == 0 and da[0] == "w"):
            return True
        return (da.startswith("s:") and db == "cpu") or (db.startswith("s:") and da == "cpu")

    def partner(self, a, shape=None, broadcast=True, into=False):
        """A float variable usable with `a` in a binary op (same device, broadcastable);
        `into`: the op writes `a`, so only a 0-dim CPU tensor may come from elsewhere (torch
        writes no CPU tensor from a GPU scalar)."""
        ta = self.t(a)
        cands = []
        for v in self.float_vars():
            if not self.same_dev(a, v) or (into and self.dev[v] != self.dev[a] and not (
                    self.dev[v] == "cpu" and self.t(v).dim() == 0)):
                continue
            tv = self.t(v)
            if tv.dtype != ta.dtype:
                continue
            target = shape if shape is not None else None
            try:
                out = tuple(self.torch.broadcast_shapes(ta.shape, tv.shape))
            except RuntimeError:
                continue
            if target is not None and out != tuple(target):
                continue
            if not broadcast and tuple(tv.shape) != tuple(ta.shape):
                continue
            cands.append(v)
        return self.pick(cands, 0.4)

    def out_dev(self, *vs):
        devs = [self.dev[v] for v in vs]
        for d in devs:
            if d.startswith("s:"):
                return d
        for v in vs:  # a 0-dim CPU operand goes with the other's device
            if self.dev[v] != "cpu" or self.t(v).dim() > 0:
                return self.dev[v]
        return devs[0]

    # -- inputs ---------------------------------------------------------------------------
    def add_input(self, device="cpu", requires_grad=None, shape=None, int_dtype=None):
        """A new input (made before the ops, as every input): float of the program's dtype,
        or integer (`int_dtype`, small values, no grad)."""
        name = f"x{len(self.prog['inputs'])}"
        shape = self.rng.choice(SHAPES) if shape is None else tuple(shape)
        rg = self.rng.random() < 0.75 if requires_grad is None else requires_grad
        inp = {"name": name, "shape": shape, "device": device, "requires_grad": rg,
               "values": _rand_values(self.rng, shape)}
        if int_dtype:
            n = int(np.prod(shape)) if shape else 1
            vals = [self.rng.randint(-3, 4) for _ in range(n)]
            inp.update(dtype=int_dtype, requires_grad=False,
                       values=np.array(vals).reshape(shape).tolist())
        line = input_line(inp, self.dtype)
        exec(line, self.ns)
        self.prog["inputs"].append(inp)
        self.prog["vars"].append(name)
        self.dev[name] = {"cpu": "cpu", "worker:0": "w0", "worker:1": "w1"}[device]
        return name

    # -- ops ------------------------------------------------------------------------------
    def op_candidates(self):
        """(weight, builder) pairs; a builder returns (kind, out var or None, uses, src,
        out device) or None when it does not apply."""
        w = [(10, self.g_clone), (14, self.g_unary), (12, self.g_binary), (3, self.g_matmul),
             (4, self.g_reduce), (30, self.g_view), (24, self.g_inplace), (4, self.g_detach),
             (5, self.g_hook), (6, self.g_function), (3, self.g_bool), (4, self.g_join),
             (3, self.g_gather)]
        w += [(4, self.g_int), (4, self.g_index_op), (2, self.g_scan), (3, self.g_sort),
              (2, self.g_bounds), (3, self.g_stats), (2, self.g_einsum), (1, self.g_out),
              (2, self.g_func), (4, self.g_nn), (1, self.g_fit), (1, self.g_checkpoint),
              (2, self.g_autograd)]
        w += [(4, self.g_view_chain), (2, self.g_func_inplace), (2, self.g_module),
              (1, self.g_fit_groups), (1, self.g_post_hook), (6, self.g_sharded_family)]
        w += [(3, self.g_grad_modes), (2, self.g_requires_grad_toggle), (2, self.g_data_write),
              (2, self.g_function_more), (1, self.g_checkpoint_inplace), (2, self.g_accumulate),
              (1, self.g_fit_steps), (2, self.g_view_hook)]
        w += [(2, self.g_autograd_functional), (2, self.g_layer), (1, self.g_fit_clip),
              (3, self.g_graph_node), (1, self.g_anomaly), (2, self.g_misuse)]
        w += [(4, self.g_alias_version), (4, self.g_inplace_mixed), (2, self.g_out_view),
              (2, self.g_mode_view_write), (2, self.g_grad_flags), (2, self.g_function_views),
              (2, self.g_checkpoint_views)]
        w += [(3, self.g_ties), (2, self.g_scan_edges), (3, self.g_empty), (3, self.g_masks),
              (2, self.g_edit_layer), (1, self.g_attention), (1, self.g_fit_edit),
              (2, self.g_losses)]
        w += [(2, self.g_rewire), (2, self.g_numpy_shared), (2, self.g_detach_inplace),
              (3, self.g_view_hook_edit), (2, self.g_saved_hooks_write), (1, self.g_grad_outputs)]
        w += [(4, self.g_index_assign), (3, self.g_more_views), (2, self.g_saved_mutation),
              (2, self.g_multi_hook), (1, self.g_param_layer), (1, self.g_call_layer)]
        w += [(4, self.g_inplace_edges)]
        if self.mode != "driver":
            w += [(6, self.g_move), (6, self.g_shard), (3, self.g_sharded_view_write)]
        return w

    def step(self):
        cands = self.op_candidates()
        total = sum(wt for wt, _ in cands)
        r = self.rng.uniform(0, total)
        for wt, builder in cands:
            r -= wt
            if r <= 0:
                break
        built = builder()
        if built is None:
            return "skip"
        kind, out, uses, src, odev = built
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(src, "<gen>", "exec"), self.ns)
        except Exception:
            if len(self.prog["ops"]) >= 5 and self.rng.random() < 0.15:
                # keep it as the last op: the error is what the program compares
                self.record(kind, out, uses, src, odev)
                return "error"
            self.ns.pop(out, None) if out and out not in self.prog["vars"] else None
            return "skip"
        self.record(kind, out, uses, src, odev)
        return "ok"

    def record(self, kind, out, uses, src, odev):
        self.prog["ops"].append({"kind": kind, "out": out, "uses": list(uses), "src": src})
        if out is not None and out not in self.prog["vars"]:
            t = self.ns.get(out)
            if _is_tensor(t) and not t.is_inference():
                # (an inference tensor has none; -1: the line that made it wrote it too)
                self.view_version[out] = -1 if out in self.written_now else t._version
            self.prog["vars"].append(out)
            self.prog["kinds"][out] = kind
            self.dev[out] = odev

    def g_clone(self):
        a = self.pick(self.float_vars())
        if a is None:
            return None
        v = self.new_var()
        return "clone", v, [a], f"{v} = {a}.clone()", self.dev[a]

    # (a sqrt times its input: the loss squares each variable, and a sqrt alone squared is
    # linear, whose second derivative is 0 in torch but roundoff in distgrad)
    UNARY = ["{a}.tanh()", "{a}.sigmoid()", "{a}.relu()", "{a}.clamp(-0.5, 0.8)", "{a} * 2",
             "{a}.neg()", "{a}.pow(2)", "{a}.sin()", "{a}.exp()", "{a} - 1", "{a}.abs()",
             "{a}.clamp(min=0.1)", "{a} / 2", "{a}.cos()", "{a}.softmax(-1)",
             "{a}.log_softmax(-1)", "({a}.abs() + 0.1).log()",
             "({a}.abs() + 0.1).sqrt() * {a}"]

    def g_unary(self):
        a = self.pick(self.float_vars())
        if a is None:
            return None
        v = self.new_var()
        expr = self.rng.choice(self.UNARY).format(a=a)
        return "unary", v, [a], f"{v} = {expr}", self.dev[a]

    def g_binary(self):
        a = self.pick(self.float_vars())
        if a is None:
            return None
        b = self.partner(a)
        if b is None:
            return None
        v = self.new_var()
        op = self.rng.choice(["+", "*", "-", "*", "maximum", "minimum"])
        expr = f"torch.{op}({a}, {b})" if op.isalpha() else f"{a} {op} {b}"
        return "binary", v, [a, b], f"{v} = {expr}", self.out_dev(a, b)

    def g_matmul(self):
        vs = [v for v in self.float_vars() if self.t(v).dim() == 2]
        a = self.pick(vs)
        if a is None:
            return None
        k = self.t(a).shape[1]
        bs = [v for v in vs if self.t(v).shape[0] == k and self.same_dev(a, v)]
        b = self.pick(bs)
        if b is None:
            return None
        v = self.new_var()
        return "matmul", v, [a, b], f"{v} = {a} @ {b}", self.out_dev(a, b)

    def g_reduce(self):
        a = self.pick([v for v in self.float_vars() if self.t(v).dim() >= 1])
        if a is None:
            return None
        d = self.rng.randrange(self.t(a).dim())
        v = self.new_var()
        expr = self.rng.choice([f"{a}.sum({d})", f"{a}.mean({d}, keepdim=True)", f"{a}.sum()",
                                f"{a}.amax({d})", f"{a}.max({d})[0]", f"{a}.min({d}).values",
                                f"{a}.logsumexp({d})", f"{a}.norm()",
                                f"{a}.var({d}, keepdim=True)", f"{a}.max()"])
        return "reduce", v, [a], f"{v} = {expr}", self.dev[a] + ("" if self.dev[a] == "cpu"
                                                                   or self.dev[a][0] == "w"
                                                                   else f"|{v}")

    def g_view(self):
        a = self.pick(self.float_vars(), 0.7)
        if a is None:
            return None
        t = self.t(a)
        shape, nd, rng = tuple(t.shape), t.dim(), self.rng
        opts = []
        if nd >= 1 and shape[0] >= 2:
            i = rng.randrange(shape[0])
            j = rng.randrange(i + 1, shape[0] + 1)
            opts += [("slice", f"{a}[{i}:{j}]"), ("slice", f"{a}[{i}:]"),
                     ("select", f"{a}[{i}]"), ("slice", f"{a}[::2]")]
        if nd >= 2:
            d = rng.randrange(1, nd)
            i = rng.randrange(shape[d])
            opts += [("slice", f"{a}[:, {i}:]"), ("select", f"{a}.select({d}, {i})"),
                     ("transpose", f"{a}.transpose(0, {d})")]
            if nd == 2:
                opts += [("t", f"{a}.t()"), ("t", f"{a}.t()")]
            perm = list(range(nd))
            rng.shuffle(perm)
            opts.append(("permute", f"{a}.permute({', '.join(map(str, perm))})"))
        n = int(np.prod(shape)) if shape else 1
        if n > 1:
            divs = [k for k in range(2, n) if n % k == 0]
            new = (n // divs[0], divs[0]) if divs and rng.random() < 0.5 else (-1,)
            tgt = ", ".join(map(str, new))
            opts += [("reshape", f"{a}.reshape({tgt})"), ("view", f"{a}.view({tgt})"),
                     ("reshape", f"{a}.reshape(-1)"), ("contiguous", f"{a}.contiguous()"),
                     ("view", f"{a}.view(-1)")]
        opts += [("unsqueeze", f"{a}.unsqueeze({rng.randrange(nd + 1)})")]
        if nd >= 1 and shape[-1] >= 2:
            d = rng.randrange(nd)
            if shape[d] >= 2:
                k = rng.randrange(1, shape[d])
                opts += [("narrow", f"{a}.narrow({d}, {rng.randrange(shape[d] - k + 1)}, {k})"),
                         ("split", f"{a}.split({k}, {d})[{rng.randrange(2)}]"),
                         ("chunk", f"{a}.chunk(2, {d})[0]"),
                         ("unbind", f"{a}.unbind({d})[{rng.randrange(shape[d])}]")]
        if nd >= 2:
            opts += [("flatten", f"{a}.flatten()"), ("mT", f"{a}.mT")]
        ones = [d for d in range(nd) if shape[d] == 1]
        if ones:
            opts += [("squeeze", f"{a}.squeeze({rng.choice(ones)})")]
            d = rng.choice(ones)
            new = list(shape)
            new[d] = 3
            opts += [("expand", f"{a}.expand({', '.join(map(str, new))})")]
        if nd <= 2:
            opts += [("expand", f"{a}.expand(2, {', '.join(['-1'] * nd)})")]
        kind, expr = rng.choice(opts)
        v = self.new_var()
        if rng.random() < 0.04:  # a view made without grad mode: writes to it refuse
            return "no_grad view", v, [a], f"with torch.no_grad(): {v} = {expr}", \
                self.dev[a] if not self.dev[a].startswith("s:") else f"{self.dev[a]}|{kind}"
        dev = self.dev[a]
        if dev.startswith("s:"):
            dev = f"{dev}|{kind}"
        return kind, v, [a], f"{v} = {expr}", dev

    def inplace_target(self):
        vs = self.float_vars()
        good = [v for v in vs if not self._expanded(v) and (
            not (self.t(v).is_leaf and self.t(v).requires_grad) or self.rng.random() < 0.3)]
        if good and self.rng.random() < 0.92:
            return self.pick(good, 0.6)
        return self.pick(vs)

    def writable_float(self):
        """A plain float variable of one dim or more that is no expanded tensor (an in-place
        write's target), or None."""
        return self.pick([v for v in self.plain_float(1) if not self._expanded(v)])

    def _expanded(self, v):
        t = self.t(v)
        return any(s == 0 and n > 1 for s, n in zip(t.stride(), t.shape))

    @staticmethod
    def undefined_overlap(dst, src) -> bool:
        """`src` shares memory with `dst` in another layout and torch cannot tell (one of
        them not contiguous, or each on its own storage over the memory numpy shares): torch
        then reads src while writing dst, in its own order."""
        if dst.untyped_storage()._cdata != src.untyped_storage()._cdata:
            return _bytes_overlap(dst, src)
        same = (tuple(dst.shape), dst.stride(), dst.storage_offset()) == \
            (tuple(src.shape), src.stride(), src.storage_offset())
        return not same and not (dst.is_contiguous() and src.is_contiguous())

    def g_inplace(self):
        a = self.inplace_target()
        if a is None:
            return None
        t, rng = self.t(a), self.rng
        shape = tuple(t.shape)
        choices = ["add_", "mul_", "copy_", "fill_", "zero_", "clamp_", "relu_", "setitem",
                   "mul_", "add_", "sub_", "setitem", "div_", "exp_", "sigmoid_", "tanh_",
                   "neg_", "sin_"]
        kind = rng.choice(choices)
        uses = [a]
        if kind in ("add_", "mul_", "sub_", "copy_"):
            b = self.partner(a, shape=shape, into=kind != "copy_") \
                if rng.random() < 0.8 or kind == "copy_" else None
            if b is None and kind == "copy_":
                return None
            if b is not None and self.undefined_overlap(t, self.t(b)):
                return None
            arg = b if b is not None else repr(round(rng.uniform(0.5, 1.5), 2))
            if b is not None:
                uses.append(b)
            src = f"{a}.{kind}({arg})"
        elif kind == "fill_":
            src = f"{a}.fill_({round(rng.uniform(-1, 1), 2)})"
        elif kind == "zero_":
            src = f"{a}.zero_()"
        elif kind == "clamp_":
            src = f"{a}.clamp_(-0.5, 0.5)"
        elif kind in ("relu_", "exp_", "sigmoid_", "tanh_", "neg_", "sin_"):
            src = f"{a}.{kind}()"
        elif kind == "div_":
            src = f"{a}.div_({round(rng.uniform(0.5, 2), 2)})"
        else:
            if not shape:
                return None
            i = rng.randrange(shape[0])
            idx = rng.choice([f"{i}", f"{i}:", f":{i + 1}"] + (
                [f"[{i}, {(i + 1) % shape[0]}]"] if shape[0] >= 2 else []))
            sub = tuple(t[eval(f"np.s_[{idx}]", {"np": np})].shape)
            b = self.partner(a, shape=sub, into=True) if rng.random() < 0.7 else None
            # (a list of rows writes t itself, through index_put_, not a view of it)
            written = t if idx.startswith("[") else t[eval(f"np.s_[{idx}]", {"np": np})]
            if b is not None and self.undefined_overlap(written, self.t(b)):
                return None
            if b is not None and tuple(self.t(b).shape) == sub or (
                    b is not None and self.torch.broadcast_shapes(self.t(b).shape, sub) == sub):
                uses.append(b)
                src = f"{a}[{idx}] = {b}"
            else:
                src = f"{a}[{idx}] = {round(rng.uniform(-1, 1), 2)}"
        if rng.random() < 0.12 or (t.is_leaf and t.requires_grad and rng.random() < 0.7):
            return kind, None, uses, f"with torch.no_grad(): {src}", self.dev[a]
        if kind in ("relu_", "mul_", "clamp_", "exp_", "sigmoid_") and rng.random() < 0.3:
            v = self.new_var()  # the result of an in-place op is the same tensor
            return kind, v, uses, f"{v} = {src}", self.dev[a]
        return kind, None, uses, src, self.dev[a]

    def g_join(self):
        """cat or stack of two variables of one shape."""
        a = self.pick(self.float_vars())
        if a is None or self.t(a).dim() == 0:
            return None
        b = self.partner(a, broadcast=False)
        if b is None:
            return None
        v = self.new_var()
        d = self.rng.randrange(self.t(a).dim())
        expr = self.rng.choice([f"torch.cat([{a}, {b}], {d})", f"torch.stack([{a}, {b}])",
                                f"torch.stack([{a}, {b}], {d})"])
        return "join", v, [a, b], f"{v} = {expr}", self._own_layout(self.out_dev(a, b), v)

    def g_gather(self):
        """Indexing that copies: a list of rows, a boolean mask."""
        a = self.pick(self.float_vars())
        if a is None or self.t(a).dim() == 0 or self.t(a).shape[0] < 2:
            return None
        n = self.t(a).shape[0]
        i = self.rng.randrange(n)
        v = self.new_var()
        expr = self.rng.choice([f"{a}[[{i}, {(i + 1) % n}, {i}]]", f"{a}[[{n - 1 - i}]]",
                                f"{a}[{a} > 0.2]"])
        return "index", v, [a], f"{v} = {expr}", self._own_layout(self.dev[a], v)

    @staticmethod
    def _own_layout(dev: str, v: str) -> str:
        """A sharded result laid out its own way: a partner only as a CPU tensor is."""
        return dev if not dev.startswith("s:") else f"{dev}|{v}"

    def g_detach(self):
        a = self.pick(self.float_vars(grad=True))
        if a is None:
            return None
        v = self.new_var()
        r = self.rng.random()
        if r < 0.05:  # (torch refuses it on a view)
            return "detach_", None, [a], f"{a}.detach_()", self.dev[a]
        if r < 0.25:
            return "data", v, [a], f"{v} = {a}.data", self.dev[a]
        if r < 0.4:
            return "detach", v, [a], f"{v} = {a}.detach().requires_grad_()", self.dev[a]
        return "detach", v, [a], f"{v} = {a}.detach()", self.dev[a]

    def g_hook(self):
        a = self.pick(self.float_vars(grad=True), 0.4)
        if a is None:
            return None
        r = self.rng.random()
        if r < 0.6 and self.hook_crashes_torch(a):
            r = 0.6
        if r < 0.4:  # (a copy: torch may keep the gradient as a leaf's .grad and add into it)
            k = self.hook_ids
            self.hook_ids += 1
            return "hook", None, [a], \
                f"{a}.register_hook(lambda g: H.append(({k}, g.detach().clone())))", None
        if r < 0.6:
            return "hook", None, [a], f"{a}.register_hook(lambda g: g * 2)", None
        if a not in self.prog["retained"]:
            self.prog["retained"].append(a)
        return "retain_grad", None, [a], f"{a}.retain_grad()", None

    def hook_crashes_torch(self, a) -> bool:
        """torch 2.13 crashes (SIGSEGV) on register_hook on a view whose storage was written
        since the view was made, before anything refreshed its grad_fn."""
        t = self.t(a)
        # (the version when the view was made: of the first variable naming this tensor,
        # as an op may return its input itself, dropout with p=0)
        made = min((self.view_version[v] for v in self.prog["vars"]
                    if self.ns.get(v) is t and v in self.view_version), default=t._version)
        return t._is_view() and t._version != made

    def g_function(self):
        a = self.pick(self.float_vars())
        if a is None:
            return None
        t = self.t(a)
        names = ["Square", "ExpOut", "Double_", "MulAdd"]
        if t.dim() >= 1 and t.shape[0] >= 2:
            names.append("Head")
        name = self.rng.choice(names)
        self.use_function(name)
        v = self.new_var()
        if name == "MulAdd":
            b = self.partner(a, broadcast=False)
            if b is None:
                return None
            return "Function", v, [a, b], f"{v} = MulAdd.apply({a}, {b})", self.out_dev(a, b)
        if name == "Double_" and t.is_leaf and t.requires_grad and self.rng.random() < 0.9:
            return None
        return "Function", v, [a], f"{v} = {name}.apply({a})", self.dev[a]

    def g_bool(self):
        a = self.pick(self.float_vars())
        if a is None:
            return None
        bools = [v for v in self.prog["vars"] if self.usable(v)
                 and self.t(v).dtype == self.torch.bool and self.dev[v] == self.dev[a]]
        v = self.new_var()
        if not bools or self.rng.random() < 0.4:
            return "compare", v, [a], f"{v} = {a} > 0.1", self.dev[a]
        m = self.rng.choice(bools)
        r = self.rng.random()
        if r < 0.3:
            return "bool float op", v, [m], \
                f"{v} = {m}.{self.rng.choice(['exp', 'sigmoid', 'tanh', 'sqrt'])}()", self.dev[m]
        if r < 0.6 and tuple(self.t(m).shape) == tuple(self.t(a).shape):
            return "where", v, [m, a], f"{v} = torch.where({m}, {a}, {a} * 3)", self.dev[a]
        return "mask mul", v, [a, m], f"{v} = {a} * {m}", self.dev[a]

    def g_move(self):
        a = self.pick([v for v in self.float_vars() if self.dev[v] in ("cpu", "w0", "w1")])
        if a is None:
            return None
        here = self.dev[a]
        there = self.rng.choice([d for d in ("cpu", "w0", "w1") if d != here])
        v = self.new_var()
        target = '"cpu"' if there == "cpu" else f"W[{there[1]}]"
        return "to", v, [a], f"{v} = {a}.to({target}, copy=True)", there

    def g_shard(self):
        a = self.pick([v for v in self.float_vars() if self.dev[v] == "cpu"
                       and self.t(v).dim() >= 1])
        if a is None:
            return None
        t = self.t(a)
        dims = [d for d in range(t.dim()) if t.shape[d] >= 2]
        v = self.new_var()
        if not dims or self.rng.random() < 0.25:
            return "replicate", v, [a], f"{v} = replicate({a})", f"s:{v}"
        d = self.rng.choice(dims)
        return "shard", v, [a], f"{v} = shard({a}, {d})", f"s:{v}"

    # -- the wider families: integer and bool tensors, index ops, scans, sorting, bounds,
    #    statistics, einsum, out=, torch.func, nn.functional, optimizers, checkpoint,
    #    autograd.grad. Their operands live on one device (not sharded); an operand of a
    #    shape no variable has is a new input.

    def use_function(self, name: str) -> None:
        """Define FUNCTIONS[name] in the generator's namespace (once)."""
        if name not in self.functions_loaded:
            exec(FUNCTIONS[name], self.ns)
            self.functions_loaded.add(name)

    def emit(self, kind, out, src, dev):
        """A builder's record; the variables `src` reads are its uses."""
        uses = [u for u in dict.fromkeys(re.findall(r"\b[xv]\d+\b", src)) if u != out]
        return kind, out, uses, src, dev

    def plain(self, v) -> bool:
        return self.dev[v] in ("cpu", "w0", "w1")

    def plain_float(self, min_dim=0, grad=None):
        return [v for v in self.float_vars(grad) if self.plain(v) and self.t(v).dim() >= min_dim]

    def on(self, v) -> str:
        """The `device=` argument (with its comma) that puts a new tensor where `v` is."""
        d = self.dev[v]
        return "" if d == "cpu" else f", device=W[{d[1]}]"

    def device_name(self, v) -> str:
        return {"cpu": "cpu", "w0": "worker:0", "w1": "worker:1"}[self.dev[v]]

    def operand(self, a, shape, fresh=0.4):
        """A float variable of exactly `shape`, a's dtype and device, or a new input."""
        cands = [v for v in self.float_vars() if v != a and tuple(self.t(v).shape) == tuple(shape)
                 and self.t(v).dtype == self.t(a).dtype and self.dev[v] == self.dev[a]]
        if cands and self.rng.random() > fresh:
            return self.pick(cands, 0.4)
        return self.add_input(self.device_name(a), shape=shape)

    def of_dtype(self, pred):
        return [v for v in self.prog["vars"] if self.usable(v) and _is_tensor(self.t(v))
                and self.plain(v) and pred(self.t(v).dtype)]

    def made_from_no_grad_views(self) -> set:
        made = set()
        for op in self.prog["ops"]:
            if op["kind"] == "no_grad view" or made.intersection(op["uses"]):
                made.add(op["out"])
        return made

    def shares_memory(self, a, b) -> bool:
        return self.t(a).untyped_storage().data_ptr() == self.t(b).untyped_storage().data_ptr()

    def int_vars(self):
        return self.of_dtype(lambda d: not d.is_floating_point and d != self.torch.bool)

    def int_vars_on(self, a):
        """The integer variables on a's device: a worker's 0-dim one meeting a CPU tensor
        is torch's device error (only a CPU scalar goes with another device's tensor)."""
        return [i for i in self.int_vars() if self.dev[i] == self.dev[a]]

    def lit(self, values, a) -> str:
        """An integer tensor literal on a's device."""
        return f"torch.tensor({values}{self.on(a)})"

    def indices(self, shape, high, unique_dim=None):
        """Index values in [0, high) of `shape`; distinct along `unique_dim` (a write's
        order of duplicates is unspecified)."""
        arr = np.array([self.rng.randrange(high) for _ in range(int(np.prod(shape)))],
                       dtype=np.int64).reshape(shape)
        if unique_dim is not None:
            moved = np.moveaxis(arr, unique_dim, -1)
            for pos in np.ndindex(moved.shape[:-1]):
                moved[pos] = self.rng.sample(range(high), moved.shape[-1])
        return arr.tolist()

    def distinct_along(self, a, d) -> bool:
        """No two values of `a` along dim d are near each other: sorting it, its order and
        its gradients' routes are the same in both libraries."""
        t = self.t(a).detach().double()
        if t.numel() == 0 or t.shape[d] < 2:
            return True
        s = t.sort(d).values
        return bool(s.diff(dim=d).abs().min() > 1e-3 * (1 + float(s.abs().max())))

    def g_int(self):
        """Integer and bool tensors meeting floats: type promotion, integer division,
        comparisons used as numbers, in-place writes their result type forbids."""
        rng = self.rng
        ints = self.int_vars()
        if not ints or rng.random() < 0.25:
            a = self.pick(self.plain_float())
            shape = tuple(self.t(a).shape) if a and rng.random() < 0.7 else rng.choice(SHAPES)
            self.add_input(self.device_name(a) if a else "cpu", shape=shape,
                           int_dtype="int64")  # (the narrower ones: tests/unit/test_more_dtypes.py)
            ints = self.int_vars()
        i = self.pick(ints)
        ti = self.t(i)
        fl = []
        for f in self.plain_float():
            try:
                if self.dev[f] == self.dev[i]:
                    self.torch.broadcast_shapes(ti.shape, self.t(f).shape)
                    fl.append(f)
            except RuntimeError:
                pass
        f = self.pick(fl)
        v = self.new_var()
        opts = [f"{i} / 2", f"{i} // 2", f"{i} % 3", f"{i} * 2.5", f"{i} ** 2", f"{i}.abs()",
                f"{i}.sqrt()", f"{i}.exp()", f"{i}.sum()", f"{i}.mean()", f"{i}.float().mean()",
                f"torch.div({i}, 2, rounding_mode='floor')", f"{i}.clamp(0, 2)",
                f"torch.div({i}, -2, rounding_mode='trunc')", f"{i}.clamp(min=0.5)",
                f"{i}.long() + ({i} > 0)", f"({i} > 0).sum()", f"({i} == 1) | ({i} < 0)",
                f"({i} > 0) + ({i} < 2)", f"({i} > 0) * 1.5", f"~({i} > 0)", f"{i}.double()",
                f"{i}.argmax()", f"{i} & 1", f"{i}.cumsum(-1)", f"({i} > 0).float().requires_grad_()",
                f"{i}.prod()", f"torch.tensor(3{self.on(i)}) * {i}", f"{i}.max()"]
        if f is not None:
            opts += [f"{f} + {i}", f"{f} * {i}", f"{f} / {i}", f"{i} - {f}", f"{f} ** {i}",
                     f"torch.maximum({i}, {f})", f"torch.where({i} > 0, {f}, {i})",
                     f"{f} * ({i} > 0)", f"{f} + ({i} >= 1)", f"{f} + {i}.double()",
                     f"({f} > {i}).sum()", f"{f} * torch.tensor(3{self.on(f)})",
                     f"{f} + {i}.sum()", f"{f} - ({i} > 0).float()",
                     f"torch.where({f} > 0, {f}, 2)", f"{f}.clamp(min={i})"]
        inplace = [f"{i}.add_(1.5)", f"{i}.mul_(2)", f"{i}.div_(2)", f"{i}.floor_divide_(2)",
                   f"{i}[0] = 2.7", f"({i} > 0).add_(1)", f"{i}.clamp_(0, 1)"]
        if f is not None:
            inplace += [f"{i}.add_({f})", f"{f}.add_({i})", f"{f}.mul_({i} > 0)",
                        f"{f}.masked_fill_({i} > 0, 0.5)"]
        if rng.random() < 0.25:
            src = rng.choice(inplace)
            return self.emit("int in-place", None, src, self.dev[i])
        expr = rng.choice(opts)
        return self.emit("promote" if f is not None and f in expr else "int op", v,
                         f"{v} = {expr}", self.dev[i])

    def index_source(self, a, shape, d, n):
        """An int64 variable usable as gather's index into `a` along d (a sort's indices),
        or None."""
        for i in self.int_vars():
            t = self.t(i)
            if t.dtype == self.torch.int64 and t.dim() == len(shape) and t.numel() > 0 \
                    and self.dev[i] == self.dev[a] and int(t.min()) >= 0 and int(t.max()) < n \
                    and all(t.shape[k] <= shape[k] for k in range(len(shape)) if k != d):
                return i
        return None

    INDEX_OPS = ["index_select", "gather", "take", "scatter", "scatter_add", "scatter_reduce",
                 "index_add", "index_copy", "index_fill", "masked_fill", "masked_scatter", "put"]
    IN_PLACE_INDEX_OPS = {"scatter", "scatter_add", "scatter_reduce", "index_add",
                          "index_copy", "index_fill", "masked_fill", "masked_scatter", "put"}

    def g_index_op(self):
        """gather/scatter/index_*/masked_*/take/put, out of place or in place."""
        rng = self.rng
        name = rng.choice(self.INDEX_OPS)
        in_place = name in self.IN_PLACE_INDEX_OPS and rng.random() < 0.35
        vs = [v for v in self.plain_float(1) if self.t(v).numel() > 0]
        if in_place:
            vs = [v for v in vs if not (self.t(v).is_leaf and self.t(v).requires_grad)
                  and not self._expanded(v)] or vs
        a = self.pick(vs)
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        d = rng.randrange(len(shape))
        n = shape[d]
        row = lambda k: self.lit(self.indices((k,), n, 0 if name == "index_copy" else None), a)
        sub = lambda k: shape[:d] + (k,) + shape[d + 1:]
        if name == "index_select":
            expr = f"{a}.index_select({d}, {row(rng.randint(1, 4))})"
        elif name == "gather":
            idx = self.index_source(a, shape, d, n) if rng.random() < 0.5 else None
            if idx is None:
                idx = self.lit(self.indices(sub(rng.randint(1, n + 1)), n), a)
            expr = f"torch.gather({a}, {d}, {idx})"
        elif name == "take":
            expr = f"torch.take({a}, {self.lit(self.indices((rng.randint(1, 5),), int(np.prod(shape))), a)})"
        elif name in ("scatter", "scatter_add", "scatter_reduce"):
            ishape = sub(rng.randint(1, n))
            idx = self.lit(self.indices(ishape, n, d if name == "scatter" else None), a)
            src = self.operand(a, ishape) if name != "scatter" or rng.random() < 0.7 else "0.5"
            extra = ""
            if name == "scatter_reduce":
                extra = (f", '{rng.choice(['sum', 'prod', 'mean', 'amax', 'amin'])}', "
                         f"include_self={rng.random() < 0.5}")
            expr = f"{a}.{name}({d}, {idx}, {src}{extra})"
        elif name in ("index_add", "index_copy", "index_fill"):
            k = rng.randint(1, n)
            tail = "0.5" if name == "index_fill" else self.operand(a, sub(k))
            alpha = ", alpha=2" if name == "index_add" and rng.random() < 0.4 else ""
            expr = f"{a}.{name}({d}, {row(k)}, {tail}{alpha})"
        elif name == "masked_fill":
            expr = f"{a}.masked_fill({a} > 0.3, -1.0)"
        elif name == "masked_scatter":
            expr = f"{a}.masked_scatter({a} < 0, {self.operand(a, shape)})"
        else:  # put
            m = int(np.prod(shape))
            acc = rng.random() < 0.5
            k = rng.randint(1, min(m, 4))
            idx = self.indices((k,), m, None if acc else 0)
            expr = f"{a}.put({self.lit(idx, a)}, {self.operand(a, (k,))}, accumulate={acc})"
        if in_place:
            if any(self.shares_memory(a, u) for u in re.findall(r"\b[xv]\d+\b", expr)
                   if u != a):
                return None  # (a source read while it is written: undefined in torch)
            return self.emit(name + "_", None, expr.replace(f".{name}(", f".{name}_(", 1),
                             self.dev[a])
        v = self.new_var()
        return self.emit(name, v, f"{v} = {expr}", self.dev[a])

    def g_scan(self):
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        d = self.rng.randrange(self.t(a).dim())
        opts = [f"{a}.cumsum({d})", f"torch.cumprod({a}, {d})", f"{a}.logcumsumexp({d})",
                f"torch.cumprod({a}.relu(), {d})", f"{a}.cumsum({d}, dtype=torch.float64)",
                f"{a}.flip({d}).cumsum({d})", f"torch.diff({a}, dim={d})",
                f"{a}.cumprod({d}).sum({d})"]
        if self.distinct_along(a, d):
            opts += [f"{a}.cummax({d}).values", f"torch.cummin({a}, {d})[1]"]
        v = self.new_var()
        return self.emit("scan", v, f"{v} = {self.rng.choice(opts)}", self.dev[a])

    def g_sort(self):
        """sort/argsort/topk/kthvalue/median/max(dim): only where no two values along the
        dim are close (a tie's order is the library's choice), or a stable sort."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        d = rng.randrange(self.t(a).dim())
        n = self.t(a).shape[d]
        if n == 0:
            return None
        opts = [f"{a}.sort(dim={d}, stable=True).indices",  # (stable=: dim= a keyword)
                f"torch.sort({a}, dim={d}, descending=True, stable=True)[0]"]
        if self.distinct_along(a, d):
            k = rng.randint(1, n)
            field = rng.choice([".values", ".indices", "[0]", "[1]"])
            opts += [f"{a}.sort({d}, descending={rng.random() < 0.5}){field}",
                     f"{a}.argsort({d}, descending=True)", f"torch.argsort({a}, dim={d})",
                     f"{a}.topk({k}, {d}){field}", f"{a}.topk({k}, {d}, largest=False){field}",
                     f"{a}.kthvalue({k}, {d}){field}", f"{a}.max({d}){field}",
                     f"{a}.min({d}, keepdim=True){field}", f"{a}.median({d}){field}",
                     f"{a}.argmax({d})", f"{a}.argmin({d}, keepdim=True)", f"{a}.msort()"]
        v = self.new_var()
        return self.emit("sort", v, f"{v} = {rng.choice(opts)}", self.dev[a])

    def g_bounds(self):
        """where/clamp with tensor bounds."""
        a = self.pick(self.plain_float())
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        # (bounds that broadcast to a's shape: torch's clamp backward fails on wider ones)
        b = self.partner(a, shape=shape) or self.operand(a, shape)
        c = self.partner(a, shape=shape) or self.operand(a, shape)
        opts = [f"{a}.clamp(min={b})", f"torch.clamp({a}, {b}, {c})", f"{a}.clamp(max={b})",
                f"torch.clip({a}, min={b}, max={c})", f"torch.where({a} > {b}, {a}, {b})",
                f"torch.where({a} > 0, {a}, 0.0)", f"torch.where({a} < {b}, {a} * {b}, {b} - 1)",
                f"torch.where({b} > 0, {a}, {c})", f"{a}.clamp({b}, 0.5)"]
        if self.rng.random() < 0.2:
            src = self.rng.choice([f"{a}.clamp_(min={b})", f"{a}.clamp_({b}, {c})",
                                   f"{a}.clamp_(max={b})"])
            return self.emit("clamp_ tensor", None, src, self.dev[a])
        v = self.new_var()
        # (a 0-dim CPU `a` goes to a bound's worker, as a CPU scalar does in torch)
        return self.emit("bounds", v, f"{v} = {self.rng.choice(opts)}", self.out_dev(a, b, c))

    def g_stats(self):
        """norms, var/std with dims and correction, softmax/log_softmax/logsumexp."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        nd = self.t(a).dim()
        d = rng.randrange(nd)
        p = rng.choice(["1", "2", "3", "float('inf')", "0.5"])
        both = "(0, 1)" if nd >= 2 else "(0,)"
        opts = [f"{a}.norm(p={p}, dim={d})", f"{a}.norm(dim={d}, keepdim=True)",
                f"torch.linalg.vector_norm({a}, ord={p}, dim={d})", f"torch.linalg.norm({a})",
                f"{a}.var({d}, correction={rng.choice([0, 1, 2])})", f"{a}.std()",
                f"{a}.std({d}, unbiased=False, keepdim=True)", f"torch.var_mean({a}, {d})[1]",
                f"torch.std_mean({a}, dim={d}, correction=0)[0]", f"torch.softmax({a}, {d})",
                f"torch.log_softmax({a}, {d})", f"{a}.softmax({d}, dtype=torch.float64)",
                f"{a}.logsumexp({both})", f"torch.nn.functional.softmin({a}, {d})",
                f"{a}.mean({both})", f"{a}.prod({d})", f"{a}.sum(dim={both}, keepdim=True)",
                f"torch.nn.functional.normalize({a}, dim={d})", f"{a}.var({both})",
                f"torch.dist({a}, {a}.detach() * 0.5)", f"{a}.nansum({d})",
                f"{a}.amin({both})", f"{a}.std({d}, correction=0)"]
        if nd == 2:
            opts += [f"torch.linalg.matrix_norm({a})", f"{a}.norm(p='fro')"]
        v = self.new_var()
        return self.emit("stats", v, f"{v} = {rng.choice(opts)}", self.dev[a])

    def g_einsum(self):
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        k = rng.randint(1, 3)
        if len(shape) == 1:
            (m,) = shape
            eqs = [("i->", []), ("i,i->", [(m,)]), ("i,j->ij", [(k,)]), ("i,i->i", [(m,)])]
        elif len(shape) == 2:
            m, n = shape
            eqs = [("ij->ji", []), ("ij->", []), ("ij->j", []), ("ij,jk->ik", [(n, k)]),
                   ("ij,kj->ik", [(k, n)]), ("ij,ij->i", [(m, n)]), ("ij,j->i", [(n,)]),
                   ("ij,ij,ij->", [(m, n), (m, n)]), ("ij,jk,kl->il", [(n, k), (k, 2)])]
            if m == n:
                eqs += [("ii->i", []), ("ii", [])]
        else:
            b, m, n = shape[:3]
            eqs = [("bij,bjk->bik", [(b, n, k)]), ("bij->bji", []), ("bij,bij->b", [shape]),
                   ("...j,j->...", [(shape[-1],)])]
            if len(shape) > 3:
                return None
        eq, others = rng.choice(eqs)
        names = [a] + [self.operand(a, s) for s in others]
        v = self.new_var()
        return self.emit("einsum", v, f"{v} = torch.einsum('{eq}', {', '.join(names)})",
                         self.dev[a])

    def g_out(self):
        """A tensor given as out=: fresh (resized), of the right shape, of another dtype;
        under no_grad or not (torch refuses out= when an input requires grad)."""
        rng = self.rng
        a = self.pick(self.plain_float())
        if a is None:
            return None
        t = self.t(a)
        o = self.new_var()
        dtype = rng.choice(["", "", ", dtype=torch.float64", ", dtype=torch.int64"]) \
            if self.dtype == "float32" else rng.choice(["", ", dtype=torch.float32"])
        if dtype == "" and self.dtype == "float64":
            dtype = ", dtype=torch.float64"
        b = self.partner(a) or "1.5"
        calls = [f"torch.add({a}, {b}, out={o})", f"torch.mul({a}, 2, out={o})",
                 f"torch.exp({a}, out={o})", f"torch.clamp({a}, 0, 1, out={o})",
                 f"torch.cat([{a}, {a}], out={o})" if t.dim() else f"torch.neg({a}, out={o})"]
        if t.dim():
            calls.append(f"torch.sum({a}, 0, out={o})")
        make = rng.choice([f"torch.empty(0{dtype}{self.on(a)})",
                           f"torch.zeros({tuple(t.shape)}{dtype}{self.on(a)})"])
        body = f"{o} = {make}; {rng.choice(calls)}"
        if rng.random() < 0.6:
            body = f"with torch.no_grad(): {body}"
        return self.emit("out=", o, body, self.dev[a])

    def func_argument(self):
        """A variable a torch.func transform may take: nothing made from a view made under
        no_grad (it requires grad without a gradient edge, and torch.func's levels make its
        derivatives require grad anyway)."""
        tainted = self.made_from_no_grad_views()
        return self.pick([v for v in self.plain_float(1) if v not in tainted])

    def g_func(self):
        """torch.func's grad / vmap / jacrev / jvp / vjp / hessian over small functions."""
        rng = self.rng
        a = self.func_argument()
        if a is None:
            return None
        t = self.t(a)
        opts = [f"torch.func.grad(lambda u: (u.sin() * u).sum())({a})",
                f"torch.func.vmap(lambda r: (r * r).sum())({a})",
                f"torch.func.jvp(lambda u: u * u.sin(), ({a},), (torch.ones_like({a}),))[1]",
                f"torch.func.vjp(lambda u: u.cos() * u, {a})[1](torch.ones_like({a}))[0]",
                f"torch.func.vmap(torch.func.grad(lambda r: r.pow(3).sum()))({a})",
                f"torch.func.grad_and_value(lambda u: u.exp().sum())({a})[0]"]
        b = self.partner(a, broadcast=False)
        with_b = []
        if b is not None:
            with_b = [f"torch.func.grad(lambda u, w: (u * w).tanh().sum(), argnums=1)({a}, {b})",
                      f"torch.func.vmap(lambda r, s: (r * s).sum())({a}, {b})"]
            opts += with_b
        if t.dim() == 1 and t.shape[0] <= 4:
            # (cloned: torch's jacobians are views of an unbind, which refuse writes)
            opts += [f"torch.func.jacrev(lambda u: u.exp() * u.sum())({a}).clone()",
                     f"torch.func.hessian(lambda u: u.pow(3).sum())({a}).clone()",
                     f"torch.func.jacfwd(lambda u: u.sin() * u[0])({a}).clone()"]
        if t.dim() == 2:
            # (cloned: torch's result is its softmax's saved output, moved; distgrad's vmap
            # is a loop that stacks, so a write to it is no write to what softmax saved)
            opts += [f"torch.func.vmap(lambda r: r.softmax(0), in_dims=1)({a}).clone()",
                     f"torch.func.vmap(torch.outer)({a}, {a})"]
        v = self.new_var()
        src = rng.choice(opts)
        # (a sharded partner makes the result sharded, as any op of the two)
        return self.emit("func", v, f"{v} = {src}", self.out_dev(a, b) if src in with_b
                         else self.dev[a])

    F = "torch.nn.functional"

    def g_nn(self):
        """nn.functional layers and losses on small shapes."""
        rng, F = self.rng, self.F
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        nd, last = len(shape), shape[-1]
        opt = lambda make: make if rng.random() < 0.6 else None  # noqa: E731
        kind, expr = None, None
        layer = rng.choice(["linear", "conv1d", "layer_norm", "embedding", "dropout",
                            "cross_entropy", "loss", "activation", "activation", "pad"])
        if layer == "linear":
            o = rng.randint(1, 3)
            bias = opt(self.operand(a, (o,)))
            expr = f"{F}.linear({a}, {self.operand(a, (o, last))}" + (
                f", {bias})" if bias else ")")
        elif layer == "conv1d" and nd in (2, 3):
            c = shape[-2]
            kw = rng.randint(1, last)
            pad, stride = rng.choice([0, 0, 1]), rng.choice([1, 1, 2])
            bias = opt(self.operand(a, (2,)))
            expr = (f"{F}.conv1d({a}, {self.operand(a, (2, c, kw))}, {bias}, stride={stride}, "
                    f"padding={pad})")
        elif layer == "layer_norm":
            # (weight and bias together: torch's double backward of a bias without a
            # weight raises, or gives zeros)
            affine = opt(True)
            w = self.operand(a, (last,)) if affine else None
            b = self.operand(a, (last,)) if affine else None
            expr = f"{F}.layer_norm({a}, ({last},), {w}, {b})"
            if nd >= 2 and rng.random() < 0.3:
                expr = f"{F}.layer_norm({a}, {shape[-2:]})"
        elif layer == "embedding" and nd == 2:
            idx = self.indices(rng.choice([(2,), (2, 2), (3,)]), shape[0])
            extra = rng.choice(["", "", ", padding_idx=0"])
            expr = f"{F}.embedding({self.lit(idx, a)}, {a}{extra})"
        elif layer == "dropout":
            expr = rng.choice([f"{F}.dropout({a}, p=0.0)", f"{F}.dropout({a}, 0.5, training=False)",
                               f"torch.nn.Dropout(0.0)({a})", f"torch.dropout({a}, 0.3, False)"])
        elif layer == "cross_entropy" and nd in (1, 2):
            c = last
            if nd == 2:
                target = self.lit(self.indices((shape[0],), c), a)
            else:
                target = self.lit(rng.randrange(c), a)
            extra = rng.choice(["", "", ", label_smoothing=0.1", ", reduction='sum'",
                                ", reduction='none'", f", ignore_index={rng.randrange(c)}",
                                f", weight={self.operand(a, (c,))}.detach().abs()"])
            expr = rng.choice([f"{F}.cross_entropy({a}, {target}{extra})",
                               f"{F}.nll_loss({a}.log_softmax(-1), {target})",
                               f"{F}.cross_entropy({a}, {self.operand(a, shape)}.softmax(-1))"])
        elif layer == "loss":
            b = self.operand(a, shape)
            red = rng.choice(["mean", "sum", "none"])
            expr = rng.choice([f"{F}.mse_loss({a}, {b}, reduction='{red}')",
                               f"{F}.l1_loss({a}, {b})", f"{F}.smooth_l1_loss({a}, {b}, beta=0.5)",
                               f"{F}.huber_loss({a}, {b}, delta=0.5)",
                               f"{F}.binary_cross_entropy_with_logits({a}, {b}.sigmoid())",
                               f"{F}.binary_cross_entropy({a}.sigmoid(), {b}.sigmoid().detach())",
                               f"{F}.kl_div({a}.log_softmax(-1), {b}.softmax(-1), "
                               f"reduction='batchmean')",
                               f"{F}.cosine_similarity({a}, {b}, dim=-1)",
                               f"{F}.mse_loss({a}, {b}.detach())"])
        elif layer == "activation":
            expr = rng.choice([f"{F}.gelu({a})", f"{F}.gelu({a}, approximate='tanh')",
                               f"{F}.silu({a})", f"{F}.softplus({a}, beta=2)", f"{F}.elu({a})",
                               f"{F}.leaky_relu({a}, 0.1)", f"{F}.hardtanh({a})",
                               f"{F}.mish({a})", f"{F}.hardswish({a})", f"{F}.logsigmoid({a})",
                               f"{F}.selu({a})", f"{F}.relu6({a} * 4)", f"{F}.softsign({a})",
                               f"{F}.threshold({a}, 0.1, -1.0)", f"{F}.celu({a}, 0.5)",
                               f"torch.nn.GELU()({a})", f"{F}.hardsigmoid({a})"]
                              + ([f"{F}.glu({a})"] if last % 2 == 0 else []))
        elif layer == "pad":
            mode = rng.choice(["", "", ", mode='reflect'", ", mode='replicate'", ", value=0.5"])
            if "reflect" in mode and (last < 2 or nd < 2):
                mode = ""
            expr = f"{F}.pad({a}, (1, {rng.randint(0, 2)}){mode})"
        if expr is None:
            return None
        v = self.new_var()
        return self.emit(kind or layer, v, f"{v} = {expr}", self.dev[a])

    OPTIMIZERS = ["SGD(p, lr=0.1, momentum=0.9)",
                  "SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
                  "SGD(p, lr=0.1, momentum=0.9, dampening=0.5)", "Adam(p, lr=0.05)",
                  "AdamW(p, lr=0.05, weight_decay=0.1)", "Adam(p, lr=0.05, amsgrad=True)",
                  "RMSprop(p, lr=0.01, momentum=0.5)", "Adagrad(p, lr=0.1)",
                  "Adamax(p, lr=0.05)", "NAdam(p, lr=0.05)", "RAdam(p, lr=0.05)",
                  "Adam(p, lr=0.05, maximize=True)", "RMSprop(p, lr=0.01, centered=True)"]

    def fit_call(self, helper: str, cands):
        """(`v = helper(a, w, b, lambda p: torch.optim.<one>`, without its closing
        parenthesis; v) for a variable `a` of `cands` and an nn.Linear's weight and bias
        `w`, `b` of its width; or None."""
        a = self.pick(cands)
        if a is None:
            return None
        k = self.t(a).shape[-1]
        o = self.rng.randint(1, 3)
        w, b = self.operand(a, (o, k)), self.operand(a, (o,))
        self.use_function(helper)
        v = self.new_var()
        opt = self.rng.choice(self.OPTIMIZERS)
        return f"{v} = {helper}({a}, {w}, {b}, lambda p: torch.optim.{opt}", v

    def g_fit(self):
        """An nn.Linear set to two variables' values, trained two optimizer steps, then
        applied to a third (the `fit` helper)."""
        call = self.fit_call("fit", [v for v in self.plain_float(1) if self.dev[v] == "cpu"])
        return call and self.emit("optimizer", call[1], call[0] + ")", "cpu")

    def g_checkpoint(self):
        a = self.pick(self.plain_float())
        if a is None:
            return None
        b = self.partner(a)
        fns = [("lambda u: (u.sin() * u).exp()", [a]), ("lambda u: u.tanh().pow(2) + u", [a])]
        if b is not None:
            fns.append(("lambda u, w: u * w.cos()", [a, b]))
        fn, args = self.rng.choice(fns)
        reentrant = self.rng.random() < 0.25
        v = self.new_var()
        return self.emit("checkpoint", v, f"{v} = torch.utils.checkpoint.checkpoint({fn}, "
                                          f"{', '.join(args)}, use_reentrant={reentrant})",
                         self.out_dev(*args))

    def output_and_input(self):
        """(b, a): a non-leaf variable that requires grad and an earlier one on its device,
        to differentiate b by a with a graph kept; or None."""
        if any(op["kind"] == "layer_norm" or "LayerNorm" in op["src"] for op in self.prog["ops"]):
            return None  # torch's third derivative of layer_norm is wrong (not distgrad's)
        outs = [v for v in self.plain_float(grad=True) if not self.t(v).is_leaf]
        b = self.pick(outs)
        if b is None:
            return None
        # (on b's device: a move is an identity in torch's one-device runs, so their
        # gradient is grad_outputs itself, a leaf, where distgrad's is a moved copy)
        ins = [v for v in self.plain_float(grad=True) if v != b and self.dev[v] == self.dev[b]
               and self.prog["vars"].index(v) < self.prog["vars"].index(b)]
        a = self.pick(ins, 0.3)
        return None if a is None else (b, a)

    def g_autograd(self):
        """autograd.grad with grad_outputs, twice on a retained graph, materialize_grads;
        backward(inputs=...) into a leaf's or a non-leaf's .grad."""
        rng = self.rng
        pair = self.output_and_input()
        if pair is None:
            return None
        b, a = pair
        v = self.new_var()
        shape = tuple(self.t(b).shape)
        opts = [f"torch.autograd.grad({b}, {a}, grad_outputs=torch.ones_like({b}), "
                f"retain_graph=True)[0]",
                f"torch.autograd.grad({b}, {a}, grad_outputs={self.operand(b, shape)}, "
                f"create_graph=True)[0]",
                f"torch.autograd.grad({b}.sum(), [{a}], retain_graph=True, allow_unused=True, "
                f"materialize_grads=True)[0]",
                f"sum(torch.autograd.grad(({b} * {b}).sum(), {a}, retain_graph=True)[0] "
                f"for _ in range(2))"]
        if rng.random() < 0.35:
            keep = "retain_graph=True" if rng.random() < 0.85 else "retain_graph=False"
            return self.emit("backward(inputs)", v,
                             f"({b} * {b}).sum().backward(inputs=[{a}], {keep}); "
                             f"{v} = {a}.grad.clone()", self.dev[a])
        return self.emit("autograd.grad", v, f"{v} = {rng.choice(opts)}", self.dev[a])

    # -- widened: chains of views written and read in one line, torch.func over in-place
    #    code, nn modules in train/eval with in-place activations, optimizers with param
    #    groups and schedulers, post-accumulate-grad hooks, the wider families on sharded
    #    and replicated tensors.

    def view_chain(self, a, depth):
        """An expression of 1..depth views of `a`, checked in torch, or None."""
        rng, expr = self.rng, a
        for _ in range(rng.randint(1, depth)):
            t = eval(expr, self.ns)
            shape, nd = tuple(t.shape), t.dim()
            if t.numel() == 0:
                break
            steps = [f".unsqueeze({rng.randrange(nd + 1)})"]
            if nd >= 1 and shape[0] >= 2:
                i = rng.randrange(shape[0])
                steps += [f"[{i}:]", "[::2]", f"[{i}]", f".narrow(0, {i}, 1)"]
            if nd >= 2:
                steps += [".t()" if nd == 2 else ".transpose(0, 1)", ".mT",
                          f".select(1, {rng.randrange(shape[1])})",
                          f"[:, {rng.randrange(shape[1])}:]"]
                if nd == 2:
                    steps += [".diagonal()", f".diagonal({rng.choice([-1, 1])})"]
            if nd >= 1 and t.is_contiguous():
                steps += [".view(-1)", f".view({', '.join(map(str, shape))}, 1)"]
            if nd >= 1 and any(n == 1 for n in shape):
                steps += [f".squeeze({[d for d in range(nd) if shape[d] == 1][0]})"]
            step = rng.choice(steps)
            try:
                eval(expr + step, self.ns)
            except Exception:
                continue
            expr += step
        return None if expr == a else expr

    def g_view_chain(self):
        """A chain of views of a variable written in place (under no_grad now and then:
        a leaf's rows, then used in autograd), or read through another chain of views."""
        rng = self.rng
        a = self.pick([v for v in self.float_vars() if self.plain(v) and self.t(v).dim() >= 1], 0.6)
        if a is None:
            return None
        chain = self.view_chain(a, 3)
        if chain is None:
            return None
        t = eval(chain, self.ns)
        if rng.random() < 0.4:
            v = self.new_var()
            read = rng.choice([f"{chain}.clone()", f"{chain} * 2", f"{chain}.sum()", chain])
            return self.emit("view chain read", v, f"{v} = {read}", self.dev[a])
        if self._expanded_tensor(t):
            return None
        b = None
        if rng.random() < 0.5:
            cands = [u for u in self.float_vars() if self.dev[u] == self.dev[a] and u != a
                     and self.t(u).dtype == t.dtype
                     and tuple(self.t(u).shape) == tuple(t.shape)
                     and not self.undefined_overlap(t, self.t(u))]
            b = self.pick(cands, 0.4)
        write = rng.choice([f".mul_({b or 1.5})", f".add_({b or 0.5})", ".relu_()",
                            ".zero_()", f".copy_({b})" if b else ".fill_(0.25)", ".exp_()",
                            ".clamp_(-0.5, 0.5)", ".sigmoid_()", f".sub_({b or 0.3}, alpha=2)"])
        src = chain + write
        leafy = self.t(a).is_leaf and self.t(a).requires_grad
        if leafy or rng.random() < 0.15:
            return self.emit("view chain write", None, f"with torch.no_grad(): {src}", self.dev[a])
        return self.emit("view chain write", None, src, self.dev[a])

    @staticmethod
    def _expanded_tensor(t):
        return any(s == 0 and n > 1 for s, n in zip(t.stride(), t.shape))

    def g_func_inplace(self):
        """torch.func's transforms over functions that write in place (their own clones,
        a captured tensor, or views of their argument)."""
        rng = self.rng
        a = self.func_argument()
        if a is None:
            return None
        t = self.t(a)
        opts = [f"torch.func.grad(lambda u: u.clone().mul_(2).sin_().sum())({a})",
                f"torch.func.grad(lambda u: (u * 1).relu_().pow(2).sum())({a})",
                f"torch.func.vmap(lambda r: r.clone().add_(1).mul_(r))({a})",
                # (not exp: torch's tangent of exp reads its result, which the add_ writes,
                # so a backward through the tangent raises; distgrad's tangent is computed
                # on a copy of the op and does not)
                f"torch.func.jvp(lambda u: u.sin().add_(u), ({a},), (torch.ones_like({a}),))[1]",
                f"torch.func.vjp(lambda u: u.clone().relu_() * u, {a})[1](torch.ones_like({a}))[0]",
                f"torch.func.vmap(torch.func.grad(lambda r: r.clone().tanh_().sum()))({a})",
                f"torch.func.grad(lambda u: u.clone().clamp_(-0.5, 0.5).mul_(u).sum())({a})",
                f"torch.func.vmap(lambda r: r.clone().sub_(r.mean()))({a})",
                f"torch.func.grad(lambda u: (u * 2)[0].mul_(u[0]).sum())({a})"]
        if t.shape[0] >= 2:
            opts += [f"torch.func.grad(lambda u: u[1:].clone().mul_(u[:-1]).sum())({a})",
                     f"torch.func.grad(lambda u: (lambda c: (c[0].mul_(3), c)[1])(u.clone())"
                     f".pow(2).sum())({a})"]
        b = self.partner(a, broadcast=False)
        if b is not None:
            opts += [f"torch.func.grad(lambda u: {b}.clone().mul_(u).sum())({a})",
                     f"torch.func.vmap(lambda r, s: r.clone().mul_(s).add_(1))({a}, {b})",
                     f"torch.func.grad(lambda u, w: u.clone().add_(w).pow(2).sum(), "
                     f"argnums=(0, 1))({a}, {b})[1]"]
        # (not a write of a batched value into an unbatched tensor, `vmap(lambda r:
        # w.clone().add_(r))`: torch refuses it, and distgrad's vmap, a loop, cannot tell
        # a batched tensor from an unbatched one)
        if t.dim() == 1 and t.shape[0] <= 4:
            # (cubic: the Hessian of a quadratic is constant, and torch's forward mode
            # leaves it requiring grad where distgrad's reverse-mode jacfwd does not)
            opts += [f"torch.func.hessian(lambda u: u.clone().mul_(u).mul_(u).sum())({a}).clone()",
                     f"torch.func.jacrev(lambda u: u.clone().mul_(u.sum()))({a}).clone()",
                     f"torch.func.jacfwd(lambda u: u.clone().sin_().add_(u))({a}).clone()"]
        v = self.new_var()
        src = rng.choice(opts)
        # (the gradient with respect to b is placed as b is: sharded or replicated too)
        dev = self.dev[b] if b is not None and src.endswith(f"({a}, {b})[1]") else self.dev[a]
        return self.emit("func in-place", v, f"{v} = {src}", dev)

    MODULE_ACTIVATIONS = ["torch.nn.ReLU(inplace=True)", "torch.nn.LeakyReLU(0.1, inplace=True)",
                          "torch.nn.Hardtanh(inplace=True)", "torch.nn.ELU(inplace=True)",
                          "torch.nn.SiLU(inplace=True)", "torch.nn.ReLU6(inplace=True)",
                          "torch.nn.Dropout(0.3)", "torch.nn.Dropout(0.3, inplace=True)",
                          "torch.nn.Tanh()", "torch.nn.GELU()", "torch.nn.CELU(inplace=True)",
                          "torch.nn.Threshold(0.1, 0.0, inplace=True)", "torch.nn.Identity()"]

    def g_module(self):
        """A seeded nn.Sequential (Linear, BatchNorm1d, LayerNorm, in-place activations,
        dropout) in train mode, eval mode, or trained on a batch, then evaluated."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(2) if self.t(v).dim() == 2
                       and self.dev[v] == "cpu"])
        if a is None:
            return None
        k = self.t(a).shape[1]
        layers, width = [], k
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.3:
                out = rng.randint(1, 4)
                layers.append(f"torch.nn.Linear({width}, {out}{rng.choice(['', ', bias=False'])})")
                width = out
            elif r < 0.45:
                extra = rng.choice(["", ", momentum=0.5", ", affine=False",
                                    ", track_running_stats=False"])
                layers.append(f"torch.nn.BatchNorm1d({width}{extra})")
            elif r < 0.55:
                layers.append(f"torch.nn.LayerNorm({width})")
            else:
                layers.append(rng.choice(self.MODULE_ACTIVATIONS))
        mode = rng.choice(["train", "eval", "train, then eval"])
        self.use_function("net")
        v = self.new_var()
        return self.emit("module", v, f"{v} = net({a}, lambda: [{', '.join(layers)}], "
                                      f"'{mode}', seed={rng.randrange(100)})", "cpu")

    SCHEDULERS = ["lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.5)",
                  "lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e)",
                  "lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=2)",
                  "lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=2)",
                  "lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.7)",
                  "lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [1, 2], gamma=0.3)",
                  "lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.05], "
                  "total_steps=4)",
                  "None"]

    def g_fit_groups(self):
        """fit with the parameters in two groups (an lr and weight decay of their own),
        the second added at construction or later, and a scheduler."""
        call = self.fit_call("fit_groups", [v for v in self.plain_float(1)
                                            if self.dev[v] == "cpu"])
        if call is None:
            return None
        sched = self.rng.choice(self.SCHEDULERS)
        add = ", add_group=True" if self.rng.random() < 0.3 else ""
        return self.emit("optimizer groups", call[1], f"{call[0]}, {sched}{add})", "cpu")

    def g_post_hook(self):
        """A post-accumulate-grad hook on a leaf: what it sees of .grad."""
        leaves = [v for v in self.float_vars(grad=True) if self.t(v).is_leaf]
        a = self.pick(leaves, 0.3)
        if a is None:
            return None
        k = self.hook_ids
        self.hook_ids += 1
        return "post hook", None, [a], (f"{a}.register_post_accumulate_grad_hook(lambda p: "
                                        f"H.append(({k}, p.grad.detach().clone())))"), None

    def g_sharded_family(self):
        """Statistics, activations and losses of sharded or replicated tensors."""
        rng, F = self.rng, self.F
        a = self.pick([v for v in self.float_vars() if self.dev[v].startswith("s:")
                       and self.t(v).dim() >= 1])
        if a is None:
            return None
        nd = self.t(a).dim()
        d = rng.randrange(nd)
        opts = [f"{a}.softmax({d})", f"{a}.log_softmax({d})", f"{a}.norm(dim={d})",
                f"{a}.var({d})", f"{a}.std()", f"{a}.mean({d}, keepdim=True)",
                f"{a}.logsumexp({d})", f"{a}.amin({d})", f"{a}.sum(dim={d})",
                f"{F}.gelu({a})", f"{F}.silu({a})", f"{F}.softplus({a})",
                f"{F}.leaky_relu({a}, 0.2)", f"{F}.elu({a})", f"{F}.normalize({a}, dim={d})",
                f"{a}.cumsum({d})", f"{a}.prod({d})", f"{a}.clamp(min=-0.3)",
                f"torch.where({a} > 0, {a}, {a} * 0.1)"]
        b = self.partner(a, broadcast=False)
        if b is not None:
            opts += [f"{F}.mse_loss({a}, {b})", f"{F}.l1_loss({a}, {b}, reduction='sum')",
                     f"{F}.smooth_l1_loss({a}, {b})", f"torch.maximum({a}, {b}).sum({d})",
                     f"{F}.binary_cross_entropy_with_logits({a}, {b}.sigmoid())"]
        v = self.new_var()
        return self.emit("sharded family", v, f"{v} = {rng.choice(opts)}",
                         self._own_layout(self.out_dev(*([a, b] if b else [a])), v))

    # -- widened again: grad modes nested around ops and in-place writes, requires_grad_
    #    on detached views, writes through .data and detach() between forward and backward,
    #    Functions with non-differentiable outputs, saved views or a once-differentiable
    #    backward, checkpoint over in-place code, backward again on a retained graph,
    #    optimizers' state over steps, hooks on views of views, sharded views written.

    GRAD_MODES = ["torch.no_grad()", "torch.enable_grad()", "torch.inference_mode()",
                  "torch.set_grad_enabled(False)", "torch.inference_mode(False)",
                  "torch.set_grad_enabled(True)"]

    def g_grad_modes(self):
        """An op, a view or an in-place write under two nested grad modes."""
        rng = self.rng
        a = self.pick(self.plain_float())
        if a is None:
            return None
        modes = ", ".join(rng.sample(self.GRAD_MODES, 2))
        v = self.new_var()
        bodies = [f"{v} = {a} * 2", f"{v} = {a}.exp()", f"{v} = {a}.clone().mul_({a})",
                  f"{v} = ({a} * 1).relu_()", f"{v} = {a}.view(-1)" if self.t(a).dim() else
                  f"{v} = {a}.unsqueeze(0)"]
        if self.t(a).dim() >= 1:
            bodies += [f"{v} = {a}[0]", f"{v} = {a}[0].mul_(1.5)"]
        writes = [f"{a}.mul_(1.5)", f"{a}.add_(0.5)", f"{a}.sigmoid_()"]
        if rng.random() < 0.35:
            return self.emit("grad modes write", None, f"with {modes}: {rng.choice(writes)}",
                             self.dev[a])
        return self.emit("grad modes", v, f"with {modes}: {rng.choice(bodies)}", self.dev[a])

    def g_requires_grad_toggle(self):
        """requires_grad_ on detached tensors and their views (new leaves), and on views
        and non-leaves (which torch refuses or passes to the base)."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        t = self.t(a)
        i = rng.randrange(t.shape[0]) if t.shape[0] else 0
        v = self.new_var()
        opts = [f"{v} = {a}.detach()[{i}:].requires_grad_()",
                f"{v} = {a}.detach().clone().requires_grad_()",
                f"{v} = {a}.detach().requires_grad_(); {v}[{i}].requires_grad_(False)",
                f"{v} = {a}.clone().detach_().requires_grad_()",
                f"{v} = {a}[{i}]; {v}.requires_grad_(False)",
                f"{v} = {a}.detach(); {v}.requires_grad_(True)",
                f"{v} = {a}.detach().requires_grad_(); {v}.requires_grad_(False)"]
        if t.dim() == 2:
            opts.append(f"{v} = {a}.detach().t().requires_grad_()")
        return self.emit("requires_grad_", v, rng.choice(opts), self.dev[a])

    def g_data_write(self):
        """A write through .data (not counted in the version) or detach() (counted) of a
        tensor the graph uses, or .data set to new values."""
        rng = self.rng
        a = self.pick(self.plain_float(grad=True))
        if a is None:
            return None
        t = self.t(a)
        opts = [f"{a}.data.mul_(2)", f"{a}.detach().add_(1)", f"{a}.data.clamp_(-0.5, 0.5)",
                f"{a}.data = {a}.data * 0.5", f"{a}.data = {a}.detach().clone().exp()"]
        if t.dim() >= 1 and not self._expanded(a):
            opts += [f"{a}.data[0] = 0.5", f"{a}.detach()[0].zero_()"]
        b = self.partner(a, shape=tuple(t.shape))
        if b is not None and not self.undefined_overlap(t, self.t(b)) and not self._expanded(a):
            opts.append(f"{a}.data.copy_({b})")
        return self.emit("data write", None, rng.choice(opts), self.dev[a])

    def g_function_more(self):
        """Custom Functions: a non-differentiable second output, a saved view of the
        input, a once-differentiable backward, an input returned as it is (marked
        non-differentiable or not, under a grad mode or not), grads not materialized."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        names = ["SortVals", "Once", "Ident", "Keep", "Lazy"] + (
            ["SaveView"] if self.t(a).shape[0] >= 2 else [])
        name = rng.choice(names)
        if name == "SortVals" and not self.distinct_along(a, self.t(a).dim() - 1):
            return None
        self.use_function(name)
        v = self.new_var()
        call = f"{name}.apply({a})" + (rng.choice(["[0]", "[1]"]) if name in ("SortVals", "Lazy")
                                       else "")
        src = f"{v} = {call}"
        if name in ("Ident", "Keep", "Lazy") and rng.random() < 0.4:  # (nothing recorded)
            src = f"with {rng.choice(self.GRAD_MODES)}: {src}"
        return self.emit("Function more", v, src, self.dev[a])

    def g_checkpoint_inplace(self):
        """checkpoint over functions that write in place: their own results, views of
        them, or (refused at backward by both) their input."""
        a = self.pick(self.plain_float())
        if a is None:
            return None
        fns = ["lambda u: (u * 2).relu_().mul_(u)", "lambda u: u.clone().sin_().add_(u)",
               "lambda u: (lambda c: (c.view(-1)[0].mul_(3), c)[1])(u * 1).exp()",
               "lambda u: u.exp().clamp_(max=2.0) * u", "lambda u: (u + 1).tanh_().pow(2)",
               "lambda u: u.sin_() * 2"]
        if self.t(a).dim() >= 1 and self.t(a).shape[0] >= 2 and self.t(a).is_contiguous():
            # (a clone keeps u's strides: torch reads overlapping rows of a non-contiguous
            # one in its own order, where it refuses a contiguous one)
            fns.append("lambda u: (lambda c: (c[1:].mul_(c[:-1]), c)[1])(u.clone()).sum(0)")
        fn = self.rng.choice(fns)
        reentrant = self.rng.random() < 0.3
        v = self.new_var()
        return self.emit("checkpoint in-place", v, f"{v} = torch.utils.checkpoint.checkpoint("
                                                   f"{fn}, {a}, use_reentrant={reentrant})",
                         self.dev[a])

    def g_accumulate(self):
        """backward on a retained graph before the program's own: the leaves' .grad add
        up; a leaf's .grad set to None, zeroed or scaled in between."""
        rng = self.rng
        outs = [v for v in self.plain_float(grad=True) if not self.t(v).is_leaf]
        b = self.pick(outs)
        if b is None:
            return None
        calls = [f"({b} * {b}).sum().backward(retain_graph=True)",
                 f"{b}.sum().backward(retain_graph=True); {b}.sum().backward(retain_graph=True)",
                 f"{b}.backward(torch.ones_like({b}), retain_graph=True)",
                 f"torch.autograd.backward([{b}.sum(), ({b} * {b}).sum()], retain_graph=True)"]
        src = rng.choice(calls)
        leaves = [v for v in self.plain_float(grad=True) if self.t(v).is_leaf]
        if leaves and rng.random() < 0.5:
            leaf = rng.choice(leaves)
            src += rng.choice([f"; {leaf}.grad = None",
                               f"; {leaf}.grad.zero_() if {leaf}.grad is not None else None",
                               f"; {leaf}.grad.mul_(0.5) if {leaf}.grad is not None else None"])
        return self.emit("accumulate", None, src, self.dev[b])

    def g_fit_steps(self):
        """fit_steps: gradients accumulated over half batches, zero_grad(set_to_none)
        variants, an optimizer rebuilt from its state_dict."""
        rng = self.rng
        call = self.fit_call("fit_steps", [v for v in self.plain_float(2) if self.dev[v] == "cpu"
                                           and self.t(v).shape[0] >= 2])
        if call is None:
            return None
        extra = f", {rng.random() < 0.5}" + (", reload=True" if rng.random() < 0.4 else "")
        return self.emit("optimizer steps", call[1], f"{call[0]}{extra})", "cpu")

    def g_view_hook(self):
        """retain_grad or a hook on a view of a view (of a variable that requires grad)."""
        a = self.pick([v for v in self.plain_float(1, grad=True)])
        if a is None:
            return None
        chain = self.view_chain(a, 3)
        if chain is None or "." not in chain and "[" not in chain:
            return None
        v = self.new_var()
        if self.rng.random() < 0.5:
            self.prog["retained"].append(v)
            return self.emit("view hook", v, f"{v} = {chain}; {v}.retain_grad()", self.dev[a])
        k = self.hook_ids
        self.hook_ids += 1
        return self.emit("view hook", v, f"{v} = {chain}; {v}.register_hook(lambda g: "
                                         f"H.append(({k}, g.detach().clone())))", self.dev[a])

    def g_sharded_view_write(self):
        """A view of a sharded or replicated tensor written in place by a number, or read."""
        a = self.pick([v for v in self.float_vars() if self.dev[v].startswith("s:")
                       and self.t(v).dim() >= 1])
        if a is None:
            return None
        chain = self.view_chain(a, 2)
        if chain is None:
            return None
        if self.rng.random() < 0.4:
            v = self.new_var()
            return self.emit("sharded view read", v, f"{v} = {chain} * 2",
                             self._own_layout(self.dev[a], v))
        if self._expanded_tensor(eval(chain, self.ns)):
            return None
        write = self.rng.choice([".mul_(1.5)", ".add_(0.5)", ".zero_()", ".relu_()",
                                 ".fill_(0.25)", ".clamp_(-0.5, 0.5)"])
        src = chain + write
        if self.t(a).is_leaf and self.t(a).requires_grad:
            src = f"with torch.no_grad(): {src}"
        return self.emit("sharded view write", None, src, self.dev[a])

    # -- widened a third time: torch.autograd.functional over code with views and
    #    in-place writes, nn layers (convolution, recurrent cells, attention, group norm)
    #    with forward and full backward hooks, gradient clipping in training, autograd
    #    graph nodes (names, hooks and pre-hooks, saved-tensor hooks), anomaly mode, and
    #    the errors of backward twice, requires_grad and in-place dtype promotion.

    AF = "torch.autograd.functional"

    def g_autograd_functional(self):
        """jacobian / hessian / vjp / jvp / hvp / vhp of small functions that take views
        and write in place (their own clones), with create_graph or not."""
        rng, AF = self.rng, self.AF
        a = self.func_argument()
        if a is None or self.t(a).numel() > 12:
            return None
        fns = ["lambda u: u.sin() * u", "lambda u: u.clone().mul_(u).exp()",
               "lambda u: (u * 1).tanh_().pow(2)", "lambda u: u.exp().clamp_(max=2.0) * u"]
        if self.t(a).dim() >= 1 and self.t(a).shape[0] >= 2:
            fns += ["lambda u: (lambda c: (c[0].mul_(2), c)[1])(u * 1).sin()",
                    "lambda u: u[1:] * u[:-1].cos()"]
        f = rng.choice(fns)
        scalar = f"lambda u: ({f})(u).pow(2).sum()"
        cg = f", create_graph={rng.random() < 0.4}"
        ones = f"torch.ones_like({a})"
        # (function, its arguments, which part of its result)
        calls = [("jacobian", f"{f}, {a}{cg}, vectorize={rng.random() < 0.3}", ""),
                 ("hessian", f"{scalar}, {a}{cg}", ""),
                 ("vjp", f"{f}, {a}, ({f})({a}).detach() * 0 + 1{cg}", "[1]"),
                 ("jvp", f"{f}, {a}, {ones}{cg}", "[1]"),
                 ("hvp", f"{scalar}, {a}, {ones}{cg}", "[1]"),
                 ("vhp", f"{scalar}, {a}, {ones}{cg}", "[0]"),
                 ("jacobian", f"{f}, {a}, vectorize=True, strategy='forward-mode'", "")]
        b = self.partner(a, broadcast=False)
        if b is not None:
            calls.append(("jacobian", f"lambda u, w: u * w.exp(), ({a}, {b}){cg}",
                          f"[0][{rng.randrange(2)}]"))
        name, args, part = rng.choice(calls)
        v = self.new_var()
        return self.emit("autograd.functional", v, f"{v} = {AF}.{name}({args}){part}", self.dev[a])

    def layer_input(self):
        """A driver float variable of one or two dims (a layer's input), or None."""
        return self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"
                          and self.t(v).dim() in (1, 2)])

    def g_layer(self):
        """A seeded layer (Linear, Conv1d, RNN/GRU/LSTM cells, MultiheadAttention,
        GroupNorm) in train or eval mode, with hooks recording what they see, and an
        in-place activation of its output (torch refuses one after a full backward hook)."""
        rng = self.rng
        a = self.layer_input()
        if a is None:
            return None
        t = self.t(a)
        k = t.shape[-1]
        layers = [f"torch.nn.Linear({k}, {rng.randint(1, 3)})",
                  f"torch.nn.RNNCell({k}, 2, nonlinearity='{rng.choice(['tanh', 'relu'])}')",
                  f"torch.nn.GRUCell({k}, 2)", f"torch.nn.LSTMCell({k}, 2)",
                  f"torch.nn.LayerNorm({k})"]
        if t.dim() == 2:
            layers += [f"torch.nn.Conv1d({t.shape[0]}, 2, {rng.randint(1, k)}, "
                       f"padding={rng.choice([0, 1])})",
                       f"torch.nn.MultiheadAttention({k}, {2 if k % 2 == 0 else 1})",
                       f"torch.nn.GroupNorm(1, {k})"]
        hooked = rng.random() < 0.5
        record = ""
        if hooked:
            k0 = self.hook_ids
            self.hook_ids += 1
            record = f", record=lambda i, g: H.append(({k0} * 10 + i, g.detach().clone()))"
        act = rng.choice(["", "", ", act=torch.relu_", ", act=lambda o: o.mul_(2)",
                          ", act=torch.nn.ReLU(inplace=True)"])
        self.use_function("layer")
        v = self.new_var()
        args = [a, f"lambda: {rng.choice(layers)}", repr(rng.choice(["train", "eval"]))]
        src = f"{v} = layer({', '.join(args)}{record}{act}, seed={rng.randrange(100)})"
        return self.emit("layer", v, src, "cpu")

    CLIPS = ["lambda p: torch.nn.utils.clip_grad_norm_(p, 0.1)",
             "lambda p: torch.nn.utils.clip_grad_norm_(p, 0.5, norm_type=1.0)",
             "lambda p: torch.nn.utils.clip_grad_norm_(p, 0.2, norm_type=float('inf'))",
             "lambda p: torch.nn.utils.clip_grad_value_(p, 0.05)",
             "lambda p: torch.nn.utils.clip_grad_norm_(list(p), 1e3, foreach=False)"]

    def g_fit_clip(self):
        """fit with the gradients clipped (by norm or value) before each step."""
        call = self.fit_call("fit_clip", [v for v in self.plain_float(1) if self.dev[v] == "cpu"])
        return call and self.emit("optimizer clip", call[1],
                                  f"{call[0]}, {self.rng.choice(self.CLIPS)})", "cpu")

    def g_graph_node(self):
        """Autograd graph nodes: hooks and pre-hooks on a result's grad_fn (recording, or
        scaling the gradient), its name and its next functions' names, saved-tensor hooks
        around an op (packing a copy, or recording what is packed)."""
        rng = self.rng
        a = self.pick(self.plain_float(grad=True))
        if a is None:
            return None
        v = self.new_var()
        k = self.hook_ids
        self.hook_ids += 1
        op = rng.choice([f"{a}.exp()", f"{a} * {a}.sin()", f"{a}.pow(3)", f"({a} * 2).tanh()",
                         f"{a}.clone().mul_(2)", f"{a}.sigmoid()"])
        node = f"{v}.grad_fn"
        opts = [f"{v} = {op}; {node}.register_hook(lambda gi, go: H.append(({k}, go[0].detach()"
                f".clone())))",
                f"{v} = {op}; {node}.register_hook(lambda gi, go: H.append(({k}, [g is None "
                f"for g in gi])))",
                f"{v} = {op}; {node}.register_prehook(lambda go: H.append(({k}, go[0].detach()"
                f".clone())))",
                f"{v} = {op}; {node}.register_prehook(lambda go: (go[0] * 2,))",
                f"{v} = {op}; H.append(({k}, {node}.name())); H.append(({k}, [n and n.name() "
                f"for n, _ in {node}.next_functions]))",
                f"with torch.autograd.graph.saved_tensors_hooks(lambda t: t * 1, lambda t: t): "
                f"{v} = {op}",
                f"with torch.autograd.graph.saved_tensors_hooks(lambda t: (H.append(({k}, "
                f"tuple(t.shape))), t)[1], lambda t: t): {v} = {op}",
                f"with torch.autograd.graph.disable_saved_tensors_hooks('off'): {v} = {op}"]
        return self.emit("graph node", v, rng.choice(opts), self.dev[a])

    def g_anomaly(self):
        """A gradient taken under anomaly mode, of functions whose backward may make nan."""
        rng = self.rng
        a = self.pick(self.plain_float(grad=True))
        if a is None:
            return None
        f = rng.choice([f"{a}.abs().sqrt()", f"{a}.log()", f"({a} * 0).pow(0.5)",
                        f"{a}.clamp(min=0).sqrt()", f"{a}.exp()", f"({a} * {a}).sin()"])
        mode = rng.choice(["torch.autograd.detect_anomaly()",
                           "torch.autograd.detect_anomaly(check_nan=False)",
                           "torch.autograd.set_detect_anomaly(True)"])
        v = self.new_var()
        cg = rng.choice(["create_graph=True", "retain_graph=True"])
        return self.emit("anomaly", v, f"with {mode}: {v} = torch.autograd.grad({f}.sum(), {a}, "
                                       f"{cg})[0]", self.dev[a])

    def g_misuse(self):
        """What torch refuses, or allows where it looks refused: backward twice (a graph
        with saved tensors, or none), requires_grad of integers and of non-leaves, in-place
        writes whose result type the written tensor cannot hold."""
        rng = self.rng
        a = self.pick(self.plain_float())
        if a is None:
            return None
        on = self.on(a)
        # (what v is made as, from a; then what is done with v)
        pairs = [("{a}.clone()", f"{{v}}.add_(torch.tensor(2{on}))"),
                 ("{a}.clone()", f"{{v}}.mul_(torch.tensor(1.5, dtype=torch.float64{on}))"),
                 ("{a}.double()", "{v}.sub_({a})"), ("{a}.int()", "{v}.add_({a})"),
                 ("({a} > 0)", "{v}.mul_(2)"), ("{a}.long()", "{v}.div_(2)"),
                 ("{a}.long()", "{v}.floor_divide_(2)"), ("{a}.half()", "{v}.add_({a}).float()"),
                 ("{a}.clone()", "{v}.copy_({a}.int())"), ("{a}.int()", "{v}.requires_grad_()"),
                 ("({a} * 2)", "{v}.requires_grad_(False)"),
                 ("{a}.detach().requires_grad_()", "{v}.float().requires_grad_()")]
        if self.t(a).requires_grad:  # (backward twice through saved tensors, or none)
            pairs += [("({a} * {a}).sum()", "{v}.backward(); {v}.backward()"),
                      ("({a} + 1).sum()", "{v}.backward(); {v}.backward()"),
                      ("{a}.exp().sum()", "torch.autograd.grad({v}, {a}); "
                                          "torch.autograd.grad({v}, {a})")]
        made, then = rng.choice(pairs)
        v = self.new_var()
        return self.emit("misuse", v, f"{v} = {made}; {then}".format(a=a, v=v), self.dev[a])

    # -- widened a fourth time: views and copies of views written in place, their version
    #    counters read; in-place ops whose other operand broadcasts or has another dtype;
    #    out= into views; views made under grad modes written outside them; autograd.grad's
    #    is_grads_batched, allow_unused and materialize_grads; Functions that write a view or
    #    return views of what they save; checkpoint returning views.

    def g_alias_version(self):
        """A view of a variable, or a copy of that view (detach, .data, clone, contiguous,
        reshape, flatten: which stay views, which copy), written in place; what the version
        counters and `_base` of it and the variable say at once (recorded), and the
        variable's values after (compared as every variable's)."""
        rng = self.rng
        a = self.pick(self.plain_float(1), 0.6)
        if a is None:
            return None
        chain = self.view_chain(a, 2) or a
        made = chain + rng.choice([".detach()", ".data", ".clone()", ".contiguous()",
                                   ".reshape(-1)", ".flatten()", "", f".view_as({chain})"])
        try:
            t = eval(made, self.ns)
        except Exception:
            return None
        if self._expanded_tensor(t):
            return None
        writes = [".mul_(1.5)", ".add_(0.5)", ".zero_()", ".fill_(0.25)", ".relu_()",
                  ".sub_(0.3, alpha=2)"]
        v = self.new_var()
        write = f"{v}[0] = 0.7" if t.dim() and rng.random() < 0.25 else f"{v}{rng.choice(writes)}"
        k = self.hook_ids
        self.hook_ids += 1
        self.written_now.add(v)
        src = (f"{v} = {made}; {write}; H.append(({k}, ({a}._version, {v}._version, "
               f"{v}._base is not None)))")
        if self.t(a).requires_grad and (self.t(a).is_leaf or rng.random() < 0.15):
            src = f"with torch.no_grad(): {src}"
        return self.emit("alias version", v, src, self.dev[a])

    # (`d` written, `o` the other operand)
    MIXED_WRITES = ["{d}.add_({o})", "{d}.add_({o}, alpha=2)", "{d}.sub_({o})", "{d}.mul_({o})",
                    "{d}.div_({o})", "{d}.copy_({o})", "{d}.lerp_({o}, 0.3)",
                    "{d}.addcmul_({o}, {o}, value=0.5)", "{d}.clamp_(min={o})",
                    "{d}.masked_fill_(({o}) > 0.5, 1.5)", "{d}.abs_().pow_({o})"]

    def g_inplace_mixed(self):
        """In-place ops whose other operand broadcasts (a row, a column, a 0-dim tensor) or
        has another dtype (integer, bool, float64; a float written into an integer tensor):
        torch's result where the result type fits the written tensor and it has the
        broadcast shape, torch's error where not."""
        rng = self.rng
        a = self.writable_float()
        if a is None:
            return None
        t, on = self.t(a), self.on(a)
        shape = tuple(t.shape)
        # (made when chosen: an operand may be a new input)
        others = [lambda: f"torch.tensor(2.5, dtype=torch.float64{on})",
                  lambda: f"torch.tensor(3{on})", lambda: f"({a}.detach() > 0)",
                  lambda: self.operand(a, shape[1:], fresh=0.6)]
        if len(shape) == 2:
            others.append(lambda: self.operand(a, (shape[0], 1), fresh=0.6))
        if self.dtype == "float32":
            others.append(lambda: f"{self.operand(a, shape[-1:], fresh=0.6)}.double()")
        ints = [i for i in self.int_vars() if self.dev[i] == self.dev[a]
                and self._broadcasts_to(self.t(i).shape, shape)]
        if ints:
            others.append(lambda: self.pick(ints))
        other = rng.choice(others)()
        dst = a
        if shape[0] >= 2 and rng.random() < 0.15:  # (narrower than the broadcast shape)
            dst, other = f"{a}[:1]", f"{a}.detach() * 2"
        r = rng.random()
        if r < 0.15 and ints:  # a float or a wider result written into an integer tensor
            i = self.pick(ints)
            src = rng.choice([f"{i}.add_({a}.detach())", f"{i}.copy_({a}.detach())",
                              f"{i}.mul_(2.5)", f"{i}.div_(2, rounding_mode='floor')",
                              f"{i}.sub_({i} > 0)", f"{i}.mul_({other})"])
            return self.emit("in-place mixed", None, src, self.dev[i])
        if any(self.undefined_overlap(self.t(a), self.t(u))
               for u in re.findall(r"\b[xv]\d+\b", other) if u != a):
            return None  # (a diagonal of a read while a is written: torch's order, undefined)
        call = rng.choice(self.MIXED_WRITES).format(d=dst, o=other)
        if t.is_leaf and t.requires_grad and rng.random() < 0.8 or rng.random() < 0.1:
            call = f"with torch.no_grad(): {call}"
        return self.emit("in-place mixed", None, call, self.dev[a])

    def _broadcasts_to(self, shape, to) -> bool:
        try:
            return tuple(self.torch.broadcast_shapes(tuple(shape), tuple(to))) == tuple(to)
        except RuntimeError:
            return False

    def g_out_view(self):
        """out= into a view of a variable (a row, a column, a transpose, the whole of it): of
        the result's shape or one resized within its memory, of its dtype or not; under
        no_grad when an operand or the written tensor requires grad (out= refuses autograd
        otherwise), now and then not."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        t = self.t(a)
        calls = [f"torch.add({a}, 1.5, out={{o}})", f"torch.mul({a}, {a}, out={{o}})",
                 f"torch.exp({a}, out={{o}})", f"torch.clamp({a}, -0.5, 0.5, out={{o}})",
                 f"torch.sum({a}, 0, out={{o}})", f"torch.sigmoid({a}, out={{o}})",
                 f"torch.maximum({a}, {a}.detach() * 0.5, out={{o}})"]
        call = rng.choice(calls)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = tuple(eval(call.format(o="None").replace(", out=None", ""), self.ns).shape)
        targets = []
        ds = [d for d in self.of_dtype(lambda dt: True) if d != a and self.dev[d] == self.dev[a]
              and not self.shares_memory(a, d) and not self._expanded(d) and self.t(d).dim()]
        for d in rng.sample(ds, min(len(ds), 5)):  # (a few: each view is tried in torch)
            td = self.t(d)
            views = [d, f"{d}[0]", f"{d}[1:]"] + ([f"{d}.t()", f"{d}[:, 0]"] if td.dim() == 2
                                                  else [])
            for view in views:
                try:
                    tv = eval(view, self.ns)
                except Exception:
                    continue
                if tuple(tv.shape) == want or self.resized_in_place(d, tv, want):
                    targets.append((view, tuple(tv.shape) == want))
        if not targets:
            return None
        fitting = [view for view, fits in targets if fits]
        out = self.pick(fitting) if fitting and rng.random() < 0.8 else rng.choice(targets)[0]
        base = re.findall(r"\b[xv]\d+\b", out)[0]
        src = call.format(o=out)
        if (t.requires_grad or self.t(base).requires_grad) and rng.random() < 0.9:
            src = f"with torch.no_grad(): {src}"
        return self.emit("out= view", None, src, self.dev[a])

    def resized_in_place(self, d, tv, shape) -> bool:
        """Whether torch resizes `tv` (a view of d) to `shape` within its memory, on the
        driver (not growing the memory, which distgrad does not share with the view's base,
        nor on a worker, whose resized view has memory of its own)."""
        n = int(np.prod(shape)) if shape else 1
        return self.dev[d] == "cpu" and \
            tv.storage_offset() + n <= tv.untyped_storage().nbytes() // tv.element_size()

    def g_mode_view_write(self):
        """A view made under one or two grad modes, then it or its base written in place
        outside them (an inference tensor written outside inference mode, a view made under
        no_grad written while its base requires grad: torch's errors), then used."""
        rng = self.rng
        a = self.writable_float()
        if a is None:
            return None
        modes = ", ".join(rng.sample(self.GRAD_MODES, rng.randint(1, 2)))
        chain = self.view_chain(a, 2)
        if chain is None or self._expanded_tensor(eval(chain, self.ns)):
            return None
        v = self.new_var()
        written = rng.choice([v, v, a])
        write = rng.choice([".mul_(1.5)", ".add_(0.5)", ".zero_()", ".exp_()"])
        if written == a and self.t(a).is_leaf and self.t(a).requires_grad:
            write = f".detach(){write}"
        use = rng.choice(["", f"; {v} = {v} * 2", f"; {v} = {v}.sum()"])
        self.written_now.add(v)
        return self.emit("grad modes view", v, f"with {modes}: {v} = {chain}\n"
                                              f"{written}{write}{use}", self.dev[a])

    def g_grad_flags(self):
        """autograd.grad with is_grads_batched (a stack of cotangents), and over an input the
        output does not use: allow_unused with materialize_grads or not (which gradients
        are None, recorded), or without allow_unused (torch's error)."""
        rng = self.rng
        pair = self.output_and_input()
        if pair is None:
            return None
        b, a = pair
        v = self.new_var()
        cg = rng.choice(["retain_graph=True", "create_graph=True"])
        # (torch hands a hook (of a tensor or a node) or retain_grad of the graph the batched
        # gradient itself, a tensor of its vmap that no op outside takes)
        hooked = any(w in op["src"] for op in self.prog["ops"]
                     for w in ("register_", "retain_grad"))
        if not hooked and rng.random() < 0.5:
            return self.emit("autograd.grad flags", v, (
                f"{v} = torch.autograd.grad({b}, {a}, torch.stack([torch.ones_like({b}), "
                f"{b}.detach() * 0.5]), {cg}, is_grads_batched=True)[0]"), self.dev[b])
        c = self.add_input(self.device_name(b), requires_grad=True, shape=(2,))
        k = self.hook_ids
        self.hook_ids += 1
        unused = rng.choice(["allow_unused=True", "allow_unused=True, materialize_grads=True",
                             "materialize_grads=True", ""])
        return self.emit("autograd.grad flags", v, (
            f"{v} = torch.autograd.grad(({b} * {b}).sum(), [{a}, {c}], {cg}, {unused}); "
            f"H.append(({k}, [g is None for g in {v}])); {v} = {v}[0]"), self.dev[b])

    def g_function_views(self):
        """Custom Functions that write their input (a view, maybe) and save it, return two
        views of a result they save, or give a gradient only for the inputs that need one;
        their outputs written in place or not after."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        t = self.t(a)
        name = rng.choice(["Scale_", "Halves", "Mix"] if t.shape[0] >= 2 else ["Scale_", "Mix"])
        self.use_function(name)
        v = self.new_var()
        if name == "Scale_":
            arg = rng.choice([a, f"{a}[1:]", f"{a}[0]"]) if t.shape[0] >= 2 else a
            if t.is_leaf and t.requires_grad and rng.random() < 0.9:
                arg = f"{a}.clone()"
            src = f"{v} = Scale_.apply({arg})"
            self.written_now.add(v)
        elif name == "Halves":
            src = f"{v} = Halves.apply({a})[{rng.randrange(2)}]"
        else:
            b = self.partner(a, broadcast=False) or self.operand(a, tuple(t.shape))
            first, second = rng.sample([a, b, f"{b}.detach()"], 2)
            src = f"{v} = Mix.apply({first}, {second})[{rng.randrange(2)}]"
        if rng.random() < 0.3:
            src += f"; {v}.{rng.choice(['mul_(2)', 'add_(1)', 'zero_()'])}"
            self.written_now.add(v)
        return self.emit("Function views", v, src, self.dev[a])

    def g_checkpoint_views(self):
        """Non-reentrant checkpoint (reentrant now and then) of functions that return a view
        of their input or of a result, or write a view of a result; the output written in
        place after, now and then."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        t = self.t(a)
        fns = ["lambda u: u.unsqueeze(0)", "lambda u: (u * 2)[-1:]", "lambda u: u.exp().view(-1)",
               "lambda u: (lambda c: (c[0].mul_(2), c)[1])(u * 1)",
               "lambda u: (lambda c: (c.view(-1)[:1].zero_(), c.sin())[1])(u.clone())",
               "lambda u: u.sin().unsqueeze(0).expand(2, *u.shape)"]
        if t.dim() == 2:
            fns += ["lambda u: u.t()", "lambda u: (u * u)[:, 0]",
                    "lambda u: (lambda c: (c.t()[0].mul_(3), c.t())[1])(u.exp())"]
        reentrant = rng.random() < 0.2
        v = self.new_var()
        src = (f"{v} = torch.utils.checkpoint.checkpoint({rng.choice(fns)}, {a}, "
               f"use_reentrant={reentrant})")
        if rng.random() < 0.3:
            src += f"; {v}.{rng.choice(['mul_(2)', 'add_(1)', 'relu_()'])}"
            self.written_now.add(v)
        return self.emit("checkpoint views", v, src, self.dev[a])

    # -- widened a fifth time: ties and NaN in order statistics, scans through zeros and
    #    -inf, 0-dim and empty tensors, broadcast masks, layers whose parameters are written
    #    or viewed, attention with masks, optimizers whose gradients are edited through
    #    views, losses with every reduction and their options.

    def float_and_dim(self):
        """(a plain float variable of one dim or more, one of its dims), or None."""
        a = self.pick(self.plain_float(1))
        return None if a is None else (a, self.rng.randrange(self.t(a).dim()))

    def g_ties(self):
        """sort/topk/max/min/median/kthvalue/argmax and their gradients where values tie
        (a tensor next to its own flip, a clamp) or are NaN: torch's choice of which tied
        element gets the gradient, and NaN's place in the order."""
        rng = self.rng
        picked = self.float_and_dim()
        if picked is None:
            return None
        a, d = picked
        made = rng.choice([f"torch.cat([{a}, {a}.flip({d})], {d})", f"{a}.clamp(-0.6, 0.6)",
                           f"({a} - {a}.detach() + {a}.detach().round())",
                           f"{a}.masked_fill({a}.detach() > 1.2, float('nan'))",
                           f"torch.cat([{a}, {a}], {d}).masked_fill("
                           f"torch.cat([{a}, {a}], {d}).detach() < -1.5, float('nan'))"])
        n = eval(made, self.ns).shape[d]
        k = rng.randint(1, n)
        opts = ["{t}.max()", "{t}.min()", f"{{t}}.amax({d})", f"{{t}}.amin({d}, keepdim=True)",
                f"{{t}}.max({d})[0]", f"{{t}}.max({d})[1]", f"{{t}}.min({d}).values",
                f"{{t}}.argmax({d})", f"{{t}}.argmin()", f"{{t}}.median()",
                f"{{t}}.median({d})[0]", f"{{t}}.nanmedian()", f"{{t}}.nanmedian({d}).values",
                f"{{t}}.kthvalue({k}, {d})[0]", f"{{t}}.topk({k}, {d})[0]",
                f"{{t}}.topk({k}, {d}, largest=False).values",
                f"{{t}}.sort({d}, stable=True)[0]", f"{{t}}.sort({d}, stable=True)[1]",
                f"{{t}}.sort({d}, descending=True, stable=True).values", f"{{t}}.msort()",
                f"{{t}}.cummax({d})[0]", f"{{t}}.cummin({d}).values", f"{{t}}.nansum({d})",
                f"{{t}}.nanmean()", f"torch.maximum({{t}}, {{t}}.flip({d}))",
                f"{{t}}.clamp(max={{t}}.detach().median())", f"{{t}}.logsumexp({d})",
                f"{{t}}.norm(p=float('inf'), dim={d})", f"{{t}}.unique()",
                f"torch.sort({{t}}, {d}, stable=True)[0].diff(dim={d})"]
        v = self.new_var()
        expr = rng.choice(opts).format(t=f"({made})" if not made.startswith(("torch", a)) else made)
        return self.emit("ties", v, f"{v} = {expr}", self.dev[a])

    def g_scan_edges(self):
        """cumsum/cumprod/logcumsumexp/prod through zeros (one, several) and -inf."""
        picked = self.float_and_dim()
        if picked is None:
            return None
        a, d = picked
        made = self.rng.choice([f"({a} * ({a}.detach().abs() > 0.7))",
                                f"({a} * ({a}.detach() > 0))",
                                f"torch.where({a}.detach() < -1, float('-inf'), {a})",
                                f"{a}.masked_fill({a}.detach() > 0, float('-inf'))",
                                f"({a} - {a}.detach())", f"{a}.relu()"])
        ops = [f"torch.cumprod({made}, {d})", f"{made}.cumprod({d}).sum({d})",
               f"{made}.prod({d})", f"{made}.prod()", f"{made}.logcumsumexp({d})",
               f"{made}.cumsum({d})", f"torch.logcumsumexp({made}, {d}).exp()",
               f"{made}.logsumexp({d})", f"{made}.exp().cumsum({d}).log()",
               f"{made}.flip({d}).cumprod({d}).flip({d})", f"{made}.cummax({d})[0]"]
        v = self.new_var()
        return self.emit("scan edges", v, f"{v} = {self.rng.choice(ops)}", self.dev[a])

    def g_empty(self):
        """0-dim and empty tensors through reductions, scans, sorting, joins, products,
        indexing and broadcasting (torch's values for empty reductions, or its errors)."""
        rng = self.rng
        a = self.pick(self.plain_float(1))
        if a is None:
            return None
        t = self.t(a)
        made = rng.choice([f"{a}[:0]", f"{a}.narrow(0, 0, 0)", f"{a}.sum()", f"{a}.reshape(-1)[0]",
                           f"{a}.mean()"] + ([f"{a}[:, :0]"] if t.dim() >= 2 else []))
        ops = ["{e}.sum()", "{e}.mean()", "{e}.amax()", "{e}.max()", "{e}.prod()",
               "{e}.logsumexp(0)", "{e}.norm()", "{e}.softmax(0)", "{e}.cumsum(0)",
               "{e}.sort(0)[0]", "torch.cat([{e}, {e}])", "torch.stack([{e}, {e}])",
               "{e}.var()", "{e}.std(0)", "{e} * {e}.detach().exp()", "{e}.unsqueeze(0) + 1",
               "{e}.expand(2, *{e}.shape)", "{e}.clamp({e}.detach() - 1, 0.5)",
               "torch.where({e}.detach() > 0, {e}, 0.5)", "{e}.nansum()",
               "{e}.reshape(-1).topk(0)[0]", "{e}.reshape(-1) @ {e}.reshape(-1)",
               "{e}.flatten().index_select(0, torch.tensor([], dtype=torch.long{on}))",
               "{e}.amin(0)", "{e}.min(0)[0]", "{e}.median()", "{e}.log_softmax(0)",
               "{e}.mean(0)", "{e}.sum(0, keepdim=True)", "{e}.reshape(0, -1) if {e}.numel() == "
               "0 else {e}.reshape(1, -1)", "torch.nn.functional.mse_loss({e}, {e}.detach() * 2)",
               "{e}.max(0)[1]", "{e}.argmax()"]
        if t.dim() == 2:
            ops += [f"{a}[:0].t() @ {a}[:0]", f"{a}[:, :0] @ {a}[:, :0].t()",
                    f"torch.cat([{a}, {a}[:0]])", f"{a}.sum(0)[0] * {a}"]
        v = self.new_var()
        expr = rng.choice(ops).format(e=made, on=self.on(a))
        return self.emit("empty or 0-dim", v, f"{v} = {expr}", self.dev[a])

    def g_masks(self):
        """where/masked_fill/masked_scatter/masked_select with masks that broadcast (a row, a
        column, 0-dim), a 0-dim value that requires grad; index_reduce with include_self."""
        a = self.writable_float()
        if a is None:
            return None
        rng, t, on = self.rng, self.t(a), self.on(a)
        shape = tuple(t.shape)
        masks = [f"({a}.detach()[0] > 0)", f"torch.tensor(True{on})",
                 f"({a}.detach().sum() > 0)"]
        if len(shape) >= 2:
            masks += [f"({a}.detach()[:, :1] > 0)", f"({a}.detach()[:1] < 0.5)"]
        m = rng.choice(masks)
        b = self.operand(a, shape[1:] if rng.random() < 0.5 else shape, fresh=0.5)
        s0 = self.operand(a, (), fresh=0.6)
        ops = [f"torch.where({m}, {a}, {b})", f"torch.where({m}, {a}, {s0})",
               f"{a}.masked_fill({m}, {s0})", f"{a}.masked_fill({m}, 0.25)",
               f"{a}.masked_scatter({m}, {self.operand(a, shape, fresh=0.6)} * 2)",
               f"{a}.masked_select({m})", f"torch.where({m}, {s0}, {b})",
               f"{a}[{m}.expand_as({a})]"]
        if len(shape) >= 1 and shape[0] >= 1:
            d = 0
            k = rng.randint(1, 3)
            idx = self.lit(self.indices((k,), shape[0]), a)
            src = self.operand(a, (k,) + shape[1:], fresh=0.6)
            red = rng.choice(["prod", "mean", "amax", "amin"])
            ops += [f"{a}.index_reduce({d}, {idx}, {src}, '{red}', "
                    f"include_self={rng.random() < 0.5})",
                    f"{a}.scatter_reduce(0, {idx}.reshape(-1, *[1] * ({len(shape)} - 1))"
                    f".expand({k}, *{shape[1:]}), {src}, '{rng.choice(['sum', 'mean', 'amax'])}', "
                    f"include_self={rng.random() < 0.5})"]
        v = self.new_var()
        if rng.random() < 0.2 and not (t.is_leaf and t.requires_grad):
            src = rng.choice([f"{a}.masked_fill_({m}, {s0})", f"{a}.masked_fill_({m}, -0.5)",
                              f"{a}.masked_scatter_({m}, {b}.expand_as({a}) * 3)"])
            if s0 in src and self.t(s0).requires_grad and rng.random() < 0.5:
                src = f"with torch.no_grad(): {src}"
            return self.emit("mask in-place", None, src, self.dev[a])
        return self.emit("mask", v, f"{v} = {rng.choice(ops)}", self.dev[a])

    def g_edit_layer(self):
        """A seeded layer (Linear, Conv1d, Embedding with padding_idx and max_norm, LayerNorm,
        GroupNorm, MultiheadAttention, Dropout at p=0 or in eval) whose parameters are
        written in place under no_grad or read through views (`edit_layer`)."""
        a = self.layer_input()
        if a is None:
            return None
        rng, t, arg = self.rng, self.t(a), a
        k = t.shape[-1]
        layers = [f"torch.nn.Linear({k}, {rng.randint(1, 3)})", f"torch.nn.LayerNorm({k})",
                  f"torch.nn.Sequential(torch.nn.Linear({k}, 2), torch.nn.Dropout(0.0))"]
        if t.dim() == 2:
            layers += [f"torch.nn.Conv1d({t.shape[0]}, 2, {rng.randint(1, k)})",
                       f"torch.nn.GroupNorm(1, {t.shape[1]})",
                       f"torch.nn.MultiheadAttention({k}, {2 if k % 2 == 0 else 1})",
                       f"torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear({k}, 2))"]
        make = rng.choice(layers)
        if "Dropout(0.5)" in make:
            mode = "eval"
        else:
            mode = rng.choice(["train", "eval"])
        if rng.random() < 0.25:  # an embedding of the rows of a's width, looked up
            idx = self.lit(self.indices((rng.randint(1, 4),), 5), a)
            opts = ["", ", padding_idx=0", ", max_norm=1.0", ", padding_idx=1, max_norm=0.5",
                    ", max_norm=1.5, norm_type=1.0", ", scale_grad_by_freq=True"]
            make = f"torch.nn.Embedding(5, {k}{rng.choice(opts)})"
            # (the lookup's output has no x in it: a joins by its sum)
            arg, extra, dtype = idx, f"{a}.sum() + ", f", dtype={a}.dtype"
        else:
            extra, dtype = "", ""
        writes = ["p.mul_(0.5)", "p[0].fill_(0.3)", "p.view(-1)[:2].zero_()",
                  "p.t().mul_(2) if p.dim() == 2 else p.add_(1)", "p.data.add_(0.1)",
                  "p.detach().clamp_(-0.2, 0.2)", "p.copy_(p.flip(0))", "None"]
        reads = ["0", "p.t()[0].sum() if p.dim() == 2 else p[0]", "p.view(-1)[0] * 2",
                 "p[:1].exp().sum()", "p.unsqueeze(0).expand(2, *p.shape).sum()"]
        self.use_function("edit_layer")
        v = self.new_var()
        src = (f"{v} = {extra}edit_layer({arg}, lambda: {make}, lambda p: {rng.choice(writes)}, "
               f"lambda p: {rng.choice(reads)}, '{mode}', seed={rng.randrange(100)}{dtype})")
        return self.emit("edit layer", v, src, "cpu")

    def g_attention(self):
        """F.scaled_dot_product_attention with a bool or float mask (broadcast), is_causal,
        scale=, dropout_p=0; queries, keys and values of small shapes."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(2) if self.t(v).dim() in (2, 3)])
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        L, E = shape[-2], shape[-1]
        S = rng.choice([L, L, 1, 2])
        kshape = shape[:-2] + (S, E)
        k = self.operand(a, kshape, fresh=0.6)
        val = self.operand(a, kshape, fresh=0.6) if rng.random() < 0.7 else k
        on = self.on(a)
        masks = ["", f", attn_mask=torch.ones({L}, {S}, dtype=torch.bool{on}).tril()",
                 f", attn_mask={self.operand(a, (L, S), fresh=0.8)}",
                 f", attn_mask=torch.tensor({[rng.random() < 0.7 for _ in range(S)]}{on})",
                 f", is_causal=True", f", scale=0.5", f", dropout_p=0.0, scale=2.0"]
        mask = rng.choice(masks)
        if mask == ", is_causal=True" and S != L:
            mask = ""
        v = self.new_var()
        return self.emit("attention", v, f"{v} = torch.nn.functional.scaled_dot_product_attention("
                                         f"{a}, {k}, {val}{mask})", self.dev[a])

    EDITS = ["lambda m: m.weight.grad[0].mul_(0.5)", "lambda m: m.weight.grad.t()[0].zero_()",
             "lambda m: m.bias.grad.view(-1)[:1].add_(1.0)",
             "lambda m: m.weight.grad.clamp_(-0.1, 0.1)",
             "lambda m: m.weight.grad.data.mul_(2)",
             "lambda m: m.bias.grad.copy_(m.bias.grad.flip(0))",
             "lambda m: setattr(m.bias, 'grad', None)",
             "lambda m: m.weight.grad.add_(m.weight.detach(), alpha=0.1)"]
    EDIT_OPTIMIZERS = ["SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
                       "SGD(p, lr=0.1, momentum=0.5, foreach=False)",
                       "SGD(p, lr=0.1, momentum=0.5, foreach=True, weight_decay=0.1)",
                       "Adam(p, lr=0.05, amsgrad=True, foreach=False)",
                       "Adam(p, lr=0.05, amsgrad=True, foreach=True)",
                       "AdamW(p, lr=0.05, amsgrad=True, weight_decay=0.1)",
                       "AdamW(p, lr=0.05, foreach=False)", "Adam(p, lr=0.05, weight_decay=0.1)"]

    def g_fit_edit(self):
        """fit with the gradients edited through views between backward and step, zero_grad
        keeping zeros or not, and the optimizers' state summed in."""
        a = self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"])
        if a is None:
            return None
        rng = self.rng
        kk = self.t(a).shape[-1]
        o = rng.randint(1, 3)
        w, b = self.operand(a, (o, kk)), self.operand(a, (o,))
        self.use_function("fit_edit")
        v = self.new_var()
        return self.emit("optimizer edit", v, (
            f"{v} = fit_edit({a}, {w}, {b}, "
            f"lambda p: torch.optim.{rng.choice(self.EDIT_OPTIMIZERS)}, "
            f"{rng.choice(self.EDITS)}, {rng.random() < 0.5})"), "cpu")

    def g_losses(self):
        """Losses with every reduction and their options: class weights, ignore_index,
        label_smoothing, probabilities as targets, pos_weight, margins, log targets."""
        rng, F = self.rng, self.F
        a = self.pick([v for v in self.plain_float(1) if self.t(v).dim() in (1, 2)])
        if a is None:
            return None
        shape = tuple(self.t(a).shape)
        c = shape[-1]
        red = f"reduction='{rng.choice(['mean', 'sum', 'none'])}'"
        tgt = self.lit(self.indices(shape[:-1], c) if len(shape) == 2 else rng.randrange(c), a)
        wt = f"{self.operand(a, (c,), fresh=0.7)}.detach().abs() + 0.1"
        b = self.operand(a, shape, fresh=0.5)
        ign = f"ignore_index={rng.randrange(c)}"
        opts = [f"{F}.cross_entropy({a}, {tgt}, weight={wt}, {ign}, {red})",
                f"{F}.cross_entropy({a}, {tgt}, label_smoothing=0.2, weight={wt}, {red})",
                f"{F}.cross_entropy({a}, {tgt}, label_smoothing=0.1, {ign}, {red})",
                f"{F}.cross_entropy({a}, {b}.softmax(-1), label_smoothing=0.3, {red})",
                f"{F}.cross_entropy({a}, {b}.softmax(-1), weight={wt}, {red})",
                f"{F}.nll_loss({a}.log_softmax(-1), {tgt}, weight={wt}, {ign}, {red})",
                f"{F}.binary_cross_entropy({a}.sigmoid(), {b}.sigmoid().detach(), weight={wt}, "
                f"{red})",
                f"{F}.binary_cross_entropy_with_logits({a}, {b}.sigmoid(), pos_weight={wt}, {red})",
                f"{F}.binary_cross_entropy_with_logits({a}, {b}.sigmoid(), weight={wt}, {red})",
                f"{F}.kl_div({a}.log_softmax(-1), {b}.log_softmax(-1), log_target=True, {red})",
                f"{F}.poisson_nll_loss({a}, {b}.abs(), {red})",
                f"{F}.poisson_nll_loss({a}.abs() + 0.1, {b}.abs(), log_input=False, full=True, "
                f"{red})",
                f"{F}.gaussian_nll_loss({a}, {b}, {b}.detach().abs() + 0.1, {red})",
                f"{F}.soft_margin_loss({a}, {b}.sign(), {red})",
                f"{F}.smooth_l1_loss({a}, {b}, beta=0.0, {red})",
                f"{F}.huber_loss({a}, {b}, {red}, delta=2.0)",
                f"{F}.margin_ranking_loss({a}, {b}, {b}.detach().sign(), margin=0.2, {red})",
                f"{F}.hinge_embedding_loss({a}, {b}.detach().sign(), {red})",
                f"{F}.l1_loss({a}, {b}, {red})", f"{F}.mse_loss({a}, {b}.detach(), {red})"]
        if len(shape) == 2:
            opts += [f"{F}.multi_margin_loss({a}, {tgt}, weight={wt}, {red})",
                     f"{F}.multilabel_soft_margin_loss({a}, ({b} > 0).float(), {red})"
                     if self.dtype == "float32" else
                     f"{F}.multilabel_soft_margin_loss({a}, ({b} > 0).double(), {red})",
                     f"{F}.cosine_embedding_loss({a}, {b}, "
                     f"{self.lit([rng.choice([1, -1]) for _ in range(shape[0])], a)}, {red})",
                     f"{F}.triplet_margin_loss({a}, {b}, {b}.flip(0), {red})"]
        v = self.new_var()
        return self.emit("losses", v, f"{v} = {rng.choice(opts)}", self.dev[a])

    # -- widened a sixth time: a tensor's memory given another layout in place (set_,
    #    resize_, as_strided_) or shared with numpy (from_numpy, as_tensor, frombuffer,
    #    .numpy()) and written there; detach_ of what the graph saved or viewed; hooks on
    #    views that change the gradient, the view or its base written after; saved-tensor
    #    hooks that copy or move what they pack, around writes; grad_outputs that do not fit.

    def _alias_of(self, a):
        """An expression of a detached alias of `a` (itself, a slice, a transpose), with its
        storage's size in elements and its offset, or None."""
        t = self.t(a)
        opts = [f"{a}.detach()"]
        if t.shape[0] >= 2:
            opts.append(f"{a}.detach()[1:]")
        if t.dim() == 2:
            opts.append(f"{a}.detach().t()")
        alias = self.rng.choice(opts)
        at = eval(alias, self.ns)
        return alias, at.untyped_storage().nbytes() // at.element_size(), at.storage_offset()

    def g_rewire(self):
        """set_/resize_/as_strided_ on a detached alias of a variable (within its memory: the
        variable sees what is written there after), on a copy, on a result that requires
        grad (as_strided_ keeps its history; resize_ and set_ are refused), on a leaf under
        no_grad (set_ to new values of its shape)."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"])
        if a is None:
            return None
        t = self.t(a)
        alias, places, off = self._alias_of(a)
        made = rng.choice([alias, alias, f"{a}.detach().clone()", f"({a} * 1)"])
        m = eval(made, self.ns)
        # (within the memory of both: resize_ past it would read memory never written)
        room = min(places, m.untyped_storage().nbytes() // m.element_size()) - max(
            off, m.storage_offset())
        if room < 1:
            return None
        k = rng.randint(1, room)
        step = rng.choice([1, 1, 2, 0]) if k > 1 else 1
        k = min(k, (room - 1) // step + 1) if step else k
        size, stride = rng.choice([((k,), (step,)), ((1, k), (k * step or 1, step))])
        v = self.new_var()
        how = rng.choice([f".resize_({', '.join(map(str, size))})",
                          f".as_strided_({size}, {stride})",
                          f".as_strided_({size}, {stride}, {off})", ".set_()",
                          f".set_({alias})", f".set_({a}.detach().untyped_storage(), {off}, "
                                            f"{size}, {stride})"])
        if made == f"({a} * 1)" and how.startswith(".resize_") and rng.random() < 0.7:
            how = f".as_strided_({size}, {stride})"  # (mostly what torch allows)
        write = rng.choice(["", "; {v}.mul_(2)", "; {v}.zero_()", "; {v}.add_(0.5)",
                            "; {v}.view(-1)[0] = 0.75" if step == 1 else ""]).format(v=v)
        if made.startswith("(") and write and rng.random() < 0.5:
            write = ""  # (a view of a result written in place: its history goes on)
        src = f"{v} = {made}; {v}{how}{write}"
        if t.is_leaf and t.requires_grad and rng.random() < 0.2:
            other = self.operand(a, tuple(t.shape), fresh=0.5)
            src = f"with torch.no_grad(): {a}.set_({other}.detach().clone() * 2)"
            return self.emit("set_ leaf", None, src, "cpu")
        self.written_now.add(v)
        return self.emit("rewire", v, src, "cpu")

    def g_numpy_shared(self):
        """A variable's memory shared with numpy (.numpy() of a detached alias, from_numpy,
        as_tensor, frombuffer) and written through the other side: no version counts it, so
        what the graph saved reads the new values in both libraries; or copied (torch.tensor,
        as_tensor with another dtype), or refused (.numpy() of a tensor that requires grad)."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"])
        if a is None:
            return None
        t = self.t(a)
        n = f"{a}.detach().numpy()"
        other = "torch.float64" if self.dtype == "float32" else "torch.float32"
        v = self.new_var()
        made = [f"torch.from_numpy({n})", f"torch.as_tensor({n})", f"torch.tensor({n})",
                f"torch.as_tensor({n}, dtype={other})", f"torch.from_numpy({n}[::2])",
                f"torch.as_tensor({a})", f"torch.as_tensor({a}, dtype={other})",
                f"torch.from_numpy({n}.T)" if t.dim() == 2 else f"torch.from_numpy({n}[1:])",
                f"torch.frombuffer({n}, dtype={a}.dtype)", f"torch.asarray({n})"]
        write = rng.choice(["", "; {v}.mul_(2)", "; {v}.zero_()", "; {v}[0] = 0.5",
                            "; {v}.add_(1)"]).format(v=v)
        expr = rng.choice(made)
        if rng.random() < 0.25:  # written on the numpy side, or refused
            src = rng.choice([f"{n}[0] *= 2", f"{n}[...] = 0.5", f"{a}.numpy()[0] = 1.0",
                              f"{a}.numpy(force=True)[0] = 1.0"])
            return self.emit("numpy write", None, src, "cpu")
        if expr.startswith("torch.as_tensor(x") or expr.startswith("torch.as_tensor(v"):
            write = write if not t.requires_grad else ""  # (a itself, or its copy with history)
        self.written_now.add(v)
        return self.emit("numpy shared", v, f"{v} = {expr}{write}", "cpu")

    def g_detach_inplace(self):
        """detach_ of a result the graph saved or viewed (the saved tensor refused at
        backward, the views keep their history), of a view (refused), then written; or
        requires_grad_(False) of a result (refused)."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1, grad=True) if not self.t(v).is_leaf])
        if a is None:
            return None
        v = self.new_var()
        chain = self.view_chain(a, 2)
        opts = [f"{v} = {a}.exp(); {a}.detach_()", f"{v} = {a} * 2; {v}.detach_()",
                f"{v} = {a}[0]; {a}.detach_()", f"{v} = {a}.sin(); {a}.detach_(); {a}.mul_(2)",
                f"{v} = {a} * 1; {a}.requires_grad_(False)",
                f"{v} = {a}.clone(); {v}.detach_().requires_grad_()"]
        if chain is not None:
            opts += [f"{v} = {chain}; {v}.detach_()", f"{v} = {chain}.detach(); {v}.detach_()"]
        return self.emit("detach_", v, rng.choice(opts), self.dev[a])

    VIEW_HOOKS = ["lambda g: g * 2", "lambda g: g.clamp(-0.5, 0.5)", "lambda g: g + 1",
                  "lambda g: torch.zeros_like(g)", "lambda g: g.flip(0) if g.dim() else -g",
                  "lambda g: None"]

    def g_view_hook_edit(self):
        """A hook that changes the gradient (scales, clamps, zeros, flips it) on a view of a
        result, then the view or its base written in place (torch's hooks stay with the
        node they were registered on), a recording hook or retain_grad after the write."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1, grad=True) if not self.t(v).is_leaf
                       and not self._expanded(v)])
        if a is None:
            return None
        chain = self.view_chain(a, 2)
        if chain is None or self._expanded_tensor(eval(chain, self.ns)):
            return None
        v = self.new_var()
        k = self.hook_ids
        self.hook_ids += 1
        write = rng.choice(["", f"; {v}.mul_(1.5)", f"; {a}.add_(0.5)", f"; {v}.exp_()",
                            f"; {a}.mul_({a}.detach())"])
        after = rng.choice(["", f"; {v}.register_hook(lambda g: H.append(({k}, "
                                f"g.detach().clone())))", f"; {v}.retain_grad()"])
        if "retain_grad" in after:
            self.prog["retained"].append(v)
        self.written_now.add(v)
        return self.emit("view hook edit", v, f"{v} = {chain}; {v}.register_hook("
                                              f"{rng.choice(self.VIEW_HOOKS)}){write}{after}",
                         self.dev[a])

    SAVED_HOOKS = [("lambda t: t.clone()", "lambda t: t"), ("lambda t: t", "lambda t: t"),
                   ("lambda t: t.detach()", "lambda t: t"),
                   ("lambda t: t.detach().numpy().copy()", "lambda n: torch.from_numpy(n)"),
                   ("lambda t: t.detach().numpy()", "lambda n: torch.from_numpy(n)"),
                   ("lambda t: (t.dtype, t.tolist())", "lambda p: torch.tensor(p[1], dtype=p[0])"),
                   ("lambda t: t", "lambda t: t * 2"), ("lambda t: t.clone()", "lambda t: t.sin()")]

    def g_saved_hooks_write(self):
        """Saved-tensor hooks that pack a copy (clone, numpy, a list), the tensor itself or
        a detached alias, and unpack it (or something else), around an op; then the op's
        input written in place: the copy keeps the old values, the alias sees the new ones,
        and no version check runs (torch's)."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"
                       and not self._expanded(v)])
        if a is None:
            return None
        t = self.t(a)
        ops = [f"{a}.exp()", f"{a} * {a}", f"{a}.sin()", f"{a}.pow(3)", f"{a}.sigmoid() * {a}",
               f"{a}.softmax(-1)", f"{a}[0].tanh()"] + ([f"{a}.t() @ {a}"] if t.dim() == 2 else [])
        pack, unpack = rng.choice(self.SAVED_HOOKS)
        v = self.new_var()
        write = rng.choice([f"{a}.mul_(2)", f"{a}[0].zero_()", f"{a}.add_(1)", ""])
        if write and t.is_leaf and t.requires_grad:
            write = f"with torch.no_grad(): {write}"
        src = (f"with torch.autograd.graph.saved_tensors_hooks({pack}, {unpack}): "
               f"{v} = {rng.choice(ops)}" + (f"\n{write}" if write else ""))
        return self.emit("saved hooks write", v, src, "cpu")

    def g_grad_outputs(self):
        """autograd.grad and backward with grad_outputs that do not fit: another shape (a
        row, one more dim, 0-dim), another dtype, an integer one, too few; torch's errors or
        its cast."""
        pair = self.output_and_input()
        if pair is None:
            return None
        b, a = pair
        rng, on = self.rng, self.on(b)
        shape = tuple(self.t(b).shape)
        other = "torch.float64" if self.dtype == "float32" else "torch.float32"
        outs = [f"torch.ones({shape}, dtype={other}{on})", f"torch.ones({shape[1:]}{on})",
                f"torch.ones((1,) + {shape}{on})", f"torch.tensor(1.0{on})",
                f"torch.ones({shape}, dtype=torch.int64{on})",
                f"torch.ones({shape}, dtype=torch.bool{on})", f"{b}.detach().t()"
                if len(shape) == 2 else f"{b}.detach()[None]"]
        go = rng.choice(outs)
        v = self.new_var()
        src = rng.choice([f"{v} = torch.autograd.grad({b}, {a}, {go}, retain_graph=True)[0]",
                          f"{v} = torch.autograd.grad([{b}, {b}.sum()], {a}, [{go}], "
                          f"retain_graph=True)[0]",
                          f"{b}.backward({go}, retain_graph=True); {v} = {a}.grad"])
        return self.emit("grad_outputs", v, src, self.dev[b])

    # -- widened a seventh time -----------------------------------------------------------
    def g_index_assign(self):
        """Advanced-index writes and reads: `a[idx] += y`, `a[:, idx] *= 2`, a bool mask
        assigned a 0-dim result that requires grad, mixed basic and advanced indices,
        index_put_ with accumulate over duplicate indices, and reads through repeated
        indices (their gradients add up)."""
        rng = self.rng
        a = self.writable_float()
        if a is None or self.t(a).numel() == 0:
            return None
        t = self.t(a)
        shape = tuple(t.shape)
        n = shape[0]
        if rng.random() < 0.3:  # a read through repeated indices
            idx = self.lit(self.indices((rng.randint(1, 5),), n), a)
            v = self.new_var()
            expr = rng.choice([f"{a}[{idx}]", f"{a}[{idx}].sum(0)",
                               f"{a}[..., {self.lit(self.indices((3,), shape[-1]), a)}]"])
            if t.dim() >= 2:
                expr = rng.choice([expr, f"{a}[{idx}, {self.lit(self.indices((len(eval(idx, self.ns)),), shape[1]), a)}]"])
            return self.emit("index read", v, f"{v} = {expr}", self.dev[a])
        k = rng.randint(1, n)
        uniq = self.lit(self.indices((k,), n, 0), a)
        dup = self.lit(self.indices((rng.randint(2, 5),), n), a)
        others = [b for b in self.plain_float(grad=True) if b != a and self.dev[b] == self.dev[a]
                  and self.t(b).dtype == t.dtype]
        scalar = f"{self.pick(others)}.mean()" if others else "0.5"
        opts = [f"{a}[{uniq}] += {self.operand(a, (k,) + shape[1:])}",
                f"{a}[{uniq}] = {self.operand(a, shape[1:])}",
                f"{a}[{a}.detach() > 0] = {scalar}",
                f"{a}.index_put_(({dup},), {self.operand(a, (len(eval(dup, self.ns)),) + shape[1:])}, "
                f"accumulate=True)",
                f"{a}[{uniq}] *= 2"]
        if t.dim() >= 2:
            m = shape[1]
            col = self.lit(self.indices((rng.randint(1, m),), m, 0), a)
            opts += [f"{a}[:, {col}] *= 2", f"{a}[{uniq}, :1] = {scalar}",
                     f"{a}[{uniq}, {self.lit(self.indices((k,), m), a)}] = "
                     f"{self.operand(a, (k,))}"]
        src = rng.choice(opts)
        if any(self.shares_memory(a, u) for u in re.findall(r"\b[xv]\d+\b", src) if u != a):
            return None  # (a source read while it is written: undefined in torch)
        if t.is_leaf and t.requires_grad:
            src = f"with torch.no_grad(): {src}"
        return self.emit("index assign", None, src, self.dev[a])

    def g_more_views(self):
        """The views the others do not make (unflatten, movedim, swapaxes, tensor_split,
        Tensor.unfold's overlapping windows), read or written in place (triu_/tril_, mul_,
        a row zeroed); and repeat_interleave, a copy."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1) if self.t(v).numel() > 0])
        if a is None:
            return None
        t = self.t(a)
        shape, nd = tuple(t.shape), t.dim()
        d = rng.randrange(nd)
        n = shape[d]
        views = [f"{a}.unflatten({d}, ({n}, 1))", f"{a}.movedim({d}, -1)",
                 f"{a}.tensor_split({min(n, 2)}, {d})[{rng.randrange(min(n, 2))}]",
                 f"{a}.unfold({d}, {rng.randint(1, n)}, {rng.randint(1, 2)})"]
        if nd >= 2:
            views += [f"{a}.swapaxes(0, 1)", f"{a}.movedim(0, 1)"]
        view = rng.choice(views)
        v = self.new_var()
        r = rng.random()
        if r < 0.2:
            reps = self.lit([rng.randint(0, 2) for _ in range(n)], a)
            return self.emit("repeat_interleave", v,
                             f"{v} = {a}.repeat_interleave({reps}, {d})", self.dev[a])
        writable = not (t.is_leaf and t.requires_grad) and not self._expanded(a)
        if r < 0.6 or not writable:
            return self.emit("more views", v, f"{v} = {view}", self.dev[a])
        write = rng.choice([".mul_(2)", "[0].zero_()", ".add_(1)", ".triu_()", ".tril_(-1)"])
        if write in (".triu_()", ".tril_(-1)") and "unfold" in view:
            write = ".mul_(2)"
        if write in (".triu_()", ".tril_(-1)") and eval(view, self.ns).dim() < 2:
            write = ".add_(1)"
        self.written_now.add(v)
        return self.emit("more views write", v, f"{v} = {view}; {v}{write}", self.dev[a])

    def g_saved_mutation(self):
        """allow_mutation_on_saved_tensors: a result's input written in place after the op
        saved it (torch keeps the saved value), the gradient by a leaf taken inside the
        context (outside it torch refuses the backward)."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1, grad=True) if not self.t(v).is_leaf
                       and self.dev[v] == "cpu" and not self._expanded(v)])
        leaf = self.pick([v for v in self.plain_float(grad=True) if self.t(v).is_leaf
                          and self.dev[v] == "cpu"])
        if a is None or leaf is None:
            return None
        ops = [f"{a}.exp()", f"{a} * {a}", f"{a}.sin()", f"{a}.pow(3)", f"{a}.sigmoid() * 2",
               f"{a}[0].tanh()", f"{a}.clone().mul_({a})"]
        write = rng.choice([f"{a}.mul_(2)", f"{a}[0].zero_()", f"{a}.add_(1)",
                            f"{a}.detach().mul_(3)"])
        v, w = self.new_var(), f"_s{len(self.prog['ops'])}"
        src = (f"with torch.autograd.graph.allow_mutation_on_saved_tensors():\n"
               f"    {w} = {rng.choice(ops)}; {write}; "
               f"{v} = torch.autograd.grad({w}.sum(), {leaf}, allow_unused=True, "
               f"materialize_grads=True)[0]")
        return self.emit("saved mutation", v, src, "cpu")

    def g_multi_hook(self):
        """register_multi_grad_hook over two variables (mode "all" or "any"): what the hook
        sees when the loss reaches one or both."""
        rng = self.rng
        vs = [v for v in self.float_vars(grad=True) if self.plain(v)
              and not self.hook_crashes_torch(v)]
        if len(vs) < 2:
            return None
        a, b = rng.sample(vs, 2)
        k = self.hook_ids
        self.hook_ids += 1
        if rng.random() < 0.5:
            hook = (f"lambda gs: H.append(({k}, torch.stack([torch.tensor(-1.0) if g is None "
                    f"else g.detach().double().sum().cpu() for g in gs])))")
            src = f"torch.autograd.graph.register_multi_grad_hook(({a}, {b}), {hook})"
        else:
            hook = f"lambda g: H.append(({k}, g.detach().clone()))"
            src = f"torch.autograd.graph.register_multi_grad_hook(({a}, {b}), {hook}, mode='any')"
        return self.emit("multi grad hook", None, src, None)

    def g_param_layer(self):
        """A seeded nn.Linear whose weight is parametrized (a symmetric one, one with a right
        inverse, weight_norm), maybe assigned through it, run in parametrize.cached() or not."""
        a = self.layer_input()
        if a is None or self.dev[a] != "cpu":
            return None
        rng = self.rng
        how = rng.choice(["sym", "scale", "weight_norm"])
        n = self.t(a).shape[-1] if how == "sym" else rng.randint(1, 3)
        self.use_function("param_layer")
        v = self.new_var()
        return self.emit("param layer", v, f"{v} = param_layer({a}, {n}, '{how}', "
                                           f"{rng.random() < 0.3}, {rng.random() < 0.4}, "
                                           f"seed={rng.randrange(100)})", "cpu")

    def g_call_layer(self):
        """torch.func.functional_call of a seeded nn.Linear with variables as its weight (and
        bias): their gradients, and none for the module's own."""
        a = self.layer_input()
        if a is None or self.dev[a] != "cpu" or self.t(a).dim() != 2:
            return None
        rng, k = self.rng, self.t(a).shape[1]
        out = rng.randint(1, 3)
        w = self.operand(a, (out, k), fresh=0.5)
        b = self.operand(a, (out,), fresh=0.5) if rng.random() < 0.6 else "None"
        self.use_function("call_layer")
        v = self.new_var()
        return self.emit("functional_call", v,
                         f"{v} = call_layer({a}, {w}, {b}, seed={rng.randrange(100)})", "cpu")

    def g_inplace_edges(self):
        """The edges of in-place ops: shape ops in place (t_, unsqueeze_, transpose_,
        as_strided_ with a stride 0) on a result or a detached copy, under no_grad or not,
        then maybe written through a narrow of it; set_ of a view (its history made anew
        from its base's, or refused); index_put with a 0-dim bool mask; add/sub with an alpha
        on floats with grad and on integers (torch's order of errors); clamp_ with tensor
        bounds of other dtypes; and torch.utils.swap_tensors with a fresh input."""
        rng = self.rng
        a = self.pick([v for v in self.plain_float(1) if self.dev[v] == "cpu"
                       and not self._expanded(v) and self.t(v).numel() > 0])
        if a is None:
            return None
        t, v = self.t(a), self.new_var()
        copy = rng.choice([f"{a} * 1", f"{a}.detach().clone()", f"{a}.clone()"])
        r = rng.random()
        if r < 0.25:
            n = t.shape[0]
            op = rng.choice(["unsqueeze_(0)", "transpose_(0, -1)", "squeeze_()",
                             f"as_strided_(({min(n, 2)},), (0,))", f"as_strided_(({n},), (1,))"]
                            + (["t_()"] if t.dim() <= 2 else []))
            quiet = "with torch.no_grad(): " if rng.random() < 0.4 else ""
            src = f"{v} = {copy}; {quiet}{v}.{op}"
            if rng.random() < 0.4:
                src += f"; {v}.narrow(0, 0, 1).mul_({self.operand(a, ())})"
            return self.emit("in-place shape op", v, src, "cpu")
        if r < 0.45:
            view = rng.choice([f"{a}[1:]", f"{a}.unsqueeze(0)", f"{a}[0]", f"({a} * 1)[:1]"])
            made = "with torch.no_grad(): " if rng.random() < 0.3 else ""
            source = self.operand(a, rng.choice([tuple(t.shape), (rng.randint(1, 4),)]))
            value = rng.choice([f"{source}.detach().clone()", f"{source} * 2"])
            quiet = "with torch.no_grad(): " if rng.random() < 0.7 else ""
            return self.emit("set_ of a view", v, f"{made}{v} = {view}\n{quiet}{v}.set_({value})",
                             "cpu")
        if r < 0.6:
            mask = rng.choice([f"({a}.sum() > 0)", "torch.tensor(True)", "torch.tensor(False)"])
            row = self.lit(self.indices((rng.randint(1, min(2, t.shape[0])),), t.shape[0], 0), a)
            key = rng.choice([f"({mask},)", f"({mask}, {row})", f"({row}, {mask})"])
            shape = tuple(t.shape[1:]) if "," in key[1:-2] else ()
            value = self.operand(a, rng.choice([(), shape]))
            acc = rng.random() < 0.5
            return self.emit("0-dim mask put", v, f"{v} = {a}.index_put({key}, {value}, "
                                                  f"accumulate={acc})", "cpu")
        if r < 0.8:
            other = self.partner(a) or self.operand(a, tuple(t.shape))
            alpha = rng.choice(["1.5", "-0.5", "2", "True"])
            if rng.random() < 0.5:
                return self.emit("alpha", v, f"{v} = {copy}; {v}.{rng.choice(['add_', 'sub_'])}("
                                             f"{other}, alpha={alpha})", "cpu")
            ints = self.int_vars_on(a) or [self.add_input("cpu", shape=tuple(t.shape),
                                                          int_dtype="int64")]
            i = self.pick(ints)
            kind = rng.choice([f"{i}", f"({i} > 0)", f"{a}", f"{i}.sum()"])
            kind_other = rng.choice([f"{i}", f"({i} > 0)", f"{other}", f"{i}.sum()"])
            return self.emit("alpha", v, f"{v} = {kind}.clone(); {v}.{rng.choice(['add_', 'sub_'])}"
                                         f"({kind_other}, alpha={alpha})", "cpu")
        if r < 0.9:
            ints = self.int_vars_on(a)
            lo = rng.choice([f"{self.pick(ints)}.clamp(max=0)" if ints else "torch.tensor(0)",
                             f"{self.operand(a, ())} - 1", "torch.tensor(-1)"])
            hi = rng.choice(["None", "torch.tensor(1)", f"{self.operand(a, (t.shape[-1],))} + 1"])
            target = rng.choice([copy, f"{self.pick(ints)}.clone()" if ints else copy])
            return self.emit("clamp_ tensor bounds", v, f"{v} = {target}; {v}.clamp_({lo}, {hi})",
                             "cpu")
        x = self.add_input("cpu", requires_grad=False, shape=rng.choice(SHAPES))
        return self.emit("swap_tensors", v, f"{v} = {copy}; torch.utils.swap_tensors({v}, {x})",
                         "cpu")

    # -- the whole program ----------------------------------------------------------------
    def build(self, n_ops=None):
        rng = self.rng
        n_inputs = rng.randint(2, 4)
        for i in range(n_inputs):
            device = "cpu"
            if self.mode != "driver" and rng.random() < 0.4:
                device = rng.choice(["worker:0", "worker:1"])
            self.add_input(device, requires_grad=True if i == 0 else None)
        n_ops = n_ops or rng.randint(6, 14)
        tries = 0
        while len(self.prog["ops"]) < n_ops and tries < n_ops * 8:
            tries += 1
            if self.step() == "error":
                break
        self.finish()
        return self.prog

    def finish(self):
        prog = self.prog
        cands = [v for v in self.float_vars(grad=True)]
        inner = [v for v in cands if not self.t(v).is_leaf] or cands
        k = min(len(inner), self.rng.randint(1, 3))
        recent = inner[-5:]
        chosen = set(self.rng.sample(recent, min(k, len(recent))))
        if inner and self.rng.random() < 0.4:
            chosen.add(self.rng.choice(inner))
        prog["loss"] = [v for v in cands if v in chosen]
        prog["devices"] = {v: self.dev[v] for v in prog["loss"]}
        # (a view made under no_grad is a leaf that requires grad in torch: not an input)
        prog["leaves"] = [v for v in prog["vars"] if self.usable(v)
                          and self.ns[v].is_leaf and self.ns[v].requires_grad
                          and prog["kinds"].get(v) != "no_grad view"]
        prog["retained"] = [v for v in prog["retained"] if v in prog["vars"]]


def from_lines(inputs, lines, loss, mode="driver", dtype="float64", name="hand-written"):
    """A program from source lines (`vN = ...` defines vN; x0.. are `inputs`, a list of
    (values, requires_grad)), for hand-written cases; leaves as torch sees them."""
    import torch

    prog = {"seed": name, "mode": mode, "dtype": dtype, "inputs": [], "ops": [],
            "vars": [], "kinds": {}, "loss": list(loss), "leaves": [], "retained": []}
    for k, (values, rg) in enumerate(inputs):
        prog["inputs"].append({"name": f"x{k}", "shape": np.shape(values), "device": "cpu",
                               "requires_grad": rg, "values": values})
        prog["vars"].append(f"x{k}")
    for line in lines:
        m = re.match(r"^(v\d+) = (.*)$", line)
        out = m.group(1) if m else None
        rhs = m.group(2) if m else line
        uses = [u for u in dict.fromkeys(re.findall(r"\b[xv]\d+\b", rhs)) if u != out]
        kind = re.sub(r"[^A-Za-z_]", "", (re.findall(r"\.([a-z_]+)\(|([A-Z]\w+)\.apply", rhs)
                                          or [("expr", "")])[0][0] or "Function")
        if re.match(r"^v\d+\[.*\] = ", line):
            kind = "setitem"
        prog["ops"].append({"kind": kind, "out": out, "uses": uses, "src": line})
        if out and out not in prog["vars"]:
            prog["vars"].append(out)
            prog["kinds"][out] = kind
        if line.endswith(".retain_grad()"):
            prog["retained"].append(line.split(".")[0])
    ns = {"torch": torch}
    exec(prelude_text({**prog, "mode": "driver"}) if mode == "driver" else
         PRELUDE_WORKERS.format(backend="local") + "".join(
             FUNCTIONS[f] for f in functions_used(prog)) + "H = []\n", ns)
    for stage, src in body_lines(prog):
        try:
            exec(src, ns)
        except Exception:
            break
    prog["leaves"] = [v for v in prog["vars"] if v in ns and ns[v].is_leaf
                      and ns[v].requires_grad]
    return prog


def generate(seed: int, mode: str = "driver"):
    return Gen(seed, mode).build()


def mode_of(seed: int, ray_share: float = 0.0) -> str:
    r = random.Random(seed * 7919 + 13).random()
    if r < ray_share:
        return "ray"
    return "local" if r < 0.3 else "driver"


# ---------------------------------------------------------------------------------------
# Running both, shrinking

def check(prog):
    """(Mismatch or None, distgrad outcome, torch outcome)."""
    import torch

    import distgrad

    th = run(prog, torch)
    dg = run(prog, distgrad)
    m = compare(prog, dg, th)
    if m is not None and _undetermined_in_float32(prog, th, m, dg):
        m = None
    return m, dg, th


def _undetermined_in_float32(prog, th: Outcome, m: Mismatch, dg: Outcome = None) -> bool:
    """Whether torch's own float32 run differs from its float64 run at the same place as
    distgrad: the program's float32 numbers there are roundoff (a sin of 1e4 after a chain
    of matmuls), which two BLAS kernels round differently. Not a difference of distgrad's.
    Nor is one where distgrad's float32 run (`dg`) agrees with torch's float64 run: torch's
    float32 rounding is then what differs; nor, where torch's float32 run strays from its
    float64 run by an eighth of the tolerance, one where distgrad's is within eight times
    it (an exp of exp after optimizer steps: both roundoff, distgrad's a few times more)."""
    import torch

    if prog["dtype"] != "float32" or not m.kind.startswith((
            "wrong value", "wrong grad", "wrong 2nd-order grad", "wrong leaf .grad",
            "wrong retained .grad", "hooks")):
        return False
    exact = _as_float32(run(dict(prog, dtype="float64"), torch))
    # (every place the two runs differ: the first may be elsewhere than distgrad's)
    found = [compare(prog, th, exact)] if th.error or exact.error else \
        differences(prog, th, exact)

    def where(mismatch):  # (the variable or leaf named; the hooks' list as a whole)
        head = "" if mismatch.kind.startswith("hooks") else mismatch.detail.split(":")[0]
        return mismatch.kind, head
    if any(m64 is not None and where(m64) == where(m) for m64 in found):
        return True
    if dg is None or dg.error or exact.error:
        return False
    if all(where(d) != where(m) for d in differences(prog, dg, exact)):
        return True
    with _tolerances_times(1 / 8):
        sensitive = not th.error and any(where(d) == where(m)
                                         for d in differences(prog, th, exact))
    with _tolerances_times(8):
        return sensitive and all(where(d) != where(m) for d in differences(prog, dg, exact))


def _as_float32(out: Outcome) -> Outcome:
    """A float64 run's outcome labelled float32, to compare with a float32 run's."""
    def relabel(s):
        return s if s is None or s[0] != "torch.float64" else ("torch.float32",) + tuple(s[1:])
    out.values = {k: relabel(s) for k, s in out.values.items()}
    out.grads = out.grads and [relabel(s) for s in out.grads]
    out.grads2 = out.grads2 and [relabel(s) for s in out.grads2]
    out.hooks = out.hooks and [(k, relabel(s)) for k, s in out.hooks]
    out.leaf_grads = {k: relabel(s) for k, s in out.leaf_grads.items()}
    out.retained = {k: relabel(s) for k, s in out.retained.items()}
    return out


def _without(prog, drop_ops=(), drop_loss=(), drop_inputs=()):
    """A copy of `prog` without those ops (and every op that uses their results)."""
    removed = set()
    ops = []
    for i, op in enumerate(prog["ops"]):
        if i in drop_ops or any(u in removed for u in op["uses"]):
            if op["out"] is not None:
                removed.add(op["out"])
            continue
        ops.append(op)
    removed |= set(drop_inputs)
    ops = [op for op in ops if not any(u in removed for u in op["uses"])]
    new = dict(prog)
    new["ops"] = ops
    new["inputs"] = [i for i in prog["inputs"] if i["name"] not in drop_inputs]
    alive = {i["name"] for i in new["inputs"]} | {op["out"] for op in ops if op["out"]}
    new["vars"] = [v for v in prog["vars"] if v in alive]
    new["loss"] = [v for j, v in enumerate(prog["loss"]) if v in alive and j not in drop_loss]
    new["leaves"] = [v for v in prog["leaves"] if v in alive]
    new["retained"] = [v for v in prog["retained"] if v in alive
                       and any(op["src"].endswith(f"{v}.retain_grad()") for op in ops)]
    return new


def shrink(prog, kind: str, budget: int = 150):
    """Drop ops, loss terms and inputs while the program still fails with `kind`."""
    runs = 0

    def fails(p):
        nonlocal runs
        runs += 1
        try:
            m, _, _ = check(p)
        except Exception:
            return False
        return m is not None and m.kind == kind

    changed = True
    while changed and runs < budget:
        changed = False
        for i in reversed(range(len(prog["ops"]))):
            if i >= len(prog["ops"]) or runs >= budget:
                continue
            cand = _without(prog, drop_ops={i})
            if fails(cand):
                prog, changed = cand, True
        for j in reversed(range(len(prog["loss"]))):
            if j < len(prog["loss"]) and len(prog["loss"]) > 1 and runs < budget:
                cand = _without(prog, drop_loss={j})
                if fails(cand):
                    prog, changed = cand, True
        for inp in list(prog["inputs"]):
            if runs < budget and len(prog["inputs"]) > 1:
                cand = _without(prog, drop_inputs={inp["name"]})
                if fails(cand):
                    prog, changed = cand, True
    return prog


def report(prog, m: Mismatch) -> str:
    """A failing program as a standalone script, with what differed."""
    text = to_text(prog, "distgrad", prints=m.prints, stop_after=m.stop_after)
    return (f"# {m.kind}  [{'silent wrong result' if m.silent else 'error'}; "
            f"seed {prog['seed']}, {prog['mode']}, {prog['dtype']}]\n"
            + "".join(f"# {line}\n" for line in m.detail.split("\n"))
            + text)


def op_signature(prog) -> str:
    kinds = sorted({op["kind"] for op in prog["ops"]} - {"clone"})
    return ",".join(kinds) or "-"


# ---------------------------------------------------------------------------------------
# Sessions (pytest and the command line)

def ensure_runtime(mode: str):
    import distgrad.distributed as dist

    if mode == "driver":
        return
    backend = "ray" if mode == "ray" else "local"
    if dist.is_initialized():
        rt = dist.current()
        if rt.backend == backend and len(rt.queues) == 2:
            return
        dist.shutdown()
    if backend == "local":
        dist.init(2, backend=backend)
        return
    import ray

    # The cluster suite's start: Ray's, again when its node did not come up, and the time
    # it gives a worker to start on a busy machine (init's default is for a user's).
    cluster_tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster")
    if cluster_tests not in sys.path:
        sys.path.insert(0, cluster_tests)
    from ray_start import start_ray
    from watchdog import START_TIMEOUT_S

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        start_ray(ray, num_cpus=2)
    dist.init(2, backend=backend, timeout_s=START_TIMEOUT_S)


def reset_runtime():
    """After a program timed out on workers: start the runtime afresh (bounded)."""
    import distgrad.distributed as dist

    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, PROGRAM_TIMEOUT_S)
    try:
        if dist.is_initialized():
            dist.shutdown()
    except (Exception, Timeout):
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_many(seeds_modes, shrink_per_kind: int = 1, log=None, shrink_budget: int = 150):
    """Run the programs; returns (ran, failures by kind: [(seed, prog, Mismatch)],
    reproducers by kind: [text])."""
    by_kind = defaultdict(list)
    ran = 0
    for seed, mode in seeds_modes:
        ensure_runtime(mode)
        prog = None  # (the generator itself may fail)
        try:
            prog = generate(seed, mode)
            m, _, _ = check(prog)
        except Exception as e:  # the harness itself: count it, show it
            m = Mismatch(f"harness error {type(e).__name__}", traceback.format_exc()[-800:],
                         silent=False)
        ran += 1
        if m is not None:
            by_kind[m.kind].append((seed, prog, m))
            if "Timeout" in m.kind and mode != "driver":
                reset_runtime()
        if log and ran % 1000 == 0:
            log(f"{ran} programs, {sum(map(len, by_kind.values()))} failing")
    repro = {}
    for kind, fails in by_kind.items():
        texts, seen = [], set()
        for seed, prog, m in sorted(fails, key=lambda f: len(f[1]["ops"]) if f[1] else 0
                                    )[:shrink_per_kind]:
            if prog is None:  # the generator failed: its traceback is the reproducer
                texts.append(f"# seed {seed}: {m.detail}")
                continue
            ensure_runtime(prog["mode"])
            small = shrink(prog, kind, shrink_budget)
            m2, _, _ = check(small)
            sig = op_signature(small)
            if sig in seen:  # the same ops left: most likely the same bug
                continue
            seen.add(sig)
            texts.append(report(small, m2 or m))
        repro[kind] = texts
    return ran, by_kind, repro


def summary(ran, by_kind, repro, elapsed=None) -> str:
    n_fail = sum(map(len, by_kind.values()))
    head = f"{ran} programs ran, {n_fail} failed, {len(by_kind)} kinds of failure"
    if elapsed is not None:
        head += f", {elapsed:.0f} s"
    out = [head]
    for kind, fails in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        silent = "silent wrong result" if fails[0][2].silent else "error"
        out.append(f"\n=== {len(fails)} x {kind}  [{silent}]  seeds "
                   f"{', '.join(str(f[0]) for f in fails[:5])}")
        for text in repro.get(kind, []):
            out.append(text)
    return "\n".join(out)


def findings_markdown(ran, by_kind, repro, header: str) -> str:
    """The failure kinds as markdown, silent wrong results first, one reproducer each."""
    n_fail = sum(map(len, by_kind.values()))
    out = [f"# distgrad differential fuzz findings\n\n{header}\n\n{ran} programs, {n_fail} "
           f"failing, {len(by_kind)} kinds. Each reproducer is the shrunk program; under "
           f"`import torch` the same text runs as PyTorch does (compare the two).\n"]
    order = sorted(by_kind.items(), key=lambda kv: (not kv[1][0][2].silent, -len(kv[1])))
    for kind, fails in order:
        tag = "SILENT wrong result" if fails[0][2].silent else "error (distgrad raises)"
        out.append(f"## {kind}\n\n{tag}; {len(fails)} programs (seeds "
                   f"{', '.join(str(f[0]) for f in fails[:5])})\n")
        for text in repro.get(kind, []):
            out.append("```python\n" + text.rstrip() + "\n```\n")
    return "\n".join(out)


def _screen(plan, log_path: str) -> None:
    """The child's side of `screen_in_children`: run `plan`, one line per program started
    and per program done (with its failure kind, if any)."""
    ran = 0
    crash_at = int(os.environ.get("FUZZ_SCREEN_CRASH_AT", -1))  # (the harness's own test)
    with open(log_path, "a") as log:
        for seed, mode in plan:
            log.write(f"start {seed}\n")
            log.flush()
            if seed == crash_at:
                os.kill(os.getpid(), signal.SIGSEGV)  # as PyTorch's own crashes end it
            ensure_runtime(mode)
            try:
                m, _, _ = check(generate(seed, mode))
                kind = m.kind if m is not None else ""
            except Exception as e:
                kind = f"harness error {type(e).__name__}"
            log.write(f"done {seed} {kind}\n")
            log.flush()
            ran += 1
            if ran % 1000 == 0:
                print(f"{ran} programs screened", file=sys.stderr, flush=True)
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()


def screen_in_children(plan, log=None):
    """Run `plan` in child processes, so a program that kills the interpreter (PyTorch
    itself segfaults on some: register_hook on a view written under no_grad after a custom
    Function) is reported and the rest still run. Returns (the failing (seed, mode)s,
    {crashed seed: how the child ended}, how many programs ran to their end)."""
    import subprocess
    import tempfile

    modes = dict(plan)
    todo, failing, crashed, finished = list(plan), [], {}, 0
    while todo:
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            path = f.name
        with tempfile.NamedTemporaryFile("w", suffix=".plan", delete=False) as f:
            f.write("\n".join(f"{s}:{m}" for s, m in todo))  # (too long for one variable)
            plan_path = f.name
        env = dict(os.environ, FUZZ_SCREEN_LOG=path, FUZZ_SCREEN_PLAN=plan_path)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env,
                              stdout=subprocess.DEVNULL)
        os.unlink(plan_path)
        started, done = [], set()
        with open(path) as f:
            for line in f:
                word, seed, *kind = line.rstrip("\n").split(" ", 2)
                if word == "start":
                    started.append(int(seed))
                else:
                    done.add(int(seed))
                    if kind and kind[0]:
                        failing.append((int(seed), modes[int(seed)]))
        os.unlink(path)
        finished += len(done)
        lost = [s for s in started if s not in done]
        if proc.returncode == 0 and not lost:
            break
        if not lost:  # it died before its first program: nothing more to learn
            raise RuntimeError(f"the fuzz child exited with {proc.returncode} before running")
        crashed[lost[0]] = (f"signal {-proc.returncode}" if proc.returncode < 0
                            else f"exit status {proc.returncode}")
        if log:
            log(f"seed {lost[0]} ended its process ({crashed[lost[0]]}); going on after it")
        todo = todo[todo.index((lost[0], modes[lost[0]])) + 1:]
    return failing, crashed, finished


def main():
    if os.environ.get("FUZZ_SCREEN_LOG"):  # a child of screen_in_children
        with open(os.environ["FUZZ_SCREEN_PLAN"]) as f:
            plan = [(int(seed), mode) for seed, _, mode in (
                line.strip().partition(":") for line in f if line.strip())]
        _screen(plan, os.environ["FUZZ_SCREEN_LOG"])
        return 0
    count = int(os.environ.get("FUZZ_COUNT", "20000"))
    seed0 = int(os.environ.get("FUZZ_SEED", "0"))
    ray_share = float(os.environ.get("FUZZ_RAY", "0.005"))
    per_kind = int(os.environ.get("FUZZ_SHRINK", "3"))
    out_file = os.environ.get("FUZZ_OUT")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.time()
    plan = [(s, mode_of(s, ray_share)) for s in range(seed0, seed0 + count)]
    if os.environ.get("FUZZ_SEEDS"):  # "17,2000433:local": just these (mode as generated)
        plan = []
        for item in os.environ["FUZZ_SEEDS"].split(","):
            seed, _, mode = item.strip().partition(":")
            plan.append((int(seed), mode or mode_of(int(seed), ray_share)))
    plan.sort(key=lambda sm: MODES.index(sm[1]))  # one runtime switch per backend
    progress = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    # Screened in child processes first; the failing programs run again here, to be shrunk.
    failing, crashed, _ = screen_in_children(plan, log=progress)
    _, by_kind, repro = run_many(failing, per_kind, log=progress)
    ran = len(plan)
    for seed, how in crashed.items():
        prog = generate(seed, dict(plan)[seed])
        kind = "the process died (PyTorch or distgrad crashed)"
        by_kind[kind].append((seed, prog, Mismatch(kind, how, silent=False)))
        repro.setdefault(kind, []).append(f"# seed {seed}: {how}\n" + to_text(prog, "torch"))
    text = summary(ran, by_kind, repro, time.time() - t0)
    modes = {m: sum(1 for _, mm in plan if mm == m) for m in MODES}
    text = text.replace(" programs ran,", f" programs ran ({modes['driver']} in the driver, "
                        f"{modes['local']} on local workers, {modes['ray']} on Ray),", 1)
    print(text)
    if out_file:
        with open(out_file, "w") as f:
            f.write(text + "\n")
    md = os.environ.get("FUZZ_FINDINGS")
    if md:
        with open(md, "w") as f:
            f.write(findings_markdown(ran, by_kind, repro, os.environ.get("FUZZ_HEADER", "")))
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    return 1 if by_kind else 0


if __name__ == "__main__":
    sys.exit(main())
