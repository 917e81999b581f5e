"""Graph nodes: `OpNode` (one per recorded op, torch's `grad_fn`) and `AccumulateGrad`.

A node holds its op's name, attrs, the edges to its inputs' nodes (`next_functions`) and
the tensors its VJP reads (saved tensors). Saved tensors are distgrad tensors: for a
tensor on a worker the node holds a handle and the data stays on that worker.
"""
from __future__ import annotations

import abc
import itertools
import weakref

from . import anomaly_mode, grad_mode, saved_hooks
from ..hook_handles import RemovableHandle
from ..ops.table import ALWAYS
from .saved_args import saved_arg_names, saved_arg_reader

_sequence = itertools.count()


def savable(t):
    """t, or what is saved for it: torch keeps no version counter on an inference tensor,
    so one cannot be saved; but under a torch.func grad transform, whose level wraps every
    tensor it meets in an ordinary one, its ordinary copy is."""
    from .function import lifts_inference_tensors  # (function.py imports this module)

    if grad_mode.is_inference_mode_enabled():
        return t
    if lifts_inference_tensors():
        return t.clone()
    raise RuntimeError("Inference tensors cannot be saved for backward. Please do not use "
                       "Tensors created in inference mode in computation tracked by "
                       "autograd. To work around this, you can make a clone to get a normal "
                       "tensor and use it in autograd, or use `torch.no_grad()` instead of "
                       "`torch.inference_mode()`.")


COPY_SLICES = "torch::autograd::CopySlices"

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


def modified_error(dtype, shape, producer, output_nr: int, stale) -> RuntimeError:
    """torch's error for a saved tensor written in place since: its type and shape, the node
    that made it (and which of its outputs), its version now and when saved."""
    what = (f", which is output {output_nr} of {_short_name(producer.name())},"
            if producer is not None else "")
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [{dtype.message_name} [{', '.join(map(str, shape))}]]{what} is at "
        f"version {stale[0]}; expected version {stale[1]} instead. Hint: "
        + (_ANOMALY_HINT if anomaly_mode.is_anomaly_enabled() else _PLAIN_HINT))


_PLAIN_HINT = ("enable anomaly detection to find the operation that failed to compute its "
               "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")
# (anomaly mode's warning shows where the node was made, above the error)
_ANOMALY_HINT = ("the backtrace further above shows the operation that failed to compute its "
                 "gradient. The variable in question was changed in there or anywhere later. "
                 "Good luck!")


class RawSavedTensor:
    """What `grad_fn._raw_saved_self` (or `_raw_saved_result`, ...) gives, as torch's
    torch._C._autograd.SavedTensor: hooks for this one saved tensor, packed at once."""

    __slots__ = ("_node", "_saved")

    def __init__(self, node, saved):
        self._node, self._saved = node, saved

    def register_hooks(self, pack_hook, unpack_hook) -> None:
        if not (callable(pack_hook) and callable(unpack_hook)):
            raise TypeError("register_hooks(): incompatible function arguments. The following "
                            "argument types are supported:\n    1. (self: torch._C._autograd."
                            "SavedTensor, arg0: collections.abc.Callable, arg1: collections.abc."
                            f"Callable) -> None\n\nInvoked with: {self!r}, {pack_hook!r}, "
                            f"{unpack_hook!r}")
        if self._saved is None and not self._node._freed:
            raise RuntimeError("Calling register_hooks on a saved tensor with value None is "
                               "forbidden")
        if self._node._freed:
            raise RuntimeError("Calling register_hooks on a saved tensor after it has been freed. "
                               "Saved intermediate values of the graph are freed when you call "
                               ".backward() or autograd.grad(). Specify retain_graph=True if you "
                               "need to backward through the graph a second time or if you need "
                               "to access saved variables after calling backward.")
        if self._saved.hooks is not None:
            raise RuntimeError("Calling register_hooks on a saved tensor whose hooks have already "
                               "been set. Hint: only one pair of hooks is allowed at a time.")
        # (torch's pack hook is given the saved data here, without its autograd metadata)
        tensor = self._saved.tensor
        self._saved.pack((pack_hook, unpack_hook), tensor, tensor._alias(keep_graph=False))

    def __repr__(self) -> str:
        return f"<torch._C._autograd.SavedTensor object at {hex(id(self))}>"


