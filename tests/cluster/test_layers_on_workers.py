"""The layers of real models with their tensors on workers, on both backends: a transformer
block split over two workers and a small CNN on one, against torch (loss, every gradient,
AdamW steps with a global clip and a schedule); dropout masks that do not depend on
placement; checkpoint dropping the saved bytes on the worker (stats())."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.utils.checkpoint import checkpoint as dcheckpoint

VOCAB, WIDTH, HEADS, SEQ, BATCH = 11, 8, 2, 5, 3


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _np(t):
    return np.array(t.detach().cpu().numpy())  # a copy: later in-place steps must not reach it


def _copy(tmod, dmod):
    dmod.load_state_dict({k: dg.tensor(v.detach().numpy().copy())
                          for k, v in tmod.state_dict().items()})


def _block(lib):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, WIDTH, padding_idx=0)
            self.ln1 = nn.LayerNorm(WIDTH)
            # no in-projection bias: the key bias has a zero gradient (softmax ignores it), whose
            # float32 noise AdamW would blow up to a full step
            self.attn = nn.MultiheadAttention(WIDTH, HEADS, bias=False, batch_first=True)
            self.ln2 = nn.RMSNorm(WIDTH)
            self.mlp = nn.Sequential(nn.Linear(WIDTH, 2 * WIDTH), nn.GELU(approximate="tanh"),
                                     nn.Linear(2 * WIDTH, WIDTH), nn.SiLU(), nn.Dropout(0.0))
            self.head = nn.Linear(WIDTH, VOCAB)

        def forward(self, idx, mask):
            x = self.emb(idx)
            if x.device != self.ln1.weight.device:
                x = x.to(self.ln1.weight.device)
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            q = x.view(BATCH, SEQ, HEADS, WIDTH // HEADS).transpose(1, 2)
            x = x + F.scaled_dot_product_attention(q, q, q, is_causal=True).transpose(
                1, 2).reshape(BATCH, SEQ, WIDTH)
            x = x + self.mlp(self.ln2(x))
            return self.head(x)

    return Block()


def _train_block(lib, model, idx, targets, mask, steps=2):
    opt = lib.optim.AdamW(model.parameters(), lr=0.01)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    losses, norms, grads = [], [], None
    for _ in range(steps):
        logits = model(idx, mask)
        loss = lib.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if grads is None:
            grads = {n: _np(p.grad) for n, p in model.named_parameters()}
        norms.append(float(lib.nn.utils.clip_grad_norm_(model.parameters(), 0.5)))
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, norms, grads, {n: _np(p) for n, p in model.named_parameters()}


def test_transformer_block_split_over_workers(backend):
    torch.manual_seed(0)
    tm, dm = _block(torch), _block(dg)
    _copy(tm, dm)
    dm.to("worker:1")
    dm.emb.to("worker:0")  # the embedding on another worker: gradients cross workers
    assert dm.emb.weight.device_str == "worker:0" and dm.head.weight.device_str == "worker:1"
    rng = np.random.default_rng(1)
    idx = rng.integers(0, VOCAB, (BATCH, SEQ))
    targets = rng.integers(0, VOCAB, (BATCH, SEQ))
    mask = np.triu(np.ones((SEQ, SEQ), bool), 1)
    expected = _train_block(torch, tm, torch.tensor(idx), torch.tensor(targets),
                            torch.tensor(mask))
    got = _train_block(dg, dm, dg.tensor(idx, device="worker:0"),
                       dg.tensor(targets, device="worker:1"), dg.tensor(mask, device="worker:1"))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-4)
    for k in (2, 3):  # first-step gradients, then the parameters after two AdamW steps
        for name in expected[k]:
            np.testing.assert_allclose(got[k][name], expected[k][name], rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    assert dm.emb.weight.grad.device_str == "worker:0"


def _cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), nn.AvgPool2d(2, ceil_mode=True),
        nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(24, 3))


def test_cnn_on_a_worker(backend):
    torch.manual_seed(1)
    tm, dm = _cnn(torch), _cnn(dg)
    _copy(tm, dm)
    dm.to("worker:0")
    x = _arr(4, 1, 8, 8, seed=2)
    y = np.array([0, 2, 1, 2])
    results = []
    for lib, model, dev in ((torch, tm, None), (dg, dm, "worker:0")):
        kw = {"device": dev} if dev else {}
        xt = lib.tensor(x, requires_grad=True, **kw)
        loss = lib.nn.functional.cross_entropy(model(xt), lib.tensor(y, **kw))
        loss.backward()
        results.append((loss.item(), _np(xt.grad), {n: _np(p.grad) for n, p in
                                                    model.named_parameters()},
                        {n: _np(b) for n, b in model.named_buffers()}))
    (tl, tx, tg, tb), (dl, dx, dgr, db) = results
    np.testing.assert_allclose(dl, tl, rtol=1e-5)
    np.testing.assert_allclose(dx, tx, rtol=1e-4, atol=1e-6)
    for name in tg:
        np.testing.assert_allclose(dgr[name], tg[name], rtol=1e-4, atol=1e-6, err_msg=name)
    for name in tb:  # running statistics moved where the buffers live
        np.testing.assert_allclose(db[name], tb[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert dm[1].running_mean.device_str == "worker:0"


def test_dropout_masks_do_not_depend_on_placement(backend):
    torch.manual_seed(123)
    expected = torch.nn.functional.dropout(torch.ones(30, 40), 0.25).numpy()
    expected_after = torch.rand(3).numpy()
    for device in ("cpu", "worker:0", "worker:1"):
        dg.manual_seed(123)
        x = dg.ones(30, 40, device=device, requires_grad=True)
        y = dg.nn.functional.dropout(x, 0.25)
        y.sum().backward()
        assert y.grad_fn.name() == "MulBackward0" and y.device_str == device
        np.testing.assert_array_equal(_np(x.grad), _np(y))
        # torch's mask wherever it is drawn, and the driver's stream goes on as torch's
        np.testing.assert_array_equal(_np(y), expected)
        np.testing.assert_array_equal(dg.rand(3).numpy(), expected_after)


def _deep_block(lib, width=128, depth=4):
    layers = []
    for _ in range(depth):
        layers += [lib.nn.Linear(width, width), lib.nn.GELU()]
    return lib.nn.Sequential(*layers)


def test_checkpoint_drops_saved_bytes_on_the_worker(backend):
    dg.manual_seed(0)
    block = _deep_block(dg).to("worker:1")
    x = dg.randn(64, 128, device="worker:1", requires_grad=True)

    def saved_bytes_and_grads(use_checkpoint):
        block.zero_grad()
        x.grad = None
        dist.synchronize()
        before = dist.stats()["worker:1"]["bytes"]
        y = dcheckpoint(block, x, use_reentrant=True) if use_checkpoint else block(x)
        dist.synchronize()
        held = dist.stats()["worker:1"]["bytes"] - before
        y.pow(2).mean().backward()
        return held, [_np(x.grad)] + [_np(p.grad) for p in block.parameters()], y

    plain, plain_grads, _ = saved_bytes_and_grads(False)
    ckpt, ckpt_grads, y = saved_bytes_and_grads(True)
    assert y.grad_fn.name() == "CheckpointFunctionBackward"
    activation = 64 * 128 * 4
    # without: each Linear and GELU keeps its input (8 activations) besides the output
    assert plain >= 8 * activation
    # with: only the output (the input x was there before)
    assert ckpt <= 2 * activation, (plain, ckpt)
    for a, b in zip(ckpt_grads, plain_grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_over_shards_and_workers(backend):
    a = _arr(6, 4, seed=3)
    b = _arr(3, seed=4)
    fallbacks = {k: dict(v["fallbacks"]) for k, v in dist.stats().items()}  # so far, this runtime
    w = dist.shard(dg.tensor(a, requires_grad=True), 0)
    v = dg.tensor(b, device="worker:1", requires_grad=True)
    ((w * 3).pow(2).sum() + v.pow(3).sum().to("cpu")).backward()
    total = dg.nn.utils.clip_grad_norm_([w, v], 1.0)
    tw, tv = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((tw * 3).pow(2).sum() + tv.pow(3).sum()).backward()
    expected = torch.nn.utils.clip_grad_norm_([tw, tv], 1.0)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    assert total.device_str == "cpu"
    assert w.grad.placements == w.placements  # each shard scaled where it lives
    np.testing.assert_allclose(_np(w.grad.full_tensor()), tw.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_np(v.grad), tv.grad.numpy(), rtol=1e-6)
    assert {k: v["fallbacks"] for k, v in dist.stats().items()} == fallbacks  # none gathered


def test_second_order_through_layers_on_a_worker(backend):
    """A gradient penalty (create_graph) through conv, batch norm, layer norm, GELU, SiLU and
    an embedding, all on worker:1, against torch."""
    x_np, w_np, e_np = _arr(2, 2, 5, 5, seed=5), _arr(3, 2, 3, 3, seed=6), _arr(6, 3, seed=7)
    idx = np.array([[1, 4, 2], [5, 0, 1]])
    results = []
    for lib, kw in ((torch, {}), (dg, {"device": "worker:1"})):
        F = lib.nn.functional
        x = lib.tensor(x_np, requires_grad=True, **kw)
        w = lib.tensor(w_np, requires_grad=True, **kw)
        e = lib.tensor(e_np, requires_grad=True, **kw)
        h = F.conv2d(x, w, padding=1, stride=2)
        h = F.batch_norm(h, None, None, training=True)
        h = F.gelu(F.layer_norm(h, (3,)))
        h = F.silu(h.flatten(1)[:, :3] + F.embedding(lib.tensor(idx, **kw), e).sum(1))
        gx, ge = lib.autograd.grad(h.pow(2).sum(), (x, e), create_graph=True)
        (gx.pow(2).sum() + ge.pow(2).sum()).backward()
        results.append([_np(t) for t in (gx, ge, x.grad, w.grad, e.grad)])
    for got, expected, name in zip(results[1], results[0], ("gx", "ge", "x", "w", "e")):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def _cross_and_resample(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True,
                                              add_zero_attn=True, batch_first=True)
            self.conv = nn.Conv2d(1, 3, 3, padding=1)

        def forward(self, q, memory, values, image):
            out, weights = self.attn(q, memory, values, need_weights=True)
            up = F.interpolate(self.conv(image), scale_factor=1.5, mode="bicubic")
            up = lib.channel_shuffle(up, 3)
            return out, weights, up

    return Net()


def test_cross_attention_bicubic_and_spatial_loss_mixed_with_views_and_moves(backend):
    """kdim/vdim attention with bias_kv and zero attention, a bicubic upsample and a spatial
    cross-entropy, in one program with a view written in place and tensors on two workers."""
    torch.manual_seed(3)
    tm, dm = _cross_and_resample(torch), _cross_and_resample(dg)
    _copy(tm, dm)
    dm.to("worker:1")
    arrays = [_arr(2, 3, 4, seed=4), _arr(2, 5, 3, seed=5), _arr(2, 5, 5, seed=6),
              _arr(2, 1, 4, 4, seed=7)]
    target = np.random.default_rng(8).integers(0, 3, (2, 6, 6))
    results = []
    for lib, model, dev in ((torch, tm, None), (dg, dm, "worker:0")):
        kw = {"device": dev} if dev else {}
        leaves = [lib.tensor(a, requires_grad=True, **kw) for a in arrays]
        q, memory, values, image = (x * 1 for x in leaves)
        q[:, 0].mul_(2)  # a view of a non-leaf, written in place
        if dev:
            q, memory, values, image = (x.to("worker:1") for x in (q, memory, values, image))
        out, weights, up = model(q, memory, values, image)
        loss = lib.nn.functional.cross_entropy(up, lib.tensor(target, **(
            {"device": "worker:1"} if dev else {}))) + out.pow(2).mean() + weights.sum()
        loss.backward()
        results.append([float(loss), up.grad_fn.name()] + [_np(x.grad) for x in leaves] +
                       [_np(p.grad) for _, p in model.named_parameters()])
    assert results[1][:2] == [pytest.approx(results[0][0], rel=1e-5), results[0][1]]
    for got, expected in zip(results[1][2:], results[0][2:]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
