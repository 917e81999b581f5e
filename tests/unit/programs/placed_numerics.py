# Integer and numerical edge cases on workers and over shards: integer division and
# remainder of negative ids on a worker, bucket hashing through a sharded batch, int8
# overflow on a worker, a masked softmax with fully masked rows split over two workers,
# gradients at kinks through a sharded batch, float16 masks on a worker (the -1e9 error),
# a compiled function with integer ops, and DDP over a model whose loss has a kink.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(8)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.cpu().tolist() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001  (distgrad names the op and worker of a worker's error)
        print(label, type(e).__name__, str(e).split(" (op '")[0])


ids = torch.tensor([-7, -3, 0, 3, 7, 11, -12, 5])
on = ids.to(W[0])
d = torch.tensor([2, -2, 3, -3, 2, 4, 5, -5]).to(W[0])
print("worker floor", (on // d).cpu().tolist(), (on % d).cpu().tolist(), torch.fmod(on, d).cpu().tolist(),
      torch.div(on, d, rounding_mode="trunc").cpu().tolist(), (on / d).dtype, (on // 2.5).dtype)
print("worker bits", (on << 2).cpu().tolist(), (on >> 1).cpu().tolist(), (on & 3).cpu().tolist(), (~on).cpu().tolist(),
      (on ^ d).cpu().tolist())
sharded = shard(ids.view(4, 2), 0)
h = (sharded * 2654435761) ^ (sharded >> 3)
print("sharded hash", full(h % 1000).tolist(), full(h & 255).tolist(), full(sharded // 3).tolist())
print("sharded sums", full(sharded).sum().item(), full(sharded > 0).sum(0).tolist(),
      full(sharded.abs()).argmax().item(), full(sharded).max(1).indices.tolist())
i8 = torch.tensor([100, -100, 127, -128], dtype=torch.int8).to(W[1])
print("int8 on a worker", (i8 + i8).cpu().tolist(), (i8 * 3).cpu().tolist(), i8.sum().item(), i8.sum().dtype,
      (-i8).cpu().tolist(), i8.abs().cpu().tolist(), i8.float().mean().item())
u8 = torch.tensor([0, 1, 200, 255], dtype=torch.uint8).to(W[1])
print("uint8 on a worker", (-u8).cpu().tolist(), (u8 + 100).cpu().tolist(), (u8 - 1).cpu().tolist(), u8.cumsum(0).cpu().tolist())
attempt("divide by zero on a worker", lambda: on // 0)
attempt("mean of ints on a worker", lambda: on.mean())
attempt("negate a mask on a worker", lambda: -(on > 0))
attempt("fill int8 on a worker", lambda: i8.clone().fill_(300))
attempt("masked_fill int8 on a worker", lambda: i8.masked_fill(i8 > 0, 1000))

# masked attention over a batch split between the workers
scores = torch.randn(4, 5, requires_grad=True)
pad = torch.tensor([[False, False, True, True, True], [True] * 5, [False] * 5, [True, False, True, False, True]])
placed = shard(scores * 1, 0)
attn = placed.masked_fill(shard(pad, 0), float("-inf")).softmax(-1)
print("sharded masked softmax", full(attn).detach())
safe = full(attn).nan_to_num(0.0)
(safe * torch.arange(5.0)).sum().backward()
print("grad through nan_to_num", scores.grad)
x = torch.tensor([[0.0, -1.0, 2.0, 0.0], [3.0, 3.0, -0.0, 1.0]], requires_grad=True)
y = shard(x * 1, 0)
loss = full(y.abs() + y.relu() + y.clamp(0.0, 1.0)).sum() + full(y).amax(1).sum()
loss.backward()
print("sharded kinks", x.grad)
z = torch.tensor([0.0, 4.0, 1.0], requires_grad=True)
zw = z.to(W[1])
safe_sqrt = torch.where(zw > 0, torch.where(zw > 0, zw, 1.0).sqrt(), 0.0)
trap = torch.where(zw > 0, zw.sqrt(), 0.0)
(safe_sqrt.sum() + 0 * trap.sum()).backward()
print("where trap on a worker", z.grad)

half = torch.randn(2, 4).half().to(W[0])
mask = torch.tensor([[True, False, False, True], [True, True, True, True]]).to(W[0])
print("half mask on a worker", half.masked_fill(mask, torch.finfo(torch.float16).min).softmax(-1).cpu())
attempt("half -1e9 on a worker", lambda: half.masked_fill(mask, -1e9))
attempt("half clamp on a worker", lambda: half.clamp(max=1e5))
print("close on a worker", torch.isclose(torch.tensor([float("nan"), 1.0]).to(W[0]), torch.tensor([float("nan"), 1.0]).to(W[0]),
                                         equal_nan=True).cpu().tolist())


@compiled
def bucketize(v, k):
    return (v * 31 + 7) % k, v // k, (v.abs() >> 1) & 7


print("compiled", [t.tolist() for t in bucketize(ids, 5)])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, v):
        return self.fc(v)


torch.manual_seed(1)
model = ddp(Net())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
inputs, targets = torch.randn(6, 3), torch.randn(6, 2)
for step in range(3):
    out = model(inputs)
    loss = F.smooth_l1_loss(out, targets, beta=0.5) + (out - targets).abs().amax()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("ddp step", step, round(loss.item(), 5))
print("done")
