# Integer arithmetic as a quantization script uses it: weights quantized to int8 with a
# per-row scale (round, clamp to the int8 range, out-of-range casts wrapping), an integer
# matmul accumulated in int32 and dequantized, a straight-through fake-quant trained with
# SGD (gradients through round and clamp at its bounds), bucket ids hashed with shifts and
# xor, floor division and remainder of negative ids, and the errors a user meets on the way
# (integer division by zero, mean of an integer tensor, `-` on a mask, fills beyond a
# dtype's range, isclose of mismatched dtypes).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.tolist() if isinstance(out, torch.Tensor) else out,
              getattr(out, "dtype", ""))
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, e)


info8, info32 = torch.iinfo(torch.int8), torch.iinfo(torch.int32)
print("int8 range", info8.min, info8.max, info8.bits, info8, info8 == torch.iinfo(torch.int8))
print("finfo", torch.finfo(torch.float16).max, torch.finfo() == torch.finfo(torch.float32))


def quantize(w):
    scale = w.abs().amax(dim=1, keepdim=True) / info8.max
    q = (w / scale).round().clamp(info8.min, info8.max).to(torch.int8)
    return q, scale


layer = nn.Linear(6, 4)
q, scale = quantize(layer.weight.detach())
print("q", q.dtype, q[0].tolist(), scale.squeeze(1).tolist())
x = torch.randn(5, 6)
xq_scale = x.abs().max() / 127
xq = (x / xq_scale).round().to(torch.int8)
acc = xq.to(torch.int32) @ q.to(torch.int32).t()
print("int32 acc", acc.dtype, acc[0].tolist())
deq = acc.float() * xq_scale * scale.t() + layer.bias.detach()
print("dequantized error", (deq - layer(x)).abs().max().item() < 0.1)
print("int8 overflow wraps", (q[:1] * 3)[0].tolist(), (q.sum(1)).dtype, q.sum(1, dtype=torch.int8).tolist())
print("casts out of range", torch.tensor([300.0, -300.0, 127.9, -128.9]).to(torch.int8).tolist(),
      torch.tensor([-1, 256, 257]).to(torch.uint8).tolist(), torch.tensor([3e9]).int().tolist())
u = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
print("uint8", (-u).tolist(), u.abs().tolist(), (u + u).tolist(), (u - 1).tolist(), (u * 2).dtype)
print("sums", torch.tensor([True, True, False]).sum(), torch.tensor([True, False]).cumsum(0),
      q.prod(dtype=torch.int64).dtype, torch.tensor([100, 100], dtype=torch.int8).cumsum(0))


# fake quantization trained with a straight-through estimator
class FakeQuant(nn.Module):
    def __init__(self, bits=4):
        super().__init__()
        self.levels = 2 ** (bits - 1) - 1
        self.register_buffer("observed", torch.zeros((), dtype=torch.int64))

    def forward(self, w):
        if self.training:
            self.observed += 1
        s = w.detach().abs().max() / self.levels
        wq = (w / s).clamp(-self.levels, self.levels)
        return (wq.round() - wq).detach() * s + wq * s


model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
fq = FakeQuant()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
y = torch.randint(0, 3, (5,))
for step in range(3):
    h = F.linear(x, fq(model[0].weight), model[0].bias).relu()
    loss = F.cross_entropy(model[2](h), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, round(loss.item(), 4), model[0].weight.grad.abs().sum().item())
fq.eval()
print("observed", fq.observed, fq.state_dict())
clamped = torch.tensor([-2.0, -1.0, 0.5, 1.0, 2.0], requires_grad=True)
clamped.clamp(-1, 1).sum().backward()
print("clamp grad at its bounds", clamped.grad.tolist())

# hashing bucket ids with shifts and xor
ids = torch.tensor([-7, -3, 0, 3, 7, 123456789])
h = (ids * 2654435761) ^ (ids >> 3)
print("hash", h.tolist(), (h & 1023).tolist(), ((h % 1000) + 1000) % 1000)
print("shifts", (ids << 2).tolist(), (ids >> 1).tolist(), (ids << 70).tolist(), (ids >> 70).tolist(),
      (ids << -1).tolist(), (torch.tensor([1, 3], dtype=torch.int8) << 7).tolist())
