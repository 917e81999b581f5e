"""Recurrent layers as torch's: RNNCell, LSTMCell, GRUCell and the stacked, optionally
bidirectional RNN, LSTM and GRU over a sequence.

Each time step is composed of existing differentiable ops (linear, sigmoid, tanh, chunk), so
autograd needs no rule of its own. As torch's CPU kernel does, a layer projects the whole
input sequence in one `linear` and only the hidden-to-hidden product runs step by step.
Parameters have torch's names, shapes and order, so a torch state_dict loads as it is.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from typing import Optional

from .. import autocast_state, dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from ..backends import mkldnn
from ..distributed.sharding import is_sharded
from ..creation import empty, zeros
from ..ops.cpu_features import onednn_computes
from ..ops.functions import cat, stack
from ..tensor import Tensor, _warn_once
from . import functional as F
from . import init
from .modules import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


# ---- one time step --------------------------------------------------------------------------
# A step takes the input's projection gi = x W_ihᵀ + b_ih and the state (a tuple: (h,) or
# (h, c)) and returns the next state; its first element is the step's output. Each adds and
# chunks as torch's CPU cells do (the hidden projection first, then gi; unsafe_chunk), which
# their graphs show.

def _tanh_step(gi, state, w_hh, b_hh, w_hr=None):
    return (F.tanh(F.linear(state[0], w_hh, b_hh) + gi),)


def _relu_step(gi, state, w_hh, b_hh, w_hr=None):
    return (F.relu(F.linear(state[0], w_hh, b_hh) + gi),)


def _lstm_step(gi, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (F.linear(h, w_hh, b_hh) + gi).unsafe_chunk(4, -1)  # torch's gate order
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    return (h if w_hr is None else F.linear(h, w_hr), c)


def _gru_step(gi, state, w_hh, b_hh, w_hr=None):
    h = state[0]
    i_r, i_z, i_n = gi.unsafe_chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).unsafe_chunk(3, -1)
    r = F.sigmoid(h_r + i_r)
    z = F.sigmoid(h_z + i_z)
    n = F.tanh(i_n + h_n * r)  # b_hn sits inside the reset product, as in torch
    return ((h - n) * z + n,)


_STEPS = {"RNN_TANH": _tanh_step, "RNN_RELU": _relu_step, "LSTM": _lstm_step, "GRU": _gru_step}


def _onednn_takes(dtype) -> bool:
    """torch's use_mkldnn for a recurrent layer's input dtype: float32, and float16 or
    bfloat16 where this CPU's oneDNN computes in them (float16 only without grad mode)."""
    if dtype is dtypes.float32:
        return True
    if dtype is dtypes.float16 and grad_mode.is_grad_enabled():
        return False
    return dtype in (dtypes.bfloat16, dtypes.float16) and onednn_computes(dtype.name)
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _scan(step, gi: Tensor, state: tuple, weights: tuple, reverse: bool):
    """Run `step` over the (L, N, G) projections, backwards for reverse: the (L, N, H) outputs
    in time order and the final state."""
    steps = gi.unbind(0)
    outs = [None] * len(steps)
    for t in (reversed(range(len(steps))) if reverse else range(len(steps))):
        state = step(steps[t], state, *weights)
        outs[t] = state[0]
    return stack(outs), state


def _packed_scan(step, gi: Tensor, state: tuple, weights: tuple, reverse: bool,
                 batch_sizes: list):
    """`_scan` over packed (sum of batch_sizes, G) projections, as torch's packed layers: a
    sequence that has ended keeps its state (going forward its rows leave the running state;
    backwards they join it when the sequence starts). Returns the packed (sum, H) outputs
    and each sequence's last state."""
    offsets = [0]
    for n in batch_sizes:
        offsets.append(offsets[-1] + n)
    outs = [None] * len(batch_sizes)
    if not reverse:
        ended = []  # states of the sequences that ended, the latest first
        for t, n in enumerate(batch_sizes):
            if n < state[0].shape[0]:
                ended.insert(0, tuple(s[n:] for s in state))
                state = tuple(s[:n] for s in state)
            state = step(gi[offsets[t]:offsets[t + 1]], state, *weights)
            outs[t] = state[0]
        finals = tuple(cat([s] + [e[k] for e in ended]) if ended else s
                       for k, s in enumerate(state))
        return cat(outs), finals
    initial, state = state, tuple(s[:batch_sizes[-1]] for s in state)
    for t in reversed(range(len(batch_sizes))):
        n, have = batch_sizes[t], state[0].shape[0]
        if n > have:
            state = tuple(cat([s, s0[have:n]]) for s, s0 in zip(state, initial))
        state = step(gi[offsets[t]:offsets[t + 1]], state, *weights)
        outs[t] = state[0]
    return cat(outs), state


