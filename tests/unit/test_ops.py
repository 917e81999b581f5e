"""Every op in the table, against torch: forward values and dtype, grad_fn names, first-
and second-order gradients (the first-order's grad_fn and version too), a float64
finite-difference check, and torch's errors.

The cases live in op_cases.py; `test_every_op_has_a_case` fails when an op in
`distgrad.ops.table.OPS` has none, and each case checks that running it really
dispatches the ops it claims to cover.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from distgrad.autograd import record
from distgrad.ops.table import OPS
from op_cases import CASES, ERRORS, Arg, Case

GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-4
FD_EPS, FD_RTOL, FD_ATOL = 1e-6, 1e-3, 1e-5


# ---- running a case on one side ---------------------------------------------------------------

def make_arrays(case: Case) -> list:
    rng = np.random.default_rng(case.seed())
    return [np.asarray(a.make(rng)) if isinstance(a, Arg) else a for a in case.args]


def _inputs(T, case: Case, arrays, fdtype):
    out = []
    for a, v in zip(case.args, arrays):
        if not isinstance(a, Arg):
            out.append(v)
        elif a.kind == "f":
            t = T.tensor(v.astype(fdtype))
            out.append(t.requires_grad_() if a.grad else t)
        else:
            out.append(T.tensor(v))
    return out


def _outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def run(T, case: Case, arrays, fdtype=np.float32):
    ins = _inputs(T, case, arrays, fdtype)
    fn = case.fn if T is distgrad else case.torch_fn()
    return ins, _outputs(fn(T, *ins))


def value(t):
    # force: torch gives some zero gradients as ZeroTensors, which refuse a plain numpy().
    return None if t is None else np.asarray(t.detach().numpy(force=True))


def dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def node_name(t):
    return None if t.grad_fn is None else t.grad_fn.name()


# Cases whose grad_fn reaches its inputs through other steps than torch's (values, names and
# gradients agree): torch casts before softmax(dtype=), distgrad casts before
# cumsum/cumprod/prod(dtype=); CopySlices of a write by setitem;
# threshold_backward's edge to its non-differentiable input.
EDGES_DIFFER = {"softmax_dtype", "cumsum_dtype", "cumprod_dtype", "prod_dtype",
                "setitem_int", "setitem_slice_bcast", "threshold_backward",
                "linalg_vector_norm_dtype"}


# Cases whose first-order gradient (made with create_graph) has another grad_fn or version
# than torch's: torch's formula multiplies or divides by a Scalar (MulBackward1) where
# distgrad's by a wrapped number, squeezes or sums where distgrad's views, writes a buffer in
# place (a version) where distgrad's computes it, or names a node distgrad's lacks. A case
# whose gradients come to match torch's fails until it is taken off the list.
GRADIENT_NODE_DIFFERS = {
    "adaptive_avg_pool2d_1x1", "addbmm_scaled", "addcdiv", "addcdiv_", "addmm_",
    "addmm_beta_alpha", "addmv_", "addmv_scaled_bcast", "addr_scaled",
    "affine_grid_then_grid_sample", "aminmax", "aminmax_dim", "aminmax_ties",
    "baddbmm_bcast_scaled", "bce_logits_mean",
    "bce_logits_weights", "bce_mean", "bce_none", "bce_sum", "bmm",
    "copy_squeeze", "copysign", "copysign_", "cumsum_dtype", "deg2rad", "deg2rad_",
    "det_method_1x1", "eq_in_place_ties", "exp2", "exp2_", "grid_sample_3d_nearest_zeros",
    "grid_sample_bicubic_border_align", "grid_sample_bicubic_reflection",
    "grid_sample_bicubic_reflection_align", "grid_sample_bicubic_zeros",
    "grid_sample_bilinear_border_align", "grid_sample_bilinear_reflection",
    "grid_sample_bilinear_zeros", "grid_sample_nearest", "grid_sample_reflection_align",
    "grid_sample_trilinear", "householder_product_batch_square",
    "householder_product_keywords", "huber_loss_backward_op_mean", "inplace_sub_alpha",
    "lerp", "lerp_", "lerp_high_weight", "linalg_householder_product",
    "linalg_lstsq_gels_vector", "linalg_lstsq_gelsd_batch_vector",
    "linalg_qr_complete_wide", "linalg_qr_wide", "linalg_solve_batch_vector",
    "linalg_solve_vector", "linalg_vector_norm_dtype", "lt_in_place", "masked_scatter",
    "masked_scatter_", "masked_scatter_broadcast_mask", "masked_scatter_broadcast_self",
    "masked_scatter_source_larger", "mean", "mean_0d", "mean_dim", "mean_dim_empty_keepdim",
    "mean_dim_neg_keepdim", "mean_dim_none_keepdim", "mean_dims", "mean_empty_dim",
    "ms_block_diag", "ms_normal_tensor_float", "ms_normal_tensor_tensor",
    "mse_loss_backward_op_mean", "mse_loss_backward_op_none", "nextafter", "nextafter_",
    "norm_of_squares", "orgqr", "orgqr_method", "pad_replicate_gradient", "prelu_1d",
    "rad2deg", "repeat_zero", "rsub_tensors", "setitem_int",
    "setitem_scalar", "setitem_slice", "setitem_slice_bcast",
    "smooth_l1_loss_backward_op_mean", "smooth_l1_loss_backward_op_none",
    "soft_margin_loss_backward", "soft_margin_loss_backward_op", "squeeze", "squeeze_0d",
    "squeeze_dim", "squeeze_dim_neg_noop", "squeeze_dims", "trace", "trace_rect",
    "var_mean_only_mean"}


# Cases whose torch side is written otherwise than distgrad's: an optimizer's step, which
# writes its state in place, against distgrad's one update op.
VERSIONS_DIFFER = {"adamw_update", "adam_update_l2_maximize", "adamw_update_count"}


def version(t):
    """The version counter (torch writes some results in place before it returns them:
    matmul's squeeze_, quantile's lerp_), or None for an inference tensor, which has none."""
    return None if t.is_inference() else t._version


def edges(t, inputs):
    """A grad_fn's class name and where each of its next_functions leads: to which input
    (by position), to None (a number), or to a node made inside the op."""
    fn = t.grad_fn
    if fn is None:
        return None
    def target(child):
        if child is None:
            return None
        for k, x in enumerate(inputs):
            if getattr(x, "grad_fn", None) is child or getattr(child, "variable", None) is x:
                return f"input {k}"
        return "inner"  # a composite op's own steps (einsum's permutes) may differ from torch's
    return type(fn).__name__, [(target(c), nr) for c, nr in fn.next_functions]


def assert_same(d, t, rtol, atol, what):
    """distgrad tensor (or None) `d` against torch's `t` (None counts as zeros)."""
    if d is None and t is None:
        return
    ref = t if t is not None else d
    dv = value(d) if d is not None else np.zeros(tuple(ref.shape))
    tv = value(t) if t is not None else np.zeros(tuple(ref.shape))
    assert dv.shape == tv.shape, f"{what}: shape {dv.shape} != torch's {tv.shape}"
    np.testing.assert_allclose(dv.astype(np.float64), tv.astype(np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def _grad_positions(case: Case) -> list:
    return [k for k, a in enumerate(case.args) if isinstance(a, Arg) and a.kind == "f" and a.grad]


def _randoms(seed, shapes, T, requires_grad=False, fdtype=np.float32):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        t = T.tensor(rng.standard_normal(tuple(s)).astype(fdtype))
        out.append(t.requires_grad_() if requires_grad else t)
    return out


def _grad(T, outputs, inputs, grad_outputs, create_graph):
    return T.autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph,
                           allow_unused=True)


def _weighted_sum(grads, weights):
    terms = [(g * w).sum() for g, w in zip(grads, weights)
             if g is not None and g.requires_grad]
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


# ---- the op table is covered --------------------------------------------------------------------

def test_every_op_has_a_case():
    covered = set().union(*(c.covers for c in CASES))
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops in distgrad.ops.table.OPS without a case in op_cases.py: {missing}"
    unknown = sorted(covered - set(OPS))
    assert not unknown, f"cases claim to cover ops that are not in the table: {unknown}"


def test_every_differentiable_op_has_a_finite_difference_case():
    checked = set().union(*(c.covers for c in CASES if c.fd and c.f64 and c.has_grad_inputs))
    # torch gives some ops no derivative (floor_divide): their VJP raises, as torch's
    # NotImplemented node does (test_api_rows checks it)
    # (nor a write into overlapping elements: overlapping_write's VJP is torch's CopySlices,
    # which gives each copy its place's whole gradient, not the adjoint of the write, and
    # copy_slices, the node of such writes (and of sharded views' and dual levels'), whose
    # VJP passes the gradient on; nor without_derivative, torch's named nodes that refuse a
    # backward: Unique2Backward0, ..., EmbeddingBagBackwardBackward0; nor fake quantization,
    # whose straight-through gradient is torch's choice, not its staircase's derivative)
    differentiable = {n for n, op in OPS.items()
                      if op.vjp is not None and op.node != "torch::autograd::NotImplemented"
                      and n not in ("overlapping_write", "copy_slices", "without_derivative",
                                    "embedding_bag_backward", "fake_quantize_per_tensor",
                                    "fake_quantize_per_channel")}
    missing = sorted(n for n in differentiable if n not in checked)
    assert not missing, f"differentiable ops without a finite-difference case: {missing}"


@pytest.fixture(scope="module")
def local_workers():
    """In-process workers (backend="local") for the cases that move tensors to a worker."""
    import distgrad.distributed as dist

    if dist.is_initialized():
        yield
        return
    dist.init(num_workers=1, backend="local")
    try:
        yield
    finally:
        dist.shutdown()


def _needs(case: Case, request) -> None:
    if case.extra.get("workers"):
        request.getfixturevalue("local_workers")


@pytest.fixture
def dispatched(monkeypatch):
    """The names of the ops `record.call` looks up while the test runs."""
    names = set()
    real = record.lookup

    def spy(name):
        names.add(name)
        return real(name)

    monkeypatch.setattr(record, "lookup", spy)
    return names


# ---- against torch --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_torch(case: Case, dispatched, request):
    _needs(case, request)
    arrays = make_arrays(case)
    for fdtype in (np.float32, np.float64) if case.f64 else (np.float32,):
        d_ins, d_outs = run(distgrad, case, arrays, fdtype)
        t_ins, t_outs = run(torch, case, arrays, fdtype)
        tag = np.dtype(fdtype).name
        assert len(d_outs) == len(t_outs), "number of outputs"
        for k, (d, t) in enumerate(zip(d_outs, t_outs)):
            what = f"{tag} output {k}"
            assert tuple(d.shape) == tuple(t.shape), f"{what}: shape"
            assert dtype_name(d) == dtype_name(t), f"{what}: dtype"
            assert d.requires_grad == t.requires_grad, f"{what}: requires_grad"
            assert node_name(d) == node_name(t), f"{what}: grad_fn"
            if case.id not in VERSIONS_DIFFER:
                assert version(d) == version(t), f"{what}: _version"
            if case.id not in EDGES_DIFFER:
                assert edges(d, d_ins) == edges(t, t_ins), f"{what}: grad_fn.next_functions"
            assert_same(d, t, case.rtol, case.atol, f"{what}: value")
        if fdtype is np.float32:
            _check_gradients(case, d_ins, d_outs, t_ins, t_outs)
    missing = sorted(set(case.covers) - dispatched)
    assert not missing, f"the case claims to cover {missing} but never dispatched them"


def _check_gradients(case, d_ins, d_outs, t_ins, t_outs):
    pos = _grad_positions(case)
    diff = [k for k, t in enumerate(t_outs) if t.requires_grad]
    if not pos or not diff:
        return
    seed = case.seed() + 1
    shapes = [t_outs[k].shape for k in diff]
    d_gs = _randoms(seed, shapes, distgrad, requires_grad=True)
    t_gs = _randoms(seed, shapes, torch, requires_grad=True)
    d_gin, t_gin = [d_ins[k] for k in pos], [t_ins[k] for k in pos]
    d_first = _grad(distgrad, [d_outs[k] for k in diff], d_gin, d_gs, True)
    t_first = _grad(torch, [t_outs[k] for k in diff], t_gin, t_gs, True)
    nodes = []  # (distgrad's, torch's) grad_fn and version of each gradient
    for k, (d, t) in enumerate(zip(d_first, t_first)):
        assert_same(d, t, GRAD_RTOL, GRAD_ATOL, f"first-order gradient of input {pos[k]}")
        if d is not None:
            assert dtype_name(d) == dtype_name(t_gin[k]), f"dtype of gradient of input {pos[k]}"
            nodes.append(((node_name(d), d._version), (node_name(t), t._version)))
            if case.id not in GRADIENT_NODE_DIFFERS:
                assert nodes[-1][0] == nodes[-1][1], \
                    f"grad_fn and version of gradient of input {pos[k]}"
    if case.id in GRADIENT_NODE_DIFFERS:  # (the list only shrinks)
        assert any(ours != torchs for ours, torchs in nodes), \
            "its gradients' nodes now match torch's: remove it from GRADIENT_NODE_DIFFERS"
    if not case.grad2:
        return
    w_shapes = [t.shape for t in t_gin]
    d_total = _weighted_sum(d_first, _randoms(seed + 1, w_shapes, distgrad))
    t_total = _weighted_sum(t_first, _randoms(seed + 1, w_shapes, torch))
    wrt_d, wrt_t = d_gin + d_gs, t_gin + t_gs
    d_second = (_grad(distgrad, d_total, wrt_d, None, False) if d_total is not None
                else [None] * len(wrt_d))
    t_second = (_grad(torch, t_total, wrt_t, None, False) if t_total is not None
                else [None] * len(wrt_t))
    for k, (d, t) in enumerate(zip(d_second, t_second)):
        what = (f"second-order gradient w.r.t. input {pos[k]}" if k < len(pos)
                else f"second-order gradient w.r.t. grad_output {k - len(pos)}")
        ref = wrt_t[k]
        if t is None and d is None:
            continue
        assert_same(d, t if t is not None else torch.zeros(ref.shape), GRAD_RTOL, GRAD_ATOL, what)


# ---- finite differences (float64, distgrad alone) ----------------------------------------------

FD_CASES = [c for c in CASES if c.fd and c.f64 and c.has_grad_inputs]


@pytest.mark.parametrize("case", FD_CASES, ids=lambda c: c.id)
def test_op_finite_differences(case: Case, request):
    _needs(case, request)
    arrays = make_arrays(case)
    pos = _grad_positions(case)
    ins, outs = run(distgrad, case, arrays, np.float64)
    diff = [k for k, o in enumerate(outs) if o.requires_grad]
    if not diff:
        return  # nothing differentiable (test_op_matches_torch checks requires_grad with torch)
    rng = np.random.default_rng(case.seed() + 7)
    gs = [rng.standard_normal(tuple(outs[k].shape)) for k in diff]
    analytic = distgrad.autograd.grad([outs[k] for k in diff], [ins[k] for k in pos],
                                      [distgrad.tensor(g) for g in gs], allow_unused=True)

    def objective(arrs):
        with distgrad.no_grad():
            _, o = run(distgrad, case, arrs, np.float64)
        return sum(float((value(o[k]) * g).sum()) for k, g in zip(diff, gs))

    for p, a in zip(pos, analytic):
        base = arrays[p].astype(np.float64)
        numeric = np.zeros(base.shape)
        for j in np.ndindex(base.shape):
            arrs = list(arrays)
            hi, lo = base.copy(), base.copy()
            hi[j] += FD_EPS
            lo[j] -= FD_EPS
            arrs[p] = hi
            f_hi = objective(arrs)
            arrs[p] = lo
            numeric[j] = (f_hi - objective(arrs)) / (2 * FD_EPS)
        got = value(a) if a is not None else np.zeros(base.shape)
        np.testing.assert_allclose(got, numeric, rtol=FD_RTOL, atol=FD_ATOL,
                                   err_msg=f"gradient of input {p} against finite differences")


# ---- errors: torch's exception type and leading words -------------------------------------------

@pytest.mark.parametrize("err", ERRORS, ids=lambda e: e.id)
def test_op_error_matches_torch(err: Case):
    arrays = make_arrays(err)
    with pytest.raises(Exception) as t_exc:
        run(torch, err, arrays)
    with pytest.raises(Exception) as d_exc:
        run(distgrad, err, arrays)
    t_msg = str(t_exc.value).split("\n")[0]
    d_msg = str(d_exc.value)
    n = err.extra.get("prefix", 70)
    assert type(d_exc.value) is type(t_exc.value), (
        f"distgrad raised {type(d_exc.value).__name__}: {d_msg!r}; torch raised "
        f"{type(t_exc.value).__name__}: {t_msg!r}")
    assert d_msg.startswith(t_msg[:n]), f"distgrad: {d_msg!r}\ntorch:    {t_msg!r}"


@pytest.mark.parametrize("exponent", [2, 3, -0.5, -1, -2, 3.0])
def test_pow_by_a_small_exponent_is_torch_bit_for_bit(exponent):
    """torch computes these powers by multiplication (its CPU pow kernel's special cases);
    so does distgrad, rather than numpy's general power (slower, and an ulp off for x ** 3)."""
    x = np.abs(np.random.default_rng(3).standard_normal(1000) * 3).astype(np.float32) + 0.1
    ours = (distgrad.tensor(x) ** exponent).numpy()
    theirs = (torch.tensor(x) ** exponent).numpy()
    np.testing.assert_array_equal(ours, theirs)
