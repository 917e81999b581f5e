"""Op cases for the writes at indices (scatter, index_add/copy/fill, masked_scatter) and the
shape helpers (movedim, unflatten, tensor_split, hstack, diff, repeat_interleave, rot90),
added to op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes, grad_fn
names and edges, first- and second-order gradients) and against float64 finite differences."""
from __future__ import annotations

from op_cases import B, F, I, K, case, error  # noqa: F401

# ---- scatter, scatter_add ------------------------------------------------------------------------

# Along dim 0 of a (3, 4): no place is written twice (torch leaves the order of such writes open).
_ROWS = [[0, 2, 1, 0], [1, 0, 2, 2]]
# Along dim 1 of a (3, 4), two places a row.
_COLS = [[3, 1], [0, 2], [2, 0]]

case("scatter", lambda T, x, s: x.scatter(0, T.tensor(_ROWS), s), F(3, 4), F(2, 4),
     covers=("scatter", "take_along_dim"))
case("scatter_fn_neg_dim", lambda T, x, s: T.scatter(x, -1, T.tensor(_COLS), s), F(3, 4), F(3, 2),
     covers="scatter")
# src larger than the index: only its leading block is read (torch's backward refuses a
# gradient for such a src, so it needs none here)
case("scatter_src_larger", lambda T, x, s: x.scatter(1, T.tensor(_COLS), s), F(3, 4), K(4, 5),
     covers="scatter")
case("scatter_keywords", lambda T, x, s: x.scatter(dim=0, index=T.tensor(_ROWS), src=s), F(3, 4),
     F(2, 4), covers="scatter")
case("scatter_value", lambda T, x: x.scatter(1, T.tensor(_COLS), 1.5), F(3, 4), covers="scatter")
case("scatter_value_kw", lambda T, x: T.scatter(x, 0, T.tensor(_ROWS), value=-2.0), F(3, 4),
     covers="scatter")
case("scatter_int", lambda T, i: i.scatter(0, T.tensor([[2, 0]]), 7), I(3, 2, hi=5),
     covers="scatter")
case("scatter_0d", lambda T, x, s: x.scatter(0, T.tensor(0), s), F(), F(), covers="scatter")
case("scatter_empty_index", lambda T, x, s: x.scatter(0, T.zeros(0, 4, dtype=T.int64), s),
     F(3, 4), K(2, 4), covers="scatter")
# reduce=: torch's older form, without a derivative (the inputs here need none)
case("scatter_reduce_add", lambda T, x, s, i: x.scatter(0, i, s, reduce="add"), K(3, 4), K(5, 4),
     I(5, 4, hi=3), covers="scatter_reduce_legacy")
case("scatter_reduce_multiply_value", lambda T, x, i: T.scatter(x, 1, i, 1.5, reduce="multiply"),
     K(3, 4), I(3, 6, hi=4), covers="scatter_reduce_legacy")
case("scatter_reduce_int_value_", lambda T, j, i: j.scatter_(0, i, 2.5, reduce="add"),
     I(3, 4, hi=9), I(5, 4, hi=3), covers="scatter_reduce_legacy")
case("scatter_add_duplicates", lambda T, x, s, i: x.scatter_add(0, i, s), F(3, 4), F(5, 4),
     I(5, 4, hi=3), covers=("scatter_add", "take_along_dim"))
case("scatter_add_fn_dim1", lambda T, x, s, i: T.scatter_add(x, 1, i, s), F(3, 4), F(3, 6),
     I(3, 6, hi=4), covers="scatter_add")
case("scatter_add_src_larger", lambda T, x, s, i: x.scatter_add(-1, i, s), F(3, 4), K(4, 5),
     I(3, 2, hi=4), covers="scatter_add")
case("scatter_add_int", lambda T, i, s, j: i.scatter_add(0, j, s), I(3, 2, hi=5), I(4, 2, hi=5),
     I(4, 2, hi=3), covers="scatter_add")
case("scatter_add_0d", lambda T, x, s: T.scatter_add(x, 0, T.tensor(0), s), F(), F(),
     covers="scatter_add")
case("scatter_", lambda T, x, s: x.clone().scatter_(0, T.tensor(_ROWS), s), F(3, 4), F(2, 4),
     covers=("clone", "scatter"))
