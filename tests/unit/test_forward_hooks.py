"""Module forward hooks' keyword options (with_kwargs, prepend, always_call) against torch."""
from __future__ import annotations

import warnings

import torch

import distgrad


def _events(mod):
    log = []

    def value(o):  # None when forward raised
        return None if o is None else o.tolist()

    class Scaled(mod.nn.Module):
        def forward(self, x, scale=1.0):
            if x.sum().item() > 100:
                raise ValueError("too big")
            return x * scale

    m = Scaled()
    m.register_forward_hook(lambda _, a, o: log.append(("plain", value(o))), always_call=True)
    m.register_forward_hook(lambda _, a, kw, o: log.append(("kw", dict(kw), value(o))),
                            with_kwargs=True, always_call=True)
    m.register_forward_hook(lambda _, a, o: log.append("first"), prepend=True)
    pre = m.register_forward_pre_hook(lambda _, a, kw: (a, {"scale": 3.0}), with_kwargs=True)
    log.append(m(mod.ones(2), scale=2.0).tolist())
    pre.remove()
    try:
        m(mod.ones(200))
    except ValueError as e:
        log.append(str(e))
    log.append((len(m._forward_hooks), len(m._forward_hooks_with_kwargs),
                len(m._forward_pre_hooks_with_kwargs)))

    bad = Scaled()
    bad.register_forward_pre_hook(lambda _, a, kw: 5, with_kwargs=True)
    try:
        bad(mod.ones(1))
    except RuntimeError as e:
        log.append(str(e))

    loud = Scaled()
    loud.register_forward_hook(lambda *_: {}["x"], always_call=True)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            loud(mod.ones(200))
        except ValueError as e:
            log.append(str(e))
    log.append([str(w.message) for w in ws])
    return log


def test_forward_hook_options_match_torch():
    assert _events(distgrad) == _events(torch)