class SavedTensor:
    """A tensor kept for backward, with the version it had when saved.

    An output is kept without its grad_fn (that would be a cycle through the node) and
    given the node back when unpacked, as torch's SavedVariable does. The output of an
    in-place op on a view is given the view's history as it was when saved (torch keeps a
    weak reference to it), so in a graph of the gradient the result's gradient goes through
    the view's node and its hooks; the op's own node once that history is gone.
    """

    __slots__ = ("tensor", "version", "is_output", "output_nr", "view_edge", "had_history",
                 "follows", "hooks", "packed", "edge", "parts_edges", "origin",
                 "pack_after_write", "holder", "original_had_history", "whole")

    def __init__(self, tensor, is_output: bool = False, output_nr: int = 0,
                 on_view: bool = False):
        stands_for = tensor._stands_for  # (a copy made to run an op where its original is not)
        if tensor._storage.inference or (stands_for is not None and stands_for._storage.inference):
            tensor = savable(tensor)
        self.is_output = is_output
        self.output_nr = output_nr
        self.version = tensor._version
        self.view_edge = None
        self.follows = None  # (base, its version): see follow()
        self.had_history = tensor._grad_fn is not None
        # (a copy distgrad made to run an op where its original is not, Tensor._stand_for:
        # torch saved the original itself, whose detach_ it then refuses)
        original = tensor._stands_for
        self.original_had_history = original is not None and original._grad_fn is not None
        if on_view and tensor._grad_fn is not None:
            self.view_edge = (weakref.ref(tensor._grad_fn), tensor._output_nr)
        self.tensor = tensor._alias(keep_graph=False) if is_output else tensor
        # (an output's own tensor, weakly: torch's version counter is the tensor's, so a
        # write after `.data =` or set_ gave it other memory still makes the saved one stale)
        self.holder = weakref.ref(tensor) if is_output else None
        self.hooks = None  # (pack_hook, unpack_hook) it was packed with (saved_hooks)
        self.pack_after_write = None  # the hooks to pack it with once written in place
        # (the sharded tensor an input is a part of, kept as torch keeps the tensor it saved:
        # its errors name it, even once the caller let a temporary one go)
        whole = None if is_output else tensor._storage.shown_as(tensor)
        self.whole = None if whole is tensor else whole

    def pack(self, hooks, tensor, shown=None) -> None:
        """Keep pack_hook(tensor) (or pack_hook(shown)) instead of the tensor, and what
        unpack needs to give the unpacked one the saved tensor's history (torch's
        SavedVariable with hooks)."""
        self.hooks = hooks
        self.edge = self.parts_edges = None
        if not self.is_output and tensor._requires_grad:
            self.edge = tensor._gradient_edge()
            self.parts_edges = tensor._storage.parts_edges(tensor)  # (a sharded one's)
        self.origin = weakref.ref(tensor)
        self.tensor = None
        from . import record  # (which imports this module)

        record.note_python("hook", hooks)  # (a compiled step's replay would not run them)
        with grad_mode.no_grad():
            self.packed = hooks[0](tensor if shown is None else shown)

    def _unpack_hooked(self, node):
        got = self.hooks[1](self.packed)
        if not hasattr(got, "_storage"):
            raise TypeError("Output of saved tensor unpack_hook expected to be a Tensor but got "
                            f"result of type {type(got).__name__}")
        if not self.is_output and self.edge is None and not got._requires_grad:
            return got
        if self.parts_edges is not None:  # (a sharded tensor's history is its parts')
            out = got._storage.with_parts_edges(got, self.parts_edges)
            if out is not None:
                return out
        out = got._alias(keep_graph=False)
        edge = (node, self.output_nr) if self.is_output else self.edge
        return out if edge is None else with_edge(out, edge)

    def follow(self, base) -> None:
        """The tensor's values were written into `base` as into a view of it (a copy
        standing for a view of a sharded tensor): like torch's view, which shares its
        base's version counter, it is stale after `base`'s next write."""
        self.follows = (base, base._version)

    def _stale_versions(self):
        """(now, saved) versions if the tensor was written since it was saved, else None."""
        t = self.tensor
        if t._version != self.version:
            return t._version, self.version
        holder = self.holder() if self.holder is not None else None
        if holder is not None and holder._storage is not t._storage and \
                holder._version != self.version:
            return holder._version, self.version
        if self.follows is not None and self.follows[0]._version != self.follows[1]:
            return self.follows[0]._version, self.follows[1]
        return None

    def check(self, node, by_function: bool = False) -> None:
        """What unpacking checks first, in torch's order: the saved input's history (read),
        that it was not detached in place, then not written since it was saved."""
        t = self.tensor
        if not self.is_output and t._viewed is not None:
            t.grad_fn  # noqa: B018  (torch's unpack reads a saved view's history: a written
            # output of split or unbind raises here)
        # (torch refuses an op's saved input detached in place; a custom Function's
        # saved_tensors are unpacked for its node, and pass)
        detached = t._grad_fn is None or self.original_had_history and \
            t._stands_for._grad_fn is None
        if self.had_history and not self.is_output and not by_function and detached:
            raise RuntimeError(
                "Trying to use a saved tensor that has been detached in-place, i.e. with "
                ".detach_().This is not supported, please use out-of-place `.detach()` instead")
        stale = self._stale_versions()
        if stale is not None:
            # (a copy is named as its original, a sharded tensor's part as that tensor, a
            # transform's alias of its input as that input)
            shown = t.__dict__.get("_shown_as")
            if shown is None:
                shown = self.whole
            if shown is None:
                shown = t._storage.shown_as(t) if t._stands_for is None else t._stands_for
            producer = shown.grad_fn
            if self.is_output:  # (of an in-place op on a view: the view's node, as torch)
                view_node = self.view_edge[0]() if self.view_edge is not None else None
                producer = view_node or node
            raise modified_error(shown.dtype, shown.shape, producer,
                                 self.output_nr if self.is_output else shown._output_nr, stale)

    def unpack(self, node, by_function: bool = False):
        if self.hooks is not None:
            return self._unpack_hooked(node)
        self.check(node, by_function)
        t = self.tensor
        op = getattr(node, "op", None)  # (a custom Function's node has none)
        if self.is_output and op is not None and self.output_nr in op.nondiff_outputs:
            return t._alias(keep_graph=False)  # (no history: max's indices, a norm's mean)
        if self.is_output:
            placed = t._stands_for  # (a sharded Function's output: the one the user holds)
            if placed is not None and placed._requires_grad and grad_mode.is_grad_enabled():
                # torch saved that tensor itself: a gradient of the gradient reaching what was
                # saved goes through its history, and its hooks (sharding.py, _saved_as)
                return placed._storage.full(placed, t.device_str)
            out = t._alias(keep_graph=False)
            if self.follows is not None:  # (what saves it is stale after base's next write)
                out._stand_for(self.follows[0])
            out._requires_grad = True
            out.grad_fn, out._output_nr = node, self.output_nr
            if "_fw_tangent" in t.__dict__:  # (a dual level is open: forward_ad.push)
                from .forward_ad import keep_tangent

                keep_tangent(t, out)
            view_node = self.view_edge[0]() if self.view_edge is not None else None
            if view_node is not None:
                out.grad_fn, out._output_nr = view_node, self.view_edge[1]
            return out
        return t._copy_if_rewritten() if t._stands_for is not None else t