def _mini_batch(module: Module, input: Tensor, batch_sizes) -> int:
    if batch_sizes is not None:
        return int(batch_sizes[0])
    return input.shape[0] if module.batch_first else input.shape[1]


def _uniform_init(module: Module) -> None:
    """torch's: every parameter uniform in ±1/sqrt(hidden_size)."""
    stdv = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for weight in module.parameters():
        init.uniform_(weight, -stdv, stdv)


# ---- sequence layers ------------------------------------------------------------------------

class RNNBase(Module):
    """What RNN, LSTM and GRU share: torch's parameters weight_ih_l{k}[_reverse], weight_hh_…,
    bias_ih_…, bias_hh_… (and LSTM's weight_hr_… with proj_size), and the forward pass."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        _check_rnn_args(dropout, num_layers, bias, batch_first, input_size, hidden_size,
                        proj_size)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
            for direction in range(num_directions):
                shapes = {"weight_ih": (gate_size, layer_input_size),
                          "weight_hh": (gate_size, real_hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for stem, shape in shapes.items():
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_init(self)

    def flatten_parameters(self) -> None:
        """A no-op, as torch's is off cuDNN."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_weights(self, k: int) -> tuple:
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of layer-direction k, None where there is none."""
        names = {n.rsplit("_l", 1)[0]: n for n in self._all_weights[k]}
        return tuple(getattr(self, names[stem]) if stem in names else None
                     for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    # ---- checks, in torch's words ----------------------------------------------------------------
    def check_input(self, input: Tensor, batch_sizes=None) -> None:
        weight = self._flat_weights[0]
        if input.dtype is not weight.dtype and not autocast_state.any_enabled():
            # (under autocast torch lets the casts of the ops inside decide)
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or "
                             f"convert model: model.to({input.dtype})")
        expected_ndim = 2 if batch_sizes is not None else 3
        if input.ndim != expected_ndim:
            raise RuntimeError(f"input must have {expected_ndim} dimensions, got {input.ndim}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes=None) -> tuple:
        mini_batch = _mini_batch(self, input, batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch,
                self.proj_size if self.proj_size > 0 else self.hidden_size)

    def check_hidden_size(self, hx: Tensor, expected_hidden_size: tuple,
                          msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.shape)))

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes=None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    # ---- forward ---------------------------------------------------------------------------------
    def _zeros(self, input: Tensor, size: int) -> Tensor:
        num_directions = 2 if self.bidirectional else 1
        batch = input.shape[0] if self.batch_first else input.shape[1]
        return zeros(self.num_layers * num_directions, batch, size, dtype=input.dtype,
                     device=input.device)

    def _initial_state(self, input: Tensor, hx, batched: bool) -> tuple:
        """hx as a tuple of (layers·directions, N, H) tensors, checked as torch checks it."""
        if hx is None:
            return (self._zeros(input, self.hidden_size),)
        if batched and hx.dim() != 3:  # (.dim(), as torch's: a tuple for a GRU's h says so)
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                               f"{hx.dim()}-D tensor")
        if not batched and hx.dim() != 2:
            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got "
                               f"{hx.dim()}-D tensor")
        return (hx if batched else hx.unsqueeze(1),)

    def _check_state(self, input: Tensor, state: tuple) -> None:
        self.check_forward_args(input, state[0], None)

    def forward(self, input: Tensor, hx=None):
        """(output, h_n), or for LSTM (output, (h_n, c_n)); input (L, N, H_in), (N, L, H_in)
        with batch_first, or unbatched (L, H_in)."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.ndim not in (2, 3):
            raise ValueError(self._ndim_error.format(input.ndim))
        batched = input.ndim == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        state = self._initial_state(input, hx, batched)
        self._check_state(input, state)
        x = input.transpose(0, 1) if self.batch_first else input
        output, finals = self._layers(x, state)
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(batch_dim)
            finals = tuple(f.squeeze(1) for f in finals)
        return output, (finals if self.mode == "LSTM" else finals[0])

    def _forward_packed(self, input: PackedSequence, hx):
        """A packed output and the final states, in the sequences' original order."""
        data, batch_sizes, sorted_indices, unsorted_indices = input
        sizes = [int(n) for n in batch_sizes.tolist()]
        if hx is None:
            widths = ((self.proj_size or self.hidden_size, self.hidden_size)
                      if self.mode == "LSTM" else (self.hidden_size,))
            layers = self.num_layers * (2 if self.bidirectional else 1)
            state = tuple(zeros(layers, sizes[0], w, dtype=data.dtype, device=data.device)
                          for w in widths)
        else:
            hx = tuple(hx) if self.mode == "LSTM" else (hx,)
            state = tuple(h if sorted_indices is None else h.index_select(1, sorted_indices)
                          for h in hx)
        self.check_forward_args(data, state if self.mode == "LSTM" else state[0], batch_sizes)
        output, finals = self._layers(data, state, sizes)
        if unsorted_indices is not None:
            finals = tuple(f.index_select(1, unsorted_indices) for f in finals)
        output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return output, (finals if self.mode == "LSTM" else finals[0])

    def _layers(self, x: Tensor, state: tuple, batch_sizes: Optional[list] = None):
        """The stacked layers over (L, N, H_in), or packed (sum of batch_sizes, H_in) data:
        the last layer's output and the final states stacked as (layers·directions, N, H),
        layer-major as torch lays them out."""
        if batch_sizes is None and x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        step = _STEPS[self.mode]
        num_directions = 2 if self.bidirectional else 1
        finals = [[] for _ in state]
        onednn = self._onednn(x, state, batch_sizes)
        # Under CPU autocast torch casts mkldnn_rnn_layer's operands ("lower" list): input,
        # states and weights in the autocast dtype, and nothing inside cast again.
        low = (autocast_state.get_dtype("cpu") if onednn and autocast_state.active()
               else None)
        if low is not None and (not onednn_computes(low.name) or (
                low is dtypes.float16 and grad_mode.is_grad_enabled())):
            # (oneDNN has no LSTM in that dtype on this CPU, nor a float16 one to train
            # with, which torch asks for in grad mode: torch fails, in its words)
            raise RuntimeError(
                "could not create a primitive descriptor for the LSTM forward propagation "
                "primitive. Run workload with environment variable ONEDNN_VERBOSE=all to "
                "get additional diagnostic information.")
        with (autocast_state.suspended() if low is not None else contextlib.nullcontext()):
            return self._stacked(step, x, state, batch_sizes, num_directions, finals, low,
                                 onednn)

    def _onednn(self, x: Tensor, state: tuple, batch_sizes) -> bool:
        """Does torch's lstm give this input to oneDNN? Where its use_mkldnn takes the
        input (unpacked, non-empty, a dtype oneDNN takes) and the LSTM has no projections;
        sharded operands keep distgrad's cells."""
        if (self.mode != "LSTM" or batch_sizes is not None or not mkldnn.enabled
                or x.numel() == 0 or not _onednn_takes(x.dtype)):
            return False
        if self.proj_size:
            _warn_once("LSTM with projections is not supported with oneDNN. Using default "
                       "implementation.", "native/RNN.cpp:1512")
            return False
        return not any(is_sharded(t) for t in (x, *state, *self._flat_weights))

    def _onednn_layer(self, x: Tensor, state: tuple, k: int, reverse: bool, low) -> tuple:
        """Layer-direction k through torch's mkldnn_rnn_layer: (output, (h_n, c_n))."""
        w_ih, w_hh, b_ih, b_hh, _ = self._layer_weights(k)
        if not self.bias:  # (torch passes zeros shaped as weight_ih for the biases)
            b_ih = b_hh = zeros(w_ih.shape, dtype=w_ih.dtype, device=w_ih.device)
        operands = (x, w_ih, w_hh, b_ih, b_hh, state[0][k], state[1][k])
        if low is not None:  # (a weight cast once per autocast region, as torch caches it)
            operands = autocast_state._cast(operands, low)
        out, h, c, _ = call("mkldnn_rnn_layer", *operands, reverse=reverse, batch_sizes=[],
                            mode=2, hidden_size=self.hidden_size, num_layers=self.num_layers,
                            has_biases=self.bias, bidirectional=self.bidirectional,
                            batch_first=self.batch_first, train=self.training)
        return out, (h, c)

    def _stacked(self, step, x, state, batch_sizes, num_directions, finals, low, onednn):
        # (oneDNN's layers select hx[k]; torch's cells unbind the initial states)
        rows = state if onednn else tuple(s.unbind(0) for s in state)
        for layer in range(self.num_layers):
            outs = []
            if onednn:
                x = x.contiguous()  # (as torch's lstm_mkldnn gives oneDNN its input)
            for direction in range(num_directions):
                k = layer * num_directions + direction
                if onednn:
                    out, last = self._onednn_layer(x, state, k, direction == 1, low)
                else:
                    w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(k)
                    args = (step, F.linear(x, w_ih, b_ih), tuple(r[k] for r in rows),
                            (w_hh, b_hh, w_hr), direction == 1)
                    out, last = (_scan(*args) if batch_sizes is None
                                 else _packed_scan(*args, batch_sizes))
                outs.append(out)
                for kept, s in zip(finals, last):
                    kept.append(s)
            x = outs[0] if num_directions == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, tuple(stack(f) for f in finals)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)


