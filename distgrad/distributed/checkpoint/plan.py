"""What a checkpoint holds: a state dict flattened to paths, each tensor as its parts
(where each part lives and which box of the whole it covers), and the overlap of boxes
that resharding on load needs. Plain data; no files, no messages."""
from __future__ import annotations

from ...tensor import Tensor


def flatten(state_dict, path=()):
    """[(path, value, container, key)] for every tensor and every other leaf, in order.
    A path is a tuple of the dict keys and list indices that lead to the value."""
    out = []
    items = state_dict.items() if isinstance(state_dict, dict) else enumerate(state_dict)
    for key, value in items:
        p = path + (key,)
        if isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(
                isinstance(v, (Tensor, dict, list, tuple)) for v in value)):
            out.extend(flatten(value, p))
        else:
            out.append((p, value, state_dict, key))
    return out


def container_kinds(state_dict, path) -> list:
    """The kind of each container along `path` from the top ("dict", "list" or "tuple"):
    a manifest keeps them, so that the nesting can be made again without a state dict to
    fill (format_utils)."""
    kinds, node = [], state_dict
    for key in path[:-1] if path else ():
        kinds.append(_kind(node))
        node = node[key]
    return kinds + [_kind(node)] if path else kinds


def _kind(container) -> str:
    return "dict" if isinstance(container, dict) else (
        "tuple" if isinstance(container, tuple) else "list")


def path_key(path) -> str:
    """A path as the manifest writes it: JSON keeps ints and strings apart."""
    import json

    return json.dumps(list(path))


def placement_record(t: Tensor) -> dict:
    """Where `t` lives, as the manifest records it: its device, or its storage kind's record
    of how it is spread (the same as distgrad.save's)."""
    return t._storage.placement_record(t) or {"device": t.device_str}


def parts(t: Tensor, every_copy: bool = False):
    """[(tensor on one device, offsets of its box in the whole)] of `t`. A replicated
    tensor's parts are its first copy (every_copy: every copy made so far), and so are a
    shard's that is replicated."""
    from ..sharding import Replicate

    zeros = [0] * t.ndim
    s = t._sharding
    if s is None:
        return [(t, zeros)]
    if isinstance(s.placement, Replicate):
        copies = s.shards if every_copy else s.shards[:1]
        return [(c, zeros) for c in copies if c is not None]
    out, start = [], 0
    for shard in s.shards:
        offsets = list(zeros)
        offsets[s.placement.dim] = start
        start += shard.shape[s.placement.dim]
        # a shard copied over data-parallel groups (a 2-D mesh): its copies, at its box
        inner = parts(shard, every_copy) if shard._sharding is not None else [(shard, zeros)]
        out.extend((part, offsets) for part, _ in inner)
    return out


def overlap(offsets_a, shape_a, offsets_b, shape_b):
    """The box two boxes share, as (starts, stops) in global coordinates, or None."""
    starts = [max(a, b) for a, b in zip(offsets_a, offsets_b)]
    stops = [min(a + n, b + m) for a, n, b, m in zip(offsets_a, shape_a, offsets_b, shape_b)]
    if any(lo >= hi for lo, hi in zip(starts, stops)) and len(starts):
        return None
    return starts, stops
