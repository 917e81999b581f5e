# Saving and loading what shares memory, as checkpoints do: a dict of a tensor and its
# views (they come back sharing memory, each with a version counter of its own at 1, so
# a write through one shows in the others and counts only in it), a view saved alone
# (its strides and storage offset kept), tied weights in a state_dict, a module whose
# parameters view one buffer loaded in place, an optimizer's state round-tripped through
# a file then stepped, and tensors on workers or sharded loaded with map_location
# (distgrad: two workers, or split over both; torch: the CPU twice). `W`, `shard` and
# `full` are the runner's (test_programs.py).
import io
import os
import tempfile
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)


def roundtrip(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, **kw)


def layout(t):
    return tuple(t.shape), t.stride(), t.storage_offset(), t.is_contiguous(), t._version


t = torch.arange(12.).view(3, 4)
d = roundtrip({"base": t, "row": t[1], "col": t[:, 2], "tt": t.t(), "tail": t.view(-1)[5:]})
print({k: layout(v) for k, v in d.items()})
d["row"].fill_(-1)
d["tt"][0].mul_(10)
print(d["base"], d["col"], d["tail"])
print([v._version for v in d.values()], d["row"].untyped_storage().data_ptr() == d["base"].untyped_storage().data_ptr())
print(d["base"]._base, d["row"]._base is None, d["row"].is_leaf, d["row"].grad_fn)
print(layout(roundtrip(t.t())), layout(roundtrip(t[1:, 1:3])), roundtrip(t[1:, 1:3]))
g = roundtrip({"g": torch.randn(3, requires_grad=True), "gv": (torch.randn(3, requires_grad=True) * 2)[1:]})
print(g["g"].requires_grad, g["g"].is_leaf, g["gv"].requires_grad, g["gv"].grad_fn, layout(g["gv"]))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, i):
        return self.out(self.emb(i))


m = Tied()
print([p._version for p in m.parameters()], list(m.state_dict()))
sd = roundtrip(m.state_dict())
print(sd["emb.weight"].untyped_storage().data_ptr() == sd["out.weight"].untyped_storage().data_ptr(),
      sd["emb.weight"] is sd["out.weight"], sd["emb.weight"]._version, sd["emb.weight"].requires_grad)
sd["emb.weight"][0].zero_()
print(sd["out.weight"][0], sd["emb.weight"]._version, sd["out.weight"]._version)
m2 = Tied()
with torch.no_grad():
    m2.emb.weight.mul_(2)
print(m2.emb.weight._version, m2.load_state_dict(sd))
print(m2.emb.weight._version, m2.out.weight is m2.emb.weight, m2.emb.weight[0])
params = roundtrip({"p": m.emb.weight, "q": m.out.weight, "l": [m.emb.weight]})
print(type(params["p"]).__name__, params["p"] is params["q"], params["l"][0] is params["p"], params["p"]._version, params["p"].is_leaf)

big = torch.zeros(2, 4)


class Viewed(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(big[0])
        self.b = nn.Parameter(big[1, 1:3])


v = Viewed()
print(v.a._version, v.a._base is None, v.a.is_leaf)
v.load_state_dict({"a": torch.arange(4.), "b": torch.tensor([7., 8.])})
print(big, v.a._version, big._version, v.b)

x, y = torch.randn(5, 3), torch.randn(5, 2)


def build():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    return net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)


def step(net, opt):
    opt.zero_grad()
    loss = F.mse_loss(net(x), y)
    loss.backward()
    opt.step()
    return round(loss.item(), 6)


net, opt = build()
print([step(net, opt) for _ in range(2)])
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "ck.pt")
    torch.save({"net": net.state_dict(), "opt": opt.state_dict()}, path)
    ck = torch.load(path)
net2, opt2 = build()
net2.load_state_dict(ck["net"])
opt2.load_state_dict(ck["opt"])
buf0 = opt2.state[net2[0].weight]["momentum_buffer"]
print(buf0._version, ck["opt"]["state"][0]["momentum_buffer"] is buf0, net2[0].weight._version)
print([step(net, opt) for _ in range(2)], [step(net2, opt2) for _ in range(2)])
print(buf0._version, opt2.state[net2[0].weight]["momentum_buffer"] is buf0, net2[0].weight._version, torch.equal(net[2].bias, net2[2].bias))

a = torch.randn(2, 3).to(W[0])
s = shard(torch.randn(4, 2), 0)
d = roundtrip({"a": a, "at": a.t(), "s": s, "sa": s * 1, "sv": s[1:3]})
print(d["a"].device == torch.device(W[0]), d["s"]._version, d["a"]._version, d["at"].stride(), d["sv"].shape,
      torch.equal(full(d["s"]).cpu(), full(s).cpu()), torch.equal(full(d["sv"]).cpu(), full(s[1:3]).cpu()))
d["at"][0].fill_(5)
print(d["a"].cpu(), d["a"]._version, d["at"]._version)
alone = roundtrip(a.t()[1:])
print(layout(alone), alone.device == torch.device(W[0]), alone.cpu())
c = roundtrip({"a": a, "s": s}, map_location="cpu")
print(c["a"].device, c["s"].device, c["s"]._version, c["a"].requires_grad)
moved = roundtrip([a], map_location={W[0]: W[1]})
print(moved[0].device == torch.device(W[1]), moved[0]._version, torch.equal(moved[0].cpu(), a.cpu()))
print("done")
