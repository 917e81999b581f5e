"""Every op's row names how it runs on sharded operands: a sharding rule that
distributed/sharding.py has, or none (gather, compute, reshard). The list of ops without a
rule is written out here, so a new op is a decision, not a silent fallback (issue 11)."""
from __future__ import annotations

import distgrad.distributed  # noqa: F401  (registers its ops: to_device)
from distgrad.distributed.sharding import RULES
from distgrad.ops.table import OPS

# Ops that gather their sharded operands, compute on one worker and reshard the result.
FALLS_BACK = {
    "all", "any", "arange", "argmax", "argmin", "as_strided", "as_strided_backward",
    "cat", "constant_pad_nd", "copy_slices", "count_nonzero", "cross", "cumsum", "diag_embed", "diagonal",
    "diagonal_backward", "diagonal_copy", "dot", "eye", "flip", "full", "index",
    "index_backward", "index_put", "index_select", "linspace", "max_dim", "min_dim", "mv",
    "nll_weights", "one_hot", "prod", "prod_dim", "range", "repeat", "roll", "scatter_dim",
    "select_backward", "slice_backward", "sort", "squeeze_matmul", "stack", "std", "std_mean",
    "take_along_dim", "topk", "trace", "tril", "triu", "var", "var_mean",
}
# Writes at indices: the index may name any place of the written tensor.
FALLS_BACK |= {"index_add", "index_copy", "index_fill", "masked_scatter", "scatter",
               "scatter_add", "scatter_reduce_legacy"}
FALLS_BACK |= {"rot90", "cumprod"}  # (as flip and cumsum)
FALLS_BACK |= {"_pack_padded_sequence"}  # (as index_select)
FALLS_BACK |= {"mkldnn_rnn_layer"}  # (an LSTM on sharded operands keeps its cells)
FALLS_BACK |= {"overlapping_write"}  # (a view's places in its whole base, as as_strided's)
FALLS_BACK |= {"copy_slices_owning"}  # (the same; a sharded view's write keeps copy_slices)
FALLS_BACK |= {"set_"}  # (the node of a driver's set_: no values of its own)
FALLS_BACK |= {"native_batch_norm_backward", "native_layer_norm_backward"}  # (the norms'
# gradients' nodes under create_graph, as their own)
FALLS_BACK |= {"rows_summed_in"}  # (a low-precision norm's parameter gradient: rows in order)
FALLS_BACK |= {"unfold", "unfold_backward"}  # (windows may span shards along the dim)
# Layer ops: the backward kernels (they run on the shards' own workers), batch norm (its
# statistics span the batch) and the dropout mask (per shard, every part would draw the
# same numbers from the call's seed).
FALLS_BACK |= {
    "adaptive_avg_pool2d_backward", "avg_pool2d_backward", "conv_input_grad",
    "conv_weight_grad", "conv_bias_grad", "conv_transpose_input_grad", "dropout_mask", "embedding_dense_backward", "native_batch_norm",
    "adaptive_avg_pool3d_backward", "avg_pool3d_backward", "max_pool2d_with_indices_backward",
    "max_pool3d_with_indices_backward", "adaptive_max_pool2d_backward",
    "fractional_max_pool2d_backward", "fractional_max_pool3d_backward",
    "fractional_max_pool2d", "fractional_max_pool3d",  # (the samples come with the batch)
    "adaptive_max_pool3d_backward", "prelu_kernel_backward",
}
# The *_copy ops and the unsafe splits (ops/view_copies.py): gathered, until one is worth
# its view's rule.
FALLS_BACK |= {"alias_copy", "as_strided_copy", "detach_copy", "expand_copy", "permute_copy",
               "reshape_copy", "select_copy", "slice_copy", "split_copy", "squeeze_copy",
               "t_copy", "transpose_copy", "unbind_copy", "unfold_copy", "unsafe_split",
               "unsafe_split_with_sizes", "unsqueeze_copy"}
# (an unbatched col2im's rows, glu's halves span shards)
FALLS_BACK |= {"col2im", "glu", "glu_backward"}
# (a sharded nll_loss's gradient is made of ops with rules: ops/nn._nll_vjp_by_ops)
FALLS_BACK |= {"nll_loss_backward"}
FALLS_BACK |= {"embedding_bag", "embedding_bag_backward",  # (a bag's indices name any row
               "embedding_bag_per_sample_weights_backward"}  # of the weight)
