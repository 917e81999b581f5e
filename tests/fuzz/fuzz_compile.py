"""Differential fuzzer of distgrad.compile: generated training steps run eagerly and
compiled (on two in-process workers), and eagerly under PyTorch.

A program is a spec (plain data, made from a seed) rendered as one short standalone script
(`to_text`): a seeded model (Linear, LayerNorm, Embedding, Conv1d, activations, dropout at
p=0 or in eval mode, residual adds, views and in-place writes in its forward, frozen
parameters, a tied weight, blocks placed on either worker), an optimizer with its options,
an optional lr scheduler (stepped inside the step or between calls), gradient clipping,
gradient accumulation (an `update` argument), zero_grad either way and where, a loss, and
6-10 calls with changes between them (the lr or another hyperparameter, train/eval,
requires_grad, a parameter written under no_grad or through .data, its gradient cleared,
written or replaced, state dicts reloaded, a new optimizer or head, a batch of another size,
a reference kept to a gradient or a parameter). Steps also clamp weights, scale or clip
gradients, update a layer by hand, freeze one, and return losses, outputs, parameters,
views of them or gradients; batches are new tensors, slices of bigger ones, transposes, or
the last call's written in place; a second compiled function (a no_grad evaluation) runs
between some calls. Weights and batches are numpy's seeded numbers, so the torch run starts
from the same values.

What is compared, per call: the step's result (values, requires_grad, is_leaf, whether a
view, its node's class), every parameter (value, grad, requires_grad), the optimizer's state
and lrs, the scheduler's count, the kept reference; or the error type of the call that
raised. distgrad compiled against distgrad eager must agree bit for bit (the
replays run the recorded ops), distgrad eager against torch within float32 roundoff
(`fuzz_programs.close`). The compiled function's stats() must count every call.

Command line: `python tests/fuzz/fuzz_compile.py` with FUZZ_COUNT (default 2000),
FUZZ_SEED (default 0), FUZZ_SEEDS ("3,17": just those, each printed as its script),
FUZZ_SHRINK (failures shrunk per kind, default 2).
"""
from __future__ import annotations

import copy
import gc
import os
import random
import signal
import sys
import time
import traceback
import warnings
from collections import defaultdict

import numpy as np

import fuzz_programs as fp

PRELUDE = fp.PRELUDE_WORKERS.format(backend="local") + '''\
import numpy as np
nn, F = torch.nn, torch.nn.functional
R = np.random.default_rng({seed})
torch.manual_seed({seed})  # (dropout's draws: the same in each distgrad run)
SCALE = np.ones(1)  # (a numpy array a step may read, written in place between calls)
def P(shape):  # seeded numbers, the same under both libraries
    return torch.tensor((R.standard_normal(tuple(shape)) * 0.5).astype(np.float32))
'''

OPTIMIZERS = {
    "SGD": lambda r: {"lr": r.choice([0.05, 0.1]), "momentum": r.choice([0.0, 0.0, 0.9]),
                      "nesterov": False, "weight_decay": r.choice([0.0, 0.0, 0.01]),
                      "dampening": 0.0},
    "Adam": lambda r: {"lr": r.choice([0.01, 0.05]), "amsgrad": r.random() < 0.4,
                       "weight_decay": r.choice([0.0, 0.0, 0.01])},
    "AdamW": lambda r: {"lr": r.choice([0.01, 0.05]), "amsgrad": r.random() < 0.4,
                        "weight_decay": r.choice([0.0, 0.01])},
    "RMSprop": lambda r: {"lr": 0.01, "alpha": r.choice([0.9, 0.99]),
                          "momentum": r.choice([0.0, 0.5]), "centered": r.random() < 0.3},
    "Adagrad": lambda r: {"lr": r.choice([0.05, 0.1]), "lr_decay": r.choice([0.0, 0.01]),
                          "weight_decay": r.choice([0.0, 0.01])},
}

SCHEDULERS = {
    "StepLR": "torch.optim.lr_scheduler.StepLR(opt, step_size={a}, gamma=0.5)",
    "MultiStepLR": "torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[{a}, {b}], gamma=0.5)",
    "ExponentialLR": "torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)",
    "LinearLR": "torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters={a})",
    "CosineAnnealingLR": "torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max={b})",
    "LambdaLR": "torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e // {a}))",
}