def with_edge(t, edge):
    """`t`, a tensor without history, given the gradient edge `edge` (node, input nr) as
    its history: a leaf's accumulator, none (a view made under no_grad), or a node."""
    t._requires_grad = True
    if isinstance(edge[0], AccumulateGrad):
        t._acc = weakref.ref(edge[0])
    elif edge[0] is None:
        t._no_accumulator = True
    else:
        t._grad_fn, t._output_nr = edge
    return t


def _wrapped_number(value):
    """A Python number an op took as an operand, as torch's node saved it: the 0-dim tensor
    it wrapped it in (int64, float64 or bool)."""
    if type(value) not in (bool, int, float):
        return value
    from .. import dtypes
    from ..creation import tensor  # (creation builds on autograd)

    return tensor(value, dtype=dtypes.float64 if type(value) is float else None)


def _saves(save_for, needs, saved) -> bool:
    """Does torch's node save this input position (or "out"), given which inputs need a
    gradient? (OpDef.save_for)"""
    return save_for is None or saved in save_for.get(ALWAYS, ()) or any(
        need and saved in save_for.get(k, ()) for k, need in enumerate(needs))


def _unpack_all(node, ctx) -> None:
    """Unpack every saved tensor that went through hooks, in the order they were packed, as
    torch's node does when it runs (whether or not the gradients asked for read it)."""
    for i in node.packing_order():
        if node._saved[i].hooks is not None:
            ctx._inputs[i]  # noqa: B018  (unpacked once, and kept for the VJP)
    for k, saved in enumerate(node._saved_outs or ()):
        if saved.hooks is not None:
            ctx.outs[k]  # noqa: B018


def _short_name(name: str) -> str:
    """How torch names a node in the in-place error: MulBackward0 -> Mul, SumBackward1 -> Sum1."""
    base, sep, nr = name.rpartition("Backward")
    if not sep or (nr and not nr.isdigit()):
        return name
    return base if nr in ("", "0") else base + nr  # "" : a custom Function's ExpBackward


