"""Op cases for the in-place shape ops (t_, transpose_, squeeze_, unsqueeze_, as_strided_),
take/put, index_put with accumulate, masked_select, scatter_reduce, the *_scatter family,
narrow_copy, block_diag, pixel_shuffle, channel_shuffle and the samples whose gradient is
zero (bernoulli, normal, poisson), added to op_cases.CASES and ERRORS: test_ops runs them
against torch (values, dtypes, grad_fn names and edges, first- and second-order gradients)
and against float64 finite differences."""
from __future__ import annotations

from op_cases import Arg, B, F, I, K, P, case, error  # noqa: F401

# ---- in-place shape ops ------------------------------------------------------------------------

case("ms_t_", lambda T, x: (x * 2).t_(), F(3, 4), covers=("mul", "t_"))
case("ms_t_1d", lambda T, x: (x * 2).t_(), F(4), covers=("mul", "t_"))
case("ms_transpose_", lambda T, x: (x * 2).transpose_(0, 2), F(2, 3, 4),
     covers=("mul", "transpose_"))
case("ms_swapdims_", lambda T, x: (x * 2).swapdims_(-1, 0), F(3, 4), covers=("mul", "transpose_"))
case("ms_swapaxes_", lambda T, x: (x * 2).swapaxes_(0, 1), F(3, 4), covers=("mul", "transpose_"))
case("ms_unsqueeze_", lambda T, x: (x * 2).unsqueeze_(-1), F(3, 4), covers=("mul", "unsqueeze_"))
case("ms_squeeze_", lambda T, x: (x * 2).squeeze_(), F(3, 1, 4, 1), covers=("mul", "squeeze_"))
case("ms_squeeze__dim", lambda T, x: (x * 2).squeeze_(1), F(3, 1, 4), covers=("mul", "squeeze_"))
case("ms_squeeze__dims", lambda T, x: (x * 2).squeeze_((1, 3)), F(3, 1, 4, 1),
     covers=("mul", "squeeze_"))
case("ms_t_then_mul", lambda T, x, w: (x * 2).t_() * w, F(3, 4), F(4, 3), covers=("mul", "t_"))
case("ms_unsqueeze_of_view", lambda T, x: (x * 2)[1].unsqueeze_(0), F(3, 4),
     covers=("mul", "select", "unsqueeze_"))
case("ms_as_strided_", lambda T, x: (x * 2).as_strided_((3, 2), (1, 3)), F(2, 3),
     covers=("mul", "as_strided_"))

error("ms_t_3d", lambda T, x: x.t_(), K(2, 3, 4))
error("ms_t_leaf", lambda T, x: x.t_(), F(2, 3))
error("ms_unsqueeze_leaf", lambda T, x: x.unsqueeze_(0), F(2, 3))
error("ms_transpose_dim", lambda T, x: x.transpose_(0, 5), K(2, 3))
error("ms_unsqueeze_dim", lambda T, x: x.unsqueeze_(4), K(2, 3))

# ---- take, put, take_along_dim -------------------------------------------------------------------

case("ms_take", lambda T, x: T.take(x, T.tensor([[0, 5], [11, -1]])), F(3, 4), covers="take")
case("ms_take_method_repeats", lambda T, x: x.take(T.tensor([3, 3, 0])), F(2, 2), covers="take")
case("ms_put", lambda T, x, s: T.put(x, T.tensor([1, 7, -1]), s), F(3, 4), F(3), covers="put")
case("ms_put_accumulate", lambda T, x, s: x.put(T.tensor([[1, 1], [0, 2]]), s, accumulate=True),
     F(2, 3), F(2, 2), covers="put")
case("ms_put_", lambda T, x, s: (x * 1).put_(T.tensor([0, 2]), s), F(4), F(2),
     covers=("mul", "put"))
