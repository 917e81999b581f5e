"""torch.__future__'s switches for how a module's conversions (`.to`, `.double`) and
load_state_dict change its parameters, against torch: the default (each Parameter and its
grad keep their objects and take the new data), overwrite (new Parameter objects) and swap
(swap_tensors into the objects, an accumulator a graph holds poisoned, refused while
something else holds the tensor)."""
from __future__ import annotations

import contextlib

import pytest

from torch_twin import attempt, same


@contextlib.contextmanager
def switched(T, mode):
    T.__future__.set_swap_module_params_on_conversion(mode == "swap")
    T.__future__.set_overwrite_module_params_on_conversion(mode == "overwrite")
    try:
        yield
    finally:
        T.__future__.set_swap_module_params_on_conversion(False)
        T.__future__.set_overwrite_module_params_on_conversion(False)


@pytest.mark.parametrize("mode", ["default", "overwrite", "swap"])
def test_a_conversion_changes_the_parameters_as_the_switch_says(mode):
    def scenario(T):
        T.manual_seed(0)
        m = T.nn.Linear(3, 2)
        w = m.weight
        m(T.ones(1, 3)).sum().backward()
        grad = m.weight.grad
        pending = m(T.ones(1, 3)).sum()
        with switched(T, mode):
            m.double()
        seen = [m.weight is w, m.weight.dtype, w.dtype, m.weight.grad is grad,
                m.weight.grad.dtype, type(m.weight).__name__, m.weight._version,
                m.weight.requires_grad]
        held = m.weight[0]
        with switched(T, "swap"):
            refused = attempt(m.float)
        return [T.__future__.get_swap_module_params_on_conversion(), seen,
                attempt(pending.backward), m.weight.grad, held, refused, m.weight.dtype]

    same(scenario)


@pytest.mark.parametrize("assign", [False, True])
def test_load_state_dict_under_the_swap_switch_swaps_module_load_into_the_objects(assign):
    def scenario(T):
        T.manual_seed(0)
        src = T.nn.BatchNorm1d(3)
        with T.no_grad():
            src.weight.fill_(2.0)
            src.running_mean.fill_(0.5)
        m = T.nn.BatchNorm1d(3)
        w, mean = m.weight, m.running_mean
        pending = (m.weight * 2).sum()
        state = src.state_dict()
        with switched(T, "swap"):
            keys = m.load_state_dict(state, assign=assign)
        seen = [str(keys), m.weight is w, m.running_mean is mean, m.weight, m.running_mean,
                m.weight._version, type(m.weight).__name__, m.weight.requires_grad,
                state["weight"]._version, attempt(pending.backward)]
        held = m.weight[:1]
        with switched(T, "swap"):
            refused = attempt(m.load_state_dict, src.state_dict())
        return [seen, held, refused]

    same(scenario)
