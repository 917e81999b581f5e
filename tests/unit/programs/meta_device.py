# The meta device as programs use it: the torch.func model-ensembling tutorial (a stacked
# ensemble run by vmap over functional_call of a copy of one model moved to 'meta'),
# deferred initialization (a model built under `with torch.device("meta")`, its shapes
# traced by a forward and backward on meta tensors, then `to_empty` and `reset_parameters`
# give the weights a seeded run gives), and what reading a meta tensor's values raises.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
from_func = torch.func
torch.manual_seed(0)


class SimpleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


num_models = 10
data = torch.randn(100, 64, 1, 28, 28)
targets = torch.randint(10, (6400,))
models = [SimpleMLP() for _ in range(num_models)]
minibatches = data[:num_models]
predictions_diff_minibatch_loop = [model(minibatch) for model, minibatch in zip(models, minibatches)]
minibatch = data[0]
predictions2 = [model(minibatch) for model in models]

params, buffers = from_func.stack_module_state(models)
base_model = copy.deepcopy(models[0])
base_model = base_model.to('meta')


def fmodel(params, buffers, x):
    return from_func.functional_call(base_model, (params, buffers), (x,))


print([p.size(0) for p in params.values()])
predictions1_vmap = torch.vmap(fmodel)(params, buffers, minibatches)
print(torch.allclose(predictions1_vmap, torch.stack(predictions_diff_minibatch_loop), atol=1e-3, rtol=1e-5))
predictions2_vmap = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
print(torch.allclose(predictions2_vmap, torch.stack(predictions2), atol=1e-3, rtol=1e-5))
print(predictions2_vmap[0, 0, :3].detach(), predictions1_vmap.shape)
print(base_model.fc1.weight.device, base_model.fc1.weight.shape, base_model.fc1.weight.is_meta)
print(base_model.fc1.weight)

# Deferred initialization: no memory and no random numbers until the module is materialized.
torch.manual_seed(1)
with torch.device("meta"):
    lazy = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
print(lazy[0].weight)
print(lazy[2].bias)
out = lazy(torch.empty(3, 6, device="meta"))
print(out, out.shape)
out.sum().backward()
print(lazy[0].weight.grad)
lazy.zero_grad()
lazy.to_empty(device="cpu")
for layer in (lazy[0], lazy[2]):
    layer.reset_parameters()
print(lazy[0].weight)
print(lazy(torch.ones(2, 6)))

head = nn.Linear(4, 3, device="meta")
print(head.weight.is_meta, head.weight.device.type == "meta", head.bias)
nn.init.kaiming_uniform_(head.weight)
print(head.weight)
x = torch.empty(2, 3, device="meta")
print(torch.zeros_like(torch.randn(2, 3), device="meta"), x.to(torch.int64), x.T.stride())
for read in (lambda: x.tolist(), lambda: x.to("cpu"), lambda: x.numpy(), lambda: x[0, 0].item()):
    try:
        read()
    except (NotImplementedError, RuntimeError, TypeError) as e:
        print(type(e).__name__, e)
try:
    x + torch.ones(2, 3)
except RuntimeError as e:
    print(e)
print("done")
