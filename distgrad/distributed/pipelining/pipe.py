"""torch's tracer frontend: `pipeline(module, mb_args, split_spec=...)` cuts a model into
stage modules at split points, and `Pipe.build_stage(i, device)` makes stage i's
PipelineStage.

    pipe = pipeline(model, (x_mb,), split_spec={"layers.2": SplitPoint.BEGINNING})
    stages = [pipe.build_stage(i, f"worker:{i}") for i in range(pipe.num_stages)]
    schedule = Schedule1F1B(stages, n_microbatches=4, loss_fn=loss_fn)

The forward is traced once (trace.py) and cut at its `pipe_split()` points. A stage module
holds the submodules and parameters its steps use, under their names in the model, and
replays its steps. A value one stage makes and a later one reads goes there directly: to
the next stage as its input, to a later one as a skip connection (PipelineStage's
`skip_from`), where torch's traced stages send it too.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum
from types import MethodType

from ...autograd import grad_mode, record
from ...nn.modules.module import Module
from ...nn.parameter import Parameter
from ...tensor import Tensor
from . import trace as tracing
from .stage import PipelineStage
from .trace import (SPLIT, CallStep, FunctionStep, MethodStep, OpStep, Ref, filled, pipe_split,
                    reads, refs_in)

__all__ = ["Pipe", "PipeInfo", "SplitPoint", "annotate_split_points", "build_stage",
           "pipe_split", "pipeline"]


class SplitPoint(Enum):
    """Where a split goes around a submodule named in `split_spec`: before its forward
    (BEGINNING) or after it (END)."""
    BEGINNING = 1
    END = 2


@dataclass
class PipeInfo:
    """What a stage needs to know of its pipe (torch's; `graph` is distgrad's program)."""
    graph: object
    num_stages: int
    has_loss_and_backward: bool


def get_submod_name(stage_idx: int) -> str:
    return f"submod_pp_{stage_idx}"


class _StageModule(Module):
    """A stage of a traced forward: its steps replayed on the values it is handed (the
    outputs of the stages it takes from, in order), returning what later stages read."""

    def __init__(self, steps: list, takes: list, gives, skip_from: list) -> None:
        super().__init__()
        self._steps = steps
        self._takes = takes  # the Refs its positional inputs bind, in order
        self._gives = gives  # a Ref, a tuple of Refs, or (last stage) the forward's result
        self._skip_from = skip_from
        self._reads: list = []  # the parameters, buffers and constants its steps read
        self._device = None  # build_stage's device: where factory ops issue their tensors

    def forward(self, *inputs):
        return self._run(dict(zip(self._takes, inputs)))

    def _run(self, values: dict):
        values.update(self._state())
        for step in self._steps:
            with grad_mode.no_grad() if not step.grad else contextlib.nullcontext():
                _bind(step.outputs, self._replay(step, values), values)
        return filled(self._gives, values)

    def _replay(self, step, values: dict):
        if isinstance(step, OpStep):
            attrs = filled(step.attrs, values)
            device = step.device
            if self._device is not None:  # (the device the trace named, rewritten)
                device = device and self._device
                if "device" in attrs:
                    attrs["device"] = self._device
            return record.call(step.name, *filled(step.inputs, values), _device=device,
                               **attrs)
        if isinstance(step, FunctionStep):
            attrs = filled(step.attrs, values)
            if self._device is not None and "device" in attrs:
                attrs["device"] = self._device
            return step.fn(**attrs)
        if isinstance(step, MethodStep):
            tensor, *args = filled(step.inputs, values)
            return getattr(tensor, step.name)(*args, **filled(step.attrs, values))
        return self.get_submodule(step.fqn)(*filled(step.args, values),
                                            **filled(step.kwargs, values))

    def _state(self) -> dict:
        """The parameters, buffers and constants the steps read, as they are now (moved
        with the module)."""
        out = {}
        for ref in self._reads:
            if ref.kind == "param":
                out[ref] = _get(self, ref.key)
            elif ref.kind == "const":
                out[ref] = getattr(self, f"_tensor_constant{ref.key}")
        return out


class _FirstStageModule(_StageModule):
    """The first stage takes the model's own arguments (keyword ones too)."""

    def __init__(self, signature, inputs: list, *rest) -> None:
        super().__init__(*rest)
        self._signature = signature
        self._inputs = inputs  # per bound argument: its template of "in" Refs

    def forward(self, *args, **kwargs):
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values: dict = {}
        for template, value in zip(self._inputs, bound.arguments.values()):
            _bind(template, value, values)
        return self._run(values)


