"""`python -m distgrad train --model gpt|cnn`: the character-level GPT on the standard
library's source (text_data.py) and a small CNN on the digits (train.py's data).

--parallel none runs the model in the driver; tp splits the GPT over the workers with
Megatron's plan (models.gpt_tp_plan()); dp wraps it in DistributedDataParallel.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

import distgrad
import distgrad.distributed as dist
from distgrad.distributed.pipelining import ScheduleZeroBubble
from distgrad.nn import functional as F

from .common import CLIError, describe_workers, start_workers
from .digits import accuracy, load_digits_split, save_loss_curve, to_numpy
from .models import CNN, GPT, GPTConfig, gpt_pipeline, tensor_parallel_gpt
from .text_data import VOCAB, decode, encode, load_stdlib_text, random_windows

# Per model: (epochs, batch size, learning rate) when not given on the command line.
DEFAULTS = {"mlp": (10, 64, 0.1), "cnn": (10, 64, 0.05), "gpt": (5, 32, 3e-3)}


def require_data_parallel():
    """distgrad.nn.parallel.DistributedDataParallel; a CLIError when this build lacks it."""
    try:
        from distgrad.nn.parallel import DistributedDataParallel
    except ImportError:
        raise CLIError("--parallel dp needs distgrad.nn.parallel.DistributedDataParallel, which "
                       "this build does not have yet; use --parallel tp or none") from None
    return DistributedDataParallel


def data_parallel(model, workers):
    return require_data_parallel()(model, workers=workers)


def run_train_model(args) -> int:
    try:
        from tqdm import tqdm
    except ImportError:
        raise CLIError("tqdm is needed for the progress bar: pip install 'distgrad[job]'") from None
    if args.parallel == "dp":  # fail before loading anything
        require_data_parallel()
    uses_workers = args.parallel in ("dp", "tp", "pp")
    if uses_workers:
        start_workers(args)
    try:
        if uses_workers:
            describe_workers()
        return (_train_gpt if args.model == "gpt" else _train_cnn)(args, tqdm)
    finally:
        if uses_workers:
            dist.shutdown()


def _progress(tqdm, args, total: int, unit: str):
    interactive = sys.stderr.isatty()
    return tqdm(total=total, unit=unit, dynamic_ncols=True, disable=args.no_progress,
                mininterval=0.2 if interactive else 5.0, file=sys.stderr)


def _check_finite(value: float, bar, epoch: int, step: int, lr: float) -> None:
    if not math.isfinite(value):
        bar.close()
        raise CLIError(f"the loss became {value} at epoch {epoch}, step {step}; try a smaller "
                       f"--lr (now {lr})")


# ---- GPT -----------------------------------------------------------------------------------------

def _train_gpt(args, tqdm) -> int:
    train, val, n_train, n_val = load_stdlib_text(args.val_fraction)
    cfg = GPTConfig(vocab_size=len(VOCAB), block_size=args.context, n_layer=args.layers,
                    n_head=args.heads, n_embd=args.width)
    print(f"distgrad train: character-level GPT on the standard library's source: "
          f"{n_train} files ({len(train):,} characters) for training, {n_val} files "
          f"({len(val):,}) for validation; vocabulary {cfg.vocab_size}")
    distgrad.manual_seed(args.seed)
    model = GPT(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    where = "in the driver"
    if args.parallel == "tp":
        tensor_parallel_gpt(model, dist.workers())
        where = (f"tensor-parallel over {', '.join(dist.workers())} (heads, MLP and vocabulary "
                 "split)")
    elif args.parallel == "dp":
        model = data_parallel(model, dist.workers())
        where = f"data-parallel over {', '.join(dist.workers())}"
    pipeline = None
    if args.parallel == "pp":
        model = gpt_pipeline(model, dist.workers())
        pipeline = ScheduleZeroBubble(model.stages, args.microbatches,
                                      loss_fn=lambda logits, y: F.cross_entropy(
                                          logits, y.reshape(-1)))
        where = (f"pipelined over {', '.join(dist.workers())} (ScheduleZeroBubble, "
                 f"{args.microbatches} micro-batches; blocks split between the stages)")
    print(f"model: {cfg.n_layer} layers, {cfg.n_head} heads, width {cfg.n_embd}, context "
          f"{cfg.block_size}, {n_params:,} parameters, {where}")
    opt = distgrad.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    total = args.epochs * args.steps_per_epoch
    sched = distgrad.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=args.lr / 10)
    rng = np.random.default_rng(args.seed)
    losses, val_losses, epoch_ends = [], [], []
    tokens_per_step = args.batch_size * cfg.block_size
    bar = _progress(tqdm, args, total, "step")
    train_time = 0.0
    for epoch in range(1, args.epochs + 1):
        bar.set_description(f"epoch {epoch}/{args.epochs}")
        t0 = time.perf_counter()
        for i in range(args.steps_per_epoch):
            x, y = random_windows(train, args.batch_size, cfg.block_size, rng)
            opt.zero_grad()
            if pipeline is None:
                loss = F.cross_entropy(model(distgrad.from_numpy(x)),
                                       distgrad.from_numpy(y).reshape(-1))
                loss.backward()
            else:  # the batch split into micro-batches; the mean of their losses
                mb_losses: list = []
                pipeline.step(distgrad.tensor(x, device=model.stages[0].device),
                              target=distgrad.tensor(y, device=model.stages[-1].device),
                              losses=mb_losses, return_outputs=False)
                loss = distgrad.stack(mb_losses).mean()
            distgrad.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            value = float(to_numpy(loss))
            _check_finite(value, bar, epoch, i + 1, args.lr)
            losses.append(value)
            rate = (i + 1) * tokens_per_step / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(loss=f"{value:.3f}", tokens_s=f"{rate:.0f}", refresh=False)
            bar.update(1)
        dt = time.perf_counter() - t0
        train_time += dt
        val_loss = validation_loss(model, val, args.batch_size, cfg.block_size, args.eval_batches,
                                   args.seed)
        val_losses.append(val_loss)
        epoch_ends.append(len(losses))
        bar.write(f"epoch {epoch}/{args.epochs}: training loss "
                  f"{np.mean(losses[-args.steps_per_epoch:]):.4f}, validation loss "
                  f"{val_loss:.4f}, {args.steps_per_epoch * tokens_per_step / dt:.0f} tokens/s, "
                  f"{dt:.1f} s")
    bar.close()
    print(f"validation loss: {val_losses[-1]:.4f} ({val_losses[-1] / math.log(2):.3f} bits per "
          f"character) after {total} steps; {train_time:.1f} s of training, "
          f"{total * tokens_per_step / train_time:.0f} tokens/s")
    save_gpt_curve(args.plot, losses, epoch_ends, val_losses,
                   f"distgrad train --model gpt --parallel {args.parallel}: validation loss "
                   f"{val_losses[-1]:.3f}")
    print(f"loss curve: {args.plot}")
    text = generate(model, args.prompt, args.sample_chars, cfg.block_size, args.seed)
    print(f"sample (prompt {args.prompt!r}, {args.sample_chars} characters, temperature 0.8):")
    print("-" * 60)
    print(text)
    print("-" * 60)
    return 0


def validation_loss(model, val, batch: int, context: int, batches: int, seed: int) -> float:
    """The mean loss over the same `batches` windows of the validation text every epoch."""
    rng = np.random.default_rng(seed + 1)
    total = 0.0
    with distgrad.no_grad():
        for _ in range(batches):
            x, y = random_windows(val, batch, context, rng)
            logits = model(distgrad.from_numpy(x))
            loss = F.cross_entropy(logits, distgrad.from_numpy(y).reshape(-1))
            total += float(to_numpy(loss))
    return total / batches


def generate(model, prompt: str, n: int, context: int, seed: int, temperature: float = 0.8) -> str:
    """`prompt` and `n` characters sampled one at a time from the model's next-character
    distribution (the last `context` characters as input)."""
    rng = np.random.default_rng(seed)
    model = getattr(model, "module", model)  # DDP splits a batch: one sequence is not one
    ids = list(encode(prompt)) or [VOCAB.index("\n")]
    with distgrad.no_grad():
        for _ in range(n):
            window = np.array(ids[-context:], np.int64)[None, :]
            logits = to_numpy(model(distgrad.from_numpy(window)))[-1].astype(np.float64)
            p = np.exp((logits - logits.max()) / temperature)
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return decode(ids)


def save_gpt_curve(path: str, losses, epoch_ends, val_losses, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="#9ecae1", lw=0.8, label="training loss (per step)")
    k = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(steps[k - 1:], smooth, color="#08519c", lw=1.8, label=f"mean of {k} steps")
    ax.plot(epoch_ends, val_losses, "o-", color="#d62728", lw=1.2, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per character)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- CNN -----------------------------------------------------------------------------------------

def _train_cnn(args, tqdm) -> int:
    X_tr, y_tr, X_te, y_te = load_digits_split(args.test_fraction, args.seed)
    X_tr, X_te = X_tr.reshape(-1, 1, 8, 8), X_te.reshape(-1, 1, 8, 8)
    print(f"distgrad train: CNN on digits, {len(X_tr)} training / {len(X_te)} held-out test "
          f"images")
    distgrad.manual_seed(args.seed)
    model = CNN()
    if args.parallel == "dp":
        model = data_parallel(model, dist.workers())
    print(f"model: {model}")
    opt = distgrad.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = (len(X_tr) + args.batch_size - 1) // args.batch_size
    losses, epoch_ends, accs = [], [], []
    bar = _progress(tqdm, args, args.epochs * steps_per_epoch, "step")
    for epoch in range(1, args.epochs + 1):
        bar.set_description(f"epoch {epoch}/{args.epochs}")
        t0 = time.perf_counter()
        order = rng.permutation(len(X_tr))
        for i in range(steps_per_epoch):
            b = order[i * args.batch_size:(i + 1) * args.batch_size]
            logits = model(distgrad.from_numpy(X_tr[b]))
            loss = F.cross_entropy(logits, distgrad.from_numpy(y_tr[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = float(to_numpy(loss))
            _check_finite(value, bar, epoch, i + 1, args.lr)
            losses.append(value)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            bar.update(1)
        dt = time.perf_counter() - t0
        acc = accuracy(model, X_te, y_te)
        epoch_ends.append(len(losses))
        accs.append(acc)
        bar.write(f"epoch {epoch}/{args.epochs}: loss {np.mean(losses[-steps_per_epoch:]):.4f}, "
                  f"test accuracy {100 * acc:.2f}%, {len(X_tr) / dt:.0f} samples/s, {dt:.2f} s")
    bar.close()
    print(f"test accuracy: {100 * accs[-1]:.2f}% after {args.epochs} epochs")
    save_loss_curve(args.plot, losses, epoch_ends, accs,
                    f"distgrad train --model cnn: test accuracy {100 * accs[-1]:.1f}%")
    print(f"loss curve: {args.plot}")
    return 0
