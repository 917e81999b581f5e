# Module hooks next to in-place layers, as debugging and pruning code mixes them: full
# backward hooks on a block whose next layer is ReLU(inplace=True) (torch refuses the write
# to the hook's view output), forward hooks that modify the output in place or replace it,
# forward pre-hooks that rescale inputs, backward pre-hooks that clip grad_output,
# hooks on a module moved to a worker and on a sharded batch (distgrad: two workers;
# torch: the CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(53)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


log = []
lin = nn.Linear(4, 3)
lin.register_full_backward_hook(
    lambda m, gi, go: log.append(("bw", [None if g is None else tuple(g.shape) for g in gi],
                                  [tuple(g.shape) for g in go])))
x = torch.randn(2, 4, requires_grad=True)
out = lin(x)
print(out.grad_fn.name(), out._base is not None)
print(attempt(lambda: nn.ReLU(inplace=True)(out)))
print(attempt(lambda: out.add_(1)), out._version)
y = F.relu(lin(x))
y.sum().backward()
print(log, x.grad)
log.clear()

seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2))
seq[0].register_forward_hook(lambda m, i, o: o.mul_(2))
seq[2].register_forward_pre_hook(lambda m, args: (args[0] * 0.5,))
seq[2].register_full_backward_pre_hook(lambda m, go: (go[0].clamp(-0.1, 0.1),))
seq[1].register_forward_hook(lambda m, i, o: log.append(("relu", o._version, o is i[0])))
for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1]))):
    seq.to("cpu" if name == "cpu" else W[1])
    xi = put(torch.randn(3, 4)).requires_grad_()
    o = seq(xi)
    print(name, o.grad_fn.name(), log)
    log.clear()
    o.pow(2).sum().backward()
    print(xi.grad.to("cpu"), seq[0].weight.grad.to("cpu")[0])
    seq.zero_grad()
seq.to("cpu")

# a forward hook replacing the output, on a sharded batch
head = nn.Linear(4, 2)
head.register_forward_hook(lambda m, i, o: o.tanh())
xs = shard(torch.randn(6, 4), 0).requires_grad_()
o = head(xs)
print(type(o).__name__, o.shape, o.grad_fn.name())
full(o).sum().backward()
print(full(xs.grad)[0], head.bias.grad)
print("done")
