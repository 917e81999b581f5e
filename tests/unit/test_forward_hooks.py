"""Module forward hooks' keyword options (with_kwargs, prepend, always_call) against torch."""
from __future__ import annotations

import re
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


def test_hooks_on_every_module_match_torch():
    # register_module_forward_hook: a profiler's or a logger's hook on every module's forward
    def run(mod):
        from importlib import import_module

        module = import_module(f"{mod.__name__}.nn.modules.module")
        log = []
        m = mod.nn.Sequential(mod.nn.Linear(2, 2), mod.nn.ReLU())
        with mod.no_grad():
            m[0].weight.fill_(1.0)
            m[0].bias.fill_(-1.0)
        m[0].register_forward_hook(lambda s, a, o: log.append(("own", type(s).__name__)))
        pre = module.register_module_forward_pre_hook(
            lambda s, a: log.append(("pre", type(s).__name__)))
        post = module.register_module_forward_hook(
            lambda s, a, kw, o: (log.append(("post", type(s).__name__, sorted(kw))), o * 2)[1],
            with_kwargs=True)
        out = [m(mod.ones(1, 2)).tolist()]
        pre.remove()
        post.remove()
        out.append(m(mod.ones(1, 2)).tolist())

        class Boom(mod.nn.Module):
            def forward(self, x):
                raise ValueError("boom")

        always = module.register_module_forward_hook(
            lambda s, a, o: log.append(("always", o)), always_call=True)
        try:
            Boom()(mod.ones(1))
        except ValueError as e:
            out.append(str(e))
        always.remove()
        return out, log

    assert run(distgrad) == run(torch)


def test_a_modules_hooks_print_as_torchs_ordered_dicts():
    """(the pruning tutorial prints module._forward_pre_hooks; parameters print as dicts)"""
    def printed(T):
        m = T.nn.Linear(2, 2)
        m.register_forward_pre_hook(print)
        m.register_forward_hook(print, with_kwargs=True)
        texts = [repr(d) for d in (m._forward_pre_hooks, m._forward_hooks,
                                   m._forward_hooks_with_kwargs, m._backward_hooks,
                                   m._state_dict_hooks, dict(m._parameters).keys())]
        return [re.sub(r"\d+", "#", t) for t in texts]  # (hook ids count per process)

    assert printed(distgrad) == printed(torch)