case("scatter_value_", lambda T, x: x.clone().scatter_(1, T.tensor(_COLS), 0.5), F(3, 4),
     covers=("clone", "scatter"))
case("scatter_add_", lambda T, x, s, i: x.clone().scatter_add_(0, i, s), F(3, 4), F(5, 4),
     I(5, 4, hi=3), covers=("clone", "scatter_add"))

error("scatter_dim", lambda T, x, s: x.scatter(2, T.tensor(_ROWS), s), K(3, 4), K(2, 4))
error("scatter_out_of_range", lambda T, x, s: x.scatter(0, T.tensor(_ROWS) + 2, s), K(3, 4),
      K(2, 4))
error("scatter_negative_index", lambda T, x, s: x.scatter(0, T.tensor(_ROWS) - 1, s), K(3, 4),
      K(2, 4))
error("scatter_float_index", lambda T, x, s: x.scatter(0, T.tensor(_ROWS).double(), s), K(3, 4),
      K(2, 4))
error("scatter_src_dtype", lambda T, x, s: x.scatter(0, T.tensor(_ROWS), s.double()), K(3, 4),
      K(2, 4))
error("scatter_index_dims", lambda T, x, s: x.scatter(0, T.tensor([0, 1]), s), K(3, 4), K(2))
error("scatter_index_too_large", lambda T, x, s: x.scatter(0, T.zeros(2, 5, dtype=T.int64), s),
      K(3, 4), K(2, 4))
error("scatter_index_larger_than_src", lambda T, x, s: x.scatter(0, T.tensor(_ROWS), s), K(3, 4),
      K(2, 1))
error("scatter_value_index_too_large", lambda T, x: x.scatter(0, T.zeros(2, 5, dtype=T.int64), 1.),
      K(3, 4))
error("scatter_src_dims", lambda T, x, s: x.scatter(1, T.tensor(_COLS), s), K(3, 4), K())
error("scatter_reduce_mean", lambda T, x, s: x.scatter(0, T.tensor(_ROWS), s, reduce="mean"),
      K(3, 4), K(2, 4))
error("scatter_reduce_backward", lambda T, x: x.scatter(0, T.tensor(_ROWS), 2.0, reduce="add")
      .sum().backward(), F(3, 4))
error("scatter_add_number", lambda T, x: x.scatter_add(0, T.tensor(_ROWS), 1.0), K(3, 4))
error("scatter_add_out_of_range", lambda T, x, s: x.scatter_add(-1, T.tensor(_COLS) + 2, s),
      K(3, 4), K(3, 2))
error("scatter_add_float_index", lambda T, x, s: x.scatter_add(0, T.ones(1, 4), s), K(3, 4),
      K(1, 4))
error("scatter_add_dtype", lambda T, x, s: T.scatter_add(x, 0, T.tensor(_ROWS), s.double()),
      K(3, 4), K(2, 4))
error("scatter_leaf", lambda T, x, s: x.scatter_(0, T.tensor(_ROWS), s), F(3, 4), K(2, 4))

# ---- index_add, index_copy, index_fill -----------------------------------------------------------

case("index_add_duplicates", lambda T, x, s, i: x.index_add(1, i, s), F(3, 4), F(3, 5), I(5, hi=4),
     covers=("index_add", "index_select"))
case("index_add_alpha", lambda T, x, s, i: T.index_add(x, 0, i, s, alpha=-2.5), F(3, 4), F(4, 4),
     I(4, hi=3), covers="index_add")
case("index_add_neg_dim", lambda T, x, s, i: x.index_add(-1, i, s, alpha=2), F(2, 3, 4),
     F(2, 3, 2), I(2, hi=4), covers="index_add")
case("index_add_0d_index", lambda T, x, s: x.index_add(0, T.tensor(1), s), F(3, 4), F(1, 4),
     covers="index_add")
case("index_add_0d", lambda T, x, s: x.index_add(0, T.tensor([0]), s), F(), F(),
     covers="index_add")
case("index_add_int", lambda T, i, s, j: i.index_add(0, j, s, alpha=3), I(3, 2, hi=5),
     I(4, 2, hi=5), I(4, hi=3), covers="index_add")
case("index_add_", lambda T, x, s, i: x.clone().index_add_(1, i, s, alpha=0.5), F(3, 4), F(3, 5),
     I(5, hi=4), covers=("clone", "index_add"))
