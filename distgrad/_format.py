"""Reproduce PyTorch's ``repr(tensor)`` text from numpy data.

Mirrors the rules of ``torch/_tensor_str.py`` under the default print
options, so a distgrad tensor prints character-for-character like torch's.
"""

import numpy as np

from .dtypes import get_default_dtype

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
SCI_MODE = None  # None: chosen from the values; True / False: always / never
PREFIX = "tensor("

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, float("inf"), 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """torch.set_printoptions: a profile ("default", "short", "full") first, then each
    option given; sci_mode is set each call (None: chosen from the values)."""
    global PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH, SCI_MODE
    if profile is not None:
        PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = _PROFILES[profile]
    if precision is not None:
        PRECISION = precision
    if threshold is not None:
        THRESHOLD = threshold
    if edgeitems is not None:
        EDGEITEMS = edgeitems
    if linewidth is not None:
        LINEWIDTH = linewidth
    SCI_MODE = sci_mode

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# torch omits dtype= for non-empty tensors whose dtype it would infer anyway (with the
# default float dtype), and for empty ones of the default float dtype.
_INFERRED_DTYPES = ("int64", "bool")


def _default_float() -> str:
    return get_default_dtype().name


class _Formatter:
    """Picks one width and style (int / fixed / scientific) for every element."""

    def __init__(self, values, is_float):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.reshape(-1)
        if not is_float:
            self.width = max([1] + [len(str(v)) for v in flat.tolist()])
            return
        # Zeros, nan and inf don't influence the style or the width.
        vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if vals.size == 0:
            return
        mags = np.abs(vals)
        lo, hi = mags.min(), mags.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) \
            if SCI_MODE is None else bool(SCI_MODE)
        if self.sci_mode:
            lens = [len(f"{v:.{PRECISION}e}") for v in vals.tolist()]
        elif self.int_mode:
            # +1 for the trailing "." that marks a float.
            lens = [len(f"{v:.0f}") + 1 for v in vals.tolist()]
        else:
            lens = [len(f"{v:.{PRECISION}f}") for v in vals.tolist()]
        self.width = max(self.width, *lens)

    def format(self, value):
        if not self.is_float:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if np.isfinite(value):
                text += "."
        else:
            text = f"{value:.{PRECISION}f}"
        return text.rjust(self.width)


def _summarized(a):
    """Only the edge items are printed, so only they decide the formatting."""
    if a.ndim == 0:
        return a
    big = a.shape[0] > 2 * EDGEITEMS
    if a.ndim == 1:
        return np.concatenate([a[:EDGEITEMS], a[-EDGEITEMS:]]) if big else a
    rows = list(a[:EDGEITEMS]) + list(a[-EDGEITEMS:]) if big else list(a)
    return np.stack([_summarized(r) for r in rows])


def _body(a, indent, summarize, fmt):
    if a.ndim == 0:
        return fmt.format(a.item())
    cut = summarize and a.shape[0] > 2 * EDGEITEMS
    if a.ndim == 1:
        vals = a.tolist()
        if cut:
            items = ([fmt.format(v) for v in vals[:EDGEITEMS]] + [" ..."]
                     + [fmt.format(v) for v in vals[-EDGEITEMS:]])
        else:
            items = [fmt.format(v) for v in vals]
        # Each element costs its width plus ", ".
        per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i:i + per_line])
                 for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if cut:
        parts = ([_body(a[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)]
                 + ["..."]
                 + [_body(a[i], indent + 1, summarize, fmt)
                    for i in range(a.shape[0] - EDGEITEMS, a.shape[0])])
    else:
        parts = [_body(r, indent + 1, summarize, fmt) for r in a]
    # Higher dims are separated by blank lines: one fewer than the rank.
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _add_suffixes(text, suffixes, indent):
    # torch's line length estimate is off by two (rfind of -1 / the "\n"
    # itself); copied as is since it decides where suffixes wrap.
    last_len = len(text) - text.rfind("\n") + 1
    out = [text]
    for suffix in suffixes:
        if last_len + len(suffix) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + suffix)
            last_len = indent + len(suffix)
        else:
            out.append(", " + suffix)
            last_len += len(suffix) + 2
    out.append(")")
    return "".join(out)


def format_tensor(array: np.ndarray, dtype_name: str, suffixes: list[str]) -> str:
    """Return torch's repr of a tensor holding ``array`` with dtype ``dtype_name``.

    ``suffixes`` are caller extras (device first, then grad_fn/requires_grad);
    size= and dtype= are inserted after the device, as torch orders them.
    """
    # (torch prints float16 and bfloat16 as their float32 values)
    a = np.asarray(array).astype(np.float32) if dtype_name == "bfloat16" else \
        np.asarray(array, dtype=dtype_name)
    ours = []
    if a.size == 0:
        # Nothing to infer the dtype or shape from, so torch spells them out.
        if a.ndim != 1:
            ours.append(f"size={tuple(a.shape)}")
        if dtype_name != _default_float():
            ours.append(f"dtype=torch.{dtype_name}")
        body = "[]"
    else:
        if dtype_name not in _INFERRED_DTYPES and dtype_name != _default_float():
            ours.append(f"dtype=torch.{dtype_name}")
        summarize = a.size > THRESHOLD
        fmt = _Formatter(_summarized(a) if summarize else a,
                         dtype_name in _FLOAT_DTYPES)
        body = _body(a, len(PREFIX), summarize, fmt)
    return _with_suffixes(body, ours, suffixes)


def format_metas(shape, dtype_name: str, suffixes: list[str]) -> str:
    """torch's repr of a tensor without data (the meta device's): `...`, its size and its
    dtype (unless the default float one)."""
    ours = [f"size={tuple(shape)}"]
    if dtype_name != _default_float():
        ours.append(f"dtype=torch.{dtype_name}")
    return _with_suffixes("...", ours, suffixes)


def _with_suffixes(body: str, ours: list[str], suffixes: list[str]) -> str:
    """`tensor(body, ...)` with size= and dtype= (`ours`) after the device, as torch orders
    them."""
    head = 1 if suffixes and suffixes[0].startswith("device=") else 0
    all_suffixes = list(suffixes[:head]) + ours + list(suffixes[head:])
    return _add_suffixes(PREFIX + body, all_suffixes, len(PREFIX))
