# "Learning PyTorch with examples": a polynomial fit by hand, with a custom Function,
# with nn + SGD/RMSprop/Adam, and as an nn.Module.
import math
import numpy as np
import distgrad as torch  # PyTorch: import torch
rng = np.random.default_rng(0)
def R(*s): return torch.tensor(np.float32(rng.standard_normal(s)) if s == ((),) else rng.standard_normal(s).astype(np.float32))
dtype = torch.float
device = "cpu"
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)
a = R().requires_grad_(); b = R().requires_grad_(); c = R().requires_grad_(); d = R().requires_grad_()
learning_rate = 1e-6
for t in range(200):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 50 == 49:
        print(t, loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None; b.grad = None; c.grad = None; d.grad = None
print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')

class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)
    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)
a = torch.full((), 0.0, requires_grad=True); b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True); d = torch.full((), 0.3, requires_grad=True)
learning_rate = 5e-6
for t in range(200):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 50 == 49:
        print(t, loss.item())
    loss.backward()
    with torch.no_grad():
        for p in (a, b, c, d):
            p -= learning_rate * p.grad
            p.grad = None
print(a, b, c, d)

p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(R(1, 3) * 0.1); model[0].bias.copy_(R(1) * 0.1)
loss_fn = torch.nn.MSELoss(reduction='sum')
for opt_name in ("SGD", "RMSprop", "Adam"):
    m = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    m.load_state_dict(model.state_dict())
    opt = {"SGD": lambda ps: torch.optim.SGD(ps, lr=1e-6, momentum=0.9),
           "RMSprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3),
           "Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3)}[opt_name](m.parameters())
    for t in range(300):
        y_pred = m(xx)
        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            print(opt_name, t, loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    linear_layer = m[0]
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    print(opt.state_dict()["param_groups"][0].keys())

class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(R()); self.b = torch.nn.Parameter(R())
        self.c = torch.nn.Parameter(R()); self.d = torch.nn.Parameter(R())
    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
    def string(self):
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3'
model = Polynomial3()
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
for t in range(200):
    y_pred = model(x)
    loss = criterion(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f'Result: {model.string()}')
print(model)
print(list(dict(model.named_parameters()).keys()))
print("done")