case("index_copy", lambda T, x, s: x.index_copy(1, T.tensor([3, 0]), s), F(3, 4), F(3, 2),
     covers=("index_copy", "index_fill", "index_select"))
case("index_copy_fn_neg_dim", lambda T, x, s: T.index_copy(x, -2, T.tensor([2, 0]), s), F(3, 4),
     F(2, 4), covers="index_copy")
case("index_copy_0d_index", lambda T, x, s: x.index_copy(0, T.tensor(1), s), F(3, 4), F(1, 4),
     covers="index_copy")
case("index_copy_", lambda T, x, s: x.clone().index_copy_(0, T.tensor([1]), s), F(3, 4), F(1, 4),
     covers=("clone", "index_copy"))
case("index_fill", lambda T, x: x.index_fill(1, T.tensor([0, 2]), 1.5), F(3, 4),
     covers="index_fill")
case("index_fill_negative_index", lambda T, x: T.index_fill(x, 0, T.tensor([-1]), -2.0), F(3, 4),
     covers="index_fill")
# the value's gradient counts each filled place once, however often the index names it
case("index_fill_tensor_duplicates", lambda T, x, v: x.index_fill(-1, T.tensor([0, 2, 0]), v),
     F(3, 4), F(), covers=("index_fill", "full", "where", "sum"))
case("index_fill_int", lambda T, i: i.index_fill(0, T.tensor([1]), 2.5), I(3, 2, hi=5),
     covers="index_fill")
case("index_fill_", lambda T, x, v: x.clone().index_fill_(0, T.tensor(2), v), F(3, 4), F(),
     covers=("clone", "index_fill"))

# index_reduce: torch's IndexReduceBackward0 for each reduction, with and without self
_DUPLICATES = [2, 0, 2, 3, 2]
for _reduce in ("prod", "mean", "amax", "amin"):
    case(f"index_reduce_{_reduce}",
         lambda T, x, s, r=_reduce: x.index_reduce(1, T.tensor(_DUPLICATES), s, r), F(3, 4),
         F(3, 5), covers=("index_reduce", "index_select", "index_add"))
    case(f"index_reduce_{_reduce}_no_self",
         lambda T, x, s, r=_reduce: T.index_reduce(x, 0, T.tensor([1, 1]), s, r,
                                                  include_self=False),
         F(3, 4), F(2, 4), covers=("index_reduce", "index_fill"))
case("index_reduce_amax_ties", lambda T, x, s: x.index_reduce(0, T.tensor([0, 2, 0]), s, "amax"),
     F(3, 4, ties=True), F(3, 4, ties=True), covers="index_reduce", fd=False)
case("index_reduce_prod_zeros",
     lambda T, x, s: x.index_reduce(0, T.tensor([1, 0, 1]), s * T.tensor([[0.], [1.], [1.]]),
                                    "prod"),
     F(2, 3), F(3, 3), covers=("index_reduce", "mul"), grad2=False)
case("index_reduce_0d", lambda T, x, s: x.index_reduce(0, T.tensor([0]), s, "mean"), F(), F(),
     covers="index_reduce")
case("index_reduce_int_mean", lambda T, i, j: i.index_reduce(0, T.tensor([0, 0, 1]), j, "mean"),
     I(2, 3, lo=-9, hi=9), I(3, 3, lo=-9, hi=9), covers="index_reduce")
case("index_reduce_bool_amax", lambda T, a, b: a.index_reduce(0, T.tensor([1, 1]), b, "amax"),
     B(2, 3), B(2, 3), covers="index_reduce")
case("index_reduce_", lambda T, x, s: (x * 1).index_reduce_(-1, T.tensor([0, 3]), s, "amin",
                                                           include_self=False),
     F(3, 4), F(3, 2), covers=("mul", "index_reduce"))

error("index_add_dim", lambda T, x, s, i: x.index_add(2, i, s), K(3, 4), K(3, 2), I(2, hi=4))
error("index_add_out_of_range", lambda T, x, s, i: x.index_add(1, i + 4, s), K(3, 4), K(3, 2),
      I(2, hi=4))
error("index_add_negative_index", lambda T, x, s: x.index_add(1, T.tensor([-1, 0]), s), K(3, 4),
      K(3, 2))
