"""A module's forward recorded as a program of steps, for `pipeline()` to cut into stages.

The forward runs once on the example inputs. Every op it issues (autograd.record.call)
and every submodule call is a step; each step's tensors are named by reference: the
forward's inputs, the module's parameters and buffers (by name), the values earlier steps
made, or constants (any other tensor). A submodule call is kept whole unless a split point
(`pipe_split()`) falls inside it: then its own steps take its place, so a stage boundary
can fall anywhere in the forward, as torch's traced graph allows. Python control flow is
fixed by the example inputs, as torch.export fixes it.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass, field

from ... import creation
from ...autograd import grad_mode, record
from ...nn.modules import module as module_mod
from ...tensor import Tensor
from .schedules import _map_structure


@dataclass(frozen=True)
class Ref:
    """A tensor of the program: kind "in" (an input), "param" (a parameter or buffer, by
    name), "value" (made by a step) or "const" (any other tensor the forward read)."""
    kind: str
    key: object


@dataclass
class OpStep:
    name: str
    inputs: tuple  # templates: tensors as Refs
    attrs: dict
    device: object
    outputs: object
    grad: bool = True  # grad mode as the forward ran it (a no_grad block: False)


@dataclass
class MethodStep:
    """A Tensor method that makes or writes its result without an op: detach, and the
    write of an in-place op's result into its tensor."""
    name: str
    inputs: tuple
    attrs: dict
    outputs: object
    grad: bool = True  # grad mode as the forward ran it (a no_grad block: False)


@dataclass
class FunctionStep:
    """A function that draws random numbers on the driver (they would otherwise be kept
    as the traced draw): called again at each replay, with its arguments by name."""
    fn: object
    attrs: dict
    outputs: object
    grad: bool = True  # grad mode as the forward ran it (a no_grad block: False)


@dataclass
class CallStep:
    fqn: str
    args: tuple
    kwargs: dict
    outputs: object
    steps: list = field(default_factory=list)  # what ran inside it
    has_split: bool = False
    reads_data: bool = False  # its own code read a value of the program into Python
    grad: bool = True  # grad mode as the forward called it


SPLIT = "split"  # a stage boundary among the steps


@dataclass
class Program:
    root: object  # the traced module
    signature: inspect.Signature
    inputs: list  # per bound argument: its template
    steps: list  # top-level steps (CallSteps with a split inside opened) and SPLITs
    outputs: object  # the forward's result as a template
    constants: list  # the const Refs' tensors, by key


_active = None  # the Recorder of the trace under way


def pipe_split() -> None:
    """Mark a stage boundary in a forward that `pipeline()` traces; nothing when the module
    runs eagerly (torch's pipe_split)."""
    if _active is not None:
        _active.split()


def trace(module, args: tuple, kwargs: dict) -> Program:
    """`module`'s forward on `args` and `kwargs`, recorded (buffers and the random state are
    left as they were: the trace does not count as a forward)."""
    global _active
    if _active is not None:
        raise RuntimeError("pipeline: a trace is already under way")
    rec = _Recorder(module)
    signature = inspect.signature(module.forward)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    inputs = [rec.as_inputs(v) for v in bound.arguments.values()]
    saved_buffers = {name: b.clone() for name, b in module.named_buffers()}
    rng = creation.get_rng_state()
    handles = [module_mod.register_module_forward_pre_hook(rec.enter),
               module_mod.register_module_forward_hook(rec.leave, with_kwargs=True,
                                                       always_call=True)]
    _active, record.tracing = rec, rec
    patched = _patches()
    for owner, name, _, recorded in patched:
        setattr(owner, name, recorded)
    try:
        module(*args, **kwargs)  # (in the caller's grad mode; no_grad blocks are noted)
    finally:
        _active = record.tracing = None
        for owner, name, original, _ in patched:
            setattr(owner, name, original)
        for h in handles:
            h.remove()
        creation.set_rng_state(rng)
        with grad_mode.no_grad():
            for name, b in module.named_buffers():
                if name in saved_buffers:
                    b.copy_(saved_buffers[name])
    root = rec.finished()
    steps = list(_opened(root.steps))
    _refuse_hidden(steps, root.outputs, rec.hidden)
    if any(c.reads_data for c in _opened_calls(root)):
        raise RuntimeError("pipeline: the traced forward reads the values of a tensor it "
                           "computes (item(), tolist(), a draw with tensor probabilities) "
                           "outside a submodule kept whole: the stages would replay the "
                           "traced values; move that code into a submodule")
    return Program(module, signature, inputs, steps, root.outputs, rec.constants)


