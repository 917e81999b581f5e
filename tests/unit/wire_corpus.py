"""Messages for fuzzing the wire decoder and workers: a corpus of real driver traffic,
cheap mutations of it, and hypothesis strategies that generate messages from scratch.

The corpus is what a local runtime's driver really sent while training a small
two-worker model (forward, backward, an SGD step): replayed in order to a fresh worker,
every message is valid. Its vocabulary has no op whose forward can fail on the values it
is given (indexing by index tensors, nll_loss's targets): such an error on a valid
message is an op error by design, not a malformed message (see worker.py).
"""
from __future__ import annotations

import math
import random

import msgpack
import numpy as np
from hypothesis import strategies as st

from distgrad.distributed import wire
from distgrad.ops.table import OPS

_corpus: list | None = None


def corpus() -> list:
    """[(worker index, payload bytes)] in the order the driver sent them."""
    global _corpus
    if _corpus is None:
        _corpus = _capture()
    return _corpus


def _capture() -> list:
    import distgrad as dg
    import distgrad.distributed as dist
    from distgrad.distributed import runtime

    sent = []
    if dist.is_initialized():  # (a test session's runtime: the next test that needs one starts it)
        dist.shutdown()
    rt = dist.init(2, backend="local")
    real = runtime.LocalEndpoint.submit

    def capture(self, index, instrs, args, n_exports):
        sent.append((index, wire.run_message(instrs, inline_arrays=[np.asarray(a) for a in args])))
        return real(self, index, instrs, args, n_exports)

    rt.endpoint.submit = capture.__get__(rt.endpoint)
    try:
        dg.manual_seed(0)
        w0 = dg.randn(4, 3, device="worker:0", requires_grad=True)
        b0 = dg.zeros(3, device="worker:0", requires_grad=True)
        w1 = dg.randn(3, 2, device="worker:1", requires_grad=True)
        opt = dg.optim.SGD([w0, b0, w1], lr=0.1, momentum=0.9)
        for _ in range(2):
            x = dg.randn(5, 4).to("worker:0")
            h = (x @ w0 + b0).tanh()
            h = dg.cat([h, h.sigmoid()], dim=0).reshape(5, 6).t().to("worker:1")
            z = h.t().reshape(10, 3) @ w1
            loss = (z.relu().softmax(dim=1) * 2 - 1).pow(2).mean() + z.exp().sum(dim=0).max() * 0.01
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
        w1.detach().sum().item()
        dist.stats()
    finally:
        dist.shutdown()
    for _, payload in sent:
        wire.decode_request(payload)  # every captured message is well formed
    sent += [(0, wire.simple_message("ping")), (1, wire.simple_message("stats"))]
    return sent


# ---- mutations ---------------------------------------------------------------------------------

_MARKERS = [0xc0, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4,
            0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x90, 0x80, 0xa0, 0x00, 0x7f, 0xff]


def _weird(rng: random.Random):
    return rng.choice([
        None, True, False, 0, 1, -1, 7, 2 ** 31, 2 ** 63 - 1, 2 ** 64 - 1, -2 ** 63, 1e308, -0.0,
        math.nan, math.inf, "", "x", "float32", "complex64", "op", "run", "ping", "free", "import",
        b"", b"\x00\xff", [], {}, [[]], [0], [[0, 1]], [[1, 2.5]], [[2]], {"v": 1},
        {"dim": 0}, {"shape": [2, -1]}, [0, 1, 2], ["op"],
        rng.choice(sorted(OPS)), rng.randrange(-5, 300),
        msgpack.ExtType(1, b"\x93\xa7float32\x91\x02\xc4\x08" + b"\x00" * 8),  # a valid array
        msgpack.ExtType(1, rng.randbytes(rng.randrange(12))),
        msgpack.ExtType(rng.randrange(-128, 128), rng.randbytes(3)),
    ])


def _nodes(obj, path=()):
    yield path, obj
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nodes(v, path + (i,))
    elif isinstance(obj, dict):
        for k, v in list(obj.items()):
            yield from _nodes(v, path + (k,))


def _structural(rng: random.Random, payload: bytes) -> bytes:
    obj = msgpack.unpackb(payload, raw=False, strict_map_key=False,
                          ext_hook=lambda c, d: msgpack.ExtType(c, d))
    for _ in range(rng.randrange(1, 4)):
        nodes = list(_nodes(obj))
        path, node = rng.choice(nodes)
        if not path:
            obj = _weird(rng) if rng.random() < 0.2 else obj
            continue
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        action = rng.randrange(5)
        if action == 0 or not isinstance(parent, (list, dict)):
            parent[key] = _weird(rng)
        elif action == 1:
            del parent[key]
        elif action == 2 and isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), parent[key])
        elif action == 3 and isinstance(parent, list) and len(parent) > 1:
            j = rng.randrange(len(parent))
            parent[key], parent[j] = parent[j], parent[key]
        elif isinstance(parent, dict):
            parent[rng.choice(["v", "type", "instrs", "arrays", "pickle", "x", 1])] = _weird(rng)
        else:
            parent[key] = _weird(rng)
    return msgpack.packb(obj, use_bin_type=True)