error("index_add_float_index", lambda T, x, s, i: x.index_add(1, i.double(), s), K(3, 4), K(3, 2),
      I(2, hi=4))
error("index_add_2d_index", lambda T, x, s, i: x.index_add(1, i, s), K(3, 4), K(3, 2),
      I(2, 1, hi=4))
error("index_add_dtype", lambda T, x, s, i: x.index_add(1, i, s.double()), K(3, 4), K(3, 2),
      I(2, hi=4))
error("index_add_count", lambda T, x, s, i: x.index_add(1, i, s), K(3, 4), K(3, 2), I(3, hi=4))
error("index_add_shape", lambda T, x, s, i: x.index_add(1, i, s), K(3, 4), K(2, 2), I(2, hi=4))
error("index_add_number", lambda T, x, i: x.index_add(1, i, 2.0), K(3, 4), I(2, hi=4))
error("index_reduce_sum", lambda T, x, s: x.index_reduce(0, T.tensor([0]), s, "sum"), K(3),
      K(1))
error("index_reduce_out_of_range", lambda T, x, s: x.index_reduce(0, T.tensor([3]), s, "prod"),
      K(3), K(1))
error("index_reduce_negative_index",
      lambda T, x, s: x.index_reduce(0, T.tensor([-1]), s, "prod"), K(3), K(1))
error("index_reduce_dtype", lambda T, x, s: x.index_reduce(0, T.tensor([0]), s.double(), "amax"),
      K(3), K(1))
error("index_reduce_shape", lambda T, x, s: x.index_reduce(0, T.tensor([0]), s, "amax"), K(3, 2),
      K(1, 3))
error("index_reduce_bool_mean", lambda T, a, b: a.index_reduce(0, T.tensor([0]), b, "mean"),
      B(3, 2), B(1, 2))
error("index_reduce_bool_1d", lambda T, a, b: a.index_reduce(0, T.tensor([0]), b, "amax"),
      B(3), B(1))
error("index_reduce_number", lambda T, x: x.index_reduce(0, T.tensor([0]), 1.0, "amax"), K(3))
error("index_reduce_leaf", lambda T, x, s: x.index_reduce_(0, T.tensor([0]), s, "amax"), F(3),
      K(1))
error("index_copy_out_of_range", lambda T, x, s: x.index_copy(1, T.tensor([4, 0]), s), K(3, 4),
      K(3, 2))
error("index_copy_float_index", lambda T, x, s: x.index_copy(1, T.tensor([1., 0.]), s), K(3, 4),
      K(3, 2))
error("index_copy_dtype", lambda T, x, s: x.index_copy(1, T.tensor([1, 0]), s.double()), K(3, 4),
      K(3, 2))
error("index_copy_count", lambda T, x, s: x.index_copy(1, T.tensor([1, 0, 2]), s), K(3, 4),
      K(3, 2))
error("index_copy_shape", lambda T, x, s: x.index_copy(1, T.tensor([1, 0]), s), K(3, 4), K(2, 2))
error("index_copy_slices", lambda T, x, s: x.index_copy(1, T.tensor([1, 0]), s), K(2, 3, 4),
      K(3, 2, 5))
error("index_copy_scalar_source", lambda T, x, s: x.index_copy(0, T.tensor([1, 0]), s), K(3), K())
error("index_copy_dims", lambda T, x, s: x.index_copy(0, T.tensor(1), s), K(3, 4), K(4))
error("index_fill_dim", lambda T, x: x.index_fill(3, T.tensor([0]), 1.0), K(3, 4))
error("index_fill_out_of_range", lambda T, x: x.index_fill(1, T.tensor([4]), 1.0), K(3, 4))
error("index_fill_float_index", lambda T, x: x.index_fill(1, T.tensor([1.0]), 1.0), K(3, 4))
error("index_fill_2d_index", lambda T, x: x.index_fill(1, T.tensor([[1]]), 1.0), K(3, 4))
error("index_fill_value_dims", lambda T, x, v: x.index_fill(1, T.tensor([1]), v), K(3, 4), K(2))
error("index_add_leaf", lambda T, x, s: x.index_add_(0, T.tensor([1]), s), F(3, 4), K(1, 4))

# ---- masked_scatter ------------------------------------------------------------------------------