class _Saved:
    """A node's saved values as its VJP reads them. A tensor is unpacked (and its version
    checked) on first read, so a VJP that does not read a value never checks it: torch
    saves only what the needed gradients read (mm keeps `self` only for `mat2`'s grad)."""

    __slots__ = ("_items", "_node")

    def __init__(self, items: list, node):
        self._items = items
        self._node = node

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self._items)))]
        v = self._items[i]
        if isinstance(v, SavedTensor):
            v = self._items[i] = v.unpack(self._node)
        return v

    def __iter__(self):
        return (self[k] for k in range(len(self._items)))

    def column_major(self, i) -> bool:
        """Whether input i was a column-major matrix, whether or not it was saved: torch's
        mm backward lays out that input's gradient as the input (its test: strides (1, its
        rows))."""
        strides = self._node._strides.get(i)
        shape = self._node._metas[i][0]
        return strides is not None and len(shape) == 2 and strides[0] == 1 and \
            strides[1] == shape[0]


class VJPContext:
    """What a VJP sees: saved inputs by position (`ctx[0]`), `ctx.out`, attrs, input
    shapes/dtypes, and which inputs need a gradient."""

    __slots__ = ("_inputs", "outs", "attrs", "shapes", "dtypes", "needs", "devices")

    def __getitem__(self, i):
        return self._inputs[i]

    @property
    def out(self):
        return self.outs[0]


class NodeHooks:
    """torch's hook surface of a node (an OpNode, or a node the driver runs itself)."""

    __slots__ = ()
    _inline = False  # see OpNode._inline

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) after the node ran."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return RemovableHandle.listing(self._hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) before the node runs; may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)
        return RemovableHandle.listing(self._pre_hooks, fn)

    @property
    def metadata(self) -> dict:
        """A dict kept with the node (made on first use), for the user's own notes."""
        meta = getattr(self, "_metadata", None)
        if meta is None:
            meta = self._metadata = {}
        return meta


def edgeless(t) -> bool:
    """Does `t` require grad with no gradient edge (a view made under no_grad)?"""
    return getattr(t, "_requires_grad", False) and t._grad_fn is None and t._no_accumulator


