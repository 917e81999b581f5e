#!/usr/bin/env python
"""Run PyTorch example programs with PyTorch and with distgrad standing in for it, and
compare what they print.

    python scripts/compare_with_torch.py DIR [--timeout 900] [--show-diff] [--markdown]

Each `*.py` in DIR runs twice, each in a fresh process in a scratch directory: as it is
(`import torch` is PyTorch), then with every `torch` module name resolving to distgrad's
module of the same name (`torch.nn.functional` is `distgrad.nn.functional`). Their standard
outputs are compared, after dropping `object at 0x...` addresses:

    exact     the same text
    1e-4      the same text around the numbers, each number within 1e-4 (relative, or
              absolute below 1)
    shape     the same text around the numbers, for a program that draws random numbers
              (randn, a layer's initial weights, ...) distgrad does not reproduce bit for
              bit (numpy's samplers, float32 rounding after the draws), so only the shape
              of the output can agree; where it prints a `step loss` series, the loss must
              also go down under distgrad
    DIFFERS   none of these
    FAILS     it ran under PyTorch and raised under distgrad

A program that raises under PyTorch is compared up to there when distgrad raises an error of
the same type; otherwise it is listed ("-") and not held against distgrad.
The times are each process's wall seconds, start-up and imports included (importing torch
alone takes seconds), so they compare whole runs, not steps.
The exit status is 0 when every program that runs under PyTorch matches under distgrad.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.util
import math
import os
import re
import runpy
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b")
_STEP_LOSS = re.compile(r"^\s*(\d+)\s+([-+]?\d[\d.eE+-]*)\s*$")
# Calls that draw random numbers, and layers whose initial weights are random.
_RANDOM = re.compile(r"\b(rand|randn|randint|randperm|rand_like|randn_like|normal_|uniform_|"
                     r"bernoulli|multinomial|dropout|Dropout|random|"
                     r"Linear|Bilinear|Conv[123]d|ConvTranspose[123]d|Embedding|RNN|LSTM|GRU|"
                     r"MultiheadAttention|Transformer\w*)\s*\(")


# ---- the stand-in: `import torch` gives distgrad ------------------------------------------------

class _TorchIsDistgrad(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves `torch` and `torch.X.Y` to `distgrad` and `distgrad.X.Y`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        real = "distgrad" + fullname[len("torch"):]
        if importlib.util.find_spec(real) is None and not _lazy_attribute(real):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module("distgrad" + spec.name[len("torch"):])
        self._own_spec = module.__spec__  # the import system overwrites it; put it back
        return module

    def exec_module(self, module):
        module.__spec__ = self._own_spec


def _lazy_attribute(name: str) -> bool:
    """Is `name` a module its parent makes on first use (distgrad.nn, ...)?"""
    parent, _, child = name.rpartition(".")
    try:
        return hasattr(importlib.import_module(parent), child)
    except ImportError:
        return False


def run_as_torch(script: str) -> None:
    """Run `script` as __main__ with distgrad standing in for torch."""
    sys.path.insert(0, REPO)
    sys.meta_path.insert(0, _TorchIsDistgrad())
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


# ---- running and comparing ------------------------------------------------------------------------

@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.code == 0

    def error_type(self) -> str:
        return self.last_error().split(":")[0]

    def last_error(self) -> str:
        lines = [ln for ln in self.err.strip().splitlines() if ln.strip()]
        return lines[-1][:160] if lines else f"exit {self.code}"


def _run(argv, timeout: float) -> Run:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0", RAY_USAGE_STATS_ENABLED="0")
    with tempfile.TemporaryDirectory(prefix="compare-") as scratch:
        start = time.perf_counter()
        try:
            p = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True,
                               timeout=timeout)
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            code, out, err = -1, (e.stdout or b"").decode(errors="replace") if isinstance(
                e.stdout, bytes) else (e.stdout or ""), f"timed out after {timeout:.0f} s"
        return Run(code, out, err, time.perf_counter() - start)


def _skeleton(text: str):
    """The text with its numbers taken out, and the numbers."""
    numbers = [float(m.group()) for m in _NUMBER.finditer(text)]
    return _NUMBER.sub("#", text), numbers


def _close(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _loss_series(text: str) -> list:
    return [float(m.group(2)) for m in map(_STEP_LOSS.match, text.splitlines()) if m]


def compare(torch_out: str, ours_out: str, draws_random: bool, tol: float = 1e-4):
    """(verdict, note): how distgrad's output matches PyTorch's."""
    a, b = _ADDR.sub(" at 0x?", torch_out), _ADDR.sub(" at 0x?", ours_out)
    if a == b:
        return "exact", ""
    (sa, na), (sb, nb) = _skeleton(a), _skeleton(b)
    # Column widths follow the values (torch pads for a minus sign anywhere in a tensor), so
    # the text around the numbers is compared without its spacing.
    sa, sb = "".join(sa.split()), "".join(sb.split())
    if sa == sb and all(_close(x, y, tol) for x, y in zip(na, nb)):
        worst = max((abs(x - y) / max(1.0, abs(x), abs(y)) for x, y in zip(na, nb)), default=0)
        return "1e-4", f"largest difference {worst:.1e}"
    if sa == sb and draws_random:
        losses = _loss_series(b)
        if len(losses) >= 2:
            falls = losses[-1] < losses[0]
            note = f"loss {losses[0]:.4g} -> {losses[-1]:.4g}"
            return ("shape", note) if falls else ("DIFFERS", note + " (does not go down)")
        return "shape", ""
    return "DIFFERS", _first_difference(a, b)


def _first_difference(a: str, b: str) -> str:
    for k, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
        if x != y:
            return f"line {k + 1}: torch {x[:70]!r} / distgrad {y[:70]!r}"
    return f"{len(a.splitlines())} lines / {len(b.splitlines())} lines"


def check_directory(directory: str, timeout: float, show_diff: bool, python: str) -> list:
    rows = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".py"):
            continue
        script = os.path.join(os.path.abspath(directory), name)
        with open(script, encoding="utf-8") as f:
            draws_random = bool(_RANDOM.search(f.read()))
        theirs = _run([python, script], timeout)
        ours = _run([python, os.path.abspath(__file__), "--as-torch", script], timeout)
        if not theirs.ok and (ours.ok or ours.error_type() != theirs.error_type()):
            verdict, note = "-", "fails under PyTorch: " + theirs.last_error()
        elif not ours.ok and theirs.ok:
            verdict, note = "FAILS", ours.last_error()
        else:
            verdict, note = compare(theirs.out, ours.out, draws_random)
            if not theirs.ok:  # both stop at the same error: what they printed up to it counts
                note = f"both raise {theirs.last_error()}; " + note
        rows.append((name, verdict, theirs.seconds, ours.seconds, note))
        print(f"{name}: {verdict} ({theirs.seconds:.1f} s / {ours.seconds:.1f} s) {note}",
              file=sys.stderr, flush=True)
        if show_diff and verdict in ("DIFFERS", "FAILS"):
            print(ours.err[-3000:] if verdict == "FAILS" else ours.out[-3000:], file=sys.stderr)
    return rows


def table(rows, markdown: bool) -> str:
    head = ("program", "match", "PyTorch s", "distgrad s", "ratio", "note")
    body = [(n, v, f"{t:.1f}", f"{d:.1f}", f"{d / t:.1f}x" if t > 0 else "-", note)
            for n, v, t, d, note in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head) - 1)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths) + "  {}"
    return "\n".join(fmt.format(*r) for r in [head] + body)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", nargs="?", help="a directory of PyTorch example programs")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--show-diff", action="store_true", help="print what differs")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--python", default=sys.executable, help="the Python that has torch")
    ap.add_argument("--as-torch", metavar="SCRIPT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.as_torch:
        run_as_torch(args.as_torch)
        return 0
    if not args.directory:
        ap.error("give a directory of example programs")
    rows = check_directory(args.directory, args.timeout, args.show_diff, args.python)
    print(table(rows, args.markdown))
    bad = [r for r in rows if r[1] in ("DIFFERS", "FAILS")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
