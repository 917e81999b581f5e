# A sharded batch through a small model in the ways users take second derivatives
# (distgrad: split over two workers; torch: a copy): a gradient penalty by autograd.grad
# with create_graph through a sharded input, Hessian-vector products through a sharded
# weight, .grad of a sharded input after backward twice (accumulation, retain_graph),
# register_hook / retain_grad on views of the sharded input and on its grads, a compiled
# loss, the errors of a second backward without retain_graph and of grad of an unused
# input, and dropout in train and eval mode. `W`, `shard`, `full`, `compiled`: the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
real = torch.randn(6, 4)
fake = torch.randn(6, 4)
alpha = torch.rand(6, 1)
mix = shard((alpha * real + (1 - alpha) * fake), 0).requires_grad_()
score = critic(mix)
print(score.shape, score.grad_fn.name(), mix.is_leaf)
g, = torch.autograd.grad(score.sum(), mix, create_graph=True)
print(g.shape, g.requires_grad, g.grad_fn is not None, full(g.detach())[0])
penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
penalty.backward()
print(round(penalty.item(), 6), critic[0].weight.grad[0], full(mix.grad)[1])
print(critic[2].bias.grad, critic[2].weight.grad.shape)

# -- a Hessian-vector product through a sharded weight --------------------------------------
w = shard(torch.randn(5, 3), 0).requires_grad_()
x = torch.randn(4, 5)
loss = (x @ w).sin().pow(2).sum()
gw, = torch.autograd.grad(loss, w, create_graph=True)
v = torch.ones(5, 3)
hv, = torch.autograd.grad((gw * v).sum(), w)
print(full(gw.detach())[2], full(hv)[2], hv.requires_grad)
print(attempt(lambda: torch.autograd.grad(loss, w)))
y = (x @ w).exp().sum()
y.backward(retain_graph=True)
first = full(w.grad).clone()
y.backward()
print(torch.allclose(full(w.grad), 2 * first), full(w.grad)[0])
print(attempt(lambda: y.backward()))
u = shard(torch.randn(4), 0).requires_grad_()
print(attempt(lambda: torch.autograd.grad((w * 2).sum(), [w, u])))
print(torch.autograd.grad((w * 2).sum(), [w, u], allow_unused=True)[1])
print(full(torch.autograd.grad((w * 2).sum(), [w, u], materialize_grads=True)[1]))

# -- hooks and retain_grad on views of a sharded input --------------------------------------
inp = shard(torch.randn(6, 4), 1).requires_grad_()
seen = []
inp.register_hook(lambda grad: seen.append(("inp", grad.shape)))
rows = inp[1:4]
col = inp.t()[2]
rows.retain_grad()
col.retain_grad()
rows.register_hook(lambda grad: seen.append(("rows", round(full(grad).sum().item(), 4))))
col.register_hook(lambda grad: grad * 10)
out = (rows.exp().sum() + (col * torch.arange(6.)).sum() + inp.pow(2).sum())
out.backward()
print(seen, full(inp.grad)[:, 2], full(rows.grad)[0], full(col.grad))
print(rows.is_leaf, rows.grad_fn.name(), col.grad_fn.name(), inp.grad.shape)

# -- the same loss compiled --------------------------------------------------------------------
@compiled
def loss_fn(weight, batch):
    return (batch @ weight).tanh().pow(2).mean()


w.grad = None
for step in range(2):
    val = loss_fn(w, x)
    val.backward()
    print(step, round(val.item(), 6), full(w.grad)[4])
with torch.no_grad():
    w -= 0.1 * w.grad
print(full(w.detach())[1], w.is_leaf, w.requires_grad, w.grad_fn)

# -- dropout in train and eval mode over a sharded batch ----------------------------------------
drop = nn.Dropout(p=0.0)
net = nn.Sequential(nn.Linear(4, 4), drop, nn.ReLU())
batch = shard(torch.randn(6, 4), 0)
net.train()
a = net(batch)
net.eval()
b = net(batch)
print(drop.training, torch.equal(full(a), full(b)), a.grad_fn.name(), b.shape)
print(attempt(lambda: nn.Dropout(p=1.5)))
print(F.dropout(batch, p=0.5, training=False) is batch)
print("done")