class OpNode(NodeHooks):
    """A recorded op: torch's grad_fn. `name()` gives torch's node name."""

    __slots__ = ("op", "_name", "attrs", "next_functions", "_saved", "_saved_outs", "_consts",
                 "_metas", "needs", "_seq", "device", "_freed", "_tensor_pre_hooks",
                 "_retain_grad", "_hooks", "_pre_hooks", "n_outputs", "_out_metas", "_slots",
                 "_remote", "_anomaly", "_metadata", "_wraps", "_strides", "_edgeless",
                 "_inline", "_given", "_save_for", "_listed", "__weakref__")

    def __init__(self, op, name, attrs, inputs, outputs, needs, device):
        self.op = op
        self._name = name
        self.attrs = attrs
        self.needs = needs
        self.device = device
        self._seq = next(_sequence)
        # A node sharding adds between an op's part and the operand it stands for (a move,
        # a slice, a gather), which torch's graph does not have: the engine runs it as soon
        # as it is ready, so what it leads to is ready in its consumer's edge order.
        self._inline = False
        self._freed = False
        self._listed = None  # what it saved, by key, kept when a backward frees it (_freed_names)
        self._remote = None  # the worker's record of this node's saved state
        # A copy_slices node's: the node of the in-place op written through the view, which
        # torch's CopySlices owns (and frees with its own saved state)
        self._wraps = None
        # weak references to the tensors requiring grad behind its edgeless inputs (views
        # made under no_grad, by their bases): no edge shows them, yet its output requires
        # grad through them (func transforms ask whose)
        self._edgeless = tuple(weakref.ref(t._viewed if t._viewed is not None else t)
                               for t in inputs if edgeless(t))
        self._tensor_pre_hooks = None  # [(output_nr, fn)] from Tensor.register_hook
        self._retain_grad = None  # {output_nr: weakref(tensor)} from Tensor.retain_grad
        self._hooks = None
        self._pre_hooks = None
        self.n_outputs = len(outputs)
        self._out_metas = tuple((o.shape, o.dtype, o.device_str) for o in outputs)
        # One edge per differentiable input position (numbers included, as torch lists a
        # wrapped scalar with (None, 0)); `_slots` maps each edge back to its input position.
        edges, slots = [], []
        number_edges = op.number_edges(inputs) if callable(op.number_edges) else op.number_edges
        # (torch's NotImplemented node has an edge for each input requiring grad, no other;
        # but set_'s, written by hand in torch, has one for each operand)
        only_requiring = name == "torch::autograd::NotImplemented" and op.name != "set_"
        for i, (t, diff) in enumerate(zip(inputs, self._diff_mask(len(inputs)))):
            is_tensor = hasattr(t, "_storage")
            if not diff or (not is_tensor and not number_edges):
                continue
            if only_requiring and not (is_tensor and t._requires_grad):
                continue
            slots.append(i)
            edges.append(t._gradient_edge() if is_tensor and t._requires_grad else (None, 0))
        self.next_functions = tuple(edges)
        self._slots = tuple(slots)
        self._metas = tuple((t.shape, t.dtype, t.device_str) if hasattr(t, "_storage") else None
                            for t in inputs)
        # The strides of the inputs at saved positions, where not row-major from offset 0,
        # kept even where torch saves no tensor there (save_for), as it keeps them (mm's
        # backward lays out a gradient by them; `_saved_self_sym_strides`).
        self._strides = {i: inputs[i]._layout[0] for i in op.save if i < len(inputs)
                         and getattr(inputs[i], "_layout", None) is not None}
        # Inputs the VJP reads: tensors as SavedTensor, Python numbers as they are.
        self._saved = {}
        self._consts = {}
        save_for = op.save_for(inputs, attrs) if callable(op.save_for) else op.save_for
        self._save_for = save_for
        for i in op.save:
            if i >= len(inputs):
                break
            x = inputs[i]
            if not hasattr(x, "_storage"):
                self._consts[i] = x
            elif _saves(save_for, needs, i):
                self._saved[i] = SavedTensor(x)
        self._saved_outs = ([SavedTensor(outputs[k], True, k) for k in op.saved_outputs()]
                            if op.save_out and _saves(save_for, needs, "out") else None)

    def _diff_mask(self, n):
        d = self.op.differentiable
        return [d is None or i in d for i in range(n)]

    # torch's public surface -------------------------------------------------------------
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        # torch's C++ nodes print without their namespace: <CopySlices object at 0x...>
        return f"<{self._name.rpartition('::')[2]} object at {hex(id(self))}>"

    # torch exposes what a node saved as `grad_fn._saved_self`, `_saved_result`, ...
    _SAVED_NAMES = {"self": 0, "input": 0, "other": 1, "exponent": 1, "mat2": 1, "vec": 1,
                    "target": 1, "index": 1, "condition": 0, "weight": 2,
                    "pos_weight": 3}

    def _named_input(self, key: str):
        """The input position torch names `key` (`self`, `mat2`, ...), or None."""
        names = self.op.saved_names
        if names is not None:
            pos = names.get(key)
            return pos if isinstance(pos, int) else None
        pos = self._SAVED_NAMES.get(key)
        # (only the name torch's node gives that input: it refuses the others)
        return pos if (pos, key) in self._input_names() else None

    def _named_output(self, key: str):
        """The index in ctx.outs of the output torch names `key` (`result`, `result1`,
        `indices`, ...), or None."""
        names = self.op.saved_names or {}
        named = names.get(key)
        nr = named[1] if isinstance(named, tuple) else 0 if key == "result" else (
            int(key[6:]) if key[:6] == "result" and key[6:].isdigit() else None)
        if named is None and any(isinstance(v, tuple) and v[1] == nr for v in names.values()):
            return None  # (torch names that output otherwise: max's `indices`)
        for i, saved in enumerate(self._saved_outs or ()):
            if saved.output_nr == nr:
                return i
        return None

    def __getattr__(self, name):
        if name.startswith(("_saved_", "_raw_saved_")) and self._freed and \
                self._listed is not None and name not in self._freed_names():
            read = None  # (what it never saved: freed, it cannot tell by what it has)
        elif name.startswith("_raw_saved_"):  # the saved tensor itself (register_hooks)
            read = self._raw_reader(name[len("_raw_saved_"):])
        elif name.startswith("_saved_"):
            read = self._reader(name[len("_saved_"):])
        else:
            read = None
        if read is None:
            raise AttributeError(
                f"'{self._name.rpartition('::')[2]}' object has no attribute '{name}'")
        return read()

    def _raw_reader(self, key: str):
        """What gives grad_fn._raw_saved_<key>, or None where torch's node has none: one for
        each tensor it has a `_saved_<key>` for, saved or not (None)."""
        out = self._named_output(key)
        pos = self._named_input(key)
        saved = self._saved_outs[out] if out is not None else self._saved.get(pos)
        if saved is not None or (self._freed and (key == "result" or pos is not None)) or (
                self._has_slot(pos) and (
                    self._consts.get(pos) is None or self.op.number_operands)):
            # (a number torch keeps as a Scalar, not wrapped in a tensor, has none)
            return lambda: RawSavedTensor(self, saved)
        return None

    def _reader(self, key: str):
        """What gives grad_fn._saved_<key>, or None where torch's node has none."""
        out = self._named_output(key)
        if out is not None or (self._freed and (key == "result" or isinstance(
                (self.op.saved_names or {}).get(key), tuple))):
            return lambda: self.context().outs[out or 0]
        pos = self._named_input(key)
        if pos in self._consts and self.op.number_operands and not self._freed:
            return lambda: _wrapped_number(self._consts[pos])
        if pos is not None and (pos in self._saved or pos in self._consts or self._freed):
            return lambda: self.context()[pos]
        if self._has_slot(pos):  # not needed: torch saved none
            return lambda: None
        return saved_arg_reader(self, key)  # (a dim, a size, a flag: never freed)

    def _has_slot(self, pos) -> bool:
        """Whether torch's node of this form has a saved tensor for input `pos` (None where
        no gradient needed it): its op saves it for a gradient of an input this form has,
        or always (lerp by a number saves neither end, upsampling saves nothing)."""
        if pos not in self.op.save or pos >= len(self._metas):
            return False
        if self._save_for is None:
            return True
        return any(pos in saved and (k == ALWAYS or isinstance(k, int) and k < len(self._metas))
                   for k, saved in self._save_for.items())

    def __dir__(self):
        """With the `_saved_<name>` and `_raw_saved_<name>` attributes this node answers,
        one name for each thing saved, as torch's node lists its own (its own slots of
        saved state aside)."""
        names = self._freed_names() if self._freed and self._listed is not None else \
            self._saved_attributes()
        # (its own slots and helpers named like them are not torch's: _saved, _raw_reader)
        own = {n for n in object.__dir__(self) if not n.startswith(("_saved", "_raw"))}
        return sorted(own | set(names))

    def _saved_attributes(self) -> list:
        """The `_saved_<name>` and `_raw_saved_<name>` attributes this node answers."""
        keys = [name for pos, name in self._input_names()
                if self._named_input(name) == pos]  # (not another position's alias)
        keys += self._output_names() + saved_arg_names(self)
        names = [f"_saved_{k}" for k in keys if self._reader(k) is not None]
        return names + [f"_raw_saved_{k}" for k in keys if self._raw_reader(k) is not None]

    def _freed_names(self) -> list:
        """The `_saved_*` names this node answered before a backward freed what it saved:
        taken from what it held, by key (`_listed`), the first time they are asked for (a
        backward frees many nodes, whose names are seldom asked)."""
        if isinstance(self._listed, tuple):
            freed = self._saved, self._consts, self._saved_outs
            (self._saved, self._consts, self._saved_outs), self._freed = self._listed, False
            try:
                self._listed = self._saved_attributes()
            finally:
                (self._saved, self._consts, self._saved_outs), self._freed = freed, True
        return self._listed

    def _input_names(self) -> list:
        """(position, torch's name) of each input this node may save: its op's own names, or
        the usual ones by position (where's first input its `condition`; the second a
        loss's `target`, an indexing op's `index`, pow's `exponent`, ...)."""
        names = self.op.saved_names
        if names is not None:
            return [(v, k) for k, v in names.items() if isinstance(v, int)]
        if self._name in ("IndexBackward0", "IndexPutBackward0"):
            return []  # (its index tensors are `_saved_indices`, a list)
        if self._name.startswith("Where"):
            return list(enumerate(["condition", "self", "other"]))
        second = "target" if "Loss" in self._name or self._name.startswith(
            "BinaryCrossEntropy") else next((key for prefixes, key in _SECOND_INPUT
                                             if self._name.startswith(prefixes)), "other")
        return list(enumerate(["self", second, "weight", "pos_weight"]))

    def _output_names(self) -> list:
        """torch's name for each output it may save: its op's own names, or result, resultK."""
        named = {v[1]: k for k, v in (self.op.saved_names or {}).items() if isinstance(v, tuple)}
        return [named.get(k, f"result{k}" if k else "result") for k in range(self.n_outputs)]

    # the engine's surface ---------------------------------------------------------------
    def has_saved(self) -> bool:
        # A Python number the VJP reads is a saved (wrapped-number) tensor in torch.
        return bool(self._saved) or bool(self._consts) or bool(self._saved_outs)

    def save_original(self, tensor) -> None:
        """`tensor` is about to be modified in place by the op this node records: keep
        its current value for the VJP, as torch keeps `original_self`. Only `self` (input
        0): the same tensor passed again as another input stays saved as it is, so its
        version is checked (`a.mul_(a)` then backward raises, as in torch)."""
        saved = self._saved.get(0)
        if saved is not None and saved.pack_after_write is not None and saved.tensor is tensor:
            hooks, saved.pack_after_write = saved.pack_after_write, None  # (it waited)
            self._saved[0] = SavedTensor(tensor._snapshot())
            self._saved[0].pack(hooks, self._saved[0].tensor)
        elif saved is not None and saved.hooks is not None:
            if saved.origin() is tensor:  # (packed before the write: packed again, a copy)
                self._saved[0] = SavedTensor(tensor._snapshot())
                self._saved[0].pack(saved.hooks, self._saved[0].tensor)
        elif saved is not None and saved.tensor is tensor:
            self._saved[0] = SavedTensor(tensor._snapshot())
        elif saved is not None and saved.tensor._stands_for is tensor:
            # The op ran on a copy of it (moved where the op ran): the copy keeps the
            # original values, so it no longer answers for the tensor's version.
            self._saved[0] = SavedTensor(saved.tensor._alias())
        saved_hooks.pack_waiting_inputs()  # (other ops' saved inputs: before the write)

    def pack_saved(self, hooks, outputs) -> None:
        """Pass what this node saved through saved-tensor hooks: inputs, then outputs
        (given with their grad_fn), in torch's order (OpDef.pack_order)."""
        for i in self.packing_order():
            if not (i == 0 and saved_hooks.defers(self._saved[i], hooks)):
                self._saved[i].pack(hooks, self._saved[i].tensor)
        waiting = saved_hooks.waiting_for_write()
        for saved in self._saved_outs or ():
            if waiting is not None:  # (an in-place op's result: packed once written)
                saved.pack_after_write = hooks
                waiting.append((saved, hooks, outputs[saved.output_nr]))
            else:
                saved.pack(hooks, outputs[saved.output_nr])

    def packing_order(self) -> list:
        """The positions of its saved inputs, in the order torch's node saves them."""
        order = self.op.pack_order
        if order is None:
            return sorted(self._saved, reverse=True)
        return [i for i in order if i in self._saved]

    def saved_outputs_follow(self, base) -> None:
        """Its outputs were written into `base` (SavedTensor.follow)."""
        for saved in self._saved_outs or ():
            saved.follow(base)

    def context(self):
        if self._freed:
            raise RuntimeError(FREED)
        ctx = VJPContext()
        inputs = [None] * len(self._metas)
        for i, s in self._saved.items():
            inputs[i] = s
        for i, v in self._consts.items():
            inputs[i] = v
        ctx._inputs = _Saved(inputs, self)
        ctx.outs = _Saved(list(self._saved_outs), self) if self._saved_outs else None
        ctx.attrs = self.attrs
        ctx.shapes = [m[0] if m else () for m in self._metas]
        ctx.dtypes = [m[1] if m else None for m in self._metas]
        ctx.devices = [m[2] if m else None for m in self._metas]
        needs = [False] * len(self._metas)
        for slot, (child, _) in zip(self._slots, self.next_functions):
            needs[slot] = child is not None
        ctx.needs = needs
        return ctx

    def apply(self, grads, wanted=None):
        """Input gradients, one per next_functions entry, from output gradients (only those
        whose edge leads to a node in `wanted`, when given)."""
        ctx = self.context()
        if any(s.hooks is not None for s in self._saved.values()) or any(
                s.hooks is not None for s in self._saved_outs or ()):
            _unpack_all(self, ctx)
        # torch's node unpacks, and so checks, all it saved when it runs, whichever gradients
        # are asked for and whichever of its tensors their formulas read.
        for saved in itertools.chain(self._saved.values(), self._saved_outs or ()):
            if saved.hooks is None:
                saved.check(self)
        if wanted is not None:
            for slot, (child, _) in zip(self._slots, self.next_functions):
                if child is not None and child not in wanted:
                    ctx.needs[slot] = False
        result = self.op.vjp(ctx, *grads)
        if not isinstance(result, (tuple, list)):
            result = (result,)
        # (a gradient not needed is None, whatever the rule gave: torch's node computes none,
        # and its post-hooks see None)
        needs = ctx.needs
        return [result[slot] if slot < len(result) and needs[slot] else None
                for slot in self._slots]

    def release(self) -> None:
        """Drop saved tensors (end of a backward without retain_graph). torch's CopySlices
        drops the written op's node it holds, whatever that saved: it runs once only."""
        if self.has_saved() or self._name == COPY_SLICES:
            # (torch's node lists them still: the names are taken if asked, from the keys)
            self._listed = (dict.fromkeys(self._saved, _HELD),
                            {k: None if v is None else _HELD for k, v in self._consts.items()},
                            [_HeldOutput(s.output_nr) for s in self._saved_outs or ()])
            self._saved = {}
            self._consts = {}
            self._saved_outs = None
            self._freed = True
            self._remote = None

    def spent_twin(self):
        """A node like this one, whose saved state a backward freed, with none of its hooks
        or notes: a replayed compiled step's output's (compiled.py), as each eager call of
        the step makes its own. It leads to the same nodes."""
        twin = object.__new__(type(self))
        for name in _COPIED_SLOTS:
            value = getattr(self, name, _UNSET)
            if value is not _UNSET:
                setattr(twin, name, value)
        twin._seq = next(_sequence)
        twin._tensor_pre_hooks = twin._retain_grad = twin._hooks = twin._pre_hooks = None
        return twin