class Pipe(Module):
    """A traced model cut into `num_stages` stage modules (`split_gm.submod_pp_<i>`)."""

    def __init__(self, split_gm: Module, num_stages: int, has_loss_and_backward: bool = False,
                 loss_spec=None) -> None:
        super().__init__()
        self.split_gm = split_gm
        self.num_stages = num_stages
        self.has_loss_and_backward = has_loss_and_backward
        self.loss_spec = loss_spec

    def get_stage_module(self, stage_idx: int) -> Module:
        if stage_idx < 0 or stage_idx >= self.num_stages:
            raise ValueError(f"Invalid stage index {stage_idx}!")
        return getattr(self.split_gm, get_submod_name(stage_idx))

    def forward(self, *args, **kwargs):
        """The whole model, stage after stage here (each on its module's device): its
        outputs as a tuple, as torch's Pipe returns them."""
        given: list = []
        for k in range(self.num_stages):
            mod = self.get_stage_module(k)
            if k == 0:
                out = mod(*args, **kwargs)
            else:
                device = _device_of(mod)
                inputs = [x for s in [k - 1, *mod._skip_from] for x in given[s]]
                out = mod(*[x.to(device) if device and isinstance(x, Tensor) else x
                            for x in inputs])
            given.append(out if isinstance(out, tuple) else (out,))
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def info(self) -> PipeInfo:
        return PipeInfo(graph=self.split_gm, num_stages=self.num_stages,
                        has_loss_and_backward=self.has_loss_and_backward)

    def build_stage(self, stage_index: int, device, group=None) -> PipelineStage:
        """Stage `stage_index` as a PipelineStage on `device` (factory ops in its forward
        make their tensors there, as torch's build_stage rewrites their device)."""
        return build_stage(self.get_stage_module(stage_index), stage_index, self.info(),
                           device, group)


def build_stage(stage_module, stage_index: int, pipe_info: PipeInfo, device,
                group=None) -> PipelineStage:
    """torch's build_stage: a PipelineStage of a stage module `pipeline()` made."""
    stage_module._device = str(device)
    return PipelineStage(stage_module, stage_index, pipe_info.num_stages, device, group=group,
                         skip_from=stage_module._skip_from)


def annotate_split_points(mod: Module, spec: dict) -> None:
    """Each submodule named in `spec` calls pipe_split() before (BEGINNING) or after (END)
    its forward, as torch wraps it."""
    for qualname, split_type in spec.items():
        atoms = qualname.split(".")
        parent = mod
        for i, atom in enumerate(atoms[:-1]):
            try:
                parent = getattr(parent, atom)
            except AttributeError as e:
                raise AttributeError(f"Specified target {qualname} referenced nonexistent "
                                     f"module {'.'.join(atoms[: i + 1])}") from e
        target = getattr(parent, atoms[-1])
        target._orig_forward = target.forward
        if split_type == SplitPoint.BEGINNING:
            target.forward = MethodType(_split_before_forward, target)
        elif split_type == SplitPoint.END:
            target.forward = MethodType(_split_after_forward, target)
        else:
            raise ValueError("Unknown split point type.")


def _split_before_forward(self, *args, **kwargs):
    pipe_split()
    return self._orig_forward(*args, **kwargs)


def _split_after_forward(self, *args, **kwargs):
    try:
        return self._orig_forward(*args, **kwargs)
    finally:
        pipe_split()


def pipeline(module: Module, mb_args, mb_kwargs=None, split_spec=None,
             split_policy=None) -> Pipe:
    """`module` traced on one micro-batch's example arguments and cut at its split points
    (those `split_spec` names, and the `pipe_split()` calls in its forwards)."""
    if split_spec is not None and split_policy is not None:
        raise ValueError("Cannot specify both `split_spec` and `split_policy`. Please use only "
                         "one of them.")
    if split_policy is not None:
        raise NotImplementedError("pipeline: split_policy rewrites a torch.fx graph, which "
                                  "distgrad does not make; mark the split points with "
                                  "split_spec or pipe_split()")
    if split_spec is not None:
        annotate_split_points(module, split_spec)
    args = mb_args if isinstance(mb_args, tuple) else (mb_args,)
    program = tracing.trace(module, args, dict(mb_kwargs or {}))
    split_gm = Module()
    stages = _cut(program)
    for k, stage in enumerate(stages):
        split_gm.add_module(get_submod_name(k), stage)
    return Pipe(split_gm, len(stages))