# What a step may do besides the usual: (where, line)
EXTRAS = {
    "clamp": ("after", "with torch.no_grad(): model.head.weight.clamp_(-0.5, 0.5)"),
    "scale_grads": ("before", "for p in model.parameters():\n"
                              "    if p.grad is not None: p.grad.mul_(0.5)"),
    "clip_value": ("before", "nn.utils.clip_grad_value_(model.parameters(), 0.05)"),
    "manual_update": ("after", "with torch.no_grad():\n"
                               "    for p in model.stem.parameters():\n"
                               "        if p.grad is not None: p.sub_(0.01 * p.grad)"),
    "freeze_inside": ("first", "model.stem.requires_grad_(False)"),
    "read_grad": ("end", "g = model.head.weight.grad"),
    "numpy_scale": ("after", "with torch.no_grad(): model.head.weight.mul_(float(SCALE[0]))"),
    "grad_norm": ("end", "gn = torch.stack([p.grad.norm() for p in model.parameters() "
                         "if p.grad is not None]).sum() if any(p.grad is not None for p "
                         "in model.parameters()) else None"),
}

RETURNS = ["loss.detach()", "loss.detach()", "loss", "(loss.detach(), out.detach())",
           "loss.item()", "None", "out.detach().sum()", "(loss, out)", "model.head.weight",
           "(loss.detach(), model.head.weight[0])", "model.head.weight.detach().t()",
           "(loss, model.head.weight.grad)", "(loss.detach(), model.stem.weight.grad)"]

# ---------------------------------------------------------------------------------------
# Generating a spec


def _forward_blocks(r, spec, d):
    """Blocks on the last dim (width d): (init line | None, forward lines, kind)."""
    blocks, dev = [], spec["stem_dev"]
    for i in range(r.randint(1, 4)):
        name = f"b{i}"
        kind = r.choice(["linear", "linear", "residual", "ln", "act", "act", "dropout",
                         "inplace", "view", "move"])
        init, fwd = None, []
        if kind == "linear":
            init = f"nn.Linear({d}, {d}, bias={r.random() < 0.8})"
            fwd = [f"h = self.{name}(h)"]
        elif kind == "residual":
            init = f"nn.Linear({d}, {d})"
            fwd = [f"h = h + self.{name}(h)"]
        elif kind == "ln":
            init = f"nn.LayerNorm({d}, elementwise_affine={r.random() < 0.8})"
            fwd = [f"h = self.{name}(h)"]
        elif kind == "act":
            init = r.choice(["nn.GELU()", "nn.GELU(approximate='tanh')", "nn.ReLU()",
                             "nn.Tanh()"])
            if r.random() < 0.3:
                init, fwd = None, [r.choice(["h = F.gelu(h)", "h = torch.relu(h)",
                                             "h = torch.tanh(h)"])]
            else:
                fwd = [f"h = self.{name}(h)"]
        elif kind == "dropout":
            p = r.choice([0.0, 0.0, 0.3])
            init = f"nn.Dropout({p})"
            fwd = [f"h = self.{name}(h)"]
            spec["dropout_p"] = max(spec.get("dropout_p", 0.0), p)
        elif kind == "inplace":
            k = r.randint(1, d - 1)
            fwd = r.choice([["h = h.add(0.1)", "h.mul_(0.5)"],
                            ["h = h.clone()", f"h[..., :{k}].add_(1.0)"],
                            ["h = h * 2", f"h.view(-1)[:{k}].mul_(3.0)"],
                            ["h = h.clone()", "h[..., 0] = 0.0"],
                            ["h = F.relu(h * 1.0, inplace=True)"],
                            ["h = h + 0", "h.clamp_(-1.0, 1.0)"]])
        elif kind == "view":
            k = r.randint(1, d - 1)
            fwd = [r.choice(["h = h.transpose(-1, -2).contiguous().transpose(-1, -2)",
                             f"h = h.reshape(-1, {d}).reshape(h.shape)",
                             "h = h.unsqueeze(1).squeeze(1)",
                             "h = h.flip(-1)",
                             f"h = torch.cat(h.split([{k}, {d - k}], -1), -1)",
                             "h = h.transpose(0, -1).transpose(0, -1)"])]
        elif kind == "move":
            dev = 1 - dev
            fwd = [f"h = h.to(W[{dev}])"]
        blocks.append({"name": name, "init": init, "fwd": fwd, "dev": dev, "kind": kind})
    return blocks, dev


