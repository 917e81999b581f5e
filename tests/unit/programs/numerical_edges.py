# Numerical edge cases as training code meets them: gradients at kinks and singular points
# (abs, relu, clamp at its bounds, max and amax ties, sqrt and pow at 0, norms at 0, cdist
# of a point to itself, atan2(0, 0)), the where-with-nan trap and its masked-safe fix, log
# of 0, attention with fully masked rows in float32 and float16 (finfo(float16).min as the
# mask value; -1e9 refused), logsumexp of all -inf, nan_to_num, isclose with nan, a
# gradient penalty through sigmoid, softplus and elu (double backward), a float16 model
# trained with a hand-rolled loss scale that skips steps whose gradients overflow, and a
# state_dict round trip of the half model.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(label, fn):
    try:
        print(label, fn())
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, e)


def grad_of(fn, *values):
    xs = [torch.tensor(v, requires_grad=True) for v in values]
    out = fn(*xs)
    out.sum().backward()
    return [x.grad for x in xs]


print("kinks", grad_of(torch.abs, [0.0, -0.0, 2.0]), grad_of(F.relu, [0.0, 1.0]),
      grad_of(lambda x: x.clamp(0.0, 1.0), [0.0, 1.0, 0.5, 2.0]))
print("ties", grad_of(lambda x: x.max(), [1.0, 3.0, 3.0]), grad_of(lambda x: x.amax(), [1.0, 3.0, 3.0]),
      grad_of(lambda x: x.max(0).values, [[1.0, 2.0], [1.0, 0.0]]),
      grad_of(torch.maximum, [1.0, 2.0], [1.0, 0.0]))
print("at zero", grad_of(torch.sqrt, [0.0, 4.0]), grad_of(lambda x: x ** 0.5, [0.0]),
      grad_of(lambda x: x ** 2, [0.0]), grad_of(lambda x: x.norm(), [0.0, 0.0]),
      grad_of(lambda x: F.normalize(x, dim=0), [0.0, 0.0]))
print("cdist to itself", grad_of(lambda a, b: torch.cdist(a, b), [[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0]]))
print("atan2(0, 0)", grad_of(torch.atan2, [0.0, 1.0], [0.0, 0.0]))
print("log of 0", grad_of(torch.log, [0.0, 1.0]), grad_of(lambda x: torch.xlogy(x, x), [0.0, 2.0]))
print("where trap", grad_of(lambda x: torch.where(x > 0, x.sqrt(), torch.zeros_like(x)), [0.0, -1.0, 4.0]))
print("masked safe", grad_of(lambda x: torch.where(x > 0, torch.where(x > 0, x, 1.0).sqrt(), 0.0), [0.0, -1.0, 4.0]))

# attention with padded keys: a fully masked row is nan under -inf, 0 under nan_to_num
scores = torch.randn(3, 4, requires_grad=True)
pad = torch.tensor([[False, False, True, True], [True, True, True, True], [False, True, False, True]])
attn = scores.masked_fill(pad, float("-inf")).softmax(-1)
print("masked softmax", attn)
safe = attn.nan_to_num(0.0)
(safe * torch.arange(4.0)).sum().backward()
print("grad through nan_to_num", scores.grad)
print("log_softmax -inf", scores.detach().masked_fill(pad, float("-inf")).log_softmax(-1)[0])
lse_in = torch.full((2, 3), float("-inf"), requires_grad=True)
lse = lse_in.logsumexp(-1)
lse.sum().backward()
print("logsumexp of -inf", lse, lse_in.grad)
print("nan_to_num", torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5]).nan_to_num(),
      torch.tensor([float("inf")], dtype=torch.float16).nan_to_num(), torch.tensor([float("nan")]).nan_to_num(nan=-1.0))