def _check_rnn_args(dropout, num_layers, bias, batch_first, input_size, hidden_size,
                    proj_size) -> None:
    if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or \
            isinstance(dropout, bool):
        raise ValueError("dropout should be a number in range [0, 1] representing the "
                         "probability of an element being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                      "non-zero dropout expects num_layers greater than 1, but got "
                      f"dropout={dropout} and num_layers={num_layers}", stacklevel=4)
    for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                              ("input_size", input_size, int),
                              ("hidden_size", hidden_size, int)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} should be of type {kind.__name__}, got: "
                            f"{type(value).__name__}")
        if kind is int and value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), or relu.
    `RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)`."""

    _ndim_error = "RNN: Expected input to be 2D or 3D, got {}D tensor instead"

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, torch's gates i, f, g, o; with proj_size > 0 the hidden state
    is projected by weight_hr. Returns (output, (h_n, c_n))."""

    _ndim_error = "LSTM: Expected input to be 2D or 3D, got {}D instead"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input: Tensor, batch_sizes=None) -> tuple:
        mini_batch = _mini_batch(self, input, batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    def check_forward_args(self, input: Tensor, hidden: tuple, batch_sizes=None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def _initial_state(self, input: Tensor, hx, batched: bool) -> tuple:
        if hx is None:
            return (self._zeros(input, self.proj_size or self.hidden_size),
                    self._zeros(input, self.hidden_size))
        want = 3 if batched else 2
        if hx[0].dim() != want or hx[1].dim() != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
        return tuple(hx) if batched else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))

    def _check_state(self, input: Tensor, state: tuple) -> None:
        self.check_forward_args(input, state, None)


