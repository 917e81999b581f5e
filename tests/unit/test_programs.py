"""Whole programs as users write them (tests/unit/programs/), run under torch and under
distgrad: each must print the same. The op-level tests check one op at a time; these check
what a program mixes (a model, its optimizer and scheduler, a DataLoader, hooks, printing,
errors, seeded random numbers).

Each program imports distgrad as torch on a line of its own, which the torch run replaces
with `import torch`, and prints "done" last (so a program that stops early in both fails).
Each runs in a thread of its own, as a new program would, with no thread-local state
left by earlier tests. The outputs are compared as text with the numbers taken out, and the
numbers to a printed float32's last digit (torch's own kernels differ that much between
CPUs; a zero's sign is not told); object addresses are left out. A program may place
tensors: `W[k]` is worker k's device under distgrad and the CPU under torch, `shard(t, dim)`
splits t over the workers (a copy under torch), `full(t)` gathers a sharded result, and
`ddp(module)` and `compiled(fn)` are DistributedDataParallel and distgrad.compile (the
module, its state written once as DDP's broadcast writes it, and the function themselves
under torch).
"""
from __future__ import annotations

import contextlib
import io
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import distgrad

IMPORT = "import distgrad as torch  # PyTorch: import torch"
PROGRAMS = sorted((Path(__file__).parent / "programs").glob("*.py"))
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf")
_SPACES = re.compile(r"\s+")
_DISTGRAD_IMPORT = re.compile(r"^\s*(?:import|from)\s+distgrad\b", re.MULTILINE)


def _text(output: str) -> str:
    """The output without its numbers and spaces (a tensor's columns are padded to its
    widest number: a -0.0 makes them one wider)."""
    return _SPACES.sub("", _NUMBER.sub("#", output))


def _run(source: str, path: Path, places: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # (dont_inherit: this module's `from __future__ import annotations` would leave
            # a program's annotations unevaluated, where run alone it evaluates them)
            _in_a_thread_of_its_own(lambda: exec(  # noqa: S102
                compile(source, str(path), "exec", dont_inherit=True),
                {"__name__": "__program__", **places}))
        finally:
            for module in (torch, distgrad):
                module.set_printoptions(profile="default")
                # (torch.compile turns distributions' argument checks off for the process)
                module.distributions.Distribution.set_default_validate_args(__debug__)
    return _ADDRESS.sub("", out.getvalue())


def _in_a_thread_of_its_own(fn) -> None:
    """Run fn in a new thread, as a new program starts: with none of the thread-local state
    (grad mode, running transforms) that tests before it left in this one."""
    failure = []

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001  (raised again in the caller's thread)
            failure.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@contextlib.contextmanager
def _placements(wanted: bool):
    """What a program places its tensors with: under distgrad two in-process workers, a
    shard over them and its gathering; under torch the CPU twice and a copy."""
    import distgrad.distributed as dist

    if not wanted:  # (no runtime to start)
        yield {}, {}
        return
    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=2, backend="local")
    try:
        from distgrad.nn.parallel import DistributedDataParallel

        yield ({"W": ["worker:0", "worker:1"], "shard": dist.shard,
                "full": lambda t: t.full_tensor(), "ddp": DistributedDataParallel,
                "compiled": distgrad.compile},
               {"W": ["cpu", "cpu"], "shard": lambda t, dim: t.clone(), "full": lambda t: t,
                "ddp": _as_wrapped_by_ddp, "compiled": lambda fn: fn})
    finally:
        dist.shutdown()


def _as_wrapped_by_ddp(module, **options):
    """The module itself, as torch's DistributedDataParallel leaves it in one process: its
    broadcast of the module's state has written each parameter and buffer once (all but
    the empty ones; test_distributed_seams checks distgrad's DDP against torch's own)."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.numel():
                t.copy_(t)
    return module


@contextlib.contextmanager
def _torch_in_one_thread():
    """torch's kernels in one thread for its run: a program's ops are small, and on a
    loaded machine its pool's threads wait for each other (several times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_a_program_prints_what_it_prints_under_torch(path):
    source = path.read_text()
    assert IMPORT in source, f"{path.name} must import distgrad on a line of its own"
    assert len(_DISTGRAD_IMPORT.findall(source)) == 1, (
        f"{path.name} imports distgrad on another line too, which the torch run would keep: "
        "take the names from torch.* after the import instead")
    with _placements(any(name in source for name in ("W[", "shard(", "ddp(", "@compiled"))) \
            as (ours, theirs):
        with _torch_in_one_thread():
            expected = _run(source.replace(IMPORT, "import torch"), path, theirs)
        got = _run(source, path, ours)
    assert expected.endswith("done\n"), "the program stopped under torch"
    assert _text(got) == _text(expected)
    numbers = [np.array([float(n) for n in _NUMBER.findall(text)]) for text in (expected, got)]
    np.testing.assert_allclose(numbers[1], numbers[0], rtol=1e-4, atol=1.5e-4)