print("bitwise", (~ids).tolist(), (ids & -4).tolist(), (ids | 5).tolist(), (6 ^ ids).tolist(),
      (~torch.tensor([True, False])).tolist())
d = torch.tensor([2, -2, 3, -3, 2, 10])
print("floor", (ids // d).tolist(), torch.div(ids, d, rounding_mode="floor").tolist(),
      torch.floor_divide(ids, 4).tolist(), (-7 // d).tolist())
print("trunc", torch.div(ids, d, rounding_mode="trunc").tolist(), torch.fmod(ids, d).tolist(),
      torch.fmod(ids, -3).tolist())
print("remainder", (ids % d).tolist(), torch.remainder(ids, -3).tolist(), (7 % d).tolist())
print("true division", torch.div(ids, d), (ids / 2).dtype, (ids // 2.5).tolist(), (ids % 2.5).tolist())
print("gcd lcm", torch.gcd(ids, d).tolist(), torch.lcm(torch.tensor([4, -6, 0]), torch.tensor([6, 4, 5])).tolist())
print("clamp ints", ids.clamp(-5, 5).tolist(), ids.clamp(0.5, 2.5), ids.clamp(min=1.5).dtype)
print("argmax ties", torch.tensor([1, 3, 3, 2]).argmax().item(), torch.tensor([[1, 3, 3], [2, 2, 1]]).max(1))
print("promotion", (torch.tensor([1, 2], dtype=torch.int8) * torch.tensor(300)).dtype,
      (torch.tensor([1, 2]) * torch.tensor(2.5)).dtype, (torch.tensor([1.0], dtype=torch.float16) * torch.tensor(2.5, dtype=torch.float64)).dtype,
      (torch.tensor([True]) + 1).dtype, (torch.tensor([1], dtype=torch.uint8) + torch.tensor([-1], dtype=torch.int8)).dtype)

attempt("division by zero", lambda: ids // 0)
attempt("remainder by zero", lambda: ids % torch.zeros_like(ids))
attempt("float division by zero", lambda: ids.float() // 0)
attempt("mean of ints", lambda: ids.mean())
attempt("minus on a mask", lambda: -(ids > 0))
attempt("mask minus mask", lambda: (ids > 0) - (ids < 0))
attempt("bad rounding mode", lambda: torch.div(ids, 2, rounding_mode="round"))
attempt("shift a float", lambda: torch.tensor([1.0]) << 1)
attempt("bitwise and of floats", lambda: torch.tensor([1.0]) & torch.tensor([1.0]))
attempt("in-place float into int", lambda: ids.clone().add_(1.5))
attempt("in-place true division", lambda: ids.clone().div_(2))
attempt("int to a negative power", lambda: ids ** -1)
attempt("fill int8 beyond range", lambda: torch.zeros(2, dtype=torch.int8).fill_(300))
attempt("full uint8", lambda: torch.full((2,), -1, dtype=torch.uint8))
attempt("masked_fill int8", lambda: q[0].masked_fill(q[0] > 0, 1000))
attempt("index_fill int8", lambda: q[0].index_fill(0, torch.tensor([0]), 300))
attempt("scatter int8", lambda: q[0].scatter(0, torch.tensor([0]), 300))
attempt("clamp int8", lambda: q[0].clamp(max=300))
attempt("add alpha int8", lambda: torch.add(q[0], q[0], alpha=300))
attempt("threshold int8", lambda: F.threshold(q[0], 0, 300))
attempt("hardtanh int8", lambda: F.hardtanh(q[0], -1, 300))
attempt("isclose int and float", lambda: torch.isclose(ids, ids.float()))
attempt("allclose shapes", lambda: torch.allclose(ids.float(), torch.zeros(3)))
attempt("isclose negative rtol", lambda: torch.isclose(ids, ids, rtol=-1))
attempt("isclose a number", lambda: torch.isclose(ids, 3))
attempt("allclose same", lambda: torch.allclose(ids, ids.clone()))
print("done")
