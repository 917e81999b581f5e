"""`python -m distgrad`: arguments, help, and the commands on the local backend (no Ray)."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types

import pytest

import distgrad.distributed as dist
from distgrad import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _no_runtime_left():
    yield
    dist.shutdown()


def run(argv, capsys):
    """main(argv) in this process: (exit status, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse: --help (0) and bad arguments (2)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# ---- help and arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["demo", "train", "info"])
def test_help_of_each_command(cmd, capsys):
    code, out, _ = run([cmd, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"usage: python -m distgrad {cmd}")
    for flag in ("--workers", "--backend", "--address"):
        assert flag in out


def test_top_level_help_lists_the_commands(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for cmd in ("demo", "train", "bench", "info"):
        assert cmd in out


@pytest.mark.parametrize("argv, words", [
    ([], "required"),
    (["fly"], "invalid choice"),
    (["train", "--workers", "0"], "--workers: expected a positive integer, got 0"),
    (["train", "--epochs", "many"], "--epochs: expected a positive integer, got 'many'"),
    (["train", "--lr", "-1"], "--lr: expected a positive number"),
    (["train", "--backend", "mpi"], "invalid choice: 'mpi'"),
    (["train", "--address", "auto", "--backend", "local"], "cannot be used with --backend local"),
    (["train", "--workers", "5"], "at most 4 workers, or --sharded"),
    (["train", "--test-fraction", "1.5"], "--test-fraction 1.5: must be between 0 and 1"),
    (["train", "--plot", "curve.jpg"], "expected a file name ending in .png"),
    (["train", "--plot", "/no/such/dir/curve.png"], "directory /no/such/dir does not exist"),
    (["train", "--resume"], "--resume needs --checkpoint-dir"),
    (["train", "--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir"),
    (["train", "--checkpoint-every", "0", "--checkpoint-dir", "/tmp"],
     "--checkpoint-every: expected a positive integer, got 0"),
    (["train", "--max-restarts", "-1"], "--max-restarts: expected a number >= 0, got -1"),
    (["train", "--checkpoint-dir", "/no/such/dir/ckpt"], "directory /no/such/dir does not exist"),
    (["train", "--parallel", "pp", "--sharded"], "cannot be used with --sharded"),
    (["train", "--model", "cnn", "--parallel", "pp"], "--model cnn has no pipeline plan"),
    (["train", "--parallel", "pp", "--batch-size", "3"], "smaller than --microbatches 4"),
    (["train", "--model", "gpt", "--parallel", "pp", "--layers", "1"],
     "--layers 1 is fewer than --workers 2"),
    (["demo", "--workers", "1"], "needs at least 2 workers"),
    (["demo", "--graph", "graph.txt"], "expected a file name ending in .svg"),
    (["info", "--timeout", "0"], "--timeout: expected a positive number"),
])
def test_bad_arguments_exit_2_with_a_reason(argv, words, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert words in err
    assert "usage: python -m distgrad" in err


def test_bad_arguments_from_the_shell():
    proc = subprocess.run([sys.executable, "-m", "distgrad", "train", "--workers", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "python -m distgrad train: error: argument --workers" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "distgrad", "demo", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--graph" in proc.stdout


# ---- bench: dispatched to the checkout's benchmarks/bench.py -------------------------------------

def test_bench_passes_its_arguments_on(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("benchmarks.bench")
    fake.main = lambda argv: seen.append(argv) or {"ok": True}
    monkeypatch.setattr(cli, "import_benchmark", lambda: fake)
    code, _, _ = run(["bench", "--sizes", "S", "--help"], capsys)
    assert code == 0
    assert seen == [["--sizes", "S", "--help"]]


def test_bench_model_gpt_runs_the_gpt_benchmark(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("benchmarks.gpt")
    fake.main = lambda argv: seen.append(argv) or {"ok": True}
    monkeypatch.setattr(cli, "import_benchmark", lambda module="benchmarks.bench":
                        fake if module == "benchmarks.gpt" else None)
    code, _, _ = run(["bench", "--model", "gpt", "--rounds", "2"], capsys)
    assert code == 0
    assert seen == [["--rounds", "2"]]
    assert cli.CHECKOUT and os.path.isfile(os.path.join(cli.CHECKOUT, "benchmarks", "gpt.py"))


def test_bench_finds_the_checkouts_benchmark():
    bench = cli.import_benchmark()
    assert bench.__name__ == "benchmarks.bench"
    assert bench.__file__.startswith(cli.CHECKOUT)


def test_bench_outside_a_checkout_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "CHECKOUT", str(tmp_path))
    code, _, err = run(["bench"], capsys)
    assert code == 1
    assert "distgrad bench: error: the benchmark is not part of the installed package" in err


def test_bench_without_torch_says_so(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    code, _, err = run(["bench", "--sizes", "S"], capsys)
    assert code == 1
    assert "distgrad bench: error: the benchmark compares distgrad with PyTorch, which is not " \
           "installed" in err


# ---- the commands, on the local backend ----------------------------------------------------------

def test_demo_prints_the_tutorial_and_matches_the_driver(tmp_path, capsys):
    graph = tmp_path / "tutorial.dot"
    code, out, err = run(["demo", "--backend", "local", "--graph", str(graph)], capsys)
    assert code == 0, err
    # the tutorial's steps, shown and then printed as torch prints them, with placement
    assert '>>> x = torch.ones(5, device="worker:0")  # input tensor' in out
    assert re.search(r"Gradient function for z = <AddBackward0 object at 0x[0-9a-f]+>", out)
    assert re.search(r"Gradient function for loss = <BinaryCrossEntropyWithLogitsBackward0 "
                     r"object at 0x[0-9a-f]+>", out)
    assert "#   x     worker:0" in out
    assert "#   loss  worker:1   BinaryCrossEntropyWithLogitsBackward0 on worker:1" in out
    assert "device='worker:1')" in out  # w.grad and b.grad print where they live
    assert ">>> print(z.requires_grad)\nTrue\n" in out
    assert ('...     z = torch.matmul(x.to("worker:1"), w)+b\n'
            '>>> print(z.requires_grad)\nFalse\n') in out
    assert "First call\ntensor([[4., 2., 2., 2., 2.]," in out
    assert "Second call\ntensor([[8., 4., 4., 4., 4.]," in out
    assert "Call after zeroing gradients\ntensor([[4., 2., 2., 2., 2.]," in out
    # the side-by-side check
    assert "Side by side" in out and "match: yes" in out
    for key in ("loss", "w.grad", "b.grad", "inp.grad"):
        assert re.search(rf"^  {re.escape(key)}\s+\[", out, re.MULTILINE)
    dot = graph.read_text()
    assert dot.startswith("digraph distgrad {")
    assert "BinaryCrossEntropyWithLogitsBackward0" in dot and '"w\\n(5, 3)\\nworker:1"' in dot


def test_demo_fails_when_the_workers_disagree_with_the_driver(monkeypatch, capsys):
    from distgrad.cli import demo

    real = demo._driver_twin

    def off_by_one(w0, b0):
        out = real(w0, b0)
        out["b.grad"] = out["b.grad"] + 1.0
        return out

    monkeypatch.setattr(demo, "_driver_twin", off_by_one)
    code, out, _ = run(["demo", "--backend", "local"], capsys)
    assert code == 1
    assert "match: NO" in out


def _train_ok(out: str) -> float:
    m = re.search(r"^test accuracy: (\d+\.\d+)% \((\d+)/360 held-out images\)", out, re.MULTILINE)
    assert m, out
    return float(m.group(1))


def test_train_one_epoch_local(tmp_path, capsys):
    plot, graph = tmp_path / "curve.png", tmp_path / "step.dot"
    code, out, err = run(["train", "--backend", "local", "--epochs", "1", "--plot", str(plot),
                          "--graph", str(graph)], capsys)
    assert code == 0, err
    assert "workers: 2 on 1 node" in out
    assert "layer 1: worker:0, layer 2: worker:0, layer 3: worker:1, layer 4: worker:1" in out
    assert re.search(r"^epoch 1/1: loss \d+\.\d+, test accuracy \d+\.\d+%, \d+ samples/s", out,
                     re.MULTILINE)
    assert _train_ok(out) > 30.0  # one epoch: far above chance (10%)
    assert "samples_s=" in err and "loss=" in err  # the tqdm bar: loss and throughput
    assert plot.read_bytes()[:8] == PNG_MAGIC
    dot = graph.read_text()
    assert "ToCopyBackward0" in dot and "worker:0 → worker:1" in dot  # the layers' hop


def test_train_sharded_local(tmp_path, capsys):
    pytest.importorskip("distgrad.distributed.nn")
    code, out, err = run(["train", "--backend", "local", "--epochs", "1", "--sharded",
                          "--plot", str(tmp_path / "c.png"), "--no-progress"], capsys)
    assert code == 0, err
    assert "each split over worker:0, worker:1" in out
    assert _train_ok(out) > 30.0


def test_train_pipelined_local(tmp_path, capsys):
    code, out, err = run(["train", "--backend", "local", "--epochs", "1", "--parallel", "pp",
                          "--plot", str(tmp_path / "c.png"), "--no-progress"], capsys)
    assert code == 0, err
    assert "pipeline: 2 stages, Schedule1F1B over 4 micro-batches per step" in out
    assert _train_ok(out) > 30.0


def test_train_sharded_without_the_layers_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distgrad.distributed.nn", None)
    code, _, err = run(["train", "--backend", "local", "--sharded", "--epochs", "1",
                        "--plot", str(tmp_path / "c.png")], capsys)
    assert code == 1
    assert "distgrad train: error: --sharded needs the column/row-parallel layers" in err


GPT_TINY = ["--layers", "1", "--heads", "2", "--width", "16", "--context", "8", "--epochs", "1",
            "--steps-per-epoch", "2", "--eval-batches", "1", "--batch-size", "2",
            "--sample-chars", "5"]


@pytest.mark.parametrize("parallel", ["none", "tp", "dp", "pp"])
def test_train_gpt_local(tmp_path, capsys, parallel):
    plot = tmp_path / "gpt.png"
    # (a block per stage, a window per micro-batch)
    blocks = ["--layers", "2", "--microbatches", "2"] if parallel == "pp" else []
    code, out, err = run(["train", "--model", "gpt", "--parallel", parallel, "--backend",
                          "local", "--plot", str(plot)] + GPT_TINY + blocks, capsys)
    assert code == 0, err
    assert "character-level GPT on the standard library's source" in out
    if parallel != "none":
        kind = {"tp": "tensor-parallel", "dp": "data-parallel", "pp": "pipelined"}[parallel]
        assert f"{kind} over worker:0, worker:1" in out
    assert re.search(r"^epoch 1/1: training loss \d+\.\d+, validation loss \d+\.\d+, "
                     r"\d+ tokens/s", out, re.MULTILINE)
    assert re.search(r"^validation loss: \d+\.\d+ ", out, re.MULTILINE)
    assert re.search(r"sample \(prompt 'def ', 5 characters", out)
    assert "tokens_s=" in err  # the progress bar's throughput
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_train_gpt_dp_without_ddp_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distgrad.nn.parallel", None)
    code, _, err = run(["train", "--model", "gpt", "--parallel", "dp", "--backend", "local",
                        "--plot", str(tmp_path / "c.png")] + GPT_TINY, capsys)
    assert code == 1
    assert "--parallel dp needs distgrad.nn.parallel.DistributedDataParallel" in err


def test_train_cnn_one_epoch(tmp_path, capsys):
    code, out, err = run(["train", "--model", "cnn", "--epochs", "1", "--no-progress",
                          "--plot", str(tmp_path / "c.png")], capsys)
    assert code == 0, err
    m = re.search(r"^test accuracy: (\d+\.\d+)% after 1 epochs", out, re.MULTILINE)
    assert m and float(m.group(1)) > 30.0, out


def test_train_model_flags_that_do_not_fit(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "cnn", "--parallel", "tp"])
    assert "--model cnn has no tensor-parallel plan" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "gpt", "--width", "10", "--heads", "4"])
    assert "--width 10 must be a multiple of --heads 4" in capsys.readouterr().err


def test_info_local(capsys):
    code, out, err = run(["info", "--backend", "local", "--workers", "3"], capsys)
    assert code == 0, err
    assert "backend local" in out
    assert "workers: 3" in out
    for k in range(3):
        assert re.search(rf"^  worker:{k}\s+\d+\s+local\s+0\s+0\s+0$", out, re.MULTILINE)


def test_stage_devices_spread_layers_in_order():
    from distgrad.cli.train import stage_devices

    assert stage_devices(4, ["worker:0"]) == ["worker:0"] * 4
    assert stage_devices(4, ["worker:0", "worker:1"]) == ["worker:0", "worker:0", "worker:1",
                                                          "worker:1"]
    assert stage_devices(4, ["worker:0", "worker:1", "worker:2"]) == [
        "worker:0", "worker:0", "worker:1", "worker:2"]
    assert stage_devices(4, [f"worker:{k}" for k in range(4)]) == [f"worker:{k}" for k in range(4)]
