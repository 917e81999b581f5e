"""nn.RNN, LSTM, GRU and their cells against torch's: torch's state_dict loaded into distgrad's
module, then the output, the final hidden (and cell) states and the gradients of the input,
of the initial states and of every parameter compared; parameter names, shapes, order and
reprs; dropout between layers; the errors for wrong sizes, in torch's words."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn

from module_twin import ATOL, RTOL, arr, as_np, assert_match, run_pair
from torch_twin import graph, same


def run_rnn(make, x, states=None, train=False):
    """run_pair for a recurrent module: input x and, unless None, the initial states (h0,)
    or (h0, c0)."""
    arrays = {"x": x}
    arrays.update({f"state{k}": s for k, s in enumerate(states or ())})

    def call(mod, lib, t):
        hs = [t[f"state{k}"] for k in range(len(states or ()))]
        if not hs:
            return mod(t["x"])
        return mod(t["x"], hs[0] if len(hs) == 1 else tuple(hs))

    return run_pair(make, arrays, call, train)


# ---- sequence layers against torch ----------------------------------------------------------
L, N, IN, H = 5, 3, 4, 6

LAYER_CASES = {
    "rnn_tanh_2layers": (lambda nn: nn.RNN(IN, H, 2), (L, N, IN), None),
    "rnn_relu_bidirectional_h0": (lambda nn: nn.RNN(IN, H, nonlinearity="relu",
                                                    bidirectional=True), (L, N, IN), [(2, N, H)]),
    "rnn_positional_nonlinearity_unbatched": (lambda nn: nn.RNN(IN, H, 1, "relu"), (L, IN),
                                              [(1, H)]),
    "lstm_2layers_bidirectional_batch_first_h0c0": (
        lambda nn: nn.LSTM(IN, H, 2, batch_first=True, bidirectional=True), (N, L, IN),
        [(4, N, H), (4, N, H)]),
    "lstm_unbatched_h0c0": (lambda nn: nn.LSTM(IN, H), (L, IN), [(1, H), (1, H)]),
    "lstm_unbatched_batch_first_zeros": (lambda nn: nn.LSTM(IN, H, 2, batch_first=True),
                                         (L, IN), None),
    "lstm_no_bias": (lambda nn: nn.LSTM(IN, H, bias=False), (L, N, IN), None),
    "lstm_proj_bidirectional_h0c0": (lambda nn: nn.LSTM(IN, H, 2, proj_size=3,
                                                        bidirectional=True), (L, N, IN),
                                     [(4, N, 3), (4, N, H)]),
    "lstm_dropout_eval": (lambda nn: nn.LSTM(IN, H, 3, dropout=0.5), (L, N, IN), None),
    "gru_2layers_bidirectional_h0": (lambda nn: nn.GRU(IN, H, 2, bidirectional=True),
                                     (L, N, IN), [(4, N, H)]),
    "gru_batch_first_no_bias": (lambda nn: nn.GRU(IN, H, batch_first=True, bias=False),
                                (N, L, IN), None),
    "gru_unbatched_bidirectional": (lambda nn: nn.GRU(IN, H, bidirectional=True), (L, IN),
                                    [(2, H)]),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layer_matches_torch(name):
    make, x_shape, state_shapes = LAYER_CASES[name]
    states = None if state_shapes is None else [arr(*s, seed=2 + k)
                                                for k, s in enumerate(state_shapes)]
    pairs = run_rnn(make, arr(*x_shape, seed=1), states)
    assert_match(pairs)
    if state_shapes is not None:
        for k, s in enumerate(state_shapes):  # final states have the initial states' shapes
            assert pairs[f"result{k + 1}"][0].shape == s


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_between_layers_in_train_mode(p):
    """p=0 is no dropout; p=1 zeroes every layer's output but the last one's: both leave
    nothing to chance, so torch's values are the check of where dropout goes."""
    assert_match(run_rnn(lambda nn: nn.GRU(IN, H, 3, dropout=p), arr(L, N, IN, seed=1),
                         train=True))


def test_dropout_between_layers_is_random_and_train_only():
    lstm = dnn.LSTM(IN, H, 2, dropout=0.5)
    x = distgrad.tensor(arr(L, N, IN, seed=1))
    lstm.eval()
    plain = as_np(lstm(x)[0])
    lstm.train()
    distgrad.manual_seed(3)
    first = as_np(lstm(x)[0])
    distgrad.manual_seed(3)
    again = as_np(lstm(x)[0])
    np.testing.assert_array_equal(first, again)  # the masks come from manual_seed's stream
    assert not np.allclose(first, plain)
    # the first layer's output is what is dropped: half its elements, so the second layer's
    # input (and the final layer-0 state) differ, the last layer's output is not zeroed
    assert (first != 0).mean() > 0.99