case("masked_scatter", lambda T, x, m, s: x.masked_scatter(m, s), F(3, 4), B(3, 4), F(12),
     covers=("masked_scatter", "masked_fill", "expand", "index"))
# a source with more elements than the mask sets: its tail is not read and gets zeros
case("masked_scatter_source_larger", lambda T, x, m, s: T.masked_scatter(x, m, s), F(3, 4),
     B(3, 4), F(3, 5), covers=("masked_scatter", "constant_pad_nd"))
case("masked_scatter_broadcast_mask", lambda T, x, m, s: x.masked_scatter(m, s), F(3, 4), B(4),
     F(2, 6), covers="masked_scatter")
case("masked_scatter_broadcast_self", lambda T, x, m, s: x.masked_scatter(m, s), F(3, 1),
     B(3, 4), F(12), covers="masked_scatter")
case("masked_scatter_int", lambda T, i, m, s: i.masked_scatter(m, s), I(3, 4, hi=5), B(3, 4),
     I(12, hi=9), covers="masked_scatter")
case("masked_scatter_", lambda T, x, m, s: x.clone().masked_scatter_(m, s), F(3, 4), B(4), F(12),
     covers=("clone", "masked_scatter"))

error("masked_scatter_mask_dtype", lambda T, x, m, s: x.masked_scatter(m.double(), s), K(3),
      B(3), K(3))
error("masked_scatter_dtype", lambda T, x, s: x.masked_scatter(T.ones(3, dtype=T.bool),
                                                               s.double()), K(3), K(3))
error("masked_scatter_too_few", lambda T, x, s: x.masked_scatter(T.ones(3, dtype=T.bool), s),
      K(3), K(2))
error("masked_scatter_shape", lambda T, x, s: x.masked_scatter(T.ones(4, dtype=T.bool), s),
      K(3), K(4))

# ---- movedim, unflatten --------------------------------------------------------------------------

case("movedim", lambda T, x: x.movedim(0, 2), F(2, 3, 4), covers="permute")
case("movedim_fn_lists", lambda T, x: T.movedim(x, (0, 1), (2, 0)), F(2, 3, 4), covers="permute")
case("moveaxis_negative", lambda T, x: T.moveaxis(x, -1, 0), F(2, 3, 4), covers="permute")
case("moveaxis_method_same", lambda T, x: x.moveaxis([1], [-2]), F(2, 3, 4), covers="permute")
case("movedim_0d", lambda T, x: x.movedim(0, -1), F(), covers="alias")
case("unflatten", lambda T, x: x.unflatten(2, (2, 2)), F(2, 3, 4), covers="reshape")
case("unflatten_inferred_of_transpose", lambda T, x: T.unflatten(x.transpose(0, 2), -2, (-1, 1)),
     F(2, 3, 4), covers=("transpose", "reshape"))
case("unflatten_int", lambda T, i: i.unflatten(0, [3, 2]), I(6, hi=9), covers="reshape")

error("movedim_counts", lambda T, x: x.movedim((0, 1), (1,)), K(2, 3, 4))
error("movedim_repeated_source", lambda T, x: x.movedim((0, 0), (1, 2)), K(2, 3, 4))
error("movedim_repeated_destination", lambda T, x: x.movedim((0, 1), (2, 2)), K(2, 3, 4))
error("movedim_dim", lambda T, x: T.movedim(x, 3, 0), K(2, 3, 4))
error("unflatten_sizes", lambda T, x: x.unflatten(1, (2, 2)), K(2, 3, 4))
error("unflatten_empty", lambda T, x: x.unflatten(1, ()), K(2, 3, 4))
error("unflatten_two_inferred", lambda T, x: x.unflatten(1, (-1, -1)), K(2, 3, 4))
error("unflatten_dim", lambda T, x: x.unflatten(3, (1,)), K(2, 3, 4))

# ---- tensor_split, hsplit, vsplit, dsplit --------------------------------------------------------

case("tensor_split_sections", lambda T, x: x.tensor_split(3, dim=2), F(2, 3, 4), covers="slice")
case("tensor_split_indices", lambda T, x: T.tensor_split(x, [2, 1, 5], dim=1), F(2, 3, 4),
     covers="slice")