# The name torch's nodes give their second input (OpNode._input_names), by node name.
_SECOND_INPUT = ((("Gather", "Scatter", "Index", "Take", "Put"), "index"),
                 (("Pow",), "exponent"), (("Mm", "Bmm"), "mat2"), (("Mv",), "vec"))
_UNSET = object()
_HELD = object()  # (stands for a saved tensor or number a freed node held: _freed_names)


class _HeldOutput:
    """Stands for a saved output a freed node held (_freed_names)."""

    __slots__ = ("output_nr",)

    def __init__(self, output_nr: int):
        self.output_nr = output_nr
_COPIED_SLOTS = tuple(n for n in OpNode.__slots__ if n not in ("_metadata", "__weakref__"))

_NODE_CLASSES: dict = {}


def node_class(name: str) -> type:
    """The OpNode subclass a node of this name is made as: torch gives every kind of node its
    own class, and code dispatches on `type(grad_fn).__name__` ("MulBackward0")."""
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        short = name.rpartition("::")[2]  # torch::autograd::CopySlices -> CopySlices
        cls = _NODE_CLASSES[name] = type(short, (OpNode,), {"__slots__": (), "__qualname__": short,
                                                          "__module__": OpNode.__module__})
    return cls


class AccumulateGrad:
    """The node behind a leaf that requires grad: adds incoming gradient into `.grad`."""

    __slots__ = ("variable", "next_functions", "_seq", "_hooks", "_pre_hooks", "n_outputs",
                 "_out_metas", "_metadata", "_inline", "__weakref__")

    _name = "AccumulateGrad"
    priority = float("inf")  # torch runs AccumulateGrad as soon as it is ready

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()
        self._seq = self.priority
        self._inline = False  # a sharded leaf's part's: run by its leaf's join (sharding.py)
        self._hooks = None
        self._pre_hooks = None
        self.n_outputs = 1
        # the leaf as it was when the node was made: a gradient is checked against this shape
        # while the node lives, even after out= resized the leaf (torch's input metadata)
        self._out_metas = ((variable.shape, variable.dtype, variable.device_str),)

    def input_nr_for(self, variable) -> int:
        return 0

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"

    @property
    def device(self):
        return self.variable.device

    register_hook = OpNode.register_hook
    register_prehook = OpNode.register_prehook
    metadata = NodeHooks.metadata

    def has_saved(self) -> bool:
        return False

    def release(self) -> None:
        pass