def generate(seed: int) -> dict:
    r = random.Random(seed)
    d = r.choice([4, 6, 8, 12, 16])
    spec = {"seed": seed, "d": d, "stem_dev": r.choice([0, 0, 1])}
    stem = r.choice(["vec", "vec", "tok", "seq"])
    spec["stem"] = stem
    if stem == "vec":
        din = r.randint(2, 8)
        spec["stem_init"] = f"nn.Linear({din}, {d})"
        spec["stem_fwd"] = "h = self.stem(x)"
        spec["x"] = ("float", [din], 0)
    elif stem == "tok":
        v = r.randint(5, 12)
        pad = r.choice(["", "", ", padding_idx=0"])
        spec["stem_init"] = f"nn.Embedding({v}, {d}{pad})"
        spec["stem_fwd"] = "h = self.stem(x)"
        spec["x"] = ("long", [r.randint(1, 4)], v)
        spec["vocab"] = v
    else:
        c, length, k, padding = r.randint(1, 4), r.randint(3, 8), r.choice([1, 2, 3]), \
            r.choice([0, 1])
        spec["stem_init"] = f"nn.Conv1d({c}, {d}, {k}, padding={padding})"
        spec["stem_fwd"] = "h = self.stem(x).transpose(1, 2)"
        spec["x"] = ("float", [c, length], 0)
    spec["blocks"], head_dev = _forward_blocks(r, spec, d)
    spec["head_dev"] = head_dev
    tie = stem == "tok" and head_dev == spec["stem_dev"] and r.random() < 0.5
    classes = spec["vocab"] if tie else r.randint(2, 5)
    spec["tie"] = tie
    spec["head_init"] = f"nn.Linear({d}, {classes}, bias={r.random() < 0.7})"
    spec["loss"] = r.choice(["mse", "ce", "ce", "smooth_l1"])
    spec["classes"] = classes
    params = ["stem.weight"] + [f"{b['name']}.weight" for b in spec["blocks"]
                                if b["init"] and b["init"].startswith("nn.L")
                                and "affine=False" not in b["init"]] + ["head.weight"]
    spec["params"] = params
    spec["frozen"] = [p for p in params if r.random() < 0.12 and p != "head.weight"]
    spec["opt"] = r.choice(list(OPTIMIZERS))
    spec["opt_kw"] = OPTIMIZERS[spec["opt"]](r)
    if spec["opt"] == "SGD" and spec["opt_kw"]["momentum"] and r.random() < 0.5:
        spec["opt_kw"]["nesterov"] = True
    spec["opt_params"] = r.choice(["all", "all", "trainable", "groups"])
    if spec["opt_params"] == "groups" and tie:  # (the tied weight would be in both groups)
        spec["opt_params"] = "all"
    spec["extras"] = [e for e in EXTRAS if r.random() < 0.12]
    # (most steps replay between changes: a schedule that changes the lr at each step
    # records each call)
    spec["sched"] = r.choice([None] * 16 + ["StepLR"] * 3 + ["MultiStepLR"] + list(SCHEDULERS))
    spec["sched_where"] = r.choice(["inside", "inside", "inside", "outside"])
    spec["sched_ab"] = (r.randint(1, 3), r.randint(3, 6))
    spec["clip"] = r.choice([None, None, 0.5, 1.0, 10.0])
    spec["accumulate"] = r.choice([1, 1, 1, 2, 3])
    spec["zero"] = r.choice(["first", "first", "last", "outside", "model", "never"])
    if spec["accumulate"] > 1 and spec["zero"] == "first":
        spec["zero"] = "last"
    spec["set_to_none"] = r.random() < 0.6
    spec["ret"] = r.choice(RETURNS)
    spec["driver_inputs"] = r.random() < 0.2
    spec["train_mode"] = r.random() < 0.7
    spec["observe"] = r.choice(["every", "every", "end"])
    spec["src"] = r.choice(["fresh", "fresh", "slice", "transposed", "same"])
    spec["evaluate"] = r.random() < 0.2
    spec["calls"] = _calls(r, spec)
    return spec


