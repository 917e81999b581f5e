# Activation checkpointing as training scripts use it (use_reentrant=False): a block with
# dropout recomputed with the same mask (preserve_rng_state) and without it, in-place
# activations after views inside the block, a nested checkpoint, a block returning a view
# and a tuple with a non-tensor, a block run under no_grad, hooks and retain_grad on what
# a checkpoint returns, a checkpointed block on a worker and on shards (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
checkpoint = torch.utils.checkpoint.checkpoint
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


lin = nn.Linear(6, 6)


def block(x):
    h = lin(x)
    v = h.view(-1, 2, 3)
    v[:, 0].relu_()
    F.dropout(h, 0.5, training=True, inplace=True)
    return h.t()[1:], "tag"


x = torch.randn(4, 6, requires_grad=True)
for preserve in (True, False):
    torch.manual_seed(1)
    out, tag = checkpoint(block, x, use_reentrant=False, preserve_rng_state=preserve)
    print(preserve, tag, out.grad_fn.name(), out.shape, out.stride(), out._version, out.is_leaf)
    out.retain_grad()
    seen = []
    out.register_hook(lambda g: seen.append(round(g.abs().sum().item(), 4)))
    loss = (out * torch.arange(20.).view(5, 4)).sum()
    loss.backward()
    print(round(loss.item(), 4), seen, out.grad[0], x.grad.abs().sum() > 0, lin.weight.grad.shape)
    x.grad = None
    lin.zero_grad()


def inner(y):
    return torch.sigmoid(y) * y


def outer(y):
    z = checkpoint(inner, y * 2, use_reentrant=False)
    z.add_(1)
    return checkpoint(inner, z, use_reentrant=False).sum(0)


a = torch.randn(3, 4, requires_grad=True)
o = checkpoint(outer, a, use_reentrant=False)
print(o.grad_fn.name(), o.requires_grad)
o.sum().backward()
print(a.grad)
(ga,) = torch.autograd.grad(checkpoint(outer, a, use_reentrant=False).sum(), a, create_graph=True)
print(ga.requires_grad, torch.allclose(ga, a.grad))
ga.pow(2).sum().backward()
print(a.grad)

with torch.no_grad():
    r = checkpoint(outer, a, use_reentrant=False)
print(r.requires_grad, r.grad_fn)

# a block that writes its input's clone through views, placed
def writer(t):
    c = t.clone()
    c[:, 1:].mul_(3)
    c.diagonal().sub_(1)
    return c.exp()


for name, put in (("worker", lambda t: t.to(W[1])), ("shard", lambda t: shard(t, 0))):
    b = torch.randn(4, 4, requires_grad=True)
    pb = put(b * 1)
    y = checkpoint(writer, pb, use_reentrant=False)
    print(name, y.grad_fn.name(), y.requires_grad, pb._version, y.shape)
    full(y).sum().backward()
    print(b.grad[1], b.grad.diagonal())

# the checkpointed function mutates a global between forward and recomputation
state = {"scale": 1.0}


def flaky(t):
    return t * state["scale"]


c = torch.ones(3, requires_grad=True)
y = checkpoint(flaky, c, use_reentrant=False)
state["scale"] = 5.0
y.sum().backward()
print(c.grad)
print(attempt(lambda: checkpoint(lambda t: t.sum(), c)))
print("done")
