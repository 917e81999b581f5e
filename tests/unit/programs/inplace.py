# In-place writes as real code makes them: magnitude pruning of weights by mask under
# no_grad, a running statistic buffer, writes through .data slices, masked writes into a
# non-leaf with grad, in-place activations in a model, views written in place, the
# in-place shape methods, and the errors torch raises for the unsafe ones.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(9)


def attempt(f):
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)[:90]


model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
with torch.no_grad():
    w = model[0].weight
    mask = w.abs() > w.abs().flatten().kthvalue(18).values
    w.mul_(mask)
model[0].weight.data[:, 0] = 0.5
model.register_buffer("seen", torch.zeros(6))
x = torch.randn(4, 6)
for _ in range(2):
    out = model(x)
    model.seen.add_(x.mean(0))
    out.sum().backward()
print(model[0].weight, model[0].weight.grad, model.seen)
h = x * 2
h.requires_grad_()
y = h * 3
y[y < 0] = 0.0
y[:, 1] += 1
y.sum().backward()
print(y, h.grad, y.grad_fn)
a = torch.randn(3, 4, requires_grad=True)
b = a.clone()
v = b[1:, ::2]
v.mul_(10)
b.t_()
print(b.shape, b.grad_fn, v.grad_fn, b._version)
(b.sum() + v.sum()).backward()
print(a.grad)
c = torch.arange(6.).view(2, 3)
c.unsqueeze_(0)
c.squeeze_()
c.transpose_(0, 1)
print(c, c.is_contiguous(), c.stride())
leaf = torch.ones(3, requires_grad=True)
print(attempt(lambda: leaf.add_(1)))
print(attempt(lambda: leaf[0].mul_(2)))
s = torch.ones(3, requires_grad=True) * 1
e = s.exp()
e.add_(1)
print(attempt(lambda: e.sum().backward()))
s2 = torch.ones(2, requires_grad=True) * 1
t = s2.sigmoid()
s2.mul_(2)
print(attempt(lambda: t.sum().backward()))
view = torch.ones(2, 3, requires_grad=True).clone().unbind(0)[0]
print(attempt(lambda: view.mul_(2)))
z = torch.zeros(4)
z.index_add_(0, torch.tensor([0, 0, 3]), torch.tensor([1.0, 2.0, 3.0]))
z.clamp_(max=2.5).sqrt_()
print(z)
print("done")
