"""CPU autocast as torch 2.13's: its state (nesting, enabled=False, decorators, the dtype
API), the dtype each listed op computes in (lower precision, float32, the widest input) and
every other op's, the values to the autocast dtype's precision, gradients through the casts
to float32 parameters, modules and checkpoints under autocast, a small MLP's training steps
(with GradScaler("cpu")), and the scaler itself, each against torch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad
from torch_twin import attempt, graph, same

LOW = ["bfloat16", "float16"]
TOL = dict(rtol=2e-2, atol=2e-2)


def _ac(T, low):
    return T.autocast("cpu", dtype=getattr(T, low))


# ---- the state ----------------------------------------------------------------------------------

def test_state_nesting_and_enabled_false():
    def scenario(T):
        seen = [T.is_autocast_enabled("cpu"), T.get_autocast_dtype("cpu"), T.is_autocast_enabled()]
        with T.autocast("cpu", dtype=T.float16) as region:
            seen += [region is not None, T.is_autocast_enabled("cpu"), T.get_autocast_dtype("cpu"),
                     T.is_autocast_enabled()]
            with T.autocast("cpu", enabled=False):
                seen += [T.is_autocast_enabled("cpu"), (T.ones(2, 2) @ T.ones(2, 2)).dtype]
            with T.autocast("cpu", dtype=T.bfloat16):
                seen += [T.get_autocast_dtype("cpu"), (T.ones(2, 2) @ T.ones(2, 2)).dtype]
            seen += [T.get_autocast_dtype("cpu"), (T.ones(2, 2) @ T.ones(2, 2)).dtype]
        seen += [T.is_autocast_enabled("cpu"), T.get_autocast_dtype("cpu"),
                 (T.ones(2, 2) @ T.ones(2, 2)).dtype]
        region = T.autocast("cpu")
        seen += [region.fast_dtype, region.device, region._enabled]
        return seen

    same(scenario)


def test_decorator_and_set_functions():
    def scenario(T):
        @T.autocast("cpu")
        def product(a, b):
            return a @ b, T.is_autocast_enabled("cpu")

        out = product(T.ones(2, 2), T.ones(2, 2))
        T.set_autocast_enabled("cpu", True)
        T.set_autocast_dtype("cpu", T.float16)
        try:
            during = (T.ones(2, 2) @ T.ones(2, 2)).dtype, T.get_autocast_dtype("cpu")
        finally:
            T.set_autocast_enabled("cpu", False)
            T.set_autocast_dtype("cpu", T.bfloat16)
        return (out, during, T.is_autocast_enabled("cpu"), (T.ones(2, 2) @ T.ones(2, 2)).dtype,
                attempt(T.autocast("cpu"), 3), T.is_autocast_cache_enabled())

    same(scenario)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_other_dtypes_turn_cpu_autocast_off_with_torchs_warning(dtype):
    def scenario(T):
        with T.autocast("cpu", dtype=getattr(T, dtype)):
            return T.is_autocast_enabled("cpu"), (T.ones(2, 2) @ T.ones(2, 2)).dtype

    same(scenario)


def test_deprecated_spellings():
    def scenario(T):
        with T.cpu.amp.autocast():
            inside = (T.ones(2, 2) @ T.ones(2, 2)).dtype
        return inside, T.is_autocast_cpu_enabled(), T.get_autocast_cpu_dtype()

    same(scenario)


# ---- what each op computes in --------------------------------------------------------------------

def _operands(T):
    T.manual_seed(0)
    return {"x": T.randn(4, 6), "w": T.randn(5, 6), "b": T.randn(5), "m": T.randn(6, 6),
            "bx": T.randn(2, 4, 6), "bm": T.randn(2, 6, 3), "img": T.randn(2, 3, 6, 6),
            "k": T.randn(4, 3, 3, 3), "seq": T.randn(2, 3, 8), "k1": T.randn(4, 3, 3),
            "vol": T.randn(1, 2, 4, 4, 4), "t": T.tensor([0, 2, 1, 4]), "p": T.rand(4, 5)}


OPS = {
    # lower precision
    "matmul": lambda T, o: o["x"] @ o["m"], "matmul_fn": lambda T, o: T.matmul(o["bx"], o["bm"]),
    "mm": lambda T, o: T.mm(o["x"], o["m"]), "mm_method": lambda T, o: o["x"].mm(o["m"]),
    "bmm": lambda T, o: T.bmm(o["bx"], o["bm"]),
    "addmm": lambda T, o: T.addmm(o["b"], o["x"], o["w"].t()),
    "baddbmm": lambda T, o: T.baddbmm(o["bx"][:, :, :3], o["bx"], o["bm"], alpha=0.5),
    "addbmm": lambda T, o: T.addbmm(o["x"][:, :3], o["bx"], o["bm"]),
    "linear": lambda T, o: T.nn.functional.linear(o["x"], o["w"], o["b"]),
    "conv1d": lambda T, o: T.nn.functional.conv1d(o["seq"][:, :3], o["k1"]),
    "conv2d": lambda T, o: T.nn.functional.conv2d(o["img"], o["k"], padding=1),
    "conv_transpose2d": lambda T, o: T.nn.functional.conv_transpose2d(o["img"], o["k"].transpose(0, 1)),
    "prelu": lambda T, o: T.nn.functional.prelu(o["x"], T.tensor([0.25])),
    "sdpa": lambda T, o: T.nn.functional.scaled_dot_product_attention(
        o["seq"][None], o["seq"][None], o["seq"][None]),
    "einsum": lambda T, o: T.einsum("bij,bjk->bik", o["bx"], o["bm"]),
    "tensordot": lambda T, o: T.tensordot(o["x"], o["m"], 1),
    "vecdot": lambda T, o: T.linalg.vecdot(o["x"], o["x"]),
    "multi_dot": lambda T, o: T.linalg.multi_dot([o["x"], o["m"], o["m"]]),
    # float32
    "cross_entropy": lambda T, o: T.nn.functional.cross_entropy(o["x"].bfloat16(), o["t"]),
    "nll_loss": lambda T, o: T.nn.functional.nll_loss(o["x"].half(), o["t"]),
    "mse_loss": lambda T, o: T.nn.functional.mse_loss(o["x"].bfloat16(), o["x"].half()),
    "l1_loss": lambda T, o: T.nn.functional.l1_loss(o["p"].bfloat16(), o["p"]),
    "bce": lambda T, o: T.nn.functional.binary_cross_entropy(o["p"].bfloat16(), o["p"] * 0.5),
    "bce_logits": lambda T, o: T.nn.functional.binary_cross_entropy_with_logits(
        o["x"].bfloat16(), o["p"][:, :1].expand(4, 6)),
    "kl_div": lambda T, o: T.nn.functional.kl_div(o["x"].bfloat16(), o["p"][:, :1].expand(4, 6)),
    "smooth_l1": lambda T, o: T.nn.functional.smooth_l1_loss(o["x"].bfloat16(), o["x"]),
    "huber": lambda T, o: T.nn.functional.huber_loss(o["x"].bfloat16(), o["x"] * 2),
    "prod": lambda T, o: o["p"].bfloat16().prod(1), "trace": lambda T, o: o["m"].bfloat16().trace(),
    "cdist": lambda T, o: T.cdist(o["x"].bfloat16(), o["x"].bfloat16()),
    "max_pool3d": lambda T, o: T.nn.functional.max_pool3d(o["vol"].bfloat16(), 2),
    "adaptive_avg_pool3d": lambda T, o: T.nn.functional.adaptive_avg_pool3d(o["vol"].bfloat16(), 2),
    "pad_reflect": lambda T, o: T.nn.functional.pad(o["seq"].bfloat16(), (2, 1), mode="reflect"),
    "pad_replicate": lambda T, o: T.nn.functional.pad(o["img"].bfloat16(), (1, 1, 2, 0),
                                                      mode="replicate"),
    "pad_constant": lambda T, o: T.nn.functional.pad(o["seq"].bfloat16(), (2, 1)),
    "inverse": lambda T, o: T.linalg.inv(o["m"].bfloat16() + 4 * T.eye(6)),
    "quantile": lambda T, o: o["x"].bfloat16().quantile(0.3),
    # the widest
    "cat": lambda T, o: T.cat([o["x"].bfloat16(), o["x"]]), "stack": lambda T, o: T.stack(
        [o["x"].bfloat16(), o["x"].bfloat16()]),
    "cat_low": lambda T, o: T.cat([o["x"].bfloat16(), o["x"].half()]),
    "index_copy": lambda T, o: o["x"].bfloat16().index_copy(0, T.tensor([1, 3]), o["x"][:2]),
    # on no list: in their inputs' dtypes
    "softmax": lambda T, o: (o["x"] @ o["m"]).softmax(-1), "relu": lambda T, o: (o["x"] @ o["m"]).relu(),
    "add_bias": lambda T, o: o["x"] @ o["m"] + o["b"][:1], "sum": lambda T, o: (o["x"] @ o["m"]).sum(),
    "layer_norm": lambda T, o: T.nn.functional.layer_norm(o["x"] @ o["m"], (6,), o["m"][0],
                                                          o["m"][1]),
    "group_norm": lambda T, o: T.nn.functional.group_norm(T.nn.functional.conv2d(
        o["img"], o["k"]), 2, o["b"][:4], o["b"][1:]),
    "batch_norm": lambda T, o: T.nn.functional.batch_norm(o["x"] @ o["m"], T.zeros(6), T.ones(6),
                                                          o["m"][0], o["m"][1], training=True),
    "dot": lambda T, o: T.dot(o["b"], o["b"]), "mv": lambda T, o: T.mv(o["x"], o["m"][0]),
    "addmv": lambda T, o: T.addmv(o["x"][:, 0], o["x"], o["m"][0]),
    "outer": lambda T, o: T.outer(o["b"], o["b"]), "kron": lambda T, o: T.kron(o["x"], o["b"]),
    "bilinear": lambda T, o: T.nn.functional.bilinear(o["x"], o["x"], T.ones(2, 6, 6)),
    "float64": lambda T, o: o["x"].double() @ o["m"].double(),
    "gelu": lambda T, o: T.nn.functional.gelu(o["x"] @ o["m"]),
    "embedding": lambda T, o: T.nn.functional.embedding(o["t"], o["x"] @ o["m"]),
}


@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("op", sorted(OPS))
def test_each_op_computes_in_torchs_dtype(op, low):
    def scenario(T):
        o = _operands(T)
        with _ac(T, low):
            return attempt(OPS[op], T, o)

    same(scenario, **TOL)


def test_integer_and_float64_inputs_are_not_cast():
    def scenario(T):
        with T.autocast("cpu"):
            i = T.arange(6).reshape(2, 3)
            return (i @ i.t(), T.cat([i, i]), T.ones(2, dtype=T.float64) @ T.ones(2, dtype=T.float64),
                    T.nn.functional.linear(T.ones(2, 3, dtype=T.float64), T.ones(4, 3, dtype=T.float64)))

    same(scenario)


def test_matmul_values_are_those_of_the_cast_operands():
    """A product under autocast is the product of its operands rounded to bfloat16."""
    def scenario(T):
        T.manual_seed(1)
        a, b = T.randn(16, 32), T.randn(32, 8)
        with T.autocast("cpu"):
            inside = a @ b
        return inside, (a.bfloat16() @ b.bfloat16()).float() - inside.float()

    same(scenario, rtol=1e-2, atol=1e-2)


# ---- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("low", LOW)
def test_gradients_reach_float32_parameters_as_float32(low):
    def scenario(T):
        T.manual_seed(0)
        w = T.randn(5, 6, requires_grad=True)
        b = T.randn(5, requires_grad=True)
        x = T.randn(4, 6, requires_grad=True)
        with _ac(T, low):
            y = T.nn.functional.linear(x, w, b)
            z = y @ w  # the weight used twice: cast once (the cache), one ToCopyBackward0
            loss = T.nn.functional.mse_loss(z, T.ones(4, 6))
        loss.backward()
        return (y, z, loss, w.grad, b.grad, x.grad, graph(loss))

    same(scenario, **TOL)


def test_the_cache_lasts_one_outermost_region():
    def scenario(T):
        w = T.ones(3, 3, requires_grad=True)
        with T.autocast("cpu"):
            a = w @ w
            with T.autocast("cpu"):
                b = w @ w
        with T.autocast("cpu"):
            c = w @ w
        with T.autocast("cpu", cache_enabled=False):
            d = w @ w
        return [graph(t) for t in (a, b, c, d)], \
            a.grad_fn.next_functions[0][0] is b.grad_fn.next_functions[0][0], \
            a.grad_fn.next_functions[0][0] is c.grad_fn.next_functions[0][0], \
            d.grad_fn.next_functions[0][0] is d.grad_fn.next_functions[1][0]

    same(scenario)


def test_a_weight_cast_under_no_grad_is_cached_with_its_edge_but_not_in_inference_mode():
    """In one region: a no_grad pass caches the weight's cast (a later pass with grad reuses
    it, stale after a write to the weight's data, and its gradient reaches the weight); an
    inference_mode pass casts without caching."""
    def scenario(T):
        w = T.ones(2, 2, requires_grad=True)
        x = T.ones(1, 2)
        with T.autocast("cpu", dtype=T.bfloat16):
            with T.no_grad():
                a = x @ w
            w.data.add_(1)
            y = x @ w
            y.float().sum().backward()
        with T.autocast("cpu", dtype=T.bfloat16):
            with T.inference_mode():
                b = x @ w
            w.data.add_(1)
            z = x @ w
        return a, y, graph(y), w.grad, b.clone(), z

    same(scenario)


def test_backward_inside_the_region_and_checkpoints():
    def scenario(T):
        from importlib import import_module

        checkpoint = import_module(T.__name__ + ".utils.checkpoint").checkpoint
        T.manual_seed(0)
        lin = T.nn.Linear(4, 4)
        x = T.randn(3, 4, requires_grad=True)
        out = []
        for reentrant in (False, True):
            lin.zero_grad()
            with T.autocast("cpu"):
                y = checkpoint(lambda t: lin(t).relu() @ lin.weight, x, use_reentrant=reentrant)
                loss = y.float().pow(2).sum()
                loss.backward()
            out += [y, loss, lin.weight.grad, lin.bias.grad]
        return out

    same(scenario, **TOL)


@pytest.mark.parametrize("reentrant", [False, True])
def test_a_checkpoints_recompute_leaves_no_cast_weight_for_the_next_region(reentrant):
    """The backward outside any region recomputes the checkpoint under autocast; the weight
    it casts goes with its recompute, so the next step's region casts the updated weight."""
    def scenario(T):
        from importlib import import_module

        checkpoint = import_module(T.__name__ + ".utils.checkpoint").checkpoint
        lin = T.nn.Linear(2, 2, bias=False)
        with T.no_grad():
            lin.weight.copy_(T.eye(2))
        x = T.ones(1, 2, requires_grad=True)
        out = []
        for _ in range(2):
            with T.autocast("cpu", dtype=T.bfloat16):
                y = checkpoint(lin, x, use_reentrant=reentrant)
            y.float().sum().backward()
            with T.no_grad():
                lin.weight.add_(1.0)
            out += [y, lin.weight.grad]
        return out

    same(scenario)


