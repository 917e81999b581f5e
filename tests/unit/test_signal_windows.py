"""torch.signal.windows against torch's: every window's values for symmetric and periodic
lengths and both dtypes, their parameters, the graph a window asked for with requires_grad
has, and the errors torch's checks raise."""
from __future__ import annotations

import pytest

from torch_twin import attempt, same

WINDOWS = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_hamming",
           "hamming", "hann", "kaiser", "nuttall"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_of_every_length(name):
    def scenario(T):
        window = getattr(T.signal.windows, name)
        return [window(M, sym=sym, dtype=dtype) for M in (0, 1, 2, 3, 6, 9, 33)
                for sym in (True, False) for dtype in (None, T.float64)]

    same(scenario, rtol=1e-6, atol=1e-6)


def test_window_parameters():
    def scenario(T):
        w = T.signal.windows
        return [w.exponential(7, tau=0.5), w.exponential(6, center=1.0, tau=2.0, sym=False),
                w.gaussian(6, std=0.7), w.gaussian(7, std=3.0, sym=False),
                w.kaiser(8, beta=0.0), w.kaiser(7, beta=5.5, sym=False),
                w.general_hamming(6, alpha=0.6), w.general_cosine(8, a=[0.5, 0.3, 0.2]),
                w.general_cosine(5, a=(1.0,), sym=False, dtype=T.float64)]

    same(scenario, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", WINDOWS)
def test_a_window_that_requires_grad_has_torchs_graph(name):
    def scenario(T):
        window = getattr(T.signal.windows, name)(5, requires_grad=True)
        grads = [] if window.grad_fn is None else [window.grad_fn.name()]
        return [window.detach(), window.requires_grad, window.is_leaf, *grads]

    same(scenario, rtol=1e-6, atol=1e-6)


def test_errors_as_torch():
    def scenario(T):
        w = T.signal.windows
        return [attempt(w.hann, -1), attempt(w.hann, 4, dtype=T.float16),
                attempt(w.hann, 4, dtype=T.int64), attempt(w.blackman, 4, dtype=T.bfloat16),
                attempt(w.exponential, 4, tau=0.0), attempt(w.exponential, 4, center=1.0),
                attempt(w.gaussian, 4, std=-1.0), attempt(w.kaiser, 4, beta=-0.5),
                attempt(w.general_cosine, 4, a=[]), attempt(w.general_cosine, 4, a=3),
                attempt(w.cosine, 4, layout=T.sparse_coo), attempt(w.hann, 4, True)]

    same(scenario)
