# Gradient utilities on placed and sharded parameters, as training loops call them:
# clip_grad_norm_ (foreach and not, inf norm, error_if_nonfinite), clip_grad_value_,
# parameters_to_vector / vector_to_parameters (which writes each parameter's data in
# place: versions), get_total_norm with grads edited through views, on a model on the
# driver, a module on a worker and a sharded weight (distgrad: two workers; torch: the
# CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
utils = torch.nn.utils
torch.manual_seed(89)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for name in ("cpu", "worker"):
    dev = "cpu" if name == "cpu" else W[1]
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dev)
    x = torch.randn(5, 3).to(dev)
    model(x).pow(2).sum().backward()
    grads = [p.grad for p in model.parameters()]
    grads[0][0].mul_(10)
    total = utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    print(name, round(total.item(), 4), total.device == model[0].weight.device,
          round(utils.get_total_norm([p.grad for p in model.parameters()]).item(), 4))
    grads[2].t()[0].fill_(float("inf"))
    print(attempt(lambda: utils.clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)))
    inf_norm = utils.clip_grad_norm_(model.parameters(), 2.0, norm_type="inf", foreach=False)
    print(inf_norm.item(), grads[0].abs().max().item())
    utils.clip_grad_value_(model.parameters(), 0.05)
    print(grads[1].to("cpu"), grads[2].abs().max().item())
    vec = utils.parameters_to_vector(model.parameters())
    versions = [p._version for p in model.parameters()]
    utils.vector_to_parameters(vec * 0.5, model.parameters())
    print(vec.shape, vec.requires_grad, vec.grad_fn.name(), [p._version - v for p, v in zip(model.parameters(), versions)])
    print(model[2].bias.detach().to("cpu"), model[2].bias.is_leaf, model[2].bias.requires_grad)

w = shard(torch.randn(6, 3), 0).requires_grad_()
b = torch.randn(3, requires_grad=True)
(torch.randn(2, 6) @ w + b).pow(2).sum().backward()
w.grad[1:3].mul_(100)
total = utils.clip_grad_norm_([w, b], 5.0)
print(round(total.item(), 3), full(w.grad).norm().item() < 5.0, b.grad)
utils.clip_grad_value_([w], 0.01)
print(full(w.grad).abs().max().item())
print("done")