def _calls(r, spec):
    calls, b = [], r.randint(1, 8)
    lr = spec["opt_kw"]["lr"]
    for i in range(r.randint(6, 10)):
        pre = []
        if i and r.random() < 0.25:
            change = r.choice(["lr", "mode", "freeze", "write", "batch", "zero", "grad_none",
                               "sched", "data", "hp", "grad_write", "grad_new", "reload",
                               "hold", "hold", "new_opt", "new_head", "numpy"])
            name = r.choice(spec["params"])
            if change == "lr":
                pre.append(f"opt.param_groups[0]['lr'] = {r.choice([lr, lr / 2, lr * 2])}")
            elif change == "mode":
                pre.append(r.choice(["model.eval()", "model.train()"]))
            elif change == "freeze":
                pre.append(f"model.{name}.requires_grad_({r.random() < 0.5})")
            elif change == "write":
                pre.append(f"with torch.no_grad(): model.{name}."
                           + r.choice(["mul_(0.9)", "add_(0.01)", "zero_()"]))
            elif change == "batch":
                b = r.randint(1, 8)
            elif change == "zero":
                pre.append(f"opt.zero_grad(set_to_none={r.random() < 0.5})")
            elif change == "grad_none":
                pre.append(f"model.{name}.grad = None")
            elif change == "sched" and spec["sched"]:
                pre.append("sched.step()")
            elif change == "data":
                pre.append(r.choice([f"model.{name}.data.mul_(0.9)",
                                     f"model.{name}.data = model.{name}.data * 0.9"]))
            elif change == "hp":
                key = r.choice([k for k in ("weight_decay", "momentum", "alpha", "lr_decay")
                                if k in spec["opt_kw"]] or ["lr"])
                pre.append(f"opt.param_groups[-1]['{key}'] = {r.choice([0.0, 0.02, 0.5])}")
            elif change == "grad_write":
                pre.append(f"if model.{name}.grad is not None: model.{name}.grad."
                           + r.choice(["mul_(0.5)", "zero_()"]))
            elif change == "grad_new":
                pre.append(f"model.{name}.grad = torch.ones_like(model.{name}) * 0.1")
            elif change == "hold":  # (a reference the step cannot see, read by look)
                pre.append(r.choice([f"held = model.{name}.grad", f"held = model.{name}.detach()",
                                     f"held = model.{name}.data", f"held = model.{name}"]))
            elif change == "numpy":
                pre.append(f"SCALE[0] = {r.choice([0.9, 1.0, 1.1])}")
            elif change == "new_opt":
                pre.append(f"opt = torch.optim.SGD(model.parameters(), lr={lr})")
            elif change == "new_head":
                pre.append(f"model.head = {spec['head_init']}.to(W[{spec['head_dev']}])")
            elif change == "reload":
                pre.append(r.choice(["opt.load_state_dict(opt.state_dict())",
                                     "model.load_state_dict(model.state_dict())"]))
        if spec["zero"] == "outside" and (i % spec["accumulate"] == 0):
            pre.append(f"opt.zero_grad(set_to_none={spec['set_to_none']})")
        if spec["sched"] and spec["sched_where"] == "outside" and i:
            pre.append("sched.step()")
        calls.append({"pre": pre, "b": b, "update": i % spec["accumulate"] ==
                      spec["accumulate"] - 1, "eval": spec["evaluate"] and r.random() < 0.4})
    return calls


# ---------------------------------------------------------------------------------------
# Rendering


def _model_lines(spec):
    lines = ["class Net(nn.Module):", "    def __init__(self):", "        super().__init__()",
             f"        self.stem = {spec['stem_init']}"]
    for b in spec["blocks"]:
        if b["init"]:
            lines.append(f"        self.{b['name']} = {b['init']}")
    lines.append(f"        self.head = {spec['head_init']}")
    lines += ["    def forward(self, x):", f"        {spec['stem_fwd']}"]
    for b in spec["blocks"]:
        lines += [f"        {line}" for line in b["fwd"]]
    lines += ["        return self.head(h)", "model = Net()"]
    if spec["tie"]:
        lines.append("model.head.weight = model.stem.weight")
    lines += ["with torch.no_grad():", "    for p in model.parameters():",
              "        p.copy_(P(p.shape))", f"model.to(W[{spec['stem_dev']}])"]
    for b in spec["blocks"]:
        if b["init"] and b["dev"] != spec["stem_dev"]:
            lines.append(f"model.{b['name']}.to(W[{b['dev']}])")
    if spec["head_dev"] != spec["stem_dev"]:
        lines.append(f"model.head.to(W[{spec['head_dev']}])")
    for name in spec["frozen"]:
        lines.append(f"model.{name}.requires_grad_(False)")
    if not spec["train_mode"]:
        lines.append("model.eval()")
    return lines


def _optimizer_lines(spec):
    kw = ", ".join(f"{k}={v!r}" for k, v in spec["opt_kw"].items())
    params = {"all": "model.parameters()",
              "trainable": "[p for p in model.parameters() if p.requires_grad]",
              "groups": "[{'params': model.head.parameters(), 'lr': 0.02}, "
                        "{'params': [p for n, p in model.named_parameters() "
                        "if not n.startswith('head.')]}]"}[spec["opt_params"]]
    lines = [f"opt = torch.optim.{spec['opt']}({params}, {kw})"]
    if spec["sched"]:
        a, b = spec["sched_ab"]
        lines.append("sched = " + SCHEDULERS[spec["sched"]].format(a=a, b=b))
    return lines