FALLS_BACK |= {"without_derivative"}  # (values read on the driver: unique's)
FALLS_BACK |= {"trilinear"}  # (bilinear's: both its inputs batched, which "batch" cannot pair)
FALLS_BACK |= {"pad_backward"}  # (its gradient and self, both batched, likewise)
# Per-channel fake quantization: a scale per slice of its axis, which any dim may be.
FALLS_BACK |= {"fake_quantize_per_channel"}

# Indexed reads and writes, block and pixel rearrangements and random draws: the index or
# the block may name any place of the tensor, a draw's law any of its elements.
FALLS_BACK |= {"block_diag", "index_put_accumulate", "masked_select", "narrow_copy",
               "pixel_shuffle", "pixel_unshuffle", "put", "region_scatter", "sample",
               "scatter_reduce", "take", "index_reduce", "grid_sampler"}
# Affine grids: made whole (affine_base_grid, as full) from a batch of matrices.
FALLS_BACK |= {"affine_base_grid", "affine_grid_generator"}
# In-place shape ops: on a sharded tensor they run as their out-of-place view's rule
# (ops/inplace_views.py), and as_strided_ is refused there.
FALLS_BACK |= {"as_strided_", "squeeze_", "t_", "transpose_", "unsqueeze_"}
# A tensor's memory in another shape (resize_) or read as another dtype (view(dtype)).
FALLS_BACK |= {"resize", "view_dtype"}

# Order statistics, scans, distances and fused products (ops/order_stats.py, products.py):
# a median, mode or quantile needs a whole slice; the rest are the gather's until a rule
# is worth it.
FALLS_BACK |= {
    "addbmm", "addmv", "addr", "aminmax", "baddbmm", "bincount", "cdist", "cdist_backward",
    "cummax", "cummin", "dist", "euclidean_dist", "histc", "histogram", "histogramdd",
    "logcumsumexp",
    "kthvalue", "median", "median_dim", "mode", "nanmedian", "nanmedian_dim", "pdist",
    "pdist_backward", "renorm", "searchsorted", "squeeze_last_in_place", "vdot",
}
# The CTC loss (ops/ctc.py): each batch element's recursion runs over all its time steps.
FALLS_BACK |= {"ctc_loss", "ctc_loss_backward"}
# Attention's backward (ops/layers.py): a sharded attention's nodes are per shard, so it
# runs on each worker's own tensors.
FALLS_BACK |= {"scaled_dot_product_attention_backward"}
# The margin losses torch runs as kernels of their own (ops/nn.py), and weight norm's norms
# over all dims but one: gathered until a batch rule is worth it.
FALLS_BACK |= {"soft_margin_loss", "soft_margin_loss_backward", "multi_margin_loss",
               "multi_margin_loss_backward", "multilabel_margin_loss",
               "multilabel_margin_loss_backward", "weight_norm_interface"}
# Linear algebra (ops/decompositions.py): a factorization needs each whole matrix.
FALLS_BACK |= {
    "cholesky", "cholesky_inverse", "cholesky_solve", "linalg_cholesky_ex", "linalg_det",
    "linalg_eigh", "linalg_inv_ex", "linalg_lstsq", "linalg_lu", "linalg_lu_factor_ex",
    "linalg_lu_solve", "linalg_matrix_exp", "linalg_pinv", "linalg_qr", "linalg_slogdet",
    "linalg_solve_ex", "linalg_solve_triangular", "linalg_svd", "lu_unpack", "lu_unpack_p",
    "triangular_solve", "geqrf", "linalg_householder_product",
}


def test_every_op_names_a_rule_that_exists_or_falls_back():
    unknown = {n: op.sharding for n, op in OPS.items()
               if op.sharding is not None and op.sharding not in RULES}
    assert not unknown, f"rows name sharding rules that do not exist: {unknown}"
    without = {n for n, op in OPS.items() if op.sharding is None}
    assert without == FALLS_BACK, (
        f"new ops without a rule: {sorted(without - FALLS_BACK)}; "
        f"ops that now have one: {sorted(FALLS_BACK - without)}")


def test_elementwise_ops_shard_elementwise():
    # an op laid out as its inputs are (torch's TensorIterator) runs on each shard alone
    odd = {n: op.sharding for n, op in OPS.items() if op.elementwise and op.sharding != "elementwise"}
    assert not odd