# ---- cells against torch --------------------------------------------------------------------

CELL_CASES = {
    "rnncell_tanh_hx": (lambda nn: nn.RNNCell(IN, H), (N, IN), [(N, H)]),
    "rnncell_relu_zeros": (lambda nn: nn.RNNCell(IN, H, nonlinearity="relu"), (N, IN), None),
    "rnncell_unbatched_no_bias": (lambda nn: nn.RNNCell(IN, H, bias=False), (IN,), [(H,)]),
    "lstmcell_hx": (lambda nn: nn.LSTMCell(IN, H), (N, IN), [(N, H), (N, H)]),
    "lstmcell_unbatched_zeros": (lambda nn: nn.LSTMCell(IN, H), (IN,), None),
    "grucell_hx": (lambda nn: nn.GRUCell(IN, H), (N, IN), [(N, H)]),
    "grucell_unbatched": (lambda nn: nn.GRUCell(IN, H), (IN,), [(H,)]),
}


@pytest.mark.parametrize("name", list(CELL_CASES))
def test_cell_matches_torch(name):
    make, x_shape, state_shapes = CELL_CASES[name]
    states = None if state_shapes is None else [arr(*s, seed=2 + k)
                                                for k, s in enumerate(state_shapes)]
    assert_match(run_rnn(make, arr(*x_shape, seed=1), states))


def test_cell_steps_a_sequence_as_the_layer_does():
    """An LSTMCell stepped by hand over a sequence gives the one-layer LSTM's output."""
    torch.manual_seed(0)
    layer = torch.nn.LSTM(IN, H)
    cell = dnn.LSTMCell(IN, H)
    cell.load_state_dict({k[:-3]: distgrad.tensor(v.detach().numpy())
                          for k, v in layer.state_dict().items()})
    x = arr(L, N, IN, seed=1)
    h = c = distgrad.zeros(N, H)
    outs = []
    for t in range(L):
        h, c = cell(distgrad.tensor(x[t]), (h, c))
        outs.append(as_np(h))
    np.testing.assert_allclose(np.stack(outs), as_np(layer(torch.tensor(x))[0]), rtol=RTOL,
                               atol=ATOL)


# ---- parameters, init, repr -----------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda nn: nn.RNN(3, 5, 2, nonlinearity="relu", bidirectional=True),
    lambda nn: nn.LSTM(3, 5, 2, bias=False, batch_first=True, dropout=0.25),
    lambda nn: nn.LSTM(3, 5, 2, proj_size=2, bidirectional=True),
    lambda nn: nn.GRU(3, 5, 3),
    lambda nn: nn.RNNCell(3, 5, bias=False, nonlinearity="relu"),
    lambda nn: nn.LSTMCell(3, 5),
    lambda nn: nn.GRUCell(3, 5),
], ids=["rnn", "lstm", "lstm_proj", "gru", "rnncell", "lstmcell", "grucell"])
def test_parameters_init_and_repr_as_torch(make):
    distgrad.manual_seed(0)
    tmod, dmod = make(torch.nn), make(dnn)
    assert [(n, tuple(p.shape)) for n, p in dmod.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tmod.named_parameters()]
    assert repr(dmod) == repr(tmod)
    bound = 1 / np.sqrt(5)
    for name, p in dmod.named_parameters():
        assert np.all(np.abs(as_np(p)) <= bound), name
    # uniform over the bound (std bound / sqrt(3)); a 5-element bias alone may spread less
    assert np.concatenate([as_np(p).ravel() for p in dmod.parameters()]).std() > bound / 4
    if hasattr(tmod, "all_weights"):
        assert [[tuple(w.shape) for w in ws] for ws in dmod.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in tmod.all_weights]


# ---- errors in torch's words ----------------------------------------------------------------

def _z(lib, *shape):
    return lib.zeros(*shape)


