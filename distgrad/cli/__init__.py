"""`python -m distgrad` (or `distgrad`): demo, train, bench, info. Each command is a module
of this package (demo.py, train.py); what they share is in common.py.

    python -m distgrad demo                      # the autograd tutorial on 2 local Ray workers
    python -m distgrad demo --backend local --graph graph.svg
    python -m distgrad train --workers 2 --epochs 10
    python -m distgrad train --address auto      # inside `ray job submit`, or on a cluster node
    python -m distgrad info --address auto
    python -m distgrad bench --help

Bad arguments exit with status 2 and a one-line reason; a run that fails (a cluster that
cannot be reached, a check that does not hold) exits with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from .common import MLP_LAYERS, CLIError, start_workers


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _output_file(*suffixes):
    def check(text: str) -> str:
        ext = os.path.splitext(text)[1].lower()
        if ext not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a file name ending in {', '.join(suffixes)}")
        parent = os.path.dirname(os.path.abspath(text))
        if not os.path.isdir(parent):
            raise argparse.ArgumentTypeError(f"{text!r}: directory {parent} does not exist")
        return text
    return check


def _add_runtime_args(p: argparse.ArgumentParser, workers: int, min_workers: int = 1) -> None:
    g = p.add_argument_group("where it runs")
    g.add_argument("--workers", type=_positive_int, default=workers, metavar="N",
                   help=f"number of distgrad workers (default {workers}"
                        + (f", at least {min_workers}" if min_workers > 1 else "") + ")")
    g.add_argument("--backend", choices=("ray", "local"), default="ray",
                   help="ray: worker processes under Ray (default); local: the same workers "
                        "and messages inside this process, without Ray")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="join a running Ray cluster ('auto' on a cluster node or inside `ray job "
                        "submit`, or 'ray://host:10001'); default: start a local Ray runtime")
    g.add_argument("--timeout", type=_positive_float, default=120.0, metavar="SECONDS",
                   help="how long to wait for the cluster and its workers (default 120)")


def _add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    from .recovery import checkpoint_dir_arg

    g = p.add_argument_group("checkpoints and recovery")
    g.add_argument("--checkpoint-dir", type=checkpoint_dir_arg, metavar="DIR",
                   help="save the model, the optimizer's state and the progress to DIR at the "
                        "start, every --checkpoint-every steps and at the end (on a cluster: a "
                        "path every node can write)")
    g.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="steps between checkpoints (default: one per epoch)")
    g.add_argument("--resume", action="store_true",
                   help="start from the checkpoint in --checkpoint-dir (from step 0 if there is "
                        "none)")
    g.add_argument("--max-restarts", type=_non_negative_int, default=0, metavar="K",
                   help="when a worker dies or stops answering, replace it and go on from the "
                        "last checkpoint, at most K times (default 0: stop)")
    g.add_argument("--call-timeout", type=_positive_float, metavar="SECONDS",
                   help="how long to wait for a worker before it counts as stuck (default "
                        "600)")
    # For fault tests: pause a worker at a point of a step, reported to a listener (JSON:
    # {"step", "worker", "phase", "name", "skip", "report_to": ["127.0.0.1", port]};
    # distgrad.distributed.testhooks.pause_at), where the test kills it.
    g.add_argument("--test-pause-at", metavar="JSON", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m distgrad",
        description="distgrad: torch.autograd's API over numpy, with the graph spread over Ray "
                    "workers.")
    sub = parser.add_subparsers(dest="command", metavar="{demo,train,bench,info}")
    sub.required = True

    demo = sub.add_parser(
        "demo", help="the PyTorch autograd tutorial, its tensors on workers",
        description="Run the PyTorch autograd tutorial (seed/autograd_tutorial.md) with x on "
                    "worker:0 and w, b on worker:1, print each step as the tutorial does with "
                    "the placement of every tensor, then check the results against the same "
                    "computation in the driver (and in PyTorch, when it is installed).")
    _add_runtime_args(demo, workers=2, min_workers=2)
    demo.add_argument("--graph", type=_output_file(".svg", ".png", ".pdf", ".dot", ".gv"),
                      metavar="FILE", help="write the tutorial's graph (loss) to FILE: .svg, .png, "
                                           ".pdf (Graphviz if installed, else matplotlib) or .dot")
    demo.add_argument("--seed", type=int, default=0, help="seed of torch.manual_seed (default 0)")

    train = sub.add_parser(
        "train", help="train a model-parallel MLP on handwritten digits (or a CNN, or a GPT)",
        description="Train a 4-layer MLP on scikit-learn's handwritten digits (8x8 images, 10 "
                    "classes; shipped with scikit-learn, no download) with its layers spread "
                    "over the workers (or split inside each layer with --sharded), report the "
                    "held-out test accuracy and write the loss curve as a PNG. --model cnn "
                    "trains a small CNN on the same digits; --model gpt a character-level GPT "
                    "on the standard library's own source files, reporting the validation "
                    "loss per epoch and a generated sample.")
    _add_runtime_args(train, workers=2)
    train.add_argument("--model", choices=("mlp", "cnn", "gpt"), default="mlp",
                       help="what to train (default mlp, the quick one)")
    train.add_argument("--parallel", choices=("none", "dp", "tp", "pp"), default=None,
                       help="gpt/cnn: none runs in the driver (default), tp splits the GPT "
                            "over the workers (Megatron's plan), dp is data-parallel, pp (gpt) "
                            "cuts the GPT's blocks into a stage per worker (ScheduleZeroBubble "
                            "over --microbatches); mlp: tp is --sharded, pp runs the workers' "
                            "layers as pipeline stages over micro-batches (Schedule1F1B; "
                            "default none: the whole batch layer after layer)")
    train.add_argument("--epochs", type=_positive_int, default=None, help="passes over the "
                       "training set (default 10; gpt: 5 epochs of --steps-per-epoch)")
    train.add_argument("--batch-size", type=_positive_int, default=None, metavar="B",
                       help="examples per step (default 64; gpt: 32 windows)")
    train.add_argument("--hidden", type=_positive_int, default=128, metavar="H",
                       help="width of the hidden layers (default 128)")
    train.add_argument("--lr", type=_positive_float, default=None, help="learning rate "
                       "(default: mlp 0.1, cnn 0.05, SGD with momentum 0.9; gpt 3e-3, AdamW "
                       "with a cosine schedule)")
    gpt = train.add_argument_group("--model gpt")
    gpt.add_argument("--steps-per-epoch", type=_positive_int, default=100, metavar="N",
                     help="training steps between validations (default 100)")
    gpt.add_argument("--eval-batches", type=_positive_int, default=10, metavar="N",
                     help="validation batches per epoch (default 10)")
    gpt.add_argument("--context", type=_positive_int, default=64, help="context length "
                     "(default 64)")
    gpt.add_argument("--layers", type=_positive_int, default=4, help="blocks (default 4)")
    gpt.add_argument("--heads", type=_positive_int, default=4, help="attention heads (default 4)")
    gpt.add_argument("--width", type=_positive_int, default=128, help="embedding width "
                     "(default 128)")
    gpt.add_argument("--val-fraction", type=float, default=0.1, metavar="F",
                     help="fraction of the source files held out for validation (default 0.1)")
    gpt.add_argument("--prompt", default="def ", help="the start of the generated sample "
                     "(default 'def ')")
    gpt.add_argument("--sample-chars", type=_positive_int, default=300, metavar="N",
                     help="characters to generate at the end (default 300)")
    train.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                       help="held-out fraction for the test set (default 0.2)")
    train.add_argument("--sharded", action="store_true",
                       help="use the column/row-parallel layers (every layer split over all "
                            "workers) instead of whole layers per worker")
    train.add_argument("--microbatches", type=_positive_int, default=4, metavar="M",
                       help="micro-batches per step with --parallel pp (default 4)")
    train.add_argument("--plot", type=_output_file(".png"), default="loss_curve.png",
                       metavar="FILE.png", help="where to write the loss curve (default "
                                                "loss_curve.png)")
    train.add_argument("--graph", type=_output_file(".svg", ".png", ".pdf", ".dot", ".gv"),
                       metavar="FILE", help="also write the graph of one training step")
    train.add_argument("--seed", type=int, default=0, help="seed for the split, the weights "
                                                           "and the batches (default 0)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines "
                                                                  "are still printed)")
    _add_checkpoint_args(train)

    bench = sub.add_parser(
        "bench", add_help=False, help="the benchmark against PyTorch (the checkout's "
                                      "benchmarks/); see `bench --help`",
        description="Dispatches its arguments to benchmarks/bench.py of the checkout.")
    bench.add_argument("args", nargs=argparse.REMAINDER)

    info = sub.add_parser(
        "info", help="the cluster, its nodes, the workers and their stats()",
        description="Start (or join) the workers and print the cluster's nodes, each worker's "
                    "process and node, and distgrad.distributed.stats().")
    _add_runtime_args(info, workers=2)
    for p in (demo, train, info):
        p.set_defaults(command_parser=p)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    args = parser.parse_args(argv)
    cmd_parser = args.command_parser
    if getattr(args, "address", None) is not None and args.backend == "local":
        cmd_parser.error("--address joins a Ray cluster; it cannot be used with --backend local")
    if args.command == "demo" and args.workers < 2:
        cmd_parser.error(f"--workers {args.workers}: the demo places x on worker:0 and w, b on "
                         "worker:1, so it needs at least 2 workers")
    if args.command == "train":
        _train_defaults(args, cmd_parser)
        if not 0.0 < args.test_fraction < 1.0:
            cmd_parser.error(f"--test-fraction {args.test_fraction}: must be between 0 and 1")
        for flag in ("checkpoint_every", "resume"):
            if getattr(args, flag) and args.checkpoint_dir is None:
                cmd_parser.error(f"--{flag.replace('_', '-')} needs --checkpoint-dir")
        if args.sharded and args.parallel == "pp":
            cmd_parser.error("--parallel pp pipelines whole layers per worker; it cannot be "
                             "used with --sharded")
        if args.parallel == "pp" and args.batch_size < args.microbatches:
            cmd_parser.error(f"--batch-size {args.batch_size} is smaller than --microbatches "
                             f"{args.microbatches}: some micro-batches would be empty")
        if args.model == "gpt" and args.parallel == "pp" and args.layers < args.workers:
            cmd_parser.error(f"--parallel pp cuts the GPT's blocks into a stage per worker: "
                             f"--layers {args.layers} is fewer than --workers {args.workers}")
        if args.model == "mlp" and not args.sharded and args.workers > MLP_LAYERS:
            cmd_parser.error(f"--workers {args.workers}: the MLP has {MLP_LAYERS} Linear layers, "
                             f"one or more per worker; give at most {MLP_LAYERS} workers, or "
                             "--sharded to split every layer over all of them")
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(args)
        if args.command == "train":
            from .train import run_train

            return run_train(args)
        return _info(args)
    except CLIError as e:
        print(f"distgrad {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"distgrad {args.command}: interrupted", file=sys.stderr)
        return 130


def _train_defaults(args, cmd_parser) -> None:
    """Each model's own epochs, batch size and learning rate where none was given."""
    from .train_models import DEFAULTS

    epochs, batch, lr = DEFAULTS[args.model]
    args.epochs = args.epochs or epochs
    args.batch_size = args.batch_size or batch
    args.lr = args.lr or lr
    if args.model == "mlp":
        if args.parallel == "tp":
            args.sharded = True
        elif args.parallel == "none" and args.sharded:
            cmd_parser.error("--sharded splits every layer: it is --parallel tp, not none")
        args.parallel = args.parallel or "none"
    else:
        args.parallel = args.parallel or "none"
        if args.sharded:
            cmd_parser.error(f"--sharded is the MLP's; for --model {args.model} use --parallel")
        if args.model == "cnn" and args.parallel == "pp":
            cmd_parser.error("--model cnn has no pipeline plan: use --parallel none or dp")
        if args.model == "cnn" and args.parallel == "tp":
            cmd_parser.error("--model cnn has no tensor-parallel plan: use --parallel none or dp")
        if args.model == "gpt" and args.width % args.heads:
            cmd_parser.error(f"--width {args.width} must be a multiple of --heads {args.heads}")
        if args.model == "gpt" and not 0.0 < args.val_fraction < 1.0:
            cmd_parser.error(f"--val-fraction {args.val_fraction}: must be between 0 and 1")