def _loss_line(spec):
    if spec["loss"] == "mse":
        return "loss = F.mse_loss(out, y)"
    if spec["loss"] == "smooth_l1":
        return "loss = F.smooth_l1_loss(out, y, beta=0.5)"
    return f"loss = F.cross_entropy(out.reshape(-1, {spec['classes']}), y.reshape(-1))"


def _step_lines(spec):
    acc = spec["accumulate"]
    args = "x, y, update" if acc > 1 else "x, y"
    lines = ["def step(" + args + "):"]
    if spec["driver_inputs"]:
        lines.append(f"    x, y = x.to(W[{spec['stem_dev']}]), y.to(W[{spec['head_dev']}])")
    if spec["zero"] == "first":
        lines.append(f"    opt.zero_grad(set_to_none={spec['set_to_none']})")
    if spec["zero"] == "model":
        lines.append(f"    model.zero_grad(set_to_none={spec['set_to_none']})")
    lines += _extra_lines(spec, "first", "    ")
    lines += ["    out = model(x)", "    " + _loss_line(spec),
              f"    (loss / {acc}).backward()" if acc > 1 else "    loss.backward()"]
    update = _extra_lines(spec, "before", "")
    if spec["clip"] is not None:
        update.append(f"nn.utils.clip_grad_norm_(model.parameters(), {spec['clip']})")
    update.append("opt.step()")
    if spec["sched"] and spec["sched_where"] == "inside":
        update.append("sched.step()")
    update += _extra_lines(spec, "after", "")
    if spec["zero"] == "last":
        update.append(f"opt.zero_grad(set_to_none={spec['set_to_none']})")
    if acc > 1:
        lines.append("    if update:")
        lines += [f"        {line}" for line in update]
    else:
        lines += [f"    {line}" for line in update]
    lines += _extra_lines(spec, "end", "    ")
    ret = spec["ret"]
    if "read_grad" in spec["extras"]:
        ret = f"({ret}, g)"
    if "grad_norm" in spec["extras"]:
        ret = f"({ret}, gn)"
    lines.append(f"    return {ret}")
    return lines


def _extra_lines(spec, where, indent):
    return [indent + line for e in spec.get("extras", ()) if EXTRAS[e][0] == where
            for line in EXTRAS[e][1].split("\n")]


def to_text(spec, compiled=True, observe_lines=True) -> str:
    lines = ["import distgrad as torch  # PyTorch: import torch",
             PRELUDE.format(seed=spec["seed"]).rstrip("\n")]
    lines += _model_lines(spec) + _optimizer_lines(spec) + _step_lines(spec)
    lines.append("fn = torch.compile(step) if COMPILE else step")
    if spec["evaluate"]:
        lines += ["def evaluate(x):", "    with torch.no_grad():",
                  f"        return model(x.to(W[{spec['stem_dev']}])).sum()",
                  "ev = torch.compile(evaluate) if COMPILE else evaluate"]
    last_b = None
    for i, call in enumerate(spec["calls"]):
        lines += call["pre"]
        lines.append(_batch_line(spec, call, same=call["b"] == last_b))
        last_b = call["b"]
        args = "x, y, %s" % call["update"] if spec["accumulate"] > 1 else "x, y"
        lines.append(f"out = fn({args})")
        if call.get("eval"):
            lines.append("out = (out, ev(x))")
        if observe_lines and (spec["observe"] == "every" or i == len(spec["calls"]) - 1):
            lines.append(f"look({i}, out)")
    return "\n".join(lines).replace("COMPILE", "True" if compiled else "False") + "\n"


def _batch_line(spec, call, same=False):
    b = call["b"]
    xk, xtail, xtop = spec["x"]
    xshape = [b] + list(xtail)
    if spec["stem"] == "vec":
        rows = [b]
    elif spec["stem"] == "tok":
        rows = [b, xtail[0]]
    else:
        k = int(spec["stem_init"].split(", ")[2])
        pad = int(spec["stem_init"].split("padding=")[1].rstrip(")"))
        rows = [b, xtail[1] + 2 * pad - k + 1]
    if spec["loss"] == "ce":
        ybatch = ("long", rows, spec["classes"])
    else:
        ybatch = ("float", rows + [spec["classes"]], 0)
    xdev = None if spec["driver_inputs"] else spec["stem_dev"]
    ydev = None if spec["driver_inputs"] else spec["head_dev"]
    src = spec.get("src", "fresh")
    x = _made(xk, xshape, xtop, xdev, src)
    y = _made(ybatch[0], ybatch[1], ybatch[2], ydev, src)
    if src == "same" and same:  # (the last call's tensors, written in place)
        return f"x.copy_({x}); y.copy_({y})"
    return f"x, y = {x}, {y}"