ERRORS = [
    (lambda nn: nn.LSTM(3, 4, 2), lambda lib: (_z(lib, 5, 2, 6),)),
    (lambda nn: nn.LSTM(3, 4, 2), lambda lib: (_z(lib, 5, 2, 3), (_z(lib, 2, 3, 4),
                                                                  _z(lib, 2, 2, 4)))),
    (lambda nn: nn.LSTM(3, 4, 2), lambda lib: (_z(lib, 5, 2, 3), (_z(lib, 2, 2, 4),
                                                                  _z(lib, 1, 2, 4)))),
    (lambda nn: nn.LSTM(3, 4), lambda lib: (_z(lib, 5, 2, 3), (_z(lib, 1, 4), _z(lib, 1, 4)))),
    (lambda nn: nn.LSTM(3, 4), lambda lib: (_z(lib, 5, 3), (_z(lib, 1, 2, 4),
                                                            _z(lib, 1, 2, 4)))),
    (lambda nn: nn.LSTM(3, 4), lambda lib: (_z(lib, 3),)),
    (lambda nn: nn.GRU(3, 4, bidirectional=True), lambda lib: (_z(lib, 5, 2, 3),
                                                               _z(lib, 1, 2, 4))),
    (lambda nn: nn.GRU(3, 4), lambda lib: (_z(lib, 2, 3, 4, 5),)),
    (lambda nn: nn.RNN(3, 4), lambda lib: (_z(lib, 5, 3), _z(lib, 1, 1, 4))),
    (lambda nn: nn.RNN(3, 4), lambda lib: (_z(lib, 5, 2, 3), _z(lib, 1, 4))),
    (lambda nn: nn.RNN(3, 4, batch_first=True), lambda lib: (_z(lib, 2, 5, 3),
                                                             _z(lib, 1, 5, 4))),
    (lambda nn: nn.RNN(3, 4), lambda lib: (_z(lib, 5),)),
    (lambda nn: nn.RNN(3, 4), lambda lib: (lib.zeros(5, 2, 3, dtype=lib.float64),)),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 5),)),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 3, 4), _z(lib, 3, 4)))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 2, 4), _z(lib, 2, 5)))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 2, 4),
                                                                _z(lib, 1, 2, 4)))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 1, 2, 3),)),
    (lambda nn: nn.GRUCell(3, 4), lambda lib: (_z(lib, 2, 3), _z(lib, 2, 5))),
    (lambda nn: nn.GRUCell(3, 4), lambda lib: (_z(lib, 2, 3), _z(lib, 1, 2, 4))),
    (lambda nn: nn.RNNCell(3, 4), lambda lib: (_z(lib, 3), _z(lib, 2, 4))),
    # an LSTMCell given h alone, or not two states; a GRU given an LSTM's (h, c)
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), _z(lib, 2, 4))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 2, 4),))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 2, 4),) * 3)),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 3), (_z(lib, 4),))),
    (lambda nn: nn.LSTMCell(3, 4), lambda lib: (_z(lib, 3), _z(lib, 4))),
    (lambda nn: nn.GRUCell(3, 4), lambda lib: (_z(lib, 2, 3), (_z(lib, 2, 4),) * 2)),
    (lambda nn: nn.GRU(3, 4), lambda lib: (_z(lib, 5, 2, 3), (_z(lib, 1, 2, 4),) * 2)),
    # sequences of no time steps, on oneDNN's path or the cells'
    (lambda nn: nn.LSTM(3, 4), lambda lib: (_z(lib, 0, 2, 3),)),
    (lambda nn: nn.LSTM(3, 4, batch_first=True), lambda lib: (_z(lib, 2, 0, 3),)),
    (lambda nn: nn.LSTM(3, 4, proj_size=2), lambda lib: (_z(lib, 0, 0, 3),)),
    (lambda nn: nn.GRU(3, 4), lambda lib: (_z(lib, 0, 3),)),
    (lambda nn: nn.RNN(3, 4, bidirectional=True), lambda lib: (_z(lib, 0, 2, 3),)),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_forward_errors_as_torch(k):
    make, args = ERRORS[k]
    caught = []
    for lib in (torch, distgrad):
        with pytest.raises((RuntimeError, ValueError, TypeError, IndexError,
                            AttributeError)) as info:
            make(lib.nn)(*args(lib))
        caught.append((type(info.value), str(info.value)))
    assert caught[1] == caught[0]


CONSTRUCTOR_ERRORS = [
    lambda nn: nn.LSTM(3, 4, dropout=1.5),
    lambda nn: nn.LSTM(3, 4, proj_size=4),
    lambda nn: nn.LSTM(3, 4, proj_size=-1),
    lambda nn: nn.GRU(3, 4, proj_size=2),
    lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid"),
    lambda nn: nn.RNN(3, 0),
    lambda nn: nn.RNN(3.0, 4),
    lambda nn: nn.GRU(3, 4, num_layers=0),
    lambda nn: nn.LSTM(3, 4, bias=1),
]


