"""`python -m distgrad train`: a model-parallel MLP on handwritten digits.

The data set is scikit-learn's digits (1797 8x8 images, 10 classes), which ships inside
scikit-learn: nothing is downloaded. The MLP has 4 Linear layers (64 → H → H → H → 10,
ReLU between). Without --sharded its layers are spread over the workers in order
(`stage.to("worker:K")`) and the activation crosses to the next worker with `h.to(...)`;
with --sharded every Linear is split over all workers (column-parallel then row-parallel,
one all-reduce per pair). SGD with momentum updates each parameter where it lives.
Checkpoints and surviving a worker's death (--checkpoint-dir, --resume, --max-restarts):
recovery.py, called at the ends of each step.
"""
from __future__ import annotations

import sys
import time

import numpy as np

import distgrad
import distgrad.distributed as dist
from distgrad import nn

from .common import MLP_LAYERS as N_LAYERS
from .common import CLIError, describe_workers, start_workers
from .digits import accuracy, load_digits_split, save_loss_curve, to_numpy
from .recovery import FAULTS, Recovery, epoch_order


def stage_devices(n_layers: int, workers: list) -> list:
    """Layer i goes to worker i * W // L: consecutive layers, spread evenly, in order."""
    return [workers[i * len(workers) // n_layers] for i in range(n_layers)]


class PipelineMLP(nn.Module):
    """Linear layers with ReLU between, each on its own device; forward moves the
    activation to the next layer's device when it changes."""

    def __init__(self, sizes, devices):
        super().__init__()
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = nn.Linear(n_in, n_out)
            layers.append(layer.to(devices[i]))
        self.layers = nn.ModuleList(layers)
        self.devices = list(devices)

    def forward(self, x):
        h = x
        for i, (layer, device) in enumerate(zip(self.layers, self.devices)):
            if h.device_str != device:
                h = h.to(device)
            h = layer(h)
            if i < len(self.layers) - 1:
                h = h.relu()
        return h


def pipeline_schedule(model: PipelineMLP, n_microbatches: int):
    """The model's layers as pipeline stages (consecutive layers of one worker in one
    stage, ReLU after all but the last layer), run by Schedule1F1B (--parallel pp)."""
    from distgrad.distributed.pipelining import PipelineStage, Schedule1F1B

    groups, last = [], len(model.layers) - 1
    for i, (layer, device) in enumerate(zip(model.layers, model.devices)):
        if not groups or groups[-1][0] != device:
            groups.append((device, []))
        groups[-1][1].extend([layer] + ([nn.ReLU()] if i < last else []))
    stages = [PipelineStage(nn.Sequential(*mods), s, len(groups), device)
              for s, (device, mods) in enumerate(groups)]
    return Schedule1F1B(stages, n_microbatches, loss_fn=nn.functional.cross_entropy)


def sharded_mlp(sizes, workers):
    try:
        from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear
    except ImportError as e:
        raise CLIError(f"--sharded needs the column/row-parallel layers "
                       f"(distgrad.distributed.nn.ColumnParallelLinear, RowParallelLinear), which "
                       f"this build lacks: {e}") from None
    mods = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        cls = ColumnParallelLinear if i % 2 == 0 else RowParallelLinear
        mods.append(cls(n_in, n_out, workers=workers))
        if i < len(sizes) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _first_device(model) -> str:
    if isinstance(model, PipelineMLP):
        return model.devices[0]
    return "cpu"  # sharded layers take a driver tensor as replicated


def _last_device(model) -> str:
    if isinstance(model, PipelineMLP):
        return model.devices[-1]
    return "cpu"


def run_train(args) -> int:
    if args.model != "mlp":  # the CNN and the GPT have their own loop
        from .train_models import run_train_model

        return run_train_model(args)
    if args.parallel == "dp":  # (the MLP's data-parallel loop waits for it too)
        from .train_models import require_data_parallel

        require_data_parallel()
        raise CLIError("--model mlp --parallel dp: not wired yet; use --parallel tp or none")
    try:
        from tqdm import tqdm
    except ImportError:
        raise CLIError("tqdm is needed for the progress bar: pip install 'distgrad[job]'") from None
    X_tr, y_tr, X_te, y_te = load_digits_split(args.test_fraction, args.seed)
    start_workers(args)
    try:
        return _train(args, tqdm, X_tr, y_tr, X_te, y_te)
    finally:
        dist.shutdown()


def build_model(args, sizes):
    """The model and its optimizer on the current workers, initialised from --seed: the
    same weights at every call (recovery builds them again after a restart)."""
    workers = dist.workers()
    distgrad.manual_seed(args.seed)
    if args.sharded:
        model = sharded_mlp(sizes, workers)
    else:
        model = PipelineMLP(sizes, stage_devices(N_LAYERS, workers))
    return model, distgrad.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)


def describe_model(model, sizes, workers) -> str:
    if isinstance(model, PipelineMLP):
        return (f"model: {N_LAYERS} Linear layers {' → '.join(map(str, sizes))}, placed on "
                f"{', '.join(f'layer {i + 1}: {d}' for i, d in enumerate(model.devices))}")
    return (f"model: {N_LAYERS} Linear layers {' → '.join(map(str, sizes))}, each split over "
            f"{', '.join(workers)} (column-parallel, row-parallel, ...)")


def _pipeline_for(args, model):
    """The pipeline schedule over `model`'s stages with --parallel pp, else None."""
    if getattr(args, "parallel", "none") != "pp":
        return None
    return pipeline_schedule(model, args.microbatches)


def _train(args, tqdm, X_tr, y_tr, X_te, y_te) -> int:
    where = (f"the Ray cluster at {args.address}" if args.address else
             "a local Ray runtime" if args.backend == "ray" else "the local backend (no Ray)")
    print(f"distgrad train: digits, {len(X_tr)} training / {len(X_te)} held-out test images, "
          f"{args.workers} workers on {where}")
    describe_workers()
    sizes = [X_tr.shape[1]] + [args.hidden] * (N_LAYERS - 1) + [10]
    steps_per_epoch = (len(X_tr) + args.batch_size - 1) // args.batch_size
    total = args.epochs * steps_per_epoch
    interactive = sys.stderr.isatty()
    bar = tqdm(total=total, unit="step", dynamic_ncols=True,
               disable=args.no_progress, mininterval=0.2 if interactive else 5.0,
               file=sys.stderr)
    job = Recovery(args, lambda: build_model(args, sizes), steps_per_epoch, out=bar.write,
                   bar=bar)
    model, opt, history, step = job.start()
    print(describe_model(model, sizes, dist.workers()))
    pipeline = _pipeline_for(args, model)
    if pipeline is not None:
        print(f"pipeline: {len(pipeline._stages)} stages, Schedule1F1B over "
              f"{args.microbatches} micro-batches per step")
    bar.update(step)
    first, last = _first_device(model), _last_device(model)
    seen, train_time = 0, 0.0
    t0, epoch_seen = time.perf_counter(), 0
    while step < total:
        epoch, i = step // steps_per_epoch + 1, step % steps_per_epoch
        bar.set_description(f"epoch {epoch}/{args.epochs}")
        try:
            job.before_step(step)
            b = epoch_order(args.seed, epoch, len(X_tr))[i * args.batch_size:
                                                         (i + 1) * args.batch_size]
            xb = distgrad.from_numpy(X_tr[b]).to(first)
            yb = distgrad.from_numpy(y_tr[b]).to(last)
            opt.zero_grad()
            if pipeline is not None:
                mb_losses = []
                pipeline.step(xb, target=yb, losses=mb_losses, return_outputs=False)
                loss = sum(mb_losses[1:], mb_losses[0]) / len(mb_losses)
            else:
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
            opt.step()
            value = float(to_numpy(loss))
            if not np.isfinite(value):
                bar.close()
                raise CLIError(f"the loss became {value} at epoch {epoch}, step {i + 1}; try a "
                               f"smaller --lr (now {args.lr})")
            history["losses"].append(value)
            epoch_seen += len(b)
            elapsed = time.perf_counter() - t0
            bar.set_postfix(loss=f"{value:.4f}", samples_s=f"{epoch_seen / max(elapsed, 1e-9):.0f}",
                            **job.postfix(), refresh=False)
            if i == steps_per_epoch - 1:
                dt = time.perf_counter() - t0  # the epoch's training, without its test
                acc = accuracy(model, X_te, y_te, _first_device(model))
                history["epoch_ends"].append(len(history["losses"]))
                history["accs"].append(acc)
            job.after_step(step + 1, model, opt, history)
        except FAULTS as e:
            loss = xb = yb = None  # the failed step's graph goes with the old model
            model, opt, history, step = job.recover(e, step)
            pipeline = _pipeline_for(args, model)
            first, last = _first_device(model), _last_device(model)
            t0, epoch_seen = time.perf_counter(), 0
            continue
        step += 1
        bar.update(1)
        if i == steps_per_epoch - 1:
            train_time += dt
            seen += epoch_seen
            mean_loss = float(np.mean(history["losses"][-steps_per_epoch:]))
            bar.write(f"epoch {epoch}/{args.epochs}: loss {mean_loss:.4f}, test accuracy "
                      f"{100 * acc:.2f}%, {epoch_seen / dt:.0f} samples/s, {dt:.2f} s")
            t0, epoch_seen = time.perf_counter(), 0
    bar.close()
    losses, epoch_ends, accs = history["losses"], history["epoch_ends"], history["accs"]
    correct = int(round(accs[-1] * len(y_te)))
    print(f"test accuracy: {100 * accs[-1]:.2f}% ({correct}/{len(y_te)} held-out images) after "
          f"{args.epochs} epochs; {train_time:.1f} s of training, "
          f"{seen / max(train_time, 1e-9):.0f} samples/s")
    if job.restarts:
        print(f"restarts: {job.restarts} ({job.redone} steps done again)")
    if args.graph:
        from .. import viz

        xb = distgrad.from_numpy(X_tr[:args.batch_size]).to(first)
        yb = distgrad.from_numpy(y_tr[:args.batch_size]).to(last)
        loss = nn.functional.cross_entropy(model(xb), yb)
        names = {name: p for name, p in model.named_parameters()}
        path = viz.render({"loss": loss}, args.graph, params=names,
                          title="one training step of distgrad train")
        del loss
        print(f"graph of one step: {path}")
    mode = "sharded" if args.sharded else "pipelined" if pipeline else "model-parallel"
    save_loss_curve(args.plot, losses, epoch_ends, accs,
                    f"distgrad train: {N_LAYERS}-layer MLP on digits, {args.workers} workers "
                    f"({mode}); test accuracy {100 * accs[-1]:.1f}%")
    print(f"loss curve: {args.plot}")
    return 0