rows = torch.tensor([[float("nan"), float("nan")], [float("nan"), -2.0]], requires_grad=True)
(rows.nanmean(1) * torch.tensor([1.0, -1.0])).sum().backward()
print("nanmean of an all-nan row", rows.grad)
a, b = torch.tensor([float("nan"), 1.0, float("inf")]), torch.tensor([float("nan"), 1.0 + 1e-7, float("inf")])
print("close", torch.isclose(a, b), torch.isclose(a, b, equal_nan=True), torch.allclose(a, b),
      torch.allclose(a, b, equal_nan=True), torch.equal(a, a))

# float16 attention: finfo(float16).min masks, -1e9 does not fit
half_scores = scores.detach().half()
print("finfo", torch.finfo(torch.float16).min, torch.finfo(torch.float16).eps, torch.finfo(torch.bfloat16).eps, torch.finfo(torch.float16).tiny)
print("half mask", half_scores.masked_fill(pad, torch.finfo(torch.float16).min).softmax(-1))
attempt("half mask -1e9", lambda: half_scores.masked_fill(pad, -1e9))
attempt("half fill finfo(float32).min", lambda: torch.empty(2, 2, dtype=torch.float16).fill_(torch.finfo(torch.float32).min))
attempt("full half 1e5", lambda: torch.full((2,), 1e5, dtype=torch.float16))
attempt("one-element fill", lambda: torch.empty(1, dtype=torch.float16).fill_(1e5))
attempt("clamp half", lambda: half_scores.clamp(min=-1e5))
attempt("bfloat16 fill", lambda: torch.zeros(2, dtype=torch.bfloat16).fill_(1e39))
attempt("where half", lambda: torch.where(pad, half_scores, -1e9))
attempt("where float", lambda: torch.where(pad, scores.detach(), -1e39))
attempt("half overflow", lambda: (torch.tensor([300.0], dtype=torch.float16) * 300, torch.tensor([70000.0]).half(),
                                  torch.tensor([1.0], dtype=torch.float16) + 1e-4, torch.tensor([2049.0]).half(),
                                  torch.tensor([1.001]).bfloat16(), torch.full((3000,), 1.0, dtype=torch.float16).sum()))

# a gradient penalty through sigmoid, softplus and elu
critic = nn.Sequential(nn.Linear(3, 8), nn.ELU(), nn.Linear(8, 8), nn.Softplus(beta=2, threshold=1.0), nn.Linear(8, 1), nn.Sigmoid())
points = torch.randn(5, 3, requires_grad=True)
out = critic(points)
g, = torch.autograd.grad(out.sum(), points, create_graph=True)
print("input grad", g[0], g.grad_fn)
for name, act in (("sigmoid", torch.sigmoid), ("softplus", lambda v: F.softplus(v, beta=2, threshold=1.0)),
                  ("elu", F.elu), ("selu", F.selu), ("celu", lambda v: F.celu(v, 0.5))):
    v = torch.tensor([-1.0, 0.0, 0.5, 1.0, 30.0], requires_grad=True)
    first, = torch.autograd.grad(act(v).sum(), v, create_graph=True)
    second, = torch.autograd.grad(first.sum(), v)
    print(name, first, second)
penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
penalty.backward()
print("penalty", penalty.item(), critic[0].weight.grad.abs().sum().item())

# a float16 model with a loss scale that skips steps whose gradients overflow
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).half()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(32, 4).half(), torch.randn(32, 1).half()
scale = 2.0 ** 16
for step in range(5):
    loss = F.mse_loss(model(x), y)
    opt.zero_grad()
    (loss * scale).backward()
    finite = all(p.grad.isfinite().all() for p in model.parameters())
    if finite:
        for p in model.parameters():
            p.grad.div_(scale)
        opt.step()
    else:
        scale /= 2
    print("step", step, loss.dtype, round(loss.item(), 3), finite, scale)
model.eval()
with torch.no_grad():
    print("eval", model(x[:2]).flatten())
copy = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).half()
copy.load_state_dict(model.state_dict())
print("round trip", torch.equal(copy[0].weight, model[0].weight), copy[0].weight.dtype,
      torch.allclose(copy(x[:3]), model(x[:3])))
print("done")