case("ms_take_along_dim", lambda T, x: T.take_along_dim(x, T.tensor([[0], [3], [1]]), dim=1),
     F(3, 4), covers="take_along_dim")
case("ms_take_along_dim_broadcast", lambda T, x: x.take_along_dim(T.tensor([[2], [0]]), 0),
     F(3, 4), covers=("take_along_dim", "expand"))
case("ms_take_along_dim_flat", lambda T, x: T.take_along_dim(x, T.tensor([5, 0, 11])), F(3, 4),
     covers=("take_along_dim", "reshape"))

error("ms_take_out_of_range", lambda T, x: T.take(x, T.tensor([12])), K(3, 4))
error("ms_take_float_index", lambda T, x: T.take(x, T.tensor([1.0])), K(3, 4))
error("ms_put_numel", lambda T, x, s: x.put(T.tensor([1, 2]), s), K(3, 4), K(3))
error("ms_take_along_dim_mismatch", lambda T, x: x.take_along_dim(T.tensor([[2, 0]]), 0),
      K(3, 4))
error("ms_take_along_dim_ndim", lambda T, x: T.take_along_dim(x, T.tensor([0]), 1), K(3, 4))

# ---- index_put, masked_select --------------------------------------------------------------------

case("ms_index_put", lambda T, x, v: T.index_put(x, (T.tensor([2, 0]),), v), F(3, 4), F(4),
     covers="index_put")
case("ms_index_put_accumulate",
     lambda T, x, v: x.index_put((T.tensor([1, 1, 0]), T.tensor([0, 0, 3])), v, accumulate=True),
     F(3, 4), F(3), covers="index_put_accumulate")
case("ms_index_put_accumulate_", lambda T, x, v: (x * 1).index_put_((T.tensor([1, 1]),), v, True),
     F(3, 4), F(1, 4), covers=("mul", "index_put_accumulate"))
case("ms_index_put_bool", lambda T, x, m, v: x.index_put((m,), v), F(3, 4), B(3, 4), F(),
     covers="index_put")
case("ms_masked_select", lambda T, x, m: T.masked_select(x, m), F(3, 4), B(3, 4),
     covers=("masked_select", "masked_scatter"))
case("ms_masked_select_broadcast", lambda T, x, m: x.masked_select(m), F(3, 1), B(2, 3, 4),
     covers=("masked_select", "expand", "masked_scatter"))

error("ms_index_put_dtype", lambda T, x: T.index_put(x, (T.tensor([0]),), T.tensor(1)), K(3))
error("ms_masked_select_float_mask", lambda T, x: T.masked_select(x, x), K(3))
error("ms_masked_select_shapes", lambda T, x: x.masked_select(T.tensor([True, False])), K(2, 3))

# ---- scatter_reduce ------------------------------------------------------------------------------

_IDX = [[0, 0, 2], [1, 3, 1], [2, 2, 2]]
for _reduce in ("sum", "prod", "mean", "amax", "amin"):
    case(f"ms_scatter_reduce_{_reduce}",
         lambda T, x, s, r=_reduce: T.scatter_reduce(x, 1, T.tensor(_IDX), s, r), F(3, 4), F(3, 3),
         covers=("scatter_reduce", "take_along_dim"))
    case(f"ms_scatter_reduce_{_reduce}_no_self",
         lambda T, x, s, r=_reduce: x.scatter_reduce(1, T.tensor(_IDX), s, r, include_self=False),
         F(3, 4), F(3, 3), covers="scatter_reduce")
case("ms_scatter_reduce_amax_ties", lambda T, x, s: x.scatter_reduce(1, T.tensor(_IDX), s, "amax"),
     F(3, 4, ties=True), F(3, 3, ties=True), covers="scatter_reduce", fd=False)
case("ms_scatter_reduce_prod_zero",
     lambda T, x, s: x.scatter_reduce(0, T.tensor([[1, 0], [0, 1]]), s, "prod"),
     F(2, 2), Arg("f", (2, 2), 0.0, 0.0), covers="scatter_reduce", grad2=False)