# ---- bench ----------------------------------------------------------------------------------------

# The benchmark imports PyTorch, so it lives outside the package, in the checkout's
# benchmarks/ folder: this command finds it next to the distgrad it runs from (an editable
# install or the working tree) and puts that checkout first on sys.path.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def import_benchmark(module: str = "benchmarks.bench"):
    """`module` (benchmarks.bench) of the checkout; a CLIError when there is none, or no torch."""
    checkout = CHECKOUT
    if importlib.util.find_spec("torch") is None:
        raise CLIError("the benchmark compares distgrad with PyTorch, which is not installed: "
                       "pip install torch (CPU build), or the test extras: pip install -e '.[test]'")
    if not os.path.isfile(os.path.join(checkout, "benchmarks", "bench.py")):
        raise CLIError(f"the benchmark is not part of the installed package; it lives in the "
                       f"repository's benchmarks/ folder, and there is none at {checkout}: run "
                       f"`python -m distgrad bench` from a checkout (pip install -e .)")
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    return importlib.import_module(module)


def _bench(argv) -> int:
    argv = list(argv)
    model = "mlp"
    if "--model" in argv:  # gpt: the GPT step's benchmark (benchmarks/gpt.py)
        i = argv.index("--model")
        model = argv[i + 1] if i + 1 < len(argv) else ""
        if model not in ("mlp", "gpt"):
            print(f"distgrad bench: error: --model {model!r}: expected mlp or gpt", file=sys.stderr)
            return 2
        del argv[i:i + 2]
    try:
        bench = import_benchmark("benchmarks.gpt") if model == "gpt" else import_benchmark()
    except CLIError as e:
        print(f"distgrad bench: error: {e}", file=sys.stderr)
        return 1
    result = bench.main(list(argv))
    return result if isinstance(result, int) else 0