def _refuse_hidden(steps, outputs, hidden: set) -> None:
    """What the stages replay must not read a constant that aliases the program's values
    (within a submodule kept whole, its own code makes it anew)."""
    read = refs_in(outputs) + [r for s in steps if s is not SPLIT for r in reads(s)]
    if any(r in hidden for r in read):
        raise RuntimeError("pipeline: the traced forward reads a tensor that shares memory "
                           "with one of its values but was made by no op the trace sees "
                           "(such as `.data`); use the op (detach(), a view) instead")


_METHODS = ("detach", "_inplace")  # Tensor methods that make or write without an op
_DATA_READS = ("_numpy_value", "item", "tolist")  # Tensor methods that read its values


def _patches() -> list:
    """(owner, name, original, recording) of what a trace replaces while it runs: the
    methods that make a tensor without an op, those that read a tensor's values, and the
    functions that draw random numbers on the driver."""
    from ...nn import functional

    out = [(Tensor, n, getattr(Tensor, n), _recorded_method(n, getattr(Tensor, n)))
           for n in _METHODS]
    out += [(Tensor, n, getattr(Tensor, n), _noted_read(getattr(Tensor, n)))
            for n in _DATA_READS]
    out += [(owner, n, getattr(owner, n), _recorded_function(getattr(owner, n)))
            for owner, n in ((creation, "_drawn"), (functional, "dropout_mask"))]
    return out


def _recorded_method(name: str, method):
    def recorded(self, *args, **kwargs):
        if _active is None or not _active.records():
            return method(self, *args, **kwargs)
        return _active.method(name, method, self, args, kwargs)
    return recorded


def _recorded_function(fn):
    signature = inspect.signature(fn)

    def recorded(*args, **kwargs):
        if _active is None or not _active.records():
            return fn(*args, **kwargs)
        return _active.function(fn, signature.bind(*args, **kwargs).arguments)
    return recorded


def _noted_read(method):
    def read(self, *args):
        if _active is not None and _active.records():
            _active.read(self)
        return method(self, *args)
    return read


def _opened(steps):
    """The steps with every call that holds a split point replaced by its own steps; a
    call whose only split comes first or last (a SplitPoint around a submodule) stays whole,
    the split before or after it."""
    for s in steps:
        if not (isinstance(s, CallStep) and s.has_split):
            yield s
        elif _split_at_an_end(s) == "start":
            yield SPLIT
            yield s
        elif _split_at_an_end(s) == "end":
            yield s
            yield SPLIT
        else:
            yield from _opened(s.steps)


def _split_at_an_end(call):
    """"start" or "end" where a call's one split point comes first or last of its steps
    (with none deeper): the call stays whole beside it; else None."""
    inner = call.steps
    if sum(x is SPLIT for x in inner) != 1 or any(
            isinstance(x, CallStep) and x.has_split for x in inner):
        return None
    return "start" if inner[0] is SPLIT else "end" if inner[-1] is SPLIT else None


def _opened_calls(call):
    """The call and every call within it opened into its steps (a split inside, not at an
    end)."""
    yield call
    for s in call.steps:
        if isinstance(s, CallStep) and s.has_split and _split_at_an_end(s) is None:
            yield from _opened_calls(s)