def mutate(rng: random.Random, payload: bytes, others: list) -> bytes:
    """One cheap mutation of a message: bytes flipped, cut, inserted, spliced, a msgpack
    type marker swapped, or a part of its decoded structure replaced, dropped or moved."""
    b = bytearray(payload)
    if not b:
        return rng.randbytes(rng.randrange(1, 9))
    kind = rng.randrange(8)
    if kind == 0:
        for _ in range(rng.randrange(1, 5)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        b = b[:rng.randrange(len(b))]
    elif kind == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randrange(1, 9))
    elif kind == 3:
        i = rng.randrange(len(b))
        del b[i:i + rng.randrange(1, 9)]
    elif kind == 4:
        other = rng.choice(others) or b"\x80"
        b = b[:rng.randrange(len(b))] + other[rng.randrange(len(other)):]
    elif kind == 5:
        for _ in range(rng.randrange(1, 3)):
            b[rng.randrange(len(b))] = rng.choice(_MARKERS)
    else:
        try:
            return _structural(rng, bytes(b))
        except Exception:  # not decodable as plain msgpack: flip a byte instead
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


# ---- generation --------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 64 - 1),
                     st.integers(-3, 40), st.floats(), st.text(max_size=8), st.binary(max_size=8))
_values = st.recursive(_scalars, lambda ch: st.lists(ch, max_size=4)
                       | st.dictionaries(st.text(max_size=6), ch, max_size=4), max_leaves=10)
_small = st.one_of(st.integers(-4, 8), st.booleans(), st.none(), st.floats(-4, 4),
                   st.lists(st.integers(-3, 6), max_size=3),
                   st.sampled_from(["mean", "sum", "none", "float32", "int64", "floor"]))
_ids = st.one_of(st.integers(0, 60), st.integers(-3, 2 ** 64 - 1))
_dtype_names = st.lists(st.sampled_from(["float32", "float64", "int64", "bool", "complex64"]),
                        max_size=3)
_arrays = st.builds(
    lambda shape, dt, seed: np.random.default_rng(seed).standard_normal(shape).astype(dt),
    st.lists(st.integers(0, 3), max_size=3), st.sampled_from(["float32", "float64", "int64", "bool"]),
    st.integers(0, 1000))
_input = st.one_of(st.tuples(st.just(0), _ids).map(list),
                   st.tuples(st.just(1), st.one_of(st.integers(-3, 3), st.floats(-3, 3))).map(list),
                   st.just([2]), _values)
_attr_names = st.one_of(st.sampled_from(["dim", "keepdim", "shape", "alpha", "dims", "value",
                                         "dtype", "reduction", "start_dim", "end_dim", "dim0",
                                         "dim1", "correction", "min", "max", "rounding_mode"]),
                        st.text(max_size=4))
_instr = st.one_of(
    st.tuples(st.just("op"), st.one_of(st.sampled_from(sorted(OPS)), st.text(max_size=6)),
              st.lists(_input, max_size=3), st.dictionaries(_attr_names, _small, max_size=3),
              st.lists(_ids, max_size=2), _dtype_names).map(list),
    st.tuples(st.just("import"), _ids, st.integers(-1, 3)).map(list),
    st.tuples(st.just("export"), _ids).map(list),
    st.tuples(st.just("assign"), _ids, _ids).map(list),
    st.tuples(st.just("node"), _ids, st.lists(_ids, max_size=3)).map(list),
    st.tuples(st.sampled_from(["free", "free_node"]), st.lists(_ids, max_size=3)).map(list),
    _values)
messages = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries({"v": st.one_of(st.just(1), _values),
                           "type": st.one_of(st.sampled_from(["run", "ping", "stats"]), _values),
                           "instrs": st.one_of(st.lists(_instr, max_size=6), _values)}),
    st.dictionaries(st.sampled_from(["arrays", "pickle", "v", "type"]),
                    st.one_of(st.lists(_arrays, max_size=2), _values), max_size=2))


def pack_generated(msg) -> bytes:
    """A generated message as bytes (its arrays as distgrad's msgpack ext)."""
    return wire.pack(msg)


def extra_args(rng: random.Random) -> tuple:
    """Array arguments passed beside a message (as Ray passes them), sometimes wrong ones."""
    pick = rng.randrange(6)
    if pick == 0:
        return (np.ones((2, 2), np.float32),)
    if pick == 1:
        return (np.arange(3, dtype=np.int16), "not an array", None)
    if pick == 2:
        return (np.array(["a", "b"]), np.zeros(2, dtype=np.complex64), np.empty(2, dtype=object))
    return ()