# ---- info ---------------------------------------------------------------------------------------

def _info(args) -> int:
    import distgrad
    import distgrad.distributed as dist

    rt = start_workers(args)
    try:
        print(f"distgrad {distgrad.__version__}, backend {rt.backend}")
        if rt.backend == "ray":
            where = (f"joined the Ray cluster at {args.address}" if args.address
                     else "a local Ray runtime started for this command")
            print(f"cluster: {where}")
            nodes = dist.nodes()
            alive = [n for n in nodes if n.get("Alive")]
            print(f"nodes: {len(alive)} alive" + (f", {len(nodes) - len(alive)} dead"
                                                  if len(nodes) > len(alive) else ""))
            for n in alive:
                res = n.get("Resources", {})
                store = res.get("object_store_memory", 0) / 2**20
                head = "  head" if any(k.startswith("node:__internal_head__") for k in res) else ""
                print(f"  {n['NodeID']}  {n.get('NodeManagerAddress', '?')}  "
                      f"CPU {res.get('CPU', 0):g}  object store {store:.0f} MiB{head}")
        else:
            print(f"cluster: none (backend local: {args.workers} workers inside this process, "
                  f"pid {os.getpid()})")
        stats = dist.stats()
        print(f"workers: {len(stats)}")
        print(f"  {'device':<10} {'pid':>8}  {'node':<58} {'tensors':>7} {'graph nodes':>11} "
              f"{'bytes':>9}")
        for dev, s in stats.items():
            print(f"  {dev:<10} {s['pid']:>8}  {s['node']:<58} {s['tensors']:>7} {s['nodes']:>11} "
                  f"{s['bytes']:>9}")
        c = dist.counters()
        print(f"messages so far: {sum(c['messages'])} driver→worker, "
              f"{sum(c['bytes_sent'])} bytes sent, {sum(c['bytes_received'])} bytes received")
        return 0
    finally:
        dist.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