def test_a_custom_bwd_backward_casts_under_its_forwards_autocast():
    """custom_bwd enters the forward's region inside the backward pass: its listed ops cast
    there (a bfloat16 gradient times a float32 saved weight)."""
    def scenario(T):
        class MatMul(T.autograd.Function):
            @staticmethod
            @T.amp.custom_fwd(device_type="cpu")
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a.mm(b)

            @staticmethod
            @T.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                a, b = ctx.saved_tensors
                seen.append((g.dtype, T.is_autocast_enabled("cpu")))
                return g.mm(b.t()), a.t().mm(g)

        seen = []
        T.manual_seed(0)
        a = T.randn(2, 3, requires_grad=True)
        b = T.randn(3, 2, requires_grad=True)
        with T.autocast("cpu", dtype=T.bfloat16):
            y = MatMul.apply(a, b)
        y.float().sum().backward()
        return y, a.grad, b.grad, seen

    same(scenario)


# ---- modules and a training step ------------------------------------------------------------------

MODULES = {
    "conv_net": lambda T: T.nn.Sequential(T.nn.Conv2d(3, 4, 3), T.nn.BatchNorm2d(4), T.nn.ReLU(),
                                          T.nn.MaxPool2d(2), T.nn.Flatten(), T.nn.Linear(16, 5)),
    "layer_norm_mlp": lambda T: T.nn.Sequential(T.nn.Linear(6, 8), T.nn.LayerNorm(8), T.nn.GELU(),
                                                T.nn.Linear(8, 3)),
    "attention": lambda T: T.nn.MultiheadAttention(6, 2, batch_first=True),
    "encoder_layer": lambda T: T.nn.TransformerEncoderLayer(6, 2, 12, dropout=0.0,
                                                            batch_first=True),
    "lstm": lambda T: T.nn.LSTM(6, 5, num_layers=2, batch_first=True),
    "gru": lambda T: T.nn.GRU(6, 5, batch_first=True),
}


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("given", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("low", LOW)
def test_an_lstm_under_autocast_takes_onednn_as_torch_for_its_input(low, given, grad):
    """torch gives an LSTM's input to oneDNN (mkldnn_rnn_layer, which autocast lowers, and
    which fails where this CPU's oneDNN has no such dtype) when oneDNN takes its dtype:
    float32, and float16/bfloat16 where it computes in them (float16 without grad mode);
    any other input runs torch's own cells, each op autocast."""
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5)
        x = T.randn(2, 4, 6).to(getattr(T, given))
        with _ac(T, low), T.set_grad_enabled(grad):
            return attempt(lambda: lstm(x)[0])

    same(scenario, rtol=5e-2, atol=5e-2)