case("tensor_split_tensor_indices", lambda T, x: x.tensor_split(T.tensor([1]), 1), F(2, 3, 4),
     covers="slice")
case("tensor_split_tensor_sections", lambda T, x: x.tensor_split(T.tensor(2), -1), F(2, 3, 4),
     covers="slice")
case("tensor_split_more_sections_than_rows", lambda T, x: x.tensor_split(4), F(3, 2),
     covers="slice")
case("hsplit", lambda T, x: x.hsplit(3), F(2, 3, 4), covers="slice")
case("hsplit_1d_indices", lambda T, x: T.hsplit(x, [1, 3]), F(5), covers="slice")
case("vsplit", lambda T, x: T.vsplit(x, [1]), F(3, 4), covers="slice")
case("dsplit", lambda T, x: x.dsplit(2), F(2, 3, 4), covers="slice")

error("tensor_split_zero", lambda T, x: x.tensor_split(0), K(2, 3))
error("tensor_split_float_indices", lambda T, x: x.tensor_split(T.tensor([1.0])), K(2, 3))
error("tensor_split_2d_indices", lambda T, x: x.tensor_split(T.tensor([[1]])), K(2, 3))
error("tensor_split_0d", lambda T, x: x.tensor_split(2), K())
error("tensor_split_dim", lambda T, x: x.tensor_split(2, dim=2), K(2, 3))
error("hsplit_indivisible", lambda T, x: x.hsplit(2), K(2, 3, 4))
error("hsplit_0d", lambda T, x: T.hsplit(x, 1), K())
error("vsplit_1d", lambda T, x: x.vsplit(1), K(3))
error("dsplit_2d", lambda T, x: T.dsplit(x, 1), K(3, 3))

# ---- hstack, vstack, row_stack, dstack, column_stack ---------------------------------------------

case("hstack_1d", lambda T, a, b: T.hstack([a, b]), F(3), F(2), covers="cat")
case("hstack_0d", lambda T, a, b: T.hstack((a, b)), F(), F(), covers=("reshape", "cat"))
case("hstack_2d", lambda T, a, b: T.hstack([a, b]), F(2, 3), F(2, 1), covers="cat")
case("vstack_1d", lambda T, a, b: T.vstack([a, b]), F(3), F(3), covers=("unsqueeze", "cat"))
case("vstack_mixed", lambda T, a, b: T.vstack([a, b]), F(2, 3), F(3), covers=("unsqueeze", "cat"))
case("row_stack", lambda T, a, b: T.row_stack([a, b]), F(3), F(1, 3), covers=("unsqueeze", "cat"))
case("dstack_1d", lambda T, a, b: T.dstack([a, b]), F(3), F(3), covers=("unsqueeze", "cat"))
case("dstack_mixed", lambda T, a, b: T.dstack([a, b]), F(2, 3), F(2, 3, 2),
     covers=("unsqueeze", "cat"))
case("column_stack", lambda T, a, b: T.column_stack([a, b]), F(3), F(3, 2),
     covers=("reshape", "cat"))
case("column_stack_0d", lambda T, a, b: T.column_stack([a, b]), F(), F(), covers=("reshape", "cat"))
case("hstack_int", lambda T, i, j: T.hstack([i, j]), I(3), I(2), covers="cat")

error("hstack_empty", lambda T: T.hstack([]))
error("vstack_sizes", lambda T, a, b: T.vstack([a, b]), K(3), K(4))
error("hstack_dims", lambda T, a, b: T.hstack([a, b]), K(3), K(2, 2))

# ---- diff ----------------------------------------------------------------------------------------

case("diff", lambda T, x: x.diff(), F(3, 4), covers=("slice", "sub"))
case("diff_n2_dim0", lambda T, x: T.diff(x, n=2, dim=0), F(4, 3), covers=("slice", "sub"))
case("diff_prepend_append", lambda T, x, p, a: x.diff(dim=1, prepend=p, append=a), F(3, 4),
     F(3, 1), F(3, 2), covers=("cat", "slice", "sub"))
case("diff_n_past_length", lambda T, x: x.diff(5), F(3, 4), covers=("slice", "sub"))
case("diff_n0", lambda T, x: x.diff(0), F(3, 4), covers=("full", "copy"))
case("diff_bool", lambda T, b: T.diff(b), B(6), covers=("slice", "logical_xor"))
case("diff_int", lambda T, i: i.diff(append=i[:1]), I(5, hi=9), covers=("cat", "sub"))