class Node(abc.ABC):
    """torch.autograd.graph.Node: the type every node of a graph is an instance of (a
    recorded op's, AccumulateGrad, a custom Function's, CopySlices, a sharded tensor's),
    which none of them subclasses: each kind is registered (`Node.register`), as torch's
    C++ node classes are recognised, so that the engine's own checks stay plain ones."""

    @abc.abstractmethod
    def name(self) -> str:
        """The node's name ("MulBackward0")."""

    @property
    @abc.abstractmethod
    def next_functions(self) -> tuple:
        """(node, input number) for each of its inputs."""

    @property
    @abc.abstractmethod
    def metadata(self) -> dict:
        """A dict kept with the node, for the user's own notes."""

    @abc.abstractmethod
    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) after the node ran."""

    @abc.abstractmethod
    def register_prehook(self, fn):
        """fn(grad_outputs) before the node runs."""


Node.register(OpNode)
Node.register(AccumulateGrad)


# torch.autograd.graph's public names kept in modules of their own
from .saved_hooks import (allow_mutation_on_saved_tensors,  # noqa: E402,F401
                          disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks)
from .multi_grad import _MultiHandle, register_multi_grad_hook  # noqa: E402,F401
from .edges import GradientEdge, get_gradient_edge, increment_version  # noqa: E402,F401

for _public in (allow_mutation_on_saved_tensors, disable_saved_tensors_hooks, save_on_cpu,
                saved_tensors_hooks, _MultiHandle, register_multi_grad_hook, GradientEdge,
                get_gradient_edge, increment_version):
    _public.__module__ = __name__  # (where torch's are, and pickle finds them)
