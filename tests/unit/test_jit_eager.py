"""torch.jit as model code calls it while running eagerly (torchvision- and timm-style
modules: `is_scripting()` branches, `@ignore`/`@unused` methods, `Final` annotations,
`annotate`), and torch.version of a CPU build."""
from __future__ import annotations

import torch

import distgrad
from torch_twin import same


def _module_with_jit_markers(torch):
    class Block(torch.nn.Module):
        fused: torch.jit.Final[bool]

        def __init__(self):
            super().__init__()
            self.fused = False
            self.lin = torch.nn.Linear(3, 2)

        @torch.jit.ignore
        def scaled(self, x):
            return x * 3

        @torch.jit.ignore(drop=True)
        def dropped(self, x):
            return x - 1

        @torch.jit.unused
        def unused(self, x):
            return x + 100

        @torch.jit.export
        def exported(self, x):
            return x.sum()

        def forward(self, x):
            seen = torch.jit.annotate(list, [])
            if not torch.jit.is_scripting() and not torch.jit.is_tracing():
                x = self.scaled(x)
                seen.append("eager")
            return self.lin(self.dropped(x)), seen

    torch.manual_seed(0)
    block = Block()
    out, seen = block(torch.ones(2, 3))
    return (out, seen, block.exported(out), block.unused(torch.zeros(1)),
            block.fused, sorted(Block.__annotations__))


def test_jit_markers_run_eagerly_as_torchs():
    same(_module_with_jit_markers)


def test_version_of_a_cpu_build():
    assert distgrad.version.cuda is None is torch.version.cuda
    assert distgrad.version.hip is None
    assert distgrad.version.__version__ == distgrad.__version__


def test_no_torchscript_compiler_is_pretended():
    for name in ("script", "trace", "save", "load"):
        assert not hasattr(distgrad.jit, name)
