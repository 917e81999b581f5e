# Module plumbing a training script leans on: parameters registered, replaced and deleted
# with torch's errors, a Linear shared twice in a Sequential (named_modules with and
# without duplicates), state_dict with keep_vars, a reload counted in the versions,
# deepcopy of the model (the sharing kept) and of leaf and non-leaf tensors,
# zero_grad(set_to_none=False), half()/float() casting parameters and gradients, train
# flags and BatchNorm's buffers.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        r = f()
        return r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


lin = nn.Linear(2, 2)
print(attempt(lambda: setattr(lin, "weight", torch.ones(2, 2))))
print(attempt(lambda: lin.add_module("a.b", nn.ReLU())), attempt(lambda: lin.add_module("weight", nn.ReLU())))
print(attempt(lambda: lin.register_module("", nn.ReLU())), attempt(lambda: lin.register_parameter("bias", torch.ones(2))))
print(attempt(lambda: lin.register_parameter("w2", nn.Parameter(torch.ones(2) * 1))))
print(attempt(lambda: lin.register_parameter("w3", nn.Parameter(torch.ones(2, requires_grad=True) * 1))))
lin.register_parameter("nothing", None)
print([n for n, _ in lin.named_parameters()], lin.nothing, "nothing" in lin.state_dict())
del lin.nothing
print(attempt(lambda: lin.nothing))
shared = nn.Linear(2, 2)
outer = nn.Sequential(shared, nn.ReLU(), shared)
print([n for n, _ in outer.named_modules()], [n for n, _ in outer.named_modules(remove_duplicate=False)])
print(len(list(outer.parameters())), list(outer.state_dict()))
sd = outer.state_dict(keep_vars=True)
print(type(sd["0.weight"]).__name__, sd["0.weight"].requires_grad, sd["0.weight"] is shared.weight)
sd2 = outer.state_dict()
print(sd2["0.weight"].requires_grad, sd2["0.weight"]._base is None, sd2["0.weight"].data_ptr() == shared.weight.data_ptr())
before = shared.weight._version
outer.load_state_dict({k: v * 2 for k, v in sd2.items()})
print(shared.weight._version - before, shared.weight.requires_grad, shared.weight.is_leaf)
dup = copy.deepcopy(outer)
print(dup[0] is dup[2], dup[0].weight is shared.weight, torch.equal(dup[0].weight, shared.weight))
x = torch.randn(3, 2, requires_grad=True)
y = x * 2
y.sum().backward()
xc = copy.deepcopy(x)
print(xc.grad, xc.requires_grad, xc.is_leaf, attempt(lambda: copy.deepcopy(y)))
outer(torch.ones(1, 2)).sum().backward()
outer.zero_grad(set_to_none=False)
print(shared.weight.grad, shared.weight.grad._version)
outer.zero_grad()
print(shared.weight.grad)
h = outer.half()
print(h is outer, shared.weight.dtype, shared.weight.grad, outer.float()[0].bias.dtype)
print(outer.train(False) is outer, outer.training, outer[1].training)
print(attempt(lambda: outer.to(memory_format=torch.channels_last)) is outer)
print(sorted(n for n, _ in nn.BatchNorm1d(2).named_buffers()), list(nn.BatchNorm1d(2).buffers(recurse=False))[2])
print("done")