# (two zeros of the source meet in each place: its gradient is behind torch's Error node)
case("ms_scatter_reduce_prod_zeros_meet",
     lambda T, x, s: x.scatter_reduce(0, T.tensor([[0, 1], [0, 1]]), s, "prod"),
     F(2, 2), Arg("f", (2, 2), 0.0, 0.0), covers=("scatter_reduce", "delayed_error"),
     grad2=False)
case("ms_scatter_reduce_", lambda T, x, s: (x * 1).scatter_reduce_(0, T.tensor([[0, 1, 0]]), s,
                                                                 "mean"),
     F(2, 3), F(1, 3), covers=("mul", "scatter_reduce"))
case("ms_scatter_reduce_int", lambda T, i, j: i.scatter_reduce(0, T.tensor([[0, 0]]), j, "amax"),
     I(2, 2, hi=9), I(1, 2, hi=9), covers="scatter_reduce")

# ---- select_scatter, slice_scatter, diagonal_scatter ---------------------------------------------

case("ms_select_scatter", lambda T, x, s: T.select_scatter(x, s, 0, -1), F(3, 4), F(4),
     covers=("region_scatter", "select"))
case("ms_select_scatter_dim1", lambda T, x, s: x.select_scatter(s, 1, 2), F(3, 4), F(3),
     covers="region_scatter")
case("ms_select_scatter_1d", lambda T, x, s: T.select_scatter(x, s, 0, 2), F(5), F(),
     covers="region_scatter")
case("ms_slice_scatter", lambda T, x, s: T.slice_scatter(x, s, 1, 1, None, 2), F(3, 4), F(3, 2),
     covers=("region_scatter", "slice"))
case("ms_slice_scatter_default", lambda T, x, s: x.slice_scatter(s, start=1), F(3, 4), F(2, 4),
     covers="region_scatter")
case("ms_diagonal_scatter", lambda T, x, s: T.diagonal_scatter(x, s, 1), F(3, 4), F(3),
     covers=("region_scatter", "diagonal"))
case("ms_diagonal_scatter_dims", lambda T, x, s: x.diagonal_scatter(s, -1, 0, 2), F(3, 2, 4),
     F(2, 2), covers="region_scatter")

error("ms_slice_scatter_shape", lambda T, x, s: T.slice_scatter(x, s, start=1), K(3, 4), K(3, 4))
error("ms_select_scatter_index", lambda T, x, s: T.select_scatter(x, s, 0, 3), K(3, 4), K(4))

# ---- in-place tril_, triu_, cumsum_, fill_diagonal_ ----------------------------------------------

case("ms_tril_", lambda T, x: (x * 1).tril_(-1), F(3, 4), covers=("mul", "tril"))
case("ms_triu_", lambda T, x: (x * 1).triu_(1), F(3, 4), covers=("mul", "triu"))
case("ms_cumsum_", lambda T, x: (x * 1).cumsum_(1), F(3, 4), covers=("mul", "cumsum"))
case("ms_fill_diagonal_", lambda T, x: (x * 1).fill_diagonal_(2.5), F(3, 4),
     covers=("mul", "as_strided", "fill"))
case("ms_fill_diagonal_wrap", lambda T, x: (x * 1).fill_diagonal_(-1.0, wrap=True), F(7, 3),
     covers=("mul", "as_strided", "fill"))
case("ms_fill_diagonal_no_wrap", lambda T, x: (x * 1).fill_diagonal_(-1.0), F(7, 3),
     covers=("mul", "as_strided", "fill"))
case("ms_fill_diagonal_cube", lambda T, x: (x * 1).fill_diagonal_(0.0), F(2, 2, 2),
     covers=("mul", "as_strided", "fill"))

