# Walking and hooking the autograd graph of tensors placed on workers, as debugging code
# does: Node.name(), next_functions down to AccumulateGrad and its .variable, a node's
# metadata dict, hooks and pre-hooks on grad_fn nodes (one removed by another mid-run, a
# pre-hook replacing the incoming gradient), the hook on an AccumulateGrad node,
# allow_mutation_on_saved_tensors with a write to a saved input, and
# disable_saved_tensors_hooks with its error text, isinstance(node, Node) for every kind
# of node (distgrad: two workers; torch: the CPU).
# `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
G = torch.autograd.graph
torch.manual_seed(17)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def walk(fn, depth=0, seen=None):
    seen = set() if seen is None else seen
    if fn is None or fn in seen:
        return
    seen.add(fn)
    extra = ""
    if hasattr(fn, "variable"):
        extra = f" var{tuple(fn.variable.shape)}"
    print("  " * depth + fn.name() + extra, len(fn.next_functions))
    for nxt, nr in fn.next_functions:
        walk(nxt, depth + 1, seen)


w1 = torch.randn(3, 4).to(W[0]).requires_grad_()
b1 = torch.zeros(4).to(W[0]).requires_grad_()
w2 = torch.randn(4, 2).to(W[0]).requires_grad_()
x = torch.randn(5, 3).to(W[0])
h = (x @ w1 + b1).relu()
out = (h @ w2).sigmoid().mean()
walk(out.grad_fn)
print(out.grad_fn.next_functions[0][0].name(), out.grad_fn.next_functions[0][1])

node = out.grad_fn
node.metadata["tag"] = "loss"
print(node.metadata, type(node.metadata).__name__, out.grad_fn.metadata["tag"])

log = []
sig = out.grad_fn.next_functions[0][0]
mm = sig.next_functions[0][0]
handles = {}


def sig_hook(grad_inputs, grad_outputs):
    log.append(("sig", [None if g is None else tuple(g.shape) for g in grad_inputs],
                round(grad_outputs[0].sum().item(), 5)))
    handles["mm"].remove()


def mm_hook(grad_inputs, grad_outputs):
    log.append(("mm", len(grad_inputs)))


def mm_pre(grad_outputs):
    log.append(("mm-pre", tuple(grad_outputs[0].shape)))
    return (grad_outputs[0] * 2,)


handles["sig"] = sig.register_hook(sig_hook)
handles["mm"] = mm.register_hook(mm_hook)
handles["pre"] = mm.register_prehook(mm_pre)
acc = w2.grad_fn if w2.grad_fn is not None else None
print("leaf grad_fn", acc)
out.backward(retain_graph=True)
print(log)
g_first = w2.grad.cpu().clone()
print(g_first, w1.grad.cpu().abs().sum().item() > 0, b1.grad.cpu())
log.clear()
handles["pre"].remove()
w1.grad = w2.grad = b1.grad = None
out.backward()
print(log, (w2.grad.cpu() * 2 - g_first).abs().max().item() < 1e-6)
print(attempt(lambda: out.backward()))

# allow_mutation_on_saved_tensors: a saved input written in place, backward still right
with G.allow_mutation_on_saved_tensors():
    a = torch.randn(4).to(W[0]).requires_grad_()
    c = a.clone()
    d = c.sin()
    c.mul_(3)
    d.sum().backward()
    print("mutation", a.grad.cpu(), c._version, d.grad_fn.name())
c2 = a.clone()
d2 = c2.sin()
c2.mul_(3)
print(attempt(lambda: d2.sum().backward()))

with G.disable_saved_tensors_hooks("saved tensor hooks are off in this block"):
    print(attempt(lambda: G.saved_tensors_hooks(lambda t: t, lambda t: t).__enter__()))
    y = (a * a).sum()
    y.backward()
    print("disabled but plain backward fine", a.grad.cpu())
print(attempt(lambda: G.save_on_cpu().__enter__()))

# a hook on a leaf's AccumulateGrad node, reached through next_functions
p = torch.randn(3).to(W[1]).requires_grad_()
q = (p * 2).exp()
accum = q.grad_fn.next_functions[0][0].next_functions[0][0]
print(accum.name(), accum.variable is p, accum.next_functions)
fired = []
hk = accum.register_prehook(lambda g: fired.append(round(g[0].sum().item(), 4)))
q.sum().backward()
hk.remove()
q2 = (p * 2).exp()
q2.sum().backward()
print(fired, p.grad.cpu())


# every kind of node is a torch.autograd.graph.Node, which none subclasses: AccumulateGrad,
# a custom Function's, CopySlices, one a tensor hook sits on, a sharded tensor's
class Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def nodes(fn, seen):
    if fn is not None and fn not in seen:
        seen.append(fn)
        for nxt, _ in fn.next_functions:
            nodes(nxt, seen)
    return seen


base = torch.randn(4).to(W[1]).requires_grad_()
v = base.clone()
v[1:3] = Twice.apply(base[:2])
v.register_hook(lambda g: g)
s = shard(v.unsqueeze(1) * torch.ones(4, 2).to(W[1]), 0)
kinds = nodes((s.exp().sum() + v.sum()).grad_fn, [])
print([isinstance(n, G.Node) for n in kinds[-3:]], all(isinstance(n, G.Node) for n in kinds),
      issubclass(type(v.grad_fn), G.Node), isinstance(v, G.Node), issubclass(int, G.Node))
print("done")
