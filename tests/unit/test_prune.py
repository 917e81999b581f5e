"""nn.utils.prune against torch: each scenario runs seeded under both libraries, so the
random methods must draw torch's values from the generator; masks, pruned tensors (and
their MulBackward0), parameter and buffer names, the forward pre-hooks, iterative pruning
through a PruningContainer, remove, global pruning, custom methods, gradients of the
original through the mask (against torch and finite differences) and torch's errors."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import distgrad
from torch_twin import attempt, same


def _prune(T):
    return importlib.import_module(T.__name__ + ".nn.utils.prune")


def _state(module):
    """What pruning changes on a module: its parameter and buffer names, the pruned
    tensors, and its hooks' classes and tensor names."""
    return ([n for n, _ in module.named_parameters()], dict(module.named_buffers()),
            {n: getattr(module, n) for n in ("weight", "bias")},
            [(type(h).__name__, h._tensor_name) for h in module._forward_pre_hooks.values()])


class _Net:
    """The pruning tutorial's LeNet."""

    @staticmethod
    def make(T):
        class LeNet(T.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = T.nn.Conv2d(1, 6, 3)
                self.conv2 = T.nn.Conv2d(6, 16, 3)
                self.fc1 = T.nn.Linear(16 * 5 * 5, 120)
                self.fc2 = T.nn.Linear(120, 84)
                self.fc3 = T.nn.Linear(84, 10)

            def forward(self, x):
                F = T.nn.functional
                x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
                x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                x = x.view(-1, int(x.nelement() / x.shape[0]))
                return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

        return LeNet()


def test_the_tutorials_iterative_pruning_of_one_layer_is_torchs():
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(0)
        model = _Net.make(T)
        module = model.conv1
        seen = [_state(module)]
        prune.random_unstructured(module, name="weight", amount=0.3)
        seen.append(_state(module))
        prune.l1_unstructured(module, name="bias", amount=3)
        seen.append(_state(module))
        prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
        hook = next(h for h in module._forward_pre_hooks.values() if h._tensor_name == "weight")
        seen.append([_state(module), [type(m).__name__ for m in hook], len(hook),
                     type(hook[0]).__name__, list(model.state_dict())])
        seen.append(model(T.randn(1, 1, 28, 28)))
        prune.remove(module, "weight")
        seen.append([_state(module), prune.is_pruned(model), type(module.weight).__name__,
                     module.weight.is_leaf])
        return seen

    same(scenario)


def test_the_tutorials_whole_model_and_global_pruning_are_torchs():
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(0)
        model = _Net.make(T)
        for module in model.modules():
            if isinstance(module, T.nn.Conv2d):
                prune.l1_unstructured(module, name="weight", amount=0.2)
            elif isinstance(module, T.nn.Linear):
                prune.l1_unstructured(module, name="weight", amount=0.4)
        seen = [list(dict(model.named_buffers())), prune.is_pruned(model)]
        model = _Net.make(T)
        pairs = [(model.conv1, "weight"), (model.conv2, "weight"), (model.fc1, "weight"),
                 (model.fc2, "weight"), (model.fc3, "weight")]
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=0.2)
        seen.append([int((getattr(m, n) == 0).sum()) for m, n in pairs])
        seen.append([type(h).__name__ for m, _ in pairs for h in m._forward_pre_hooks.values()])
        # again, with scores, after the first round: a container per tensor
        scores = {(model.fc3, "weight"): model.fc3.weight.abs().flip(0)}
        prune.global_unstructured(pairs[3:], pruning_method=prune.RandomUnstructured,
                                  importance_scores=scores, amount=50)
        seen.append([_state(m) for m, _ in pairs[3:]])
        return seen

    same(scenario)


def test_random_methods_draw_torchs_values():
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(3)
        m = T.nn.Linear(6, 5).double()
        prune.random_structured(m, "weight", amount=2, dim=1)
        prune.random_structured(m, "weight", amount=0.4, dim=0)
        prune.random_unstructured(m, "weight", amount=3)
        prune.random_unstructured(m, "bias", amount=0.5)
        conv = T.nn.Conv1d(4, 6, 3)
        prune.random_structured(conv, "weight", amount=0.5, dim=-1)
        return _state(m), _state(conv), T.rand(2)

    same(scenario)


@pytest.mark.parametrize("n", [1, 2, 3, float("inf"), float("-inf"), "fro"])
def test_ln_structured_by_each_norm_is_torchs(n):
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(1)
        conv = T.nn.Conv2d(3, 5, 2)
        prune.ln_structured(conv, "weight", amount=2, n=n, dim=0)
        prune.ln_structured(conv, "weight", amount=0.5, n=n, dim=1,
                            importance_scores=conv.weight_orig.detach() * 2)
        return _state(conv)

    same(scenario)


