"""The digits data of the MLP and CNN jobs, and what a run reports of them: the split, the
test accuracy, the loss curve."""
from __future__ import annotations

import numpy as np

import distgrad

from .common import CLIError


def load_digits_split(test_fraction: float, seed: int):
    """(X_train, y_train, X_test, y_test): a stratified split, pixels standardised with the
    training set's mean and spread."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise CLIError("scikit-learn is needed for the training data: pip install "
                       "'distgrad[job]' (or scikit-learn)") from None
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=seed,
                                              stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 0.1
    return (X_tr - mean) / std, y_tr, (X_te - mean) / std, y_te


def to_numpy(t) -> np.ndarray:
    full = getattr(t, "full_tensor", None)
    if getattr(t, "_sharding", None) is not None and full is not None:
        t = full()
    return t.detach().cpu().numpy()


def accuracy(model, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> float:
    """The share of `X` (sent to `device`, where the model's first layer is) classed as `y`."""
    with distgrad.no_grad():
        logits = model(distgrad.from_numpy(X).to(device))
        pred = to_numpy(logits).argmax(axis=1)
    return float((pred == y).mean())


def save_loss_curve(path: str, losses, epoch_ends, accs, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="#9ecae1", lw=0.8, label="training loss (per step)")
    k = max(1, len(losses) // 50)
    if len(losses) >= k:
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, color="#08519c", lw=1.8, label=f"mean of {k} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax2 = ax.twinx()
    ax2.plot(epoch_ends, [100 * a for a in accs], "o-", color="#d62728", lw=1.2,
             label="test accuracy (%)")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_ylim(0, 100)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