class _Recorder:
    def __init__(self, root) -> None:
        self.root = root
        self.names = {id(m): n for n, m in root.named_modules()}
        self.refs: dict = {}  # id(tensor) -> Ref
        self.alive: list = []  # (the tensors named, so that their ids stay theirs)
        for name, t in [*root.named_parameters(), *root.named_buffers()]:
            self._name(t, Ref("param", name))
        self.constants: list = []
        self.hidden: set = set()  # constants that alias the program's values
        self.frames: list = []  # the calls under way, innermost last
        self.n_inputs = self.n_values = 0
        self.inside_op = 0

    def _name(self, t, ref: Ref) -> Ref:
        self.refs[id(t)] = ref
        self.alive.append(t)
        return ref

    # ---- templates: a structure with its tensors as Refs -------------------------------
    def as_inputs(self, value):
        def name(t):
            self.n_inputs += 1
            return self._name(t, Ref("in", self.n_inputs - 1))
        return _map(value, name)

    def template(self, value):
        return _map(value, self._known)

    def _known(self, t) -> Ref:
        ref = self.refs.get(id(t))
        if ref is None:  # a tensor the forward did not make: a constant of the program
            ref = self._name(t, Ref("const", len(self.constants)))
            if self._aliases_a_value(t):
                self.hidden.add(ref)
            self.constants.append(t)
        return ref

    def defined(self, value):
        def name(t):
            ref = self.refs.get(id(t))
            if ref is not None:  # (an in-place op, or a call handing back its input)
                return ref
            self.n_values += 1
            return self._name(t, Ref("value", self.n_values - 1))
        return _map(value, name)

    def _aliases_a_value(self, t) -> bool:
        """Does `t` share memory with a tensor of the program, though no step made it
        (`.data`)? As a constant it would keep the traced values."""
        return any(self.refs[id(k)].kind != "const" and t._storage.same_memory(k._storage)
                   for k in self.alive)

    # ---- what the forward does ---------------------------------------------------------
    def records(self) -> bool:
        """Is this op issued by the forward itself (not by an op recorded already)?"""
        return self.inside_op == 0

    def op(self, name: str, inputs: tuple, device, attrs: dict):
        step_inputs, step_attrs = self.template(inputs), self.template(attrs)
        with self._running():
            out = record.call(name, *inputs, _device=device, **attrs)
        return self._step(OpStep(name, step_inputs, step_attrs, device, None), out)

    def method(self, name: str, method, tensor, args: tuple, kwargs: dict):
        inputs, attrs = self.template((tensor, *args)), self.template(kwargs)
        with self._running():
            out = method(tensor, *args, **kwargs)
        return self._step(MethodStep(name, inputs, attrs, None), out)

    def function(self, fn, arguments: dict):
        attrs = self.template(dict(arguments))
        with self._running():
            out = fn(**arguments)
        return self._step(FunctionStep(fn, attrs, None), out)

    @contextlib.contextmanager
    def _running(self):
        """What runs inside a recorded step issues no step of its own."""
        self.inside_op += 1
        try:
            yield
        finally:
            self.inside_op -= 1

    def _step(self, step, out):
        step.outputs, step.grad = self.defined(out), grad_mode.is_grad_enabled()
        self.frames[-1].steps.append(step)
        return out

    def read(self, t) -> None:
        ref = self.refs.get(id(t))
        if ref is not None and ref.kind != "const" and self.frames:
            self.frames[-1].reads_data = True

    def enter(self, module, args) -> None:
        self.frames.append(CallStep(self.names.get(id(module)), (), {}, None,
                                    grad=grad_mode.is_grad_enabled()))

    def leave(self, module, args, kwargs, result) -> None:
        step = self.frames.pop()
        if step.fqn is None and any(True for _ in module.parameters()):
            raise RuntimeError(f"pipeline: the forward calls a {type(module).__name__} that "
                               "is not a submodule of the traced module")
        step.args, step.kwargs = self.template(args), self.template(kwargs)
        if self.frames:
            step.outputs = self.defined(result)
            self.frames[-1].steps.append(step)
        else:  # the root's call, what finished() hands over: its steps made its result
            step.outputs = self.template(result)
            self.frames.append(step)

    def split(self) -> None:
        if not self.frames:
            return
        self.frames[-1].steps.append(SPLIT)
        for f in self.frames:
            f.has_split = True

    def finished(self) -> CallStep:
        (root,) = self.frames
        return root


def _map(value, fn, leaf=Tensor):
    """`value` with each `leaf` in it (in tuples, lists and dicts) replaced by fn(leaf)."""
    return _map_structure(value, lambda x: fn(x) if isinstance(x, leaf) else x)


def reads(step) -> list:
    """The Refs a step reads."""
    if isinstance(step, OpStep):
        return refs_in(step.inputs) + refs_in(step.attrs)
    if isinstance(step, FunctionStep):
        return refs_in(step.attrs)
    if isinstance(step, MethodStep):
        return refs_in(step.inputs) + refs_in(step.attrs)
    return refs_in(step.args) + refs_in(step.kwargs)


def refs_in(template) -> list:
    """The Refs in a template, in order."""
    out: list = []
    _map(template, out.append, Ref)
    return out


def filled(template, values: dict):
    """The template with each Ref replaced by its value in `values`."""
    return _map(template, values.__getitem__, Ref)