def test_identity_custom_mask_and_a_custom_method_are_torchs():
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(2)

        class FooBarPruningMethod(prune.BasePruningMethod):
            PRUNING_TYPE = "unstructured"

            def compute_mask(self, t, default_mask):
                mask = default_mask.clone()
                mask.view(-1)[::2] = 0
                return mask

        m = T.nn.Linear(3, 8)
        prune.identity(m, "weight")
        FooBarPruningMethod.apply(m, "bias")
        FooBarPruningMethod.apply(m, "bias")  # over the entries the first left
        prune.custom_from_mask(m, "weight", mask=T.tensor([[0, 1, 1]] * 4 + [[1, 0, 1]] * 4))
        pruned = prune.L1Unstructured(amount=0.5).prune(T.arange(6.0) - 2.5)
        return _state(m), pruned

    same(scenario)


def test_the_hook_recomputes_the_pruned_tensor_and_gradients_reach_the_original():
    def scenario(T):
        prune = _prune(T)
        T.manual_seed(4)
        m = T.nn.Linear(4, 3)
        prune.l1_unstructured(m, "weight", amount=5)
        x = T.randn(2, 4)
        m(x).pow(2).sum().backward()
        seen = [m.weight_orig.grad, m.bias.grad, m.weight.grad_fn.name()]
        with T.no_grad():
            m.weight_orig.add_(1.0)
        before = m.weight.clone()
        m(x)
        seen += [before, m.weight, m.weight.grad_fn.name()]
        prune.remove(m, "weight")
        seen += [m.weight, [n for n, _ in m.named_parameters()], list(m.state_dict())]
        return seen

    same(scenario)


def test_pruned_weight_gradients_against_finite_differences():
    prune = distgrad.nn.utils.prune
    distgrad.manual_seed(5)
    m = prune.random_unstructured(distgrad.nn.Linear(4, 3).double(), "weight", amount=0.5)
    x = distgrad.randn(2, 4, dtype=distgrad.float64)

    def f(orig, bias):
        return distgrad.func.functional_call(m, {"weight_orig": orig, "bias": bias}, (x,))

    inputs = (m.weight_orig.detach().clone().requires_grad_(),
              m.bias.detach().clone().requires_grad_())
    assert distgrad.autograd.gradcheck(f, inputs)
    assert distgrad.autograd.gradgradcheck(f, inputs)
    grad, = distgrad.autograd.grad(f(*inputs).sum(), inputs[0])
    assert np.array_equal(grad.numpy() == 0, m.weight_mask.numpy() == 0)


def _errors(T):
    prune = _prune(T)
    lin = T.nn.Linear(3, 4)
    bad = [lambda: prune.random_unstructured(lin, "weight", amount=-1),
           lambda: prune.random_unstructured(lin, "weight", amount=1.5),
           lambda: prune.l1_unstructured(lin, "weight", amount="1"),
           lambda: prune.l1_unstructured(lin, "weight", amount=13),
           lambda: prune.ln_structured(lin, "bias", amount=1, n=2, dim=0),
           lambda: prune.random_structured(lin, "weight", amount=1, dim=2),
           lambda: prune.l1_unstructured(lin, "weight", amount=1,
                                         importance_scores=T.ones(3)),
           lambda: prune.remove(lin, "bias"),
           lambda: prune.global_unstructured(lin, prune.L1Unstructured, amount=1),
           lambda: prune.global_unstructured([(lin, "weight")], prune.L1Unstructured,
                                             importance_scores=[], amount=1),
           lambda: prune.L1Unstructured(amount=1).prune(T.ones(3), importance_scores=T.ones(2))]
    seen = [attempt(f) for f in bad]
    # a failed pruning leaves the parameter where it was
    seen.append([n for n, _ in lin.named_parameters()])
    return seen


def test_errors_are_torchs():
    same(_errors)


def test_global_pruning_refuses_a_structured_method_as_torch():
    """(torch's message names the class by its module: torch.nn... or distgrad.nn...)"""
    said = []
    for T in (distgrad, torch):
        prune = _prune(T)
        with pytest.raises(TypeError) as info:
            prune.global_unstructured([(T.nn.Linear(3, 4), "weight")], prune.LnStructured,
                                      amount=1, n=2, dim=0)
        said.append(str(info.value).replace(T.__name__ + ".", ""))
    assert said[0] == said[1]
