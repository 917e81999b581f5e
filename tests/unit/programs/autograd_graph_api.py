# The autograd graph's own API as debugging and memory-saving code uses it: saved-tensor
# hooks (pack/unpack, save_on_cpu, disabled), multi-grad hooks, gradient edges, a node's
# hooks and pre-hooks, walking next_functions, mutation of saved tensors allowed, version
# bumps, and a module's state_dict hooks.
import distgrad as torch  # PyTorch: import torch
G = torch.autograd.graph
saved_tensors_hooks, save_on_cpu, increment_version = (
    G.saved_tensors_hooks, G.save_on_cpu, G.increment_version)
torch.manual_seed(3)

x = torch.randn(4, 3, requires_grad=True)
w = torch.randn(3, 2, requires_grad=True)
packed = []


def pack(t):
    packed.append((tuple(t.shape), t.requires_grad, t.dtype))
    return t.detach().clone()


def unpack(t):
    return t


with saved_tensors_hooks(pack, unpack):
    y = (x @ w).tanh()
    z = (y * y).sum()
print("packed", packed)
z.backward()
print(x.grad.sum().item(), w.grad.abs().sum().item())

with save_on_cpu():
    y2 = torch.sigmoid(x * 3) * x
print(torch.autograd.grad(y2.sum(), x)[0].sum().item())

try:
    with G.disable_saved_tensors_hooks("no hooks here, please"):
        with saved_tensors_hooks(pack, unpack):
            pass
except RuntimeError as e:
    print("disabled:", e)

# multi-grad hooks: "all" sees every gradient (None for one not computed), "any" the first
seen = []
a = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
h = G.register_multi_grad_hook((a, b), lambda grads: seen.append(
    [None if g is None else round(g.sum().item(), 4) for g in grads]))
(a * 2).sum().backward()
(a * b).sum().backward()
h.remove()
(a * b).sum().backward()
print("all", seen)
seen_any = []
h = G.register_multi_grad_hook((a, b), lambda g: seen_any.append(round(g.sum().item(), 4)),
                             mode="any")
(a * 3 + b).sum().backward()
h.remove()
print("any", seen_any)

# gradient edges: the gradient at an intermediate, taken by its edge
h1 = x.exp()
h2 = h1 * 2
out = h2.sum()
edge = G.get_gradient_edge(h1)
print(type(edge).__name__, edge.node.name(), edge.output_nr)
g_edge, = torch.autograd.grad(out, edge, retain_graph=True)
print(g_edge.shape, g_edge.sum().item())
g_edge2 = torch.autograd.grad(out, (edge, x))
print([t.sum().item() for t in g_edge2])

# a node's hooks: a pre-hook sees (and may replace) the incoming gradient, a hook both sides
q = torch.randn(2, 2, requires_grad=True)
r = (q * q).sin()
log = []
ph = r.grad_fn.register_prehook(lambda gout: (log.append(("pre", round(gout[0].sum().item(), 4))),
                                              (gout[0] * 10,))[1])
hh = r.grad_fn.register_hook(lambda gin, gout: log.append(
    ("hook", round(gin[0].sum().item(), 4), round(gout[0].sum().item(), 4))))
r.sum().backward()
print(log, q.grad.sum().item())
ph.remove()
hh.remove()
q.grad = None
r2 = (q * q).sin()
r2.sum().backward()
print(q.grad.sum().item())


def walk(fn, depth=0, seen=None):
    seen = set() if seen is None else seen
    if fn is None or fn in seen:
        return
    seen.add(fn)
    print("  " * depth + fn.name(), len(fn.next_functions))
    for nxt, _ in fn.next_functions:
        walk(nxt, depth + 1, seen)


lin = torch.nn.Linear(3, 2)
loss = torch.nn.functional.cross_entropy(lin(x).relu(), torch.tensor([0, 1, 1, 0]))
walk(loss.grad_fn)
print(type(loss.grad_fn.next_functions[0][0]).__name__)
print(isinstance(loss.grad_fn, torch.autograd.graph.Node))

# mutating a saved tensor: an error, unless allowed
s = torch.randn(3, requires_grad=True)
t = s * 1
u = t.exp()
t.add_(1)
try:
    u.sum().backward()
except RuntimeError as e:
    print("mutated:", str(e)[:140])
with G.allow_mutation_on_saved_tensors():
    t2 = s * 1
    u2 = t2.exp() * t2
    t2.mul_(3)
    u2.sum().backward()
print("allowed", s.grad)

# increment_version: marks a tensor written, as an in-place op would
v = torch.randn(3, requires_grad=True)
vv = v * 1
o = vv.sin()
before = vv._version
increment_version(vv)
print(before, vv._version)
try:
    o.sum().backward()
except RuntimeError as e:
    print("bumped:", str(e)[:120])

# state_dict hooks on a module
m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
calls = []
m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: calls.append(("pre", prefix)))


def post(mod, sd, prefix, local_metadata):
    calls.append(("post", prefix, sorted(sd)[:2]))
    sd[prefix + "extra"] = torch.tensor(7.0)


m[0].register_state_dict_post_hook(post)
sd = m.state_dict()
print(calls, sorted(sd))
loaded = []
m.register_load_state_dict_post_hook(lambda mod, keys: loaded.append(
    (sorted(keys.missing_keys), sorted(keys.unexpected_keys))))
res = m.load_state_dict(sd, strict=False)
print(loaded, res)
print("done")
