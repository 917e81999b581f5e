# torch.func as a DP / ensembling research script uses it, next to the tensor model's seams:
# per-sample gradients of a model with a tied weight (the same Parameter twice) and a buffer
# (functional_call with a dict of params and buffers, vmap(grad) with in_dims=(None, 0, 0)),
# checked against a loop of autograd.grad; the per-sample norms clipped and summed into .grad
# by hand; an ensemble's stacked parameters (stack_module_state: new leaves, not views of the
# models') run by vmap over a base copy on the 'meta' device, their gradients by backward;
# the error of a vmap over a dim of the wrong size.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
from_func = torch.func
torch.manual_seed(8)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(4, 6, bias=False)
        self.mid = nn.Linear(6, 6)
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x):
        h = torch.tanh(self.emb(x)) * self.scale
        h = F.relu(self.mid(h)) + h
        return h @ self.emb.weight  # (the embedding read back as the output map)


model = Tied()
params = {k: v.detach() for k, v in model.named_parameters()}
buffers = dict(model.named_buffers())
print(sorted(params), sorted(buffers), all(p.is_leaf for p in params.values()))
print(params["emb.weight"]._base is None, params["emb.weight"].requires_grad,
      params["emb.weight"].untyped_storage().data_ptr() == model.emb.weight.untyped_storage().data_ptr())
x = torch.randn(5, 4)
target = torch.randn(5, 4)


def loss_fn(p, xi, ti):
    out = from_func.functional_call(model, (p, buffers), (xi.unsqueeze(0),))
    return F.mse_loss(out, ti.unsqueeze(0))


per_sample = from_func.vmap(from_func.grad(loss_fn), in_dims=(None, 0, 0))(params, x, target)
print({k: tuple(v.shape) for k, v in per_sample.items()})
loop = [torch.autograd.grad(F.mse_loss(model(x[i:i + 1]), target[i:i + 1]), list(model.parameters()))
        for i in range(5)]
print(all(torch.allclose(per_sample[k][i], loop[i][j], atol=1e-6)
          for i in range(5) for j, k in enumerate(params)))
norms = torch.stack([g.flatten(1).norm(dim=1) for g in per_sample.values()]).norm(dim=0)
factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
print([round(v, 5) for v in norms.tolist()], factor.shape)
for name, p in model.named_parameters():
    p.grad = (per_sample[name] * factor.view(-1, *[1] * (per_sample[name].dim() - 1))).sum(0)
print(model.emb.weight.grad.is_leaf, model.emb.weight.grad.requires_grad,
      round(model.emb.weight.grad.abs().sum().item(), 5))
torch.optim.SGD(model.parameters(), lr=0.1).step()
print(model.emb.weight._version, params["emb.weight"]._version,
      torch.equal(params["emb.weight"], model.emb.weight))

# an ensemble of three small nets
nets = [nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)) for _ in range(3)]
stacked, stacked_buffers = from_func.stack_module_state(nets)
w0 = stacked["0.weight"]
print(w0.shape, w0.is_leaf, w0.requires_grad, w0._base is None, w0.grad_fn,
      w0.untyped_storage().data_ptr() == nets[0][0].weight.untyped_storage().data_ptr())
base = copy.deepcopy(nets[0]).to("meta")
print(base[0].weight.device, base[0].weight.is_meta)


def run(p, b, xb):
    return from_func.functional_call(base, (p, b), (xb,))


out = from_func.vmap(run, in_dims=(0, 0, None))(stacked, stacked_buffers, x)
print(out.shape, out.requires_grad, out.is_leaf)
print(torch.allclose(out[1], nets[1](x), atol=1e-6))
out.pow(2).mean().backward()
print(w0.grad.shape, round(w0.grad.abs().sum().item(), 5), nets[0][0].weight.grad)
minibatches = x.view(1, 5, 4).expand(3, 5, 4)
print(minibatches._is_view(), minibatches.stride(), minibatches.is_contiguous())
out2 = from_func.vmap(run)(stacked, stacked_buffers, minibatches)
print(torch.allclose(out2, out), out2.shape)
try:
    from_func.vmap(run, in_dims=(0, 0, 0))(stacked, stacked_buffers, x)
except ValueError as e:
    print(type(e).__name__, e)
print("done")