error("ms_fill_diagonal_1d", lambda T, x: x.fill_diagonal_(1.0), K(3))
error("ms_fill_diagonal_unequal", lambda T, x: x.fill_diagonal_(1.0), K(2, 3, 2))

# ---- narrow_copy, block_diag, pixel_shuffle ------------------------------------------------------

case("ms_narrow_copy", lambda T, x: T.narrow_copy(x, 1, 1, 2), F(3, 4), covers="narrow_copy")
# (torch's backward of a negative start fails: values only)
case("ms_narrow_copy_negative_start", lambda T, x: x.narrow_copy(0, -2, 2), K(3, 4),
     covers="narrow_copy")
case("ms_block_diag", lambda T, a, b, c: T.block_diag(a, b, c), F(2, 3), F(3), F(), 
     covers="block_diag")
case("ms_block_diag_ints", lambda T, a, b: T.block_diag(a, b), I(2, 2, hi=5), I(1, 3, hi=5),
     covers="block_diag")
case("ms_pixel_shuffle", lambda T, x: T.pixel_shuffle(x, 2), F(2, 8, 2, 3),
     covers=("pixel_shuffle", "pixel_unshuffle"))
case("ms_pixel_unshuffle", lambda T, x: T.pixel_unshuffle(x, 2), F(3, 4, 6),
     covers=("pixel_unshuffle", "pixel_shuffle"))
case("ms_pixel_shuffle_functional", lambda T, x: T.nn.functional.pixel_shuffle(x, 3), F(9, 1, 2),
     covers="pixel_shuffle")

error("ms_narrow_copy_range", lambda T, x: T.narrow_copy(x, 0, 2, 2), K(3, 4))
error("ms_block_diag_3d", lambda T, x: T.block_diag(x), K(2, 2, 2))
error("ms_pixel_shuffle_channels", lambda T, x: T.pixel_shuffle(x, 2), K(1, 5, 2, 2))
error("ms_pixel_shuffle_2d", lambda T, x: T.pixel_shuffle(x, 2), K(4, 2))
error("ms_pixel_unshuffle_width", lambda T, x: T.pixel_unshuffle(x, 2), K(1, 4, 3))

case("ms_channel_shuffle", lambda T, x: T.channel_shuffle(x, 2), F(2, 6, 3),
     covers="channel_shuffle")
case("ms_channel_shuffle_module", lambda T, x: T.nn.ChannelShuffle(3)(x), F(1, 6, 2, 2),
     covers="channel_shuffle")
case("ms_channel_shuffle_functional", lambda T, x: T.nn.functional.channel_shuffle(x, 4),
     F(2, 4, 1, 2, 2), covers="channel_shuffle")
error("ms_channel_shuffle_groups", lambda T, x: T.channel_shuffle(x, 4), K(1, 6, 2), prefix=200)
error("ms_channel_shuffle_2d", lambda T, x: T.channel_shuffle(x, 2), K(2, 4), prefix=200)
error("ms_channel_shuffle_zero", lambda T, x: T.channel_shuffle(x, 0), K(1, 4, 2), prefix=200)
error("ms_channel_shuffle_2d_zero", lambda T, x: T.channel_shuffle(x, 0), K(2, 6), prefix=200)
error("ms_channel_shuffle_float_groups", lambda T, x: T.nn.ChannelShuffle(2.0)(x), K(1, 6, 2),
      prefix=200)
case("ms_channel_shuffle_ints", lambda T, i: T.channel_shuffle(i, 2), I(2, 4, 1, 1, hi=9),
     covers="channel_shuffle")

# ---- samples: a node whose gradient for the parameters is zero -----------------------------------
# (probabilities 0 and 1, a zero std and zero rates make the draws the same in both libraries)

