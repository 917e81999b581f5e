# A model cast and moved mid-training the ways scripts do it (distgrad: a worker; torch:
# the CPU): module.to(W[0]) and .double() with gradients present (they follow the
# parameters), parameters keeping their identity through casts (optimizer still holding
# them), views of a parameter taken before a cast (they keep the old memory), buffers
# registered and moved with the module (persistent or not), requires_grad_(False) on a
# submodule, zero_grad(set_to_none=False) after the cast, and the errors of mixing dtypes
# afterwards. `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(73)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        self.register_buffer("scale", torch.tensor([1.0, 2.0]))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64), persistent=False)

    def forward(self, x):
        self.calls += 1
        return self.body(x) * self.scale


net = Net()
x = torch.randn(5, 3)
net(x).pow(2).sum().backward()
w = net.body[0].weight
g_before = w.grad.clone()
net.to(W[0])
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
opt.step()  # (its state is made where the parameters are now)
print(net.body[0].weight is w, w.grad is not None, torch.equal(w.grad.cpu(), g_before),
      net.scale.device == w.device, net.calls.device == w.device, net.calls.item(), w._version)
before_cast = w.detach()[0]  # a view of the float32 memory
net.double()
print(net.body[0].weight is w, w.dtype, w.grad.dtype, net.scale.dtype, net.calls.dtype,
      before_cast.dtype, ptr(before_cast) == ptr(w), w.is_leaf, w.requires_grad)
print(sorted(net.state_dict()), net.state_dict()["scale"].dtype)
opt.zero_grad(set_to_none=False)
print(w.grad.abs().sum().item(), w.grad.dtype)
xd = x.to(W[0]).double()
loss = net(xd).pow(2).sum()
loss.backward()
opt.step()
print(round(loss.item(), 6), w.dtype, opt.state[w]["momentum_buffer"].dtype, net.calls.item())
print(attempt(lambda: net(x.to(W[0]))))

net.body[2].requires_grad_(False)
opt.zero_grad()
net(xd).sum().backward()
print([(n, p.requires_grad, p.grad is None) for n, p in net.named_parameters()])
net.float()
print(w.dtype, w.grad.cpu(), before_cast.dtype, [b.dtype for b in net.buffers()])
out = net(x.to(W[0]))
print(out.dtype, out.grad_fn.name(), out.requires_grad, out.shape)
copy = Net()
print(copy.load_state_dict(net.state_dict()), copy.scale.device.type, copy.calls.item())
print(attempt(lambda: copy.load_state_dict({"scale": torch.ones(3)}, strict=False)))
print("done")
