# Hashed categorical features and an entropy regularizer as a user writes them: ids hashed
# with large Python ints (those past int64 wrap as torch's uint64 numbers, those no uint64
# holds are refused with torch's OverflowError wherever a number goes), a confusion matrix
# by bincount and its trace (a bool one has no kernel), the entropy of float16 and bfloat16
# probabilities by xlogy (each step rounded in the tensors' dtype, as torch's kernel), a
# scalar loss indexed by mistake (each kind of key in torch's words), and a small
# classifier's gradients, on a worker too.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.cpu() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, str(e).split(" (op '")[0])


ids = torch.tensor([3, 17, 42, 99, 1024, 7, 65535, 12])
buckets = 8
hashed = (ids * 2654435761) % (2 ** 31) % buckets
print("hashed", hashed, hashed.dtype, torch.bincount(hashed, minlength=buckets))
for label, big in (("2**64", 2 ** 64), ("10**30", 10 ** 30), ("-2**63-1", -2 ** 63 - 1), ("-10**20", -10 ** 20)):
    attempt(f"ids * {label}", lambda: ids * big)
    attempt(f"ids + {label}", lambda: ids.add(big))
    attempt(f"ids == {label}", lambda: ids == big)
    attempt(f"fill_ {label}", lambda: ids.clone().fill_(big))
    attempt(f"full {label}", lambda: torch.full((2,), big))
    attempt(f"masked_fill {label}", lambda: ids.masked_fill(ids > 50, big))
    attempt(f"where {label}", lambda: torch.where(ids > 50, ids, big))
    attempt(f"clamp {label}", lambda: ids.clamp(max=big))
    attempt(f"floats * {label}", lambda: ids.float() * big)
print("uint64 numbers wrap", ids + 2 ** 63, ids * (2 ** 64 - 1), ids - 2 ** 63, ids < 2 ** 63, ids.to(torch.int8) + 2 ** 63)
attempt("int8 + 2**70", lambda: ids.to(torch.int8) + 2 ** 70)
attempt("alpha 2**64", lambda: ids.add(1, alpha=2 ** 64))
print("within int64", (ids * (2 ** 40)) // (2 ** 40), ids.float() * 2 ** 62)

# a confusion matrix of predictions against labels
labels = torch.tensor([0, 1, 2, 2, 1, 0, 2, 1])
preds = torch.tensor([0, 2, 2, 2, 1, 0, 1, 1])
confusion = torch.bincount(labels * 3 + preds, minlength=9).view(3, 3)
print("confusion", confusion, confusion.trace(), torch.trace(confusion).dtype,
      torch.trace(confusion.to(torch.int8)).dtype, confusion.diagonal().sum() / confusion.sum())
attempt("trace of a bool matrix", lambda: torch.trace(confusion > 0))
attempt("trace of a bool vector", lambda: torch.trace(labels > 0))
attempt("trace of a vector", lambda: torch.trace(labels))
print("trace half", torch.trace(confusion.half()), torch.trace(confusion.bfloat16()))

# the entropy of probabilities in float16 and bfloat16
logits = torch.randn(4, 5)
for dtype in (torch.float16, torch.bfloat16):
    p = logits.softmax(-1).to(dtype)
    ent = -torch.xlogy(p, p).sum(-1)
    print("entropy", dtype, ent, torch.xlogy(p, 2.5)[0], torch.xlogy(3, p)[1], torch.xlogy(p[0], p[0, 0]))
    print("entropy of ints", torch.xlogy(labels.to(torch.uint8), p[0].repeat(2)[:8]))
q = logits.softmax(-1).half().requires_grad_()
h = -torch.xlogy(q, q).sum()
h.backward()
print("entropy grad", h, q.grad[0])

# a scalar loss indexed by mistake
model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
loss = F.cross_entropy(model(logits), labels[:4])
for label, key in (("[0]", 0), ("[-1]", -1), ("[2]", 2), ("[:1]", slice(None, 1)), ("[0, 0]", (0, 0)),
                   ("[(0,)]", (0,)), ("[[0]]", [0]), ("[tensor(0)]", torch.tensor(0)),
                   ("[tensor([0])]", torch.tensor([0])), ("[None, 0]", (None, 0)), ("[..., :]", (Ellipsis, slice(None)))):
    attempt(f"loss{label}", lambda: loss[key])
print("fine keys", loss[None], loss[...], loss[True].shape, loss[False].shape, loss.item() > 0)


def write(key):
    t = loss.detach().clone()
    t[key] = 1.0
    return t


attempt("write loss[0]", lambda: write(0))
attempt("write loss[:]", lambda: write(slice(None)))
loss.backward()
print("grads", round(loss.item(), 4), model[0].weight.grad[0], model[2].bias.grad)

# the same on a worker
dev = W[0]
on = ids.to(dev)
attempt("worker ids * 2**64", lambda: on * 2 ** 64)
attempt("worker where 10**30", lambda: torch.where(on > 50, on, 10 ** 30))
print("worker hashed", ((on * 2654435761) % (2 ** 31) % buckets).cpu())
wp = logits.softmax(-1).half().to(dev)
print("worker entropy", (-torch.xlogy(wp, wp).sum(-1)).cpu())
wc = confusion.to(dev)
print("worker trace", wc.trace().cpu())
attempt("worker trace of bools", lambda: torch.trace(wc > 0))
wl = F.cross_entropy(model.to(dev)(logits.to(dev)), labels[:4].to(dev))
attempt("worker loss[:1]", lambda: wl[:1])
attempt("worker loss[(0,)]", lambda: wl[(0,)])
model.zero_grad()
wl.backward()
print("worker grads", round(wl.item(), 4), model[2].bias.grad.cpu())
print("done")
