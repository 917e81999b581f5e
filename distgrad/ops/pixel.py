"""pixel_shuffle and pixel_unshuffle: channels to space and back, each the other's
transpose (so each VJP is the other op and gradients of gradients work); channel_shuffle,
whose transpose is itself with the other factor of the channels."""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from . import layout
from .table import Meta, defop


def _shuffle(x, upscale_factor):
    r = upscale_factor
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    y = y.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def _unshuffle(x, downscale_factor):
    r = downscale_factor
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    y = y.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def _check(name: str, x, factor: int, what: str) -> None:
    if x.ndim < 3:
        raise RuntimeError(f"{name} expects input to have at least 3 dimensions, but got input "
                           f"with {x.ndim} dimension(s)")
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {what}, but got {factor}")


def _shuffle_rule(x, upscale_factor):
    r = upscale_factor
    _check("pixel_shuffle", x, r, "upscale_factor")
    c, h, w = x.shape[-3:]
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    return Meta(tuple(x.shape[:-3]) + (c // (r * r), h * r, w * r), x.dtype)


def _unshuffle_rule(x, downscale_factor):
    r = downscale_factor
    _check("pixel_unshuffle", x, r, "downscale_factor")
    c, h, w = x.shape[-3:]
    for name, n in (("height", h), ("width", w)):
        if n % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by "
                               f"downscale_factor, but input.size({-2 if name == 'height' else -1}"
                               f")={n} is not divisible by {r}")
    return Meta(tuple(x.shape[:-3]) + (c * r * r, h // r, w // r), x.dtype)


defop("pixel_shuffle", lambda x, upscale_factor: np.ascontiguousarray(_shuffle(x, upscale_factor)),
      _shuffle_rule,
      lambda c, g: call("pixel_unshuffle", g, downscale_factor=c.attrs["upscale_factor"]),
      node="PixelShuffleBackward0", layout_rule=layout.in_suggested_format)
defop("pixel_unshuffle",
      lambda x, downscale_factor: np.ascontiguousarray(_unshuffle(x, downscale_factor)),
      _unshuffle_rule,
      lambda c, g: call("pixel_shuffle", g, upscale_factor=c.attrs["downscale_factor"]),
      node="PixelUnshuffleBackward0", layout_rule=layout.in_suggested_format)


def pixel_shuffle(input, upscale_factor: int):
    return call("pixel_shuffle", input, upscale_factor=int(upscale_factor))


def pixel_unshuffle(input, downscale_factor: int):
    return call("pixel_unshuffle", input, downscale_factor=int(downscale_factor))


def _channel_shuffle(x, groups):
    n, c, *rest = x.shape
    y = x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2)
    return np.ascontiguousarray(y.reshape(x.shape))


def _channel_shuffle_rule(x, groups):
    if x.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes {list(x.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    if x.shape[1] % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {x.shape[1]} "
                           f"channels and {groups} groups.")
    return Meta(tuple(x.shape), x.dtype)


defop("channel_shuffle", _channel_shuffle, _channel_shuffle_rule,
      lambda c, g: call("channel_shuffle", g, groups=g.shape[1] // c.attrs["groups"]),
      node="ChannelShuffleBackward0", sharding="batch",  # (dim 0 is always the batch)
      layout_rule=layout.in_suggested_format)  # (torch's kernel resizes it to that format)


def channel_shuffle(input, groups: int):
    if not isinstance(groups, int):
        raise TypeError(f"channel_shuffle(): argument 'groups' (position 2) must be int, not "
                        f"{type(groups).__name__}")
    return call("channel_shuffle", input, groups=groups)
