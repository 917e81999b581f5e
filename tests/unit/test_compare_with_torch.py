"""scripts/compare_with_torch.py: a program written for torch runs with distgrad standing in
for it, and the two outputs are compared (exactly, to 1e-4, or by shape for a program that
draws random numbers)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "compare_with_torch", Path(__file__).resolve().parents[2] / "scripts" / "compare_with_torch.py")
compare_with_torch = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("compare_with_torch", compare_with_torch)
_spec.loader.exec_module(compare_with_torch)
compare = compare_with_torch.compare


def test_exact_and_numeric_matches():
    assert compare("tensor([1., 2.])\n", "tensor([1., 2.])\n", False)[0] == "exact"
    assert compare("<AddBackward0 object at 0x7f01>\n", "<AddBackward0 object at 0x55aa>\n",
                   False)[0] == "exact"
    verdict, note = compare("loss 1.00001\n", "loss 1.00002\n", False)
    assert verdict == "1e-4" and note.startswith("largest difference")
    # torch pads a tensor's numbers for a minus sign anywhere in it: spacing is not compared
    assert compare("tensor([ 1.0, -2.0])\n", "tensor([1.0, -2.00001])\n", False)[0] == "1e-4"


def test_numbers_that_differ():
    assert compare("loss 1.0\n", "loss 1.1\n", False)[0] == "DIFFERS"
    assert compare("grad_fn=<AddBackward0>\n", "grad_fn=<SubBackward0>\n", True)[0] == "DIFFERS"


def test_random_programs_match_by_shape_and_falling_loss():
    theirs = "99 412.5\n199 80.25\nResult: y = 0.1 x\n"
    falls = "99 300.0\n199 12.5\nResult: y = -0.3 x\n"
    rises = "99 3.0\n199 12.5\nResult: y = -0.3 x\n"
    assert compare(theirs, falls, True) == ("shape", "loss 300 -> 12.5")
    assert compare(theirs, rises, True)[0] == "DIFFERS"
    assert compare(theirs, falls, False)[0] == "DIFFERS"  # not random: the numbers must agree


def test_import_torch_gets_distgrad(tmp_path, capsys):
    """The stand-in resolves torch and its submodules to distgrad's."""
    (tmp_path / "example.py").write_text(
        "import torch\n"
        "import torch.nn.functional as F\n"
        "from torch.autograd import Variable\n"
        "x = Variable(torch.tensor([1.0, -2.0]), requires_grad=True)\n"
        "F.relu(x).sum().backward()\n"
        "print(torch.__name__, F.__name__, x.grad)\n")
    saved = list(sys.meta_path), list(sys.path), sys.argv
    # the real torch, imported by other tests, steps aside for the run (as in a fresh process)
    real_torch = {k: sys.modules.pop(k) for k in list(sys.modules)
                  if k == "torch" or k.startswith("torch.")}
    try:
        compare_with_torch.run_as_torch(str(tmp_path / "example.py"))
    finally:
        sys.meta_path[:], sys.path[:] = saved[0], saved[1]
        sys.argv = saved[2]
        for k in [k for k in sys.modules if k == "torch" or k.startswith("torch.")]:
            del sys.modules[k]
        sys.modules.update(real_torch)
    assert capsys.readouterr().out == "distgrad distgrad.nn.functional tensor([1., 0.])\n"


def test_a_directory_is_run_both_ways(tmp_path):
    (tmp_path / "same.py").write_text(
        "import torch\nx = torch.ones(2, requires_grad=True)\n(x * 3).sum().backward()\n"
        "print(x.grad, torch.get_default_device())\n")
    (tmp_path / "broken.py").write_text("import torch\nraise SystemExit(torch.no_such_name)\n")
    rows = compare_with_torch.check_directory(str(tmp_path), timeout=300, show_diff=False,
                                              python=sys.executable)
    verdicts = {name: (verdict, note) for name, verdict, _, _, note in rows}
    assert verdicts["same.py"] == ("exact", "")
    # it fails under torch and under distgrad alike, with the same error
    assert verdicts["broken.py"][0] == "exact"
    assert "both raise AttributeError" in verdicts["broken.py"][1]