# ---- cutting the program into stages -------------------------------------------------------
def _cut(program) -> list:
    runs = [[]]
    for step in program.steps:
        if step is SPLIT:
            runs.append([])
        else:
            runs[-1].append(step)
    for k, run in enumerate(runs):
        if not run:
            raise ValueError(f"pipeline: stage {k} would have no ops (a split point at the "
                             "very start or end of the forward, or two together)")
    last = len(runs) - 1
    inputs = {r for t in program.inputs for r in refs_in(t)}
    imports, made_by = [], {r: 0 for r in inputs}  # made_by: value -> last stage making it
    for k, run in enumerate(runs):
        have = set(inputs) if k == 0 else set()
        wants: dict = {}  # ref -> the stage it comes from, in first-use order
        for step in run:
            for ref in reads(step):
                if ref.kind in ("in", "value") and ref not in have and ref not in wants:
                    wants[ref] = made_by[ref]
            for ref in refs_in(step.outputs):
                have.add(ref)
        if k == last:
            for ref in refs_in(program.outputs):
                if ref.kind in ("in", "value") and ref not in have and ref not in wants:
                    wants[ref] = made_by[ref]
        for ref in have:
            made_by[ref] = k
        imports.append(wants)
    gives = [[] for _ in runs]  # per stage, the values later stages take from it
    for wants in imports:
        for ref, src in wants.items():
            if ref not in gives[src]:
                gives[src].append(ref)
    _check_owned_once(program, runs)
    stages = []
    for k, run in enumerate(runs):
        sources = sorted(set(imports[k].values()))
        skip_from = [s for s in sources if s != k - 1]
        takes = [r for s in ([k - 1] + skip_from if k else []) for r in gives[s]]
        out = program.outputs if k == last else (
            gives[k][0] if len(gives[k]) == 1 else tuple(gives[k]))
        if k == 0:
            stage = _FirstStageModule(program.signature, program.inputs, run, takes, out,
                                      skip_from)
        else:
            stage = _StageModule(run, takes, out, skip_from)
        _hold_state(stage, run, program, out)
        stages.append(stage)
    return stages


def _hold_state(stage, run: list, program, gives) -> None:
    """Register under stage what its steps read of the model, in the order they read it:
    the submodules they call and the parameters and buffers they use, by their names in
    the model; and the constants."""
    state = []  # the param and const Refs read, in order
    for step in run:
        if isinstance(step, CallStep):
            _place(stage, step.fqn, program.root.get_submodule(step.fqn))
        for ref in reads(step):
            if ref.kind in ("param", "const") and ref not in state:
                state.append(ref)
    for ref in refs_in(gives):  # (a forward handing back a parameter as it is)
        if ref.kind in ("param", "const") and ref not in state:
            state.append(ref)
    for ref in state:
        if ref.kind == "param" and not _reachable(stage, ref.key):
            _place(stage, ref.key, _get(program.root, ref.key))
        elif ref.kind == "const":
            stage.register_buffer(f"_tensor_constant{ref.key}", program.constants[ref.key],
                                  persistent=False)
    stage._reads = state


def _check_owned_once(program, runs: list) -> None:
    """A parameter is trained where its stage runs: one used by two stages (a tied
    embedding) would need its gradients summed over both, which the stages do not do."""
    owner: dict = {}
    for k, run in enumerate(runs):
        for step in run:
            if isinstance(step, CallStep):
                params = [id(p) for p in program.root.get_submodule(step.fqn).parameters()]
                name = step.fqn
            else:
                params = [id(_get(program.root, r.key)) for r in reads(step)
                          if r.kind == "param"]
                name = None
            for p in params:
                if owner.setdefault(p, (k, name))[0] != k:
                    raise NotImplementedError(
                        f"pipeline: a parameter is used by stages {owner[p][0]} and {k} "
                        f"({name or 'an op of the forward'}); tied parameters across stages "
                        "are not supported")


def _place(stage: Module, path: str, obj) -> None:
    atoms = path.split(".")
    parent = stage
    for atom in atoms[:-1]:
        child = parent._modules.get(atom)
        if child is None:
            child = Module()
            parent.add_module(atom, child)
        parent = child
    if isinstance(obj, Module):
        parent.add_module(atoms[-1], obj)
    elif isinstance(obj, Parameter):
        parent.register_parameter(atoms[-1], obj)
    else:
        parent.register_buffer(atoms[-1], obj)


def _reachable(stage: Module, path: str) -> bool:
    try:
        _get(stage, path)
        return True
    except AttributeError:
        return False


def _get(module: Module, path: str):
    obj = module
    for atom in path.split("."):
        obj = getattr(obj, atom)
    return obj


def _bind(template, value, values: dict) -> None:
    """values[ref] = the part of `value` at each Ref's place in `template`."""
    if isinstance(template, Ref):
        values[template] = value
    elif isinstance(template, dict):
        for k, t in template.items():
            _bind(t, value[k], values)
    elif isinstance(template, (tuple, list)):
        for t, v in zip(template, value):
            _bind(t, v, values)


def _device_of(mod: Module):
    for t in [*mod.parameters(), *mod.buffers()]:
        return t.device_str
    return None
