# The "Model ensembling" tutorial's recipe with the ensemble on a worker: several small MLPs'
# parameters stacked by torch.func.stack_module_state (new leaves, their requires_grad),
# a stateless copy of the model on the meta device, vmap over functional_call with the
# same minibatch for every model (in_dims None) and a minibatch per model, the stacked
# parameters trained by backward and Adam, the per-model results checked against calling
# each model, functional_call with a buffer given (the forward's in-place write lands in
# the given tensor), and with tied names of a submodule registered twice (distgrad: a
# worker; torch: the CPU). `W` is the runner's (test_programs.py).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
func = torch.func
torch.manual_seed(107)
M, B = 3, 5


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


models = [nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(W[0]) for _ in range(M)]
params, buffers = func.stack_module_state(models)
print({k: tuple(v.shape) for k, v in params.items()}, buffers)
p0 = params["0.weight"]
print(p0.is_leaf, p0.requires_grad, p0.grad_fn, p0.device == torch.device(W[0]),
      torch.equal(p0[1].cpu(), models[1][0].weight.detach().cpu()))
base = copy.deepcopy(models[0]).to("meta")
print(base[0].weight.device, base[0].weight.is_meta)


def fmodel(p, b, x):
    return func.functional_call(base, (p, b), (x,))


x = torch.randn(B, 3).to(W[0])
same = func.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x)
print(same.shape, same.requires_grad, same.cpu()[2, 0])
print(all(torch.allclose(same[i].cpu(), models[i](x).detach().cpu(), atol=1e-6) for i in range(M)))
xs = torch.randn(M, B, 3).to(W[0])
each = func.vmap(fmodel)(params, buffers, xs)
print(each.shape, torch.allclose(each[1].cpu(), models[1](xs[1]).detach().cpu(), atol=1e-6))

# the stacked parameters trained as one
y = torch.randint(0, 2, (M, B)).to(W[0])
opt = torch.optim.Adam(params.values(), lr=0.05)
for step in range(3):
    logits = func.vmap(fmodel)(params, buffers, xs)
    loss = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1))
    loss.backward()
    print(step, round(loss.item(), 5), p0.grad.cpu()[0, 0], params["2.bias"].grad.cpu()[2])
    opt.step()
    opt.zero_grad()
print(p0._version, p0.cpu()[0, 0], models[0][0].weight.grad)

# functional_call with a buffer given, and a submodule registered twice
class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.twice = self.lin
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return self.twice(self.lin(x)) * self.calls


c = Counting().to(W[1])
xi = torch.ones(1, 2).to(W[1])
given = torch.full((), 10.0).to(W[1])
out = func.functional_call(c, {"calls": given}, (xi,))
print(out.detach().cpu(), given.cpu(), given._version, c.calls.cpu())
eye = torch.eye(2).to(W[1])
print(func.functional_call(c, {"lin.weight": eye}, (xi,)).detach().cpu())
print(type(c.lin.weight).__name__, torch.equal(c.lin.weight.detach().cpu(), torch.eye(2)))
print(attempt(lambda: func.functional_call(c, {"lin.weight": eye, "twice.weight": eye * 2}, (xi,))))
print(attempt(lambda: func.functional_call(c, {"lin.bias": eye}, (xi,), strict=True)))
print("done")
