"""torch's FSDP2 policies (torch.distributed.fsdp): what dtype a module computes and
reduces gradients in, and where its sharded state is kept."""
from __future__ import annotations

from dataclasses import dataclass

from ... import dtypes


@dataclass(frozen=True)
class MixedPrecisionPolicy:
    """param_dtype: the dtype of the gathered parameters (the forward and backward compute);
    reduce_dtype: the dtype gradients are reduced in (default param_dtype's); output_dtype:
    the forward output's; cast_forward_inputs: cast floating inputs to param_dtype."""

    param_dtype: dtypes.dtype | None = None
    reduce_dtype: dtypes.dtype | None = None
    output_dtype: dtypes.dtype | None = None
    cast_forward_inputs: bool = True


@dataclass
class OffloadPolicy:
    """No offloading (the base class torch uses as the default)."""


@dataclass
class CPUOffloadPolicy(OffloadPolicy):
    """torch's: sharded parameters, gradients and optimizer state kept in CPU memory. A
    distgrad worker is a CPU process, so its shards are in CPU memory already."""

    pin_memory: bool = True