def _made(kind, shape, top, dev, src):
    """The text of a batch tensor: new, a slice of a bigger one, or a transpose."""
    def new(s):
        return f"torch.tensor(R.integers(0, {top}, {s}))" if kind == "long" else f"P({s})"
    to = "" if dev is None else f".to(W[{dev}])"
    if src == "slice":
        return f"{new([2 * shape[0]] + shape[1:])}{to}[{shape[0]}:]"
    if src == "transposed" and len(shape) > 1:
        return f"{new(shape[::-1])}{to}.permute({', '.join(map(str, range(len(shape))[::-1]))})"
    return new(shape) + to


# ---------------------------------------------------------------------------------------
# Running and observing


def _snap_any(v):
    if v is None:
        return None
    if fp._is_tensor(v):
        node = v.grad_fn
        return fp.snapshot(v) + ((v.requires_grad, v.is_leaf, v._base is not None,
                                  node and type(node).__name__),)
    if isinstance(v, (tuple, list)):
        return [_snap_any(u) for u in v]  # (a list: a snapshot is a tuple)
    if isinstance(v, (int, float, bool)):
        return ("number", (), np.array(float(v)))
    return ("object", (), repr(type(v).__name__))


def observe(ns, out) -> dict:
    """What a call left: its result, the parameters, the optimizer's and scheduler's state."""
    model, opt = ns["model"], ns["opt"]
    seen = {"out": _snap_any(out)}
    if "held" in ns:
        seen["held"] = _snap_any(ns["held"])
    for name, p in model.named_parameters():
        seen[f"{name}"] = fp.snapshot(p)
        seen[f"{name}.grad"] = None if p.grad is None else fp.snapshot(p.grad)
        seen[f"{name}.requires_grad"] = ("flag", (), np.array(bool(p.requires_grad)))
    for gi, group in enumerate(opt.param_groups):
        seen[f"group{gi}.lr"] = ("number", (), np.array(float(group["lr"])))
        for pi, p in enumerate(group["params"]):
            for key, v in sorted(opt.state.get(p, {}).items()):
                seen[f"state{gi}.{pi}.{key}"] = _snap_any(v)
    if "sched" in ns:
        seen["sched.last_epoch"] = ("number", (), np.array(float(ns["sched"].last_epoch)))
    return seen


class Run:
    def __init__(self):
        self.calls = {}     # call index -> observation
        self.error = None   # (call index or -1, base type, message)
        self.stats = None
        self.n_calls = 0


def run(spec, module, compiled) -> Run:
    res = Run()
    ns = {"torch": module, "__name__": "fuzz_compile"}

    def look(i, out):
        res.calls[i] = observe(ns, out)

    ns["look"] = look
    text = to_text(spec, compiled)
    old = signal.signal(signal.SIGALRM, fp._on_alarm)
    signal.setitimer(signal.ITIMER_REAL, fp.PROGRAM_TIMEOUT_S)
    call = -1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = text.split("\n")
            # (run line by line in chunks, to know which call raised)
            chunks, cur = [], []
            for line in code:
                cur.append(line)
                if line.startswith("out = fn("):
                    chunks.append("\n".join(cur))
                    cur = []
            chunks.append("\n".join(cur))
            for i, chunk in enumerate(chunks):
                call = i
                exec(compile(chunk, f"<call {i}>", "exec"), ns)
                res.n_calls = min(i + 1, len(spec["calls"]))
    except (Exception, fp.Timeout) as e:
        res.error = (call, fp.base_type(e), f"{type(e).__name__}: {e}"[:300])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    fn = ns.get("fn")
    if compiled and hasattr(fn, "stats"):
        try:
            res.stats = fn.stats()
        except Exception as e:
            res.error = res.error or (-1, fp.base_type(e), f"stats(): {type(e).__name__}: {e}")
    return res


