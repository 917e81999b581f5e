"""torch's layouts: every distgrad tensor is dense and strided (`t.layout` is
`torch.strided`); `torch.sparse_coo` is there for code that names or compares it."""
from __future__ import annotations


class layout:
    """How a tensor's elements are stored; prints as torch prints it (`torch.strided`)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return self.name  # pickled as the module attribute of that name


strided = layout("strided")
sparse_coo = layout("sparse_coo")