class GRU(RNNBase):
    """Gated recurrent unit, torch's gates r, z, n (b_hn inside the reset product)."""

    _ndim_error = "GRU: Expected input to be 2D or 3D, got {}D instead"

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---- cells ----------------------------------------------------------------------------------

def _check_states(hx, num_states: int, op: str) -> None:
    """A batched step's states as torch's kernel takes them: a tuple (or list) of them."""
    if not isinstance(hx, (tuple, list)):
        raise TypeError(f"{op}(): argument 'hx' (position 2) must be tuple of Tensors, not "
                        f"{type(hx).__name__}")
    if len(hx) != num_states:
        raise RuntimeError(f"{op} expects two hidden states")


class RNNCellBase(Module):
    """One step: weight_ih (chunks·hidden, input), weight_hh (chunks·hidden, hidden), and
    bias_ih, bias_hh when bias."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(rows, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(rows, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(rows, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(rows, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_init(self)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _step(self, step, input: Tensor, hx, kind: str) -> tuple:
        """Check (in torch's words, kind names the layer), batch an unbatched step, run it."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for k, h in enumerate(() if hx is None else hx):
            if h.dim() not in (1, 2):  # (.dim(), as torch's: a tuple for a GRU's h says so)
                label = f"hx[{k}]" if kind == "LSTM" else "hidden"
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {h.dim()}D "
                                 "instead")
        batched = input.ndim == 2
        num_states = 2 if kind == "LSTM" else 1
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = (zeros(input.shape[0], self.hidden_size, dtype=input.dtype,
                        device=input.device),) * num_states
        elif not batched:
            hx = tuple(hx[k].unsqueeze(0) for k in range(num_states))
        else:
            _check_states(hx, num_states, f"{kind.lower()}_cell")
        self._check_cell(input, hx)
        out = step(F.linear(input, self.weight_ih, self.bias_ih), tuple(hx), self.weight_hh,
                   self.bias_hh)
        return out if batched else tuple(o.squeeze(0) for o in out)

    def _check_cell(self, input: Tensor, hx: tuple) -> None:
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        for k, h in enumerate(hx):
            if input.shape[0] != h.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} "
                                   f"batch size {h.shape[0]}")
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {h.shape[1]}, "
                                   f"expected {self.hidden_size}")


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), or relu."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        step = _tanh_step if self.nonlinearity == "tanh" else _relu_step
        return self._step(step, input, None if hx is None else (hx,), "RNN")[0]


class LSTMCell(RNNCellBase):
    """(h', c') from input and (h, c); gates i, f, g, o as torch's."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None) -> tuple:
        return self._step(_lstm_step, input, hx, "LSTM")


class GRUCell(RNNCellBase):
    """h' from input and h; gates r, z, n as torch's."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        return self._step(_gru_step, input, None if hx is None else (hx,), "GRU")[0]
