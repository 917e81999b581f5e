# The optimizer-in-backward pattern and other gradient hooks of training scripts, over
# parameters on a worker, split over workers and on the driver: per-parameter optimizers
# stepped from register_post_accumulate_grad_hook (which then frees the gradient), tensor
# hooks that rescale or clip a gradient, retain_grad on placed intermediates, autograd.grad
# with allow_unused and materialize_grads, backward(inputs=...) reaching some leaves only,
# and what each step leaves (values, .grad, versions; distgrad: two workers; torch: the CPU
# and a copy). `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
torch.manual_seed(61)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


lin = nn.Linear(3, 4).to(W[0])
proj = shard(torch.randn(4, 2), 0).requires_grad_()
gain = torch.ones(2, requires_grad=True)
params = [lin.weight, lin.bias, proj, gain]
opts = {p: torch.optim.SGD([p], lr=0.1, momentum=0.5) for p in params}
order = []


def step_now(p):
    order.append(tuple(p.shape))
    opts[p].step()
    opts[p].zero_grad()  # (set_to_none: the gradient is freed as soon as it is used)


handles = [p.register_post_accumulate_grad_hook(step_now) for p in params]
x = torch.randn(5, 3)
for it in range(3):
    h = lin(x.to(W[0])).cpu()
    h.retain_grad()
    z = full(shard(h.tanh(), 1) @ proj) * gain
    loss = z.pow(2).mean()
    loss.backward()
    print(it, round(loss.item(), 5), sorted(order), [p.grad is None for p in params],
          lin.weight._version, proj._version, h.grad.abs().sum().item() > 0)
    order.clear()
print(lin.weight.detach().cpu(), full(proj.detach()), gain)
for hd in handles:
    hd.remove()

# -- tensor hooks that rescale and clip ------------------------------------------------------------
seen = []
hw = lin.weight.register_hook(lambda g: g * 0.5)
hp = proj.register_hook(lambda g: seen.append(tuple(g.shape)) or g.clamp(-0.01, 0.01))
out = (full(shard(lin(x.to(W[0])).cpu(), 0) @ proj) * gain).sum()
out.backward()
print(seen, lin.weight.grad.cpu().abs().max().item(), full(proj.grad).abs().max().item() <= 0.01,
      gain.grad)
hw.remove(), hp.remove()
for p in params:
    p.grad = None

# -- autograd.grad and backward(inputs=...) ------------------------------------------------------------
y = (lin(x.to(W[0])).sum(0).cpu() @ full(proj)).sum()
g_w, g_unused, g_p = torch.autograd.grad(y, [lin.weight, gain, proj], allow_unused=True,
                                         retain_graph=True)
print(g_w.shape, g_unused, full(g_p).shape, [p.grad for p in params])
g_w2, g_zero = torch.autograd.grad(y, [lin.weight, gain], allow_unused=True,
                                   materialize_grads=True, retain_graph=True)
print(torch.equal(g_w2.cpu(), g_w.cpu()), g_zero)
print(attempt(lambda: torch.autograd.grad(y, [gain], retain_graph=True)))
y.backward(inputs=[proj], retain_graph=True)
print(lin.weight.grad, full(proj.grad).shape, gain.grad)
y.backward(inputs=[lin.bias, proj])
print(lin.bias.grad.cpu(), torch.allclose(full(proj.grad), 2 * full(g_p)), lin.weight.grad)
print(attempt(lambda: y.backward(inputs=[lin.bias])))
print("done")