@pytest.mark.parametrize("k", range(len(CONSTRUCTOR_ERRORS)))
def test_constructor_errors_as_torch(k):
    caught = []
    for lib in (torch, distgrad):
        with pytest.raises((TypeError, ValueError)) as info:
            CONSTRUCTOR_ERRORS[k](lib.nn)
        caught.append((type(info.value), str(info.value)))
    assert caught[1] == caught[0]


def test_dropout_with_one_layer_warns_as_torch():
    for lib in (torch, distgrad):
        with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater "
                                             "than 1, but got dropout=0.2 and num_layers=1"):
            lib.nn.GRU(3, 4, dropout=0.2)


# ---- torch's oneDNN LSTM (mkldnn_rnn_layer) ---------------------------------------------------

ONEDNN_LSTMS = {  # (LSTM arguments, input shape, initial (h0, c0) shape or None)
    "one_layer": ({}, (3, 2, 6), None),
    "h0c0": ({}, (3, 2, 6), (1, 2, 5)),
    "batch_first_h0c0": ({"batch_first": True}, (2, 3, 6), (1, 2, 5)),
    "two_layers_bidirectional": ({"num_layers": 2, "bidirectional": True}, (3, 2, 6), (4, 2, 5)),
    "two_layers_bidirectional_batch_first": (
        {"num_layers": 2, "bidirectional": True, "batch_first": True}, (2, 3, 6), None),
    "no_bias": ({"bias": False}, (3, 2, 6), None),
    "unbatched_h0c0": ({}, (3, 6), (1, 5)),
    "unbatched_batch_first": ({"batch_first": True, "num_layers": 2}, (3, 6), None),
    "dropout_eval": ({"num_layers": 2, "dropout": 0.5}, (3, 2, 6), None),
    "projections": ({"proj_size": 3}, (3, 2, 6), None),
    "empty_batch": ({}, (3, 0, 6), None),
}


@pytest.mark.parametrize("name", list(ONEDNN_LSTMS))
def test_a_float32_lstm_takes_onednn_layers_as_torch(name):
    """torch's CPU build runs an LSTM without projections over an unpacked, non-empty
    input through oneDNN, one mkldnn_rnn_layer (MkldnnRnnLayerBackward0) per layer and
    direction: its input made contiguous, the weights' edges, hx[k] and cx[k]; the final
    states stacked from each layer's. Others (projections, no rows) run its cells."""
    kwargs, x_shape, state_shape = ONEDNN_LSTMS[name]

    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5, **kwargs).eval()
        x = T.randn(*x_shape, requires_grad=True)
        states = (() if state_shape is None else
                  ((T.randn(*state_shape, requires_grad=True),
                    T.randn(*state_shape, requires_grad=True)),))
        y, (h, c) = lstm(x, *states)
        (y.sin().sum() + h.cos().sum() + (c * c).sum()).backward()
        grads = [x.grad] + [p.grad for p in lstm.parameters()] + [s.grad for s in
                                                                    (states[0] if states else ())]
        return [y, h, c] + [graph(t, depth=3) for t in (y, h, c)] + grads

    same(scenario, rtol=1e-4, atol=1e-5)


def test_a_training_lstm_drops_out_between_its_onednn_layers_as_torch():
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5, num_layers=2, dropout=0.5)
        y, _ = lstm(T.randn(3, 2, 6))
        return graph(y, depth=3)

    same(scenario)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("grad", [True, False])
def test_a_low_precision_lstm_takes_onednn_where_it_computes_in_that_dtype(dtype, grad):
    """bfloat16 goes to oneDNN where this CPU's computes in it; float16 too, but only
    without grad mode (torch's use_mkldnn)."""
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5).to(getattr(T, dtype))
        x = T.randn(3, 2, 6).to(getattr(T, dtype)).requires_grad_(grad)
        with T.set_grad_enabled(grad):
            y, (h, c) = lstm(x)
        if grad:
            y.float().sum().backward()
        return [y, h, c, graph(y, depth=3)] + ([x.grad, lstm.weight_hh_l0.grad] if grad
                                               else [])

    same(scenario, rtol=5e-2, atol=5e-2)


