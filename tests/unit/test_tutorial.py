"""The seed tutorial (seed/autograd_tutorial.md) runs unchanged under `import distgrad as
torch` and prints what PyTorch prints.

The notebook's code cells (after `In [N]:`) run in order in one namespace, as a notebook
does; each Python block of the notes runs on its own, as a reader would paste it. Both
runs are made with real torch and with distgrad, and their printed text (and any
exception a block raises) must be equal, up to `object at 0x...` addresses. The only
change: `torch.randn` in the distgrad run returns the numbers real torch drew in its run.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import pathlib
import re

import numpy as np
import pytest
import torch

import distgrad

SEED = pathlib.Path("/work/shared/seed/autograd_tutorial.md")
_CELL = re.compile(r"^In \[(?:\d+|None)\]:$")
_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def _chunks(lines):
    """Split lines into paragraphs at blank lines, keeping the blank lines' count."""
    chunk = []
    for line in lines:
        if line.strip():
            chunk.append(line)
        elif chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _is_code(src: str, known: set) -> bool:
    """Does this paragraph read as code of the cell (not its printed output)?

    Printed output such as `True` or `tensor([...])` also parses as Python; it is told
    apart by being only expressions over names nothing has defined.
    """
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return False
    for stmt in tree.body:
        if not isinstance(stmt, ast.Expr):
            return True
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        if names and names <= known:
            return True
    return False


def _defined(src: str) -> set:
    names = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def notebook_cells(text: str):
    """The code of each `In [N]:` cell: the paragraphs after the marker that are code.

    A cell that is not Python (the IPython magic `%matplotlib inline` under comments) is
    returned as None.
    """
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CELL.match(line.strip())]
    cells = []
    known = set(dir(builtins))
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        code = []
        for chunk in _chunks(lines[start + 1:end]):
            src = "\n".join(chunk)
            if any(line.lstrip().startswith("%") for line in chunk) and not code:
                code = None
                break
            if not _is_code(src, known):
                break
            code.append(src)
            known |= _defined(src)
        cells.append(None if code is None else "\n\n".join(code) + "\n")
    return cells


def note_blocks(text: str):
    return [m.group(1) for m in _FENCE.finditer(text)]


class _Randn:
    """Records what torch.randn returns, and replays those numbers as distgrad tensors."""

    def __init__(self):
        self.values = []

    def recording(self, real):
        def randn(*args, **kwargs):
            t = real(*args, **kwargs)
            self.values.append(t.detach().numpy().copy())
            return t

        return randn

    def replaying(self):
        def randn(*size, dtype=None, device=None, requires_grad=False, **_):
            arr = self.values.pop(0)
            want = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
            assert arr.shape == tuple(want), f"randn{want} replayed with {arr.shape}"
            return distgrad.tensor(arr, dtype=dtype, device=device, requires_grad=requires_grad)

        return randn


def _globals(module):
    """A fresh namespace in which `import torch` gives `module`."""
    real_import = builtins.__import__

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "torch" or name.startswith("torch."):
            real_import(module.__name__ + name[len("torch"):], globals, locals, fromlist, level)
            return module
        return real_import(name, globals, locals, fromlist, level)

    b = dict(vars(builtins))
    b["__import__"] = _import
    return {"__builtins__": b, "__name__": "__tutorial__"}


def _run_blocks(blocks, module, shared: bool) -> list:
    """Run each block, recording its stdout (addresses normalised) and any exception."""
    out = []
    ns = _globals(module)
    for src in blocks:
        if not shared:
            ns = _globals(module)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                exec(compile(src, "<tutorial>", "exec"), ns)
                err = None
            except Exception as exc:  # a block that fails must fail the same way
                err = f"{type(exc).__name__}: {exc}"
        out.append((_ADDR.sub(" at 0x?", buf.getvalue()), err))
    return out


def _both(blocks, shared: bool, monkeypatch, seed=0):
    randn = _Randn()
    torch.manual_seed(seed)
    with monkeypatch.context() as m:
        m.setattr(torch, "randn", randn.recording(torch.randn))
        expected = _run_blocks(blocks, torch, shared)
    with monkeypatch.context() as m:
        m.setattr(distgrad, "randn", randn.replaying())
        got = _run_blocks(blocks, distgrad, shared)
    assert not randn.values, "distgrad drew fewer random tensors than torch"
    return expected, got


TEXT = SEED.read_text(encoding="utf-8")


def test_extraction_finds_the_tutorial_cells():
    cells = notebook_cells(TEXT)
    assert len(cells) == 7
    assert cells[0] is None  # only `%matplotlib inline` and comments: IPython, not Python
    assert cells[1].startswith("import torch\n\nx = torch.ones(5)")
    assert cells[1].rstrip().endswith("binary_cross_entropy_with_logits(z, y)")
    assert cells[3] == "loss.backward()\nprint(w.grad)\nprint(b.grad)\n"
    assert "True" not in cells[4] and cells[4].rstrip().endswith("print(z.requires_grad)")
    assert cells[6].rstrip().endswith('print(f"\\nCall after zeroing gradients\\n{inp.grad}")')
    blocks = note_blocks(TEXT)
    assert len(blocks) == 2 and "x = torch.randn(3, requires_grad=True)" in blocks[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tutorial_notebook_prints_what_torch_prints(seed, monkeypatch):
    cells = [c for c in notebook_cells(TEXT) if c is not None]
    expected, got = _both(cells, True, monkeypatch, seed)
    for k, (cell, exp, ours) in enumerate(zip(cells, expected, got)):
        assert exp[1] is None, f"torch failed on cell {k}: {exp[1]}"
        assert ours == exp, f"cell {k}:\n{cell}\n--- torch:\n{exp[0]}\n--- distgrad:\n{ours[0]}{ours[1]}"
    printed = "".join(text for text, _ in got)
    assert "Gradient function for z = <AddBackward0 object at 0x?>" in printed
    assert "<BinaryCrossEntropyWithLogitsBackward0 object at 0x?>" in printed
    assert "\nSecond call\n" in printed


def test_tutorial_notes_blocks_print_what_torch_prints(monkeypatch):
    blocks = note_blocks(TEXT)
    expected, got = _both(blocks, False, monkeypatch)
    assert expected[0][1] is None
    assert expected[1][1].startswith("NameError")  # the second block is an illustration
    assert got == expected


def test_tutorial_printed_numbers_of_the_seed_output():
    """With the seed's own w and b the distgrad run prints the gradients the seed shows."""
    # The seed printed w.grad rows of [0.0019, 0.0292, 0.3007]: sigmoid(z) / 3 with
    # z = sum(w) + b. Pick w, b giving those z and check the printed text.
    target = np.array([0.0019, 0.0292, 0.3007]) * 3
    z = np.log(target / (1 - target))
    w = np.zeros((5, 3), dtype=np.float32)
    b = z.astype(np.float32)
    values = [w, b]

    def randn(*size, requires_grad=False, **_):
        return distgrad.tensor(values.pop(0), requires_grad=requires_grad)

    cells = [c for c in notebook_cells(TEXT) if c is not None]
    import unittest.mock as mock

    with mock.patch.object(distgrad, "randn", randn):
        out = _run_blocks(cells[:3], distgrad, True)
    assert out[2][0] == ("tensor([[0.0019, 0.0292, 0.3007],\n"
                         "        [0.0019, 0.0292, 0.3007],\n"
                         "        [0.0019, 0.0292, 0.3007],\n"
                         "        [0.0019, 0.0292, 0.3007],\n"
                         "        [0.0019, 0.0292, 0.3007]])\n"
                         "tensor([0.0019, 0.0292, 0.3007])\n")