def test_an_autocast_lstm_casts_each_layers_operands_as_torch():
    """Under autocast each mkldnn_rnn_layer casts its operands: the input made contiguous
    first, hx[k] and cx[k] selected first, and the weights once per autocast region (torch's
    cache: two calls share their casts)."""
    def scenario(T):
        T.manual_seed(0)
        lstm = T.nn.LSTM(6, 5, num_layers=2, batch_first=True)
        x, h0 = T.randn(3, 2, 6, requires_grad=True), T.randn(2, 3, 5, requires_grad=True)
        with T.autocast("cpu"):
            y, (h, c) = lstm(x, (h0, h0 * 2))
            again, _ = lstm(x, (h0, h0 * 2))
        (y.float().sum() + c.float().sum()).backward()
        shared = [a is b for (a, _), (b, _) in zip(y.grad_fn.next_functions[0][0].next_functions,
                                                   again.grad_fn.next_functions[0][0]
                                                   .next_functions)]
        return [y, h, c, graph(y), graph(c), shared, x.grad, h0.grad, lstm.weight_ih_l1.grad]

    same(scenario, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_under_autocast(name):
    def scenario(T):
        T.manual_seed(0)
        m = MODULES[name](T)
        x = T.randn(2, 3, 6, 6) if name == "conv_net" else T.randn(2, 4, 6)
        with T.autocast("cpu"):
            if name == "attention":
                out = m(x, x, x)
            else:
                out = m(x)
        first = out[0] if isinstance(out, tuple) else out
        first.float().sum().backward()
        # (values and dtypes: distgrad's GRU output has TransposeBackward0 where torch's has
        # TransposeBackward1, with or without autocast)
        return first.detach(), [(n, p.grad) for n, p in m.named_parameters()]

    same(scenario, rtol=5e-2, atol=5e-2)


def test_attention_weights_with_a_padding_mask_under_autocast():
    """need_weights with a mask adds the float32 mask to bfloat16 scores in one baddbmm,
    which autocast casts as a whole."""
    def scenario(T):
        T.manual_seed(0)
        m = T.nn.MultiheadAttention(4, 2, batch_first=True)
        x = T.randn(2, 3, 4)
        padding = T.tensor([[False, False, True], [False, False, False]])
        with T.autocast("cpu"):
            out, weights = m(x, x, x, key_padding_mask=padding)
        out.float().sum().backward()
        return out.detach(), weights.detach(), m.in_proj_weight.grad

    same(scenario, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("rnn", ["GRU", "RNN", "LSTM"])
def test_an_acoustic_model_under_autocast(rnn):
    """A conv front end's bfloat16 output into a recurrent layer of float32 weights (torch
    skips its dtype check under autocast and lets the casts inside decide), then log_softmax
    and ctc_loss (on the float32 list)."""
    def scenario(T):
        T.manual_seed(0)
        F = T.nn.functional
        conv, recurrent = T.nn.Conv1d(4, 6, 3, padding=1), getattr(T.nn, rnn)(6, 5)
        head = T.nn.Linear(5, 4)
        with T.autocast("cpu"):
            h = conv(T.randn(2, 4, 9))
            out, _ = recurrent(h.permute(2, 0, 1))
            log_probs = F.log_softmax(head(out), -1)
            loss = F.ctc_loss(log_probs, T.tensor([[1, 2], [3, 3]]), [9, 8], [2, 2])
        loss.backward()
        return [h.dtype, out.dtype, log_probs.dtype, loss, conv.weight.grad,
                recurrent.weight_hh_l0.grad]

    same(scenario, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("low", LOW)
def test_mlp_training_steps_match_torch(low, scaled):
    def scenario(T):
        T.manual_seed(0)
        model = T.nn.Sequential(T.nn.Linear(8, 16), T.nn.ReLU(), T.nn.Linear(16, 4))
        opt = T.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = T.amp.GradScaler("cpu", enabled=scaled)
        x, y = T.randn(32, 8), T.randint(0, 4, (32,))
        record = []
        for _ in range(4):
            opt.zero_grad()
            with T.autocast("cpu", dtype=getattr(T, low)):
                logits = model(x)
                loss = T.nn.functional.cross_entropy(logits, y)
            scaler.scale(loss).backward()
            grads = [p.grad.clone() for p in model.parameters()]
            scaler.step(opt)
            scaler.update()
            record.append((logits.dtype, loss, grads, scaler.get_scale()))
        return record, [p.detach() for p in model.parameters()]

    same(scenario, rtol=3e-2, atol=3e-2)


# ---- GradScaler("cpu") ------------------------------------------------------------------------------

def test_grad_scaler_skips_steps_with_infs_and_moves_its_scale():
    def scenario(T):
        w = T.nn.Parameter(T.tensor([1.0, 2.0]))
        opt = T.optim.SGD([w], lr=0.5)
        scaler = T.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
        seen = [scaler.is_enabled(), scaler.get_scale(), scaler.state_dict()]
        for bad in (False, False, True, False, False):
            opt.zero_grad()
            loss = (w * (float("inf") if bad else 3.0)).sum()
            scaled = scaler.scale(loss)
            scaled.backward()
            seen.append((scaled, w.grad.clone()))
            before = w.grad._version
            scaler.unscale_(opt)  # (torch's kernel writes the gradients uncounted)
            seen.append((w.grad.clone(), w.grad._version - before))
            seen.append(scaler.step(opt))
            scaler.update()  # (the scale written once, counted; the tracker uncounted)
            seen += [w.detach().clone(), scaler.get_scale(), scaler._get_growth_tracker(),
                     scaler._scale._version, scaler._growth_tracker._version]
        scaler.update(16.0)
        seen += [scaler.get_scale(), scaler.state_dict(), scaler.scale([loss, (loss, loss)]),
                 scaler._scale._version]
        return seen

    same(scenario)


def test_grad_scaler_errors_and_state_dict():
    def scenario(T):
        w = T.nn.Parameter(T.ones(2))
        opt = T.optim.SGD([w], lr=0.1)
        scaler = T.amp.GradScaler("cpu")
        errors = [attempt(scaler.step, opt), attempt(scaler.update)]
        scaler.scale(w.sum()).backward()
        scaler.unscale_(opt)
        errors += [attempt(scaler.unscale_, opt), attempt(scaler.step, opt, closure=lambda: 0)]
        scaler.step(opt)
        errors += [attempt(scaler.step, opt), attempt(scaler.unscale_, opt)]
        scaler.update()
        other = T.amp.GradScaler("cpu", init_scale=8.0)
        other.load_state_dict(scaler.state_dict())
        off = T.amp.GradScaler("cpu", enabled=False)
        return (errors, other.state_dict(), off.state_dict(), off.get_scale(),
                attempt(other.load_state_dict, {}), attempt(T.amp.GradScaler, "cpu",
                                                             growth_factor=0.5))

    same(scenario)


def test_grad_scaler_refuses_float16_gradients():
    def scenario(T):
        w = T.nn.Parameter(T.ones(2, dtype=T.float16))
        opt = T.optim.SGD([w], lr=0.1)
        scaler = T.amp.GradScaler("cpu")
        scaler.scale(w.sum()).backward()
        return attempt(scaler.unscale_, opt)

    same(scenario)
