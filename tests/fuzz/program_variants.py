"""The whole-program tests (tests/unit/programs) run again in variants torch and distgrad
must agree on too, to find what one program's own settings do not reach. Not part of
`make test` (each variant runs every program twice): run it after a change to a seam.

    python tests/fuzz/program_variants.py float64 [NAME ...]
    python tests/fuzz/program_variants.py on-a-worker [NAME ...]

Variants:
- a prelude line after the program's import, run under both libraries: `float64` (the
  default dtype), `print-narrow` (linewidth 50, precision 6), `print-summarized` (short
  summaries, scientific notation), `anomaly` (anomaly detection on);
- `on-a-worker`: under distgrad every tensor made without a device is made on worker:0 (the
  default device), its output compared with torch's with the device marks taken out. A
  program that converts to numpy or mixes devices explicitly differs by design there.

Prints each program's result and, for a difference, the first lines of the diff.
"""
from __future__ import annotations

import difflib
import re
import sys
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

import torch  # noqa: E402

import distgrad  # noqa: E402
import test_programs as tp  # noqa: E402

PRELUDES = {
    "float64": "torch.set_default_dtype(torch.float64)",
    "print-narrow": "torch.set_printoptions(linewidth=50, precision=6)",
    "print-summarized": "torch.set_printoptions(threshold=8, edgeitems=2, sci_mode=True)",
    "anomaly": "torch.autograd.set_detect_anomaly(True)",
}
_WORKER_MARK = re.compile(r",?\s*device='worker:0'")


def _places(source: str) -> bool:
    return any(name in source for name in ("W[", "shard(", "ddp(", "@compiled"))


def _outputs(path: Path, variant: str) -> tuple[str, str]:
    """(torch's output, distgrad's) of the program in the variant; an exception as text."""
    source = path.read_text()
    on_a_worker = variant == "on-a-worker"
    if not on_a_worker:
        source = source.replace(tp.IMPORT, tp.IMPORT + "\n" + PRELUDES[variant], 1)

    def run(text, places):
        try:
            return tp._run(text, path, places)
        except BaseException as e:  # noqa: BLE001  (reported as the program's output)
            return "raised " + "".join(traceback.format_exception_only(type(e), e))

    try:
        with tp._placements(on_a_worker or _places(source)) as (ours, theirs):
            with tp._torch_in_one_thread():
                expected = run(source.replace(tp.IMPORT, "import torch"), theirs)
            if on_a_worker:
                distgrad.set_default_device("worker:0")
            try:
                got = run(source, ours)
            finally:
                distgrad.set_default_device(None)
    finally:
        for lib in (torch, distgrad):
            lib.set_default_dtype(lib.float32)
            lib.autograd.set_detect_anomaly(False)
    return expected, _WORKER_MARK.sub("", got) if on_a_worker else got


def _same(expected: str, got: str) -> bool:
    if tp._text(got) != tp._text(expected):
        return False
    numbers = [np.array([float(n) for n in tp._NUMBER.findall(t)]) for t in (expected, got)]
    return bool(np.allclose(numbers[1], numbers[0], rtol=1e-4, atol=1.5e-4, equal_nan=True))


def main(variant: str, names: list[str]) -> int:
    if variant not in PRELUDES and variant != "on-a-worker":
        raise SystemExit(f"variant: one of {', '.join([*PRELUDES, 'on-a-worker'])}")
    differing = []
    for path in tp.PROGRAMS:
        if names and path.stem not in names:
            continue
        if variant == "on-a-worker" and _places(path.read_text()):
            continue  # (it places its tensors itself)
        expected, got = _outputs(path, variant)
        same = _same(expected, got)
        print(path.stem, "same" if same else "DIFFERS", flush=True)
        if not same:
            differing.append(path.stem)
            diff = difflib.unified_diff(expected.splitlines(), got.splitlines(), lineterm="",
                                        n=0)
            print("\n".join(list(diff)[2:14]))
    print("differing:", " ".join(differing) or "none")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2:]))
