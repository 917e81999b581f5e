"""torch 2.13's CPU autocast lists, as distgrad's public functions and methods.

The ops torch registers for AutocastCPU (`torch._C._dispatch_get_registrations_for_dispatch_key
("AutocastCPU")`; autocast_mode.cpp) under the names distgrad gives them, with the policy
each has there (autocast_state.py says what each policy casts):

* "lower": mm, bmm, addmm, baddbmm, addbmm, matmul, linear, linalg_vecdot, conv1d/2d/3d,
  conv_transpose1d/2d/3d, prelu, scaled_dot_product_attention (and what torch builds of
  them alone: einsum, tensordot, inner, linalg.multi_dot, chain_matmul);
* "fp32": the losses, prod, trace, cdist, quantile, nanquantile, the 3-d poolings,
  max_unpool2d/3d, fractional_max_pool2d/3d, reflection_pad1d/2d, replication_pad1d/2d/3d,
  grid_sampler, and linear algebra (inverse, cholesky, qr, svd, eig, eigh, lstsq, solve,
  matrix_rank, cond, pinverse, triangular_solve, lu_solve, householder_product, ...);
* "promote": cat, stack, index_copy.

policy None marks functions torch computes in one kernel on no list while distgrad's
implementation is made of listed functions (bilinear): autocast leaves their steps alone.
"""
from __future__ import annotations

from . import autocast_state

LOWER_PRODUCTS = ("matmul", "mm", "bmm", "addmm", "baddbmm", "addbmm", "einsum", "tensordot",
                  "inner", "chain_matmul")
CONVOLUTIONS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "prelu")
FP32_TENSOR = ("prod", "trace", "cdist", "quantile", "nanquantile", "inverse", "cholesky",
               "cholesky_solve", "cholesky_inverse", "pinverse", "qr", "svd",
               "triangular_solve", "lu_solve", "orgqr", "ormqr", "geqrf", "grid_sampler",
               "kl_div", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
               "hinge_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
               "poisson_nll_loss", "max_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
               "avg_pool3d", "max_unpool2d", "max_unpool3d", "fractional_max_pool2d",
               "fractional_max_pool3d")
PROMOTE = ("cat", "concat", "concatenate", "stack", "index_copy")
LINALG_FP32 = ("inv", "inv_ex", "cholesky", "cholesky_ex", "qr", "svd", "svdvals", "eig",
               "eigvals", "eigh", "eigvalsh", "lstsq", "solve", "cond", "matrix_rank",
               "householder_product", "tensorinv", "tensorsolve")
LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
          "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
          "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss",
          "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss",
          "multilabel_margin_loss", "poisson_nll_loss", "ctc_loss")
POOLS_FP32 = ("avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d", "max_unpool2d",
              "max_unpool3d", "fractional_max_pool2d", "fractional_max_pool3d", "grid_sample")


def _max_pool3d(input, *args, **kwargs):
    """F.max_pool3d is max_pool3d (fp32); with return_indices, max_pool3d_with_indices
    (on no list)."""
    return None if kwargs.get("return_indices", len(args) > 5 and args[5]) else "fp32"


def _pad(input, pad, mode="constant", value=None):
    """F.pad: reflection_pad1d/2d and replication_pad1d/2d/3d are fp32; reflect in 3-d,
    circular and constant padding are on no list."""
    if mode == "replicate" or (mode == "reflect" and len(pad) // 2 in (1, 2)):
        return "fp32"
    return "composite"


def install_torch(namespace: dict, tensor_class, linalg) -> None:
    """distgrad's top-level functions, Tensor's methods and distgrad.linalg."""
    autocast_state.install(namespace, {"lower": LOWER_PRODUCTS + CONVOLUTIONS,
                                       "fp32": FP32_TENSOR, "promote": PROMOTE})
    autocast_state.install(tensor_class, {
        "lower": ("matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "addmm", "baddbmm",
                  "addbmm", "inner", "prelu"),
        "fp32": ("prod", "trace", "quantile", "nanquantile", "inverse", "cholesky",
                 "cholesky_solve", "cholesky_inverse", "pinverse", "qr", "svd",
                 "triangular_solve", "lu_solve", "orgqr", "ormqr", "geqrf"),
        "promote": ("index_copy",)})
    autocast_state.install(vars(linalg), {"lower": ("matmul", "vecdot", "multi_dot"),
                                          "fp32": LINALG_FP32})


def install_functional(namespace: dict) -> None:
    """distgrad.nn.functional."""
    autocast_state.install(namespace, {
        "lower": ("linear", "scaled_dot_product_attention") + CONVOLUTIONS,
        "fp32": LOSSES + POOLS_FP32,
        None: ("bilinear",),
        _max_pool3d: ("max_pool3d",),
        _pad: ("pad",)})
