"""distgrad.return_types: the named results of torch's multi-output functions (`x.max(1)`,
`torch.sort`, `torch.linalg.qr`, ...), as torch.return_types has them: tuples built from one
sequence, whose fields also have names, printed one field a line.

    >>> r = distgrad.tensor([[3.0, 1.0], [2.0, 5.0]]).max(1)
    >>> values, indices = r; r.values is r[0]
    >>> print(r)
    torch.return_types.max(
    values=tensor([3., 5.]),
    indices=tensor([0, 1]))
"""
from __future__ import annotations

import operator


class _NamedResult(tuple):
    """A torch structseq: a tuple of exactly its fields, read by index or by name."""

    __slots__ = ()
    _field_names: tuple = ()
    n_fields = n_sequence_fields = 0
    n_unnamed_fields = 0

    def __new__(cls, sequence):
        items = tuple(sequence)
        if len(items) != cls.n_fields:
            raise TypeError(f"torch.return_types.{cls.__name__}() takes a {cls.n_fields}-sequence "
                            f"({len(items)}-sequence given)")
        return super().__new__(cls, items)

    def __repr__(self) -> str:
        # torch's structseq repr: each field on its own line, the values' own newlines kept
        fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._field_names, self))
        return f"torch.return_types.{type(self).__name__}(\n{fields})"

    def __reduce__(self):
        return type(self), (tuple(self),)


def _named_result(name: str, *fields: str) -> type:
    body = {field: property(operator.itemgetter(i)) for i, field in enumerate(fields)}
    body.update(__slots__=(), __module__=__name__, _field_names=fields, n_fields=len(fields),
                n_sequence_fields=len(fields))
    return type(name, (_NamedResult,), body)


# torch's names and fields; max and min shadow the builtins here, as torch's do
_FIELDS = {
    **{name: ("values", "indices") for name in ("max", "min", "sort", "topk", "median",
                                                 "nanmedian", "mode", "kthvalue", "cummax",
                                                 "cummin")},
    "aminmax": ("min", "max"),
    "frexp": ("mantissa", "exponent"),
    "histogram": ("hist", "bin_edges"),
    "histogramdd": ("hist", "bin_edges"),
    "slogdet": ("sign", "logabsdet"),
    "svd": ("U", "S", "V"),
    "qr": ("Q", "R"),
    "geqrf": ("a", "tau"),
    "triangular_solve": ("solution", "cloned_coefficient"),
    "linalg_slogdet": ("sign", "logabsdet"),
    "linalg_inv_ex": ("inverse", "info"),
    "linalg_solve_ex": ("result", "info"),
    "linalg_cholesky_ex": ("L", "info"),
    "linalg_qr": ("Q", "R"),
    "linalg_svd": ("U", "S", "Vh"),
    "linalg_lstsq": ("solution", "residuals", "rank", "singular_values"),
    "linalg_lu_factor": ("LU", "pivots"),
    "linalg_lu_factor_ex": ("LU", "pivots", "info"),
    "linalg_lu": ("P", "L", "U"),
    "lu_unpack": ("P", "L", "U"),
    "_lu_with_info": ("LU", "pivots", "info"),
    "linalg_eigh": ("eigenvalues", "eigenvectors"),
}
# ... and each one's out= variant (torch.max(x, 0, out=(v, i)) returns a max_out)
_FIELDS.update({name + "_out": fields for name, fields in list(_FIELDS.items())})
globals().update({name: _named_result(name, *fields) for name, fields in _FIELDS.items()})
__all__ = list(_FIELDS)


def out_variant(named: type) -> type:
    """The type torch returns for `named`'s function called with out=."""
    return globals().get(named.__name__ + "_out", named)