def _agree(same_values):
    """A comparison of two observed values (snapshots, None, lists of them), made of one of
    two snapshots' values (their dtype, shape and flags compared first)."""
    def agree(a, b) -> bool:
        if a is None or b is None:
            return a is b
        if isinstance(a, list) or isinstance(b, list):
            return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
                all(map(agree, a, b))
        if a[0] == "object":
            return a == b
        if a[:2] != b[:2] or a[3:] != b[3:]:
            return False
        return same_values(a[:3], b[:3])
    return agree


def _bits(a, b) -> bool:
    x, y = np.asarray(a[2]), np.asarray(b[2])
    if x.dtype.kind in "fc":
        return bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))
    return bool(np.all(x == y))


_exact = _agree(_bits)
_close = _agree(lambda a, b: fp.close(a, b, "float32"))


def _first_difference(a: Run, b: Run, same) -> str | None:
    """Where run `a` first differs from run `b` (None: nowhere)."""
    ea, eb = a.error, b.error
    if ea or eb:
        if not (ea and eb) or ea[:2] != eb[:2]:
            return f"error: {ea} vs {eb}"
    for i in sorted(set(a.calls) | set(b.calls)):
        ca, cb = a.calls.get(i), b.calls.get(i)
        if ca is None or cb is None:
            return f"call {i}: observed in one run only"
        for key in list(cb) + [k for k in ca if k not in cb]:
            if key not in ca or key not in cb:
                return f"call {i}: {key} only in one run"
            if not same(ca[key], cb[key]):
                return f"call {i}: {key}: {_fmt(ca[key])} vs {_fmt(cb[key])}"
    return None


def _fmt(s):
    if not isinstance(s, tuple) or not isinstance(s[0], str) or s[0] == "object":
        return repr(s)[:200]
    return fp._fmt(s)[:300]


def _stats_problem(spec, res: Run) -> str | None:
    st = res.stats
    if st is None:
        return None if res.error else "no stats()"
    total = st["recorded"] + st["replayed"] + st["eager"]
    if res.error is not None:  # (the call that raised is counted as what it began as)
        return None
    if total != len(spec["calls"]):
        return f"stats count {total} calls of {len(spec['calls'])}: {st}"
    if not all(isinstance(k, str) for k in st["reasons"]):
        return f"stats reasons {st['reasons']}"
    again = sum(n for k, n in st["reasons"].items() if k.startswith("recorded again"))
    if again > max(0, st["recorded"] - 1):  # (each counts a call that recorded)
        return f"stats count {again} calls recorded again of {st['recorded']}: {st}"
    return None


def torch_comparable(spec) -> bool:
    return spec.get("dropout_p", 0.0) == 0.0 or not _ever_trains(spec)


def _ever_trains(spec) -> bool:
    return spec["train_mode"] or any("model.train()" in line for c in spec["calls"]
                                     for line in c["pre"])


def check(spec):
    """(kind, detail) of the first difference, or None."""
    import distgrad

    eager = run(spec, distgrad, compiled=False)
    comp = run(spec, distgrad, compiled=True)
    diff = _first_difference(comp, eager, _exact)
    if diff is not None:
        roundoff = _first_difference(comp, eager, _close) is None
        if diff.startswith("error"):
            kind = "compiled raises where eager does not" if comp.error and not eager.error \
                else "eager raises where compiled does not" if eager.error and not comp.error \
                else "compiled and eager raise differently"
        else:
            kind = "compiled differs from eager" + (" (roundoff)" if roundoff else "")
        return kind, diff + f"\nstats: {comp.stats}"
    problem = _stats_problem(spec, comp)
    if problem:
        return "stats", problem
    if torch_comparable(spec):
        import torch

        th = run(spec, torch, compiled=False)
        diff = _first_difference(eager, th, _close)
        if diff is not None:
            return "eager differs from torch" + (" (error)" if diff.startswith("error")
                                                 else ""), diff
    return None


# ---------------------------------------------------------------------------------------
# Shrinking


