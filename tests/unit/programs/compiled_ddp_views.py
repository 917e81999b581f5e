# A data-parallel training step written the way tutorials write it, compiled and not: a
# module wrapped by DDP whose forward writes into views of its activations, a compiled
# step function that writes its input through a transposed view and a diagonal, replays of
# the compiled function with new values and with a changed shape, parameters read through
# views after the optimizer's writes, and gradients of sharded parameters written in place
# by hand (distgrad: DDP over two workers, distgrad.compile; torch: the module and the
# function themselves). `W`, `shard`, `full`, `ddp` and `compiled` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(29)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 2)

    def forward(self, x):
        h = self.a(x)
        h.t()[1].mul_(0.5)
        h[:, ::2].tanh_()
        return self.b(F.relu(h))


net = Block()
model = ddp(net)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
x = torch.randn(8, 4)
y = torch.randn(8, 2)
for it in range(3):
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    g = net.a.weight.grad
    print(it, round(loss.item(), 5), g.shape, net.a.weight._version, full(net.b.bias.grad))
    opt.step()
w_rows = net.a.weight[1:3]
print(full(w_rows.detach()), w_rows._base is net.a.weight, w_rows.requires_grad, w_rows.grad_fn.name())
with torch.no_grad():
    net.a.weight.t()[0].fill_(0.25)
print(full(w_rows[:, 0].detach()), net.a.weight._version, w_rows._version, w_rows.grad_fn.name())


@compiled
def step(x, scale, acc):
    z = x * 1
    z.t()[0].mul_(scale)
    z.diagonal().add_(1)
    acc.add_(z.sum(0))
    return (z ** 2).sum()


acc = torch.zeros(4)
for k in range(3):
    xi = torch.arange(16.).view(4, 4) / (k + 1)
    xi.requires_grad_()
    out = step(xi, 2.0 + k, acc)
    out.backward()
    print(k, out.item(), acc, xi.grad[0], out.grad_fn.name())
x6 = torch.ones(6, 4, requires_grad=True)
out = step(x6, 1.0, acc)
out.backward()
print(out.item(), x6.grad.sum(), acc, acc._version)

# sharded parameters, their gradients scaled in place between backward calls
wp = shard(torch.randn(4, 3), 0).requires_grad_()
inp = torch.randn(2, 4)
(inp @ wp).sum().backward()
print(type(wp.grad).__name__, wp.grad.shape, full(wp.grad)[0])
wp.grad.mul_(-1)
wp.grad[0].zero_()
(inp @ wp).pow(2).sum().backward()
print(full(wp.grad)[:2], wp.grad._version > 0, wp._version)
with torch.no_grad():
    wp.sub_(0.1 * wp.grad)
print(full(wp.detach())[3], wp._version, wp.is_leaf, wp.requires_grad)
print(attempt(lambda: wp.t()[0].add_(1)))
print("done")
