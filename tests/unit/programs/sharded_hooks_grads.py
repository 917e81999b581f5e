# The gradient plumbing users reach for with tensors split over workers (distgrad: sharded
# over two workers, or on one; torch: the CPU): post-accumulate-grad hooks on sharded
# leaves (a manual SGD in the hook), .grad set by hand and accumulated into, a module's
# full backward hook and forward pre-hook over a sharded batch, retain_grad on a loss and
# on a gathered result, torch.autograd.grad with grad_outputs given sharded,
# backward(inputs=...) picking sharded leaves, and the errors of a .grad of the wrong
# shape or dtype. `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


w = shard(torch.randn(4, 3), 0).requires_grad_()
b = torch.zeros(3).to(W[1]).requires_grad_()
steps = []


def sgd_in_hook(p):
    steps.append(tuple(p.grad.shape))
    with torch.no_grad():
        p.sub_(0.1 * p.grad)
    p.grad = None


hw = w.register_post_accumulate_grad_hook(sgd_in_hook)
hb = b.register_post_accumulate_grad_hook(sgd_in_hook)
x = torch.randn(5, 4)
for step in range(3):
    loss = ((x @ w + b.cpu()).tanh() ** 2).mean()
    loss.backward()
    print(step, round(loss.item(), 6), w.grad, b.grad, w._version, b._version)
print(steps, full(w.detach())[1], b.detach().cpu())
hw.remove()
hb.remove()

# -- .grad set by hand -------------------------------------------------------------------------
w.grad = shard(torch.ones(4, 3), 0)
(w * 2).sum().backward()
print(full(w.grad)[0], w.grad.shape)
print(attempt(lambda: setattr(w, "grad", shard(torch.ones(3, 4), 0))))
print(attempt(lambda: setattr(w, "grad", torch.ones(4))))
print(attempt(lambda: setattr(w, "grad", shard(torch.ones(4, 3, dtype=torch.float64), 0))))
print(attempt(lambda: setattr(w, "grad", [1.0])))
print(attempt(lambda: setattr(b, "grad", torch.ones(3, dtype=torch.float64).to(W[1]))))
print(attempt(lambda: setattr(b, "grad", torch.ones(2).to(W[1]))))
w.grad = None
print(w.grad)

# -- module hooks over a sharded batch ------------------------------------------------------------
layer = nn.Linear(4, 2)
log = []
layer.register_forward_pre_hook(lambda m, args: log.append(("pre", tuple(args[0].shape))))
layer.register_full_backward_hook(
    lambda m, gin, gout: log.append(("bwd", tuple(gin[0].shape), round(full(gout[0]).sum().item(), 4))))
batch = shard(torch.randn(6, 4), 0).requires_grad_()
out = layer(batch)
out.sum().backward()
print(log, full(batch.grad)[0], layer.weight.grad)

# -- retain_grad on a loss, grad_outputs, backward(inputs=) -------------------------------------------
p = shard(torch.randn(6, 2), 0).requires_grad_()
q = torch.randn(2, 2, requires_grad=True)
z = p @ q
whole = full(z)
loss = whole.pow(2).mean()
loss.retain_grad()
whole.retain_grad()
(whole.sum() + loss).backward(inputs=[q], retain_graph=True)
print(loss.grad, whole.grad[0], p.grad, q.grad)
gz, = torch.autograd.grad(z, p, grad_outputs=shard(torch.ones(6, 2), 0))
print(full(gz)[3], gz.shape)
r = (p * 3).exp()
g1, g2 = torch.autograd.grad(r.sum(), [p, q], allow_unused=True)
print(full(g1)[0], g2)
print(attempt(lambda: torch.autograd.grad(r.sum(), p)))
print("done")
