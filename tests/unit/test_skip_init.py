"""torch.nn.utils.skip_init: a module made with its parameters left uninitialized (shapes,
device, dtype as asked), drawing no random numbers; its errors."""
from __future__ import annotations

import pytest

from torch_twin import attempt, same


@pytest.mark.parametrize("make", [
    lambda T: T.nn.utils.skip_init(T.nn.Linear, 3, 2),
    lambda T: T.nn.utils.skip_init(T.nn.Conv2d, 1, 4, 3, dtype=T.float64),
    lambda T: T.nn.utils.skip_init(T.nn.Embedding, 5, 2, device="cpu"),
], ids=["linear", "conv_float64", "embedding_cpu"])
def test_skip_init_makes_the_module_without_drawing(make):
    def f(torch):
        torch.manual_seed(0)
        m = make(torch)
        with torch.no_grad():  # (its values are whatever memory held: set them)
            for p in m.parameters():
                p.fill_(0.5)
        return ([(n, tuple(p.shape), p.dtype, str(p.device), p.requires_grad, p)
                 for n, p in m.named_parameters()], torch.rand(2))
    same(f)


def test_skip_init_refuses_what_it_cannot_make():
    class NoDevice:
        pass

    def f(torch):
        class Plain(torch.nn.Module):
            def __init__(self, n):
                super().__init__()
        return (attempt(lambda: torch.nn.utils.skip_init(Plain, 3)).message,
                type(attempt(lambda: torch.nn.utils.skip_init(NoDevice))).__name__)
    same(f)
