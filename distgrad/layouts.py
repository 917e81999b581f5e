"""torch's layouts: every distgrad tensor is dense and strided (`t.layout` is
`torch.strided`); `torch.sparse_coo` is there for code that names or compares it. And
torch's memory formats, the dim orders a dense tensor's strides can follow
(`contiguous(memory_format=torch.channels_last)`; ops/layout.memory_format_strides)."""
from __future__ import annotations


class _Named:
    """A torch constant that prints as `torch.<name>` and pickles as that attribute."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return self.name  # pickled as the module attribute of that name


class layout(_Named):
    """How a tensor's elements are stored (`torch.strided`)."""

    __slots__ = ()


strided = layout("strided")
sparse_coo = layout("sparse_coo")


class memory_format(_Named):
    """A dim order for a dense tensor's strides (`torch.channels_last`)."""

    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