def test_an_lstm_gradient_differentiates_again_as_torch():
    """In grad mode torch's MkldnnRnnLayerBackward0 computes its gradients with
    differentiable ops (the input's a cat of each step's, the weights' summed in place over
    the steps), so create_graph=True gives gradients a second backward goes through."""
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(4, 3, num_layers=2)
        x = T.randn(3, 2, 4, requires_grad=True)
        h0 = T.randn(2, 2, 3, requires_grad=True)
        y, (h, c) = lstm(x, (h0, T.zeros(2, 2, 3)))
        wanted = [x, h0] + list(lstm.parameters())
        grads = T.autograd.grad(y.sin().sum() + c.sum(), wanted, create_graph=True)
        seconds = T.autograd.grad(sum((g * g).sum() for g in grads), [x, h0,
                                                                       lstm.weight_hh_l0])
        plain = T.autograd.grad(lstm(x)[0].sum(), [lstm.bias_ih_l0, lstm.bias_hh_l0])
        return (list(grads) + [g._version for g in grads] + list(seconds)
                + [graph(g, depth=3) for g in grads]
                + [grads[4] is grads[5], plain[0] is plain[1]])

    same(scenario, rtol=1e-4, atol=1e-5)


def test_an_lstm_with_projections_warns_once_as_torch_that_onednn_cannot():
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5, proj_size=3)
        return [graph(lstm(T.randn(3, 2, 6))[0], depth=1) for _ in range(2)]

    same(scenario)


@pytest.mark.parametrize("which", [1, 2])
def test_an_onednn_lstm_backpropagates_from_its_final_states_alone_as_torch(which):
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5, bidirectional=True)
        x = T.randn(3, 2, 6, requires_grad=True)
        y, (h, c) = lstm(x)
        (h, c)[which - 1].sum().backward()
        return [x.grad] + [p.grad for p in lstm.parameters()]

    same(scenario, rtol=1e-4, atol=1e-5)


def test_an_lstm_with_onednn_switched_off_runs_torchs_cells():
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5)
        T.backends.mkldnn.enabled = False
        try:
            y, _ = lstm(T.randn(3, 2, 6))
        finally:
            T.backends.mkldnn.enabled = True
        return [y, graph(y, depth=1)]

    same(scenario)


CELL_GRAPHS = {  # what runs torch's own cells: the cells, and layers oneDNN does not take
    "lstm_cell": lambda T, x, h: T.nn.LSTMCell(6, 5)(x, (h, h * 2))[1],
    "gru_cell": lambda T, x, h: T.nn.GRUCell(6, 5)(x, h),
    "rnn_cell_relu": lambda T, x, h: T.nn.RNNCell(6, 5, nonlinearity="relu")(x),
    "gru": lambda T, x, h: T.nn.GRU(6, 5)(x.unsqueeze(1))[0],
    "rnn_tanh": lambda T, x, h: T.nn.RNN(6, 5)(x.unsqueeze(1), h[:1].unsqueeze(0))[0],
    "lstm_float64_h0c0": lambda T, x, h: T.nn.LSTM(6, 5).double()(
        x.double().unsqueeze(1), (h.double()[:1].unsqueeze(0),) * 2)[0],
    "lstm_projections": lambda T, x, h: T.nn.LSTM(6, 5, proj_size=2)(x.unsqueeze(1))[1][1],
    "lstm_packed_h0c0": lambda T, x, h: T.nn.LSTM(6, 5)(T.nn.utils.rnn.pack_padded_sequence(
        x.reshape(1, 2, 6).expand(3, 2, 6), [3, 2]), (h.unsqueeze(0), h.unsqueeze(0)))[0].data,
    "gru_two_layers_h0": lambda T, x, h: T.nn.GRU(6, 5, 2)(x.unsqueeze(1), h.unsqueeze(1))[1],
}


@pytest.mark.parametrize("name", list(CELL_GRAPHS))
def test_a_cells_step_adds_and_chunks_as_torchs(name):
    """torch's CPU cells add the hidden state's projection first, then the input's, and
    split the gates with unsafe_chunk (UnsafeSplitBackward0); a GRU multiplies h_n by r."""
    def scenario(T):
        T.manual_seed(0)
        x, h = T.randn(2, 6, requires_grad=True), T.randn(2, 5, requires_grad=True)
        y = CELL_GRAPHS[name](T, x, h)
        y.sum().backward()
        return [y, graph(y), x.grad, h.grad]

    same(scenario, rtol=1e-4, atol=1e-5)