def _simpler(spec):
    """Specs one step simpler than `spec`."""
    def variant(**changes):
        s = copy.deepcopy(spec)
        s.update(changes)
        return s

    calls = spec["calls"]
    if len(calls) > 2:
        yield variant(calls=calls[:-1])
    for i, c in enumerate(calls):
        for j in range(len(c["pre"])):
            s = copy.deepcopy(spec)
            del s["calls"][i]["pre"][j]
            yield s
    for i in range(len(spec["blocks"])):
        b = spec["blocks"][i]
        if b["kind"] != "move":
            s = copy.deepcopy(spec)
            del s["blocks"][i]
            s["params"] = [p for p in s["params"] if not p.startswith(b["name"] + ".")]
            s["frozen"] = [p for p in s["frozen"] if p in s["params"]]
            yield s
    for e in spec.get("extras", ()):
        yield variant(extras=[x for x in spec["extras"] if x != e])
    for key, plain in (("sched", None), ("clip", None), ("driver_inputs", False),
                       ("ret", "loss.detach()"), ("opt_params", "all"), ("frozen", []),
                       ("tie", False), ("observe", "every"), ("train_mode", True)):
        if spec[key] != plain:
            yield variant(**{key: plain})
    if spec["opt"] != "SGD":
        yield variant(opt="SGD", opt_kw={"lr": 0.1, "momentum": 0.0, "nesterov": False,
                                         "weight_decay": 0.0, "dampening": 0.0})
    for k, v in spec["opt_kw"].items():
        if isinstance(v, bool) and v:
            yield variant(opt_kw={**spec["opt_kw"], k: False})
        elif isinstance(v, float) and v and k not in ("lr", "alpha"):
            yield variant(opt_kw={**spec["opt_kw"], k: 0.0})


def shrink(spec, kind, budget=80):
    def same_kind(s):
        try:
            got = check(s)
        except Exception:
            return False
        return got is not None and got[0] == kind

    best = spec
    progress = True
    while progress and budget > 0:
        progress = False
        for cand in _simpler(best):
            budget -= 1
            if budget <= 0:
                break
            if same_kind(cand):
                best, progress = cand, True
                break
    return best


def report(spec, kind, detail) -> str:
    return (f"# seed {spec['seed']}: {kind}\n# {detail.replace(chr(10), chr(10) + '# ')}\n"
            + to_text(spec, compiled=True, observe_lines=False))


# ---------------------------------------------------------------------------------------
# Many programs


def run_many(seeds, shrink_per_kind=1, log=None):
    """(ran, failures by kind: [(seed, detail)], reproducers by kind: [text])."""
    fp.ensure_runtime("local")
    try:
        return _run_many(seeds, shrink_per_kind, log)
    finally:
        gc.unfreeze()


def _run_many(seeds, shrink_per_kind, log):
    by_kind, specs = defaultdict(list), {}
    ran = 0
    for seed in seeds:
        try:
            spec = generate(seed)
            specs[seed] = spec
            got = check(spec)
        except Exception:
            got = ("harness error", traceback.format_exc()[-800:])
        ran += 1
        # (what the program left is collected now, and what lives on is left out of later
        # collections: each recording collects garbage, in time with the heap's size)
        gc.collect()
        gc.freeze()
        if got is not None:
            by_kind[got[0]].append((seed, got[1]))
            if log:
                log(f"seed {seed}: {got[0]}: {got[1][:300]}")
            if "Timeout" in got[1]:
                fp.reset_runtime()
                fp.ensure_runtime("local")
        if log and ran % 50 == 0:
            log(f"{ran} programs, {sum(map(len, by_kind.values()))} failing")
    repro = {}
    for kind, fails in by_kind.items():
        repro[kind] = []
        for seed, detail in fails[:shrink_per_kind]:
            if seed not in specs or kind == "harness error":
                continue
            small = shrink(specs[seed], kind)
            got = check(small)
            repro[kind].append(report(small, kind, got[1] if got else detail))
    return ran, by_kind, repro


def summary(ran, by_kind, repro) -> str:
    out = [f"{ran} programs ran, {sum(map(len, by_kind.values()))} failed, "
           f"{len(by_kind)} kinds of failure"]
    for kind, fails in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        out.append(f"\n=== {len(fails)} x {kind}  seeds "
                   f"{', '.join(str(f[0]) for f in fails[:8])}\n# {fails[0][1][:600]}")
        out += repro.get(kind, [])
    return "\n".join(out)


def main():
    count = int(os.environ.get("FUZZ_COUNT", "2000"))
    seed0 = int(os.environ.get("FUZZ_SEED", "0"))
    per_kind = int(os.environ.get("FUZZ_SHRINK", "2"))
    seeds = range(seed0, seed0 + count)
    if os.environ.get("FUZZ_SEEDS"):
        seeds = [int(s) for s in os.environ["FUZZ_SEEDS"].split(",")]
        for s in seeds:
            print(to_text(generate(s)))
    t0 = time.time()
    ran, by_kind, repro = run_many(seeds, per_kind,
                                   log=lambda s: print(s, file=sys.stderr, flush=True))
    print(summary(ran, by_kind, repro) + f"\n({time.time() - t0:.0f} s)")
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    return 1 if by_kind else 0


if __name__ == "__main__":
    sys.exit(main())