error("diff_order", lambda T, x: x.diff(n=-1), K(3, 4))
error("diff_0d", lambda T, x: T.diff(x), K())
error("diff_dim", lambda T, x: x.diff(dim=2), K(3, 4))
error("diff_prepend_dims", lambda T, x, p: x.diff(prepend=p), K(3, 4), K(4))
error("diff_prepend_shape", lambda T, x, p: x.diff(prepend=p), K(3, 4), K(2, 1))
error("diff_prepend_number", lambda T, x: x.diff(prepend=1.0), K(3, 4))

# ---- repeat_interleave ---------------------------------------------------------------------------

case("repeat_interleave", lambda T, x: x.repeat_interleave(2), F(2, 3),
     covers=("reshape", "unsqueeze", "expand", "contiguous"))
case("repeat_interleave_dim", lambda T, x: T.repeat_interleave(x, 3, dim=-1), F(2, 3),
     covers=("unsqueeze", "expand", "contiguous", "reshape"))
case("repeat_interleave_0d", lambda T, x: T.repeat_interleave(x, 3), F(),
     covers=("reshape", "expand", "contiguous"))
case("repeat_interleave_tensor", lambda T, x: x.repeat_interleave(T.tensor([1, 0, 2]), dim=1),
     F(2, 3), covers="index_select")
case("repeat_interleave_one_repeat", lambda T, x: x.repeat_interleave(T.tensor([2]), dim=0),
     F(2, 3), covers="index_select")
case("repeat_interleave_0d_repeat", lambda T, x: x.repeat_interleave(T.tensor(2)), F(2, 3),
     covers=("reshape", "index_select"))
case("repeat_interleave_counts", lambda T: T.repeat_interleave(T.tensor([1, 2, 0, 3])), covers=())
case("repeat_interleave_int", lambda T, i: i.repeat_interleave(2, dim=0), I(2, 2, hi=9),
     covers="contiguous")

error("repeat_interleave_negative", lambda T, x: x.repeat_interleave(-1), K(2, 3))
error("repeat_interleave_sizes", lambda T, x: x.repeat_interleave(T.tensor([1, 2]), dim=1),
      K(2, 3))
error("repeat_interleave_2d", lambda T, x: x.repeat_interleave(T.tensor([[1]]), dim=1), K(2, 3))
error("repeat_interleave_negative_tensor",
      lambda T, x: x.repeat_interleave(T.tensor([1, -1, 1]), dim=1), K(2, 3))
error("repeat_interleave_float", lambda T, x: x.repeat_interleave(T.tensor([1.0, 1, 1]), dim=1),
      K(2, 3))
error("repeat_interleave_dim", lambda T, x: x.repeat_interleave(2, dim=3), K(2, 3))
error("repeat_interleave_counts_2d", lambda T: T.repeat_interleave(T.tensor([[1]])))

# ---- rot90 ---------------------------------------------------------------------------------------

case("rot90", lambda T, x: x.rot90(), F(3, 4), covers="rot90")
case("rot90_k2_dims", lambda T, x: T.rot90(x, 2, [1, 2]), F(2, 3, 4), covers="rot90")
case("rot90_negative_k", lambda T, x: x.rot90(-1), F(3, 4), covers="rot90")
case("rot90_k4", lambda T, x: x.rot90(4), F(3, 4), covers="rot90")
case("rot90_reversed_dims", lambda T, x: T.rot90(x, 3, [2, 0]), F(2, 3, 4), covers="rot90")
case("rot90_int", lambda T, i: i.rot90(1, (1, 0)), I(2, 3, hi=9), covers="rot90")

error("rot90_three_dims", lambda T, x: x.rot90(1, [0, 1, 2]), K(2, 3, 4))
error("rot90_1d", lambda T, x: x.rot90(), K(3))
error("rot90_same_dims", lambda T, x: x.rot90(1, [0, 0]), K(2, 3, 4))
error("rot90_wrapped_same_dims", lambda T, x: x.rot90(1, [0, -3]), K(2, 3, 4))
error("rot90_dim", lambda T, x: T.rot90(x, 1, [0, 3]), K(2, 3, 4))
