"""Splitting a batch into micro-batches and merging the outputs back, as torch's
`torch.distributed.pipelining.microbatch`: each tensor split with `tensor_split` on its
chunk spec's dim (dim 0 unless a schedule's `args_chunk_spec` / `kwargs_chunk_spec` say
otherwise), anything else given whole to each micro-batch; the outputs concatenated on
the dims of `output_merge_spec` (dim 0 for every tensor unless it says otherwise)."""
from __future__ import annotations

from ...tensor import Tensor

__all__ = ["TensorChunkSpec", "split_args_kwargs_into_chunks", "merge_chunks"]

DEFAULT_CHUNK_DIM = 0


class TensorChunkSpec:
    """Split (or merge) a tensor on `split_dim`."""

    def __init__(self, split_dim):
        self.split_dim = split_dim

    def __repr__(self):
        return f"{type(self).__module__}.{type(self).__name__}({self.split_dim})"

    def __str__(self):
        return f"TensorChunkSpec({self.split_dim})"

    @staticmethod
    def from_tuple(chunk_dims: tuple):
        return tuple(TensorChunkSpec(d) for d in chunk_dims)

    @staticmethod
    def from_dict(chunk_dims: dict):
        return {k: TensorChunkSpec(d) for k, d in chunk_dims.items()}


class _Replicate:
    """Give the value whole to every micro-batch."""


def split_args_kwargs_into_chunks(args: tuple, kwargs, chunks: int, args_chunk_spec=None,
                                  kwargs_chunk_spec=None):
    """(args per micro-batch, kwargs per micro-batch): `chunks` of them, or fewer when a
    tensor has fewer rows on its split dim, as torch's."""
    kwargs = kwargs or {}
    arg_specs = list(args_chunk_spec) if args_chunk_spec is not None else \
        [_default_spec(a) for a in args]
    kw_specs = kwargs_chunk_spec if kwargs_chunk_spec is not None else \
        {k: _default_spec(v) for k, v in kwargs.items()}
    values = [*args, *kwargs.values()]
    specs = [*arg_specs, *(kw_specs[k] for k in kwargs)]
    count = min([chunks, *(_size(v, s.split_dim) for v, s in zip(values, specs)
                           if isinstance(v, Tensor) and isinstance(s, TensorChunkSpec))])
    parts = [_split(v, count, s) for v, s in zip(values, specs)]
    arg_parts, kw_parts = parts[:len(args)], parts[len(args):]
    return ([tuple(p[i] for p in arg_parts) for i in range(count)],
            [{k: p[i] for k, p in zip(kwargs, kw_parts)} for i in range(count)])


def merge_chunks(chunks: list, chunk_spec=None):
    """The micro-batches' outputs as one: their common structure (tuples, lists, dicts),
    each tensor concatenated on its spec's dim; a value under any other spec, the first's."""
    first = chunks[0]
    if isinstance(first, dict):
        return {k: merge_chunks([c[k] for c in chunks], _part(chunk_spec, k)) for k in first}
    if isinstance(first, (tuple, list)):
        items = [merge_chunks([c[k] for c in chunks], _part(chunk_spec, k))
                 for k in range(len(first))]
        return type(first)(*items) if hasattr(first, "_fields") else type(first)(items)
    spec = chunk_spec if chunk_spec is not None else TensorChunkSpec(DEFAULT_CHUNK_DIM)
    if not isinstance(spec, TensorChunkSpec):
        return first
    from ...ops.functions import cat

    return cat(chunks, dim=spec.split_dim)


def _part(spec, key):
    return None if spec is None else spec[key]


def _default_spec(v):
    return TensorChunkSpec(DEFAULT_CHUNK_DIM) if isinstance(v, Tensor) else _Replicate()


def _size(x, dim: int) -> int:
    if x.dim() == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return x.shape[dim]


def split_tensor(x, n: int, dim: int = DEFAULT_CHUNK_DIM) -> list:
    """`x` in n chunks on `dim`, as torch.tensor_split (the first len % n one longer); a
    tensor with fewer than n on `dim` fails as torch's (a target, say)."""
    size = _size(x, dim)
    if size < n:
        raise AssertionError(f"Tensor size {size} is smaller than num_chunks")
    return _split(x, n, TensorChunkSpec(dim))


def _split(x, n: int, spec) -> list:
    if not isinstance(x, Tensor) or not isinstance(spec, TensorChunkSpec):
        return [x] * n
    dim = spec.split_dim % x.dim()
    q, r = divmod(x.shape[dim], n)
    out, start = [], 0
    for i in range(n):
        stop = start + q + (1 if i < r else 0)
        out.append(x[(slice(None),) * dim + (slice(start, stop),)])
        start = stop
    return out
