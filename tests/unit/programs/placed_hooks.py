# Hooks and gradient plumbing around tensors on workers (distgrad: two workers or split
# over both; torch: the CPU): post-accumulate-grad hooks on a sharded leaf and on the
# parameters of a `ddp` model stepping one optimizer each (torch's optimizer-in-backward
# pattern), saved-tensor hooks, backward(inputs=) and several roots on different workers,
# the layout of a transposed worker leaf's .grad, retain_grad before an in-place write
# (and a pre-hook on the node after it), detach_, and two stages cut by hand at a
# detached boundary. `W`, `shard`, `full`, `ddp`: the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
torch.manual_seed(6)

sl = shard(torch.randn(4, 2), 0).requires_grad_()
calls = []
sl.register_post_accumulate_grad_hook(lambda t: calls.append(round(full(t.grad).sum().item(), 4)))
(full(sl).sum() + (sl * 3).sum()).backward()
sl[1:2].pow(2).sum().backward()
print(calls, full(sl.grad))
sgd = torch.optim.SGD([sl], lr=0.1)
sgd.zero_grad(set_to_none=False)
print(full(sl.grad).abs().sum().item(), sl.grad is not None)
sgd.zero_grad()
print(sl.grad, sl.is_leaf)

net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
model = ddp(net)
steppers = {p: torch.optim.SGD([p], lr=0.1, momentum=0.5) for p in net.parameters()}
seen = []


def step_in_backward(p):
    seen.append(tuple(p.shape))
    steppers[p].step()
    steppers[p].zero_grad()


for p in net.parameters():
    p.register_post_accumulate_grad_hook(step_in_backward)
x = torch.randn(6, 4)
for step in range(3):
    loss = model(x).pow(2).sum()
    loss.backward()
    print(step, round(loss.item(), 5), sorted(seen), net[2].bias.grad)
    seen.clear()
print(full(net[0].weight.detach()))

packed = []
with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t.shape) or t * 1, lambda t: t):
    a = torch.randn(3, 2).to(W[0]).requires_grad_()
    y = (a.sin() * a).to(W[1]).exp()
y.sum().backward()
print(len(packed), a.grad.cpu())
p, q = torch.randn(3).to(W[0]).requires_grad_(), torch.randn(3).to(W[1]).requires_grad_()
z = (p.to(W[1]) * q).sum()
z.backward(inputs=[q], retain_graph=True)
print(p.grad, q.grad.cpu())
z.backward(inputs=[p])
torch.autograd.backward([p * 2, p.to(W[1]) * q], [torch.ones(3).to(W[0]), torch.full((3,), 2.0).to(W[1])])
print(p.grad.cpu(), q.grad.cpu())
lt = torch.randn(3, 4).to(W[1]).t().requires_grad_()
(lt * 2).sum().backward()
print(lt.grad.stride(), lt.stride(), lt.grad.is_contiguous())
b = torch.randn(4, 2, requires_grad=True)
sb = shard(b * 1, 0)
sb.retain_grad()
sb.mul_(3)
sb.grad_fn.register_prehook(lambda gs: (gs[0].clamp(max=1.0),))
sb.grad_fn.metadata["stage"] = "after the write"
(sb * sb).sum().backward()
print(full(sb.grad), b.grad, sb.grad_fn.metadata)
c = torch.randn(3, requires_grad=True).to(W[0]) * 2
c.detach_()
sc = shard(torch.randn(4, requires_grad=True) * 2, 0)
sc.detach_()
print(c.requires_grad, c.is_leaf, c.grad_fn, sc.requires_grad, sc.is_leaf, sc.grad_fn)

s0, s1 = nn.Linear(5, 8).to(W[0]), nn.Linear(8, 3).to(W[1])  # stages cut by hand
y = torch.randint(0, 3, (8,))
for xb, yb in zip(torch.randn(8, 5).chunk(2), y.chunk(2)):
    h = s0(xb.to(W[0])).tanh()
    boundary = h.detach().to(W[1]).requires_grad_()
    loss = nn.functional.cross_entropy(s1(boundary), yb.to(W[1]))
    loss.backward()
    h.backward(boundary.grad.to(W[0]))
    print(boundary.is_leaf, h.grad_fn.name(), round(loss.item(), 5), boundary.grad.cpu()[0])
print(s0.weight.grad.cpu()[0], s1.bias.grad.cpu())
print("done")