case("ms_bernoulli", lambda T, x: T.bernoulli(x * 0 + 1), F(3, 4), covers=("mul", "add", "sample"))
case("ms_bernoulli_method", lambda T, x: (x * 0).bernoulli(), F(3), covers=("mul", "sample"))
case("ms_normal_tensor_float", lambda T, m: T.normal(m, 0.0), F(3, 4), covers="sample", fd=False)
case("ms_normal_float_tensor", lambda T, s: T.normal(1.5, s * 0), F(3), covers=("mul", "sample"))
case("ms_normal_tensor_tensor", lambda T, m, s: T.normal(m, s * 0), F(3, 1), F(4),
     covers=("mul", "sample"), fd=False)
case("ms_poisson", lambda T, x: T.poisson(x * 0), F(2, 3), covers=("mul", "sample"))

error("ms_bernoulli_p_range", lambda T, x: T.bernoulli(x + 5), K(3))
error("ms_multinomial_too_many", lambda T, x: T.multinomial(x.abs() + 0.1, 5), K(3))
error("ms_multinomial_3d", lambda T, x: T.multinomial(x.abs(), 1), K(2, 2, 2))
error("ms_normal_negative_std", lambda T, x: T.normal(x, -1.0), K(3))
error("ms_poisson_negative", lambda T, x: T.poisson(x * 0 - 1), K(3))

# ---- the *_copy functions and the unsafe splits (ops/view_copies.py) ---------------------------

case("copy_view", lambda T, x: T.view_copy(x.t(), [-1, 2]), F(3, 4), covers="reshape_copy")
case("copy_permute", lambda T, x: T.permute_copy(x, [2, 0, 1]), F(2, 3, 4), covers="permute_copy")
case("copy_transpose", lambda T, x: T.transpose_copy(x, 0, -1), F(2, 3, 4),
     covers="transpose_copy")
case("copy_t", lambda T, x: T.t_copy(x), F(3, 4), covers="t_copy")
case("copy_expand", lambda T, x: T.expand_copy(x, [2, 3, 4]), F(3, 1), covers="expand_copy")
case("copy_squeeze", lambda T, x: T.squeeze_copy(x, 1), F(3, 1, 4), covers="squeeze_copy")
case("copy_unsqueeze", lambda T, x: T.unsqueeze_copy(x, -1), F(3, 4), covers="unsqueeze_copy")
case("copy_select", lambda T, x: T.select_copy(x, 1, -2), F(3, 4), covers="select_copy")
case("copy_slice", lambda T, x: T.slice_copy(x, 1, 1, 4, 2), F(3, 5), covers="slice_copy")
case("copy_diagonal", lambda T, x: T.diagonal_copy(x, -1, 0, 2), F(3, 2, 4),
     covers="diagonal_copy")
case("copy_split", lambda T, x: T.split_copy(x, 2, 1), F(3, 5), covers="split_copy")
case("copy_split_with_sizes", lambda T, x: T.split_with_sizes_copy(x, [1, 2]), F(3, 2),
     covers="split_copy")
case("copy_unbind", lambda T, x: T.unbind_copy(x, 1), F(3, 2), covers="unbind_copy")
case("copy_alias", lambda T, x: T.alias_copy(x), F(3, 2), covers="alias_copy")
case("copy_as_strided", lambda T, x: T.as_strided_copy(x, [2, 2], [1, 3], 1), F(3, 4),
     covers="as_strided_copy")
case("copy_unfold", lambda T, x: T.unfold_copy(x, 1, 2, 1), F(3, 4), covers="unfold_copy")
case("copy_detach", lambda T, x: T.detach_copy(x) * 2, K(3, 2), covers="detach_copy")
case("unsafe_split", lambda T, x: x.unsafe_split(2, 1), F(3, 5), covers="unsafe_split")
case("unsafe_chunk", lambda T, x: T.unsafe_chunk(x, 2), F(3, 5), covers="unsafe_split")
case("unsafe_split_with_sizes", lambda T, x: T.unsafe_split_with_sizes(x, [1, 2]), F(3, 2),
     covers="unsafe_split_with_sizes")
