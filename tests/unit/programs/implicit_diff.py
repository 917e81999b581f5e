# Implicit differentiation as the DEQ and bilevel-optimization tutorials write it: a deep
# equilibrium layer whose fixed point is found by Anderson acceleration under no_grad
# (preallocated buffers written by slices, a batched linalg.solve), then one step with
# grad re-engaged and a backward hook that solves the adjoint fixed point with vjps
# (autograd.grad with grad_outputs and retain_graph), the hook's handle removed in it;
# ridge regression's penalty tuned by the implicit-function-theorem hypergradient
# (linalg.solve, a Hessian from autograd.functional.hessian); and influence functions
# by conjugate gradient on Hessian-vector products over parameters_to_vector.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def anderson(f, x0, m=3, iters=25, lam=1e-4, beta=1.0):
    bsz, d = x0.shape
    X, Fx = torch.zeros(bsz, m, d), torch.zeros(bsz, m, d)
    X[:, 0], Fx[:, 0] = x0, f(x0)
    X[:, 1], Fx[:, 1] = Fx[:, 0], f(Fx[:, 0])
    H = torch.zeros(bsz, m + 1, m + 1)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = torch.zeros(bsz, m + 1, 1)
    y[:, 0] = 1
    for k in range(2, iters):
        n = min(k, m)
        G = Fx[:, :n] - X[:, :n]
        H[:, 1:n + 1, 1:n + 1] = torch.bmm(G, G.transpose(1, 2)) + lam * torch.eye(n)[None]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], y[:, :n + 1])[:, 1:n + 1, 0]
        extrapolated = alpha[:, None] @ Fx[:, :n]
        X[:, k % m] = beta * extrapolated[:, 0] + (1 - beta) * (alpha[:, None] @ X[:, :n])[:, 0]
        Fx[:, k % m] = f(X[:, k % m])
        res = (Fx[:, k % m] - X[:, k % m]).norm().item() / (1e-5 + Fx[:, k % m].norm().item())
        if res < 1e-4:
            break
    return X[:, k % m], k, res


class DEQ(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.inj = nn.Linear(4, d)
        with torch.no_grad():
            self.lin.weight.mul_(0.5 / torch.linalg.matrix_norm(self.lin.weight, ord=2))

    def forward(self, x):
        u = self.inj(x)
        f = lambda z: torch.tanh(self.lin(z) + u)
        with torch.no_grad():
            z, self.iters, self.res = anderson(f, torch.zeros_like(u))
        z = f(z)
        z0 = z.clone().detach().requires_grad_()
        f0 = f(z0)

        def backward_hook(grad):
            if self.hook is not None:
                self.hook.remove()
                self.hook = None
            g = grad
            for _ in range(30):
                g = torch.autograd.grad(f0, z0, g, retain_graph=True)[0] + grad
            return g

        self.hook = z.register_hook(backward_hook) if z.requires_grad else None
        return z


deq = DEQ()
head = nn.Linear(8, 1)
opt = torch.optim.Adam(list(deq.parameters()) + list(head.parameters()), lr=1e-2)
xs, ys = torch.randn(16, 4), torch.randn(16, 1)
for step in range(4):
    loss = F.mse_loss(head(deq(xs)), ys)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("deq", step, round(loss.item(), 5), deq.iters, deq.res < 1e-4, deq.hook,
          round(deq.lin.weight.grad.norm().item(), 5))
with torch.no_grad():
    z = deq(xs[:3])
print(z.shape, z.requires_grad, deq.hook, z.abs().max().item() < 1)

Xtr, Xval = torch.randn(30, 5, dtype=torch.float64), torch.randn(20, 5, dtype=torch.float64)
w_true = torch.randn(5, 1, dtype=torch.float64)
ytr = Xtr @ w_true + 0.5 * torch.randn(30, 1, dtype=torch.float64)
yval = Xval @ w_true
log_lam = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
train_loss = lambda w, lam: ((Xtr @ w - ytr) ** 2).mean() + lam * (w ** 2).sum()
for step in range(4):
    lam = log_lam.exp()
    A = Xtr.T @ Xtr / 30 + lam.detach() * torch.eye(5, dtype=torch.float64)
    w = torch.linalg.solve(A, Xtr.T @ ytr / 30).requires_grad_()
    val = ((Xval @ w - yval) ** 2).mean()
    dval_dw, = torch.autograd.grad(val, w)
    Hw = torch.autograd.functional.hessian(lambda v: train_loss(v.view(5, 1), lam.detach()),
                                           w.detach().view(5))
    v = torch.linalg.solve(Hw, dval_dw.view(5))
    dtrain_dw = lambda l: torch.autograd.grad(train_loss(w, l), w, create_graph=True)[0]
    mixed = torch.autograd.grad(dtrain_dw(lam).view(5), log_lam, grad_outputs=-v)[0]
    with torch.no_grad():
        log_lam -= 2.0 * mixed
    print("ridge", step, round(val.item(), 6), round(mixed.item(), 6), round(log_lam.item(), 5),
          Hw.shape, Hw.dtype)

# (in float64: ten conjugate-gradient steps in float32 magnify each CPU's own roundoff)
model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()
X, Y = torch.randn(24, 3, dtype=torch.float64), torch.randn(24, 1, dtype=torch.float64)
params = [p for p in model.parameters() if p.requires_grad]
loss = F.mse_loss(model(X), Y)
grads = torch.autograd.grad(loss, params, create_graph=True)
flat = torch.cat([g.reshape(-1) for g in grads])
hvp = lambda v: nn.utils.parameters_to_vector(
    torch.autograd.grad(flat, params, grad_outputs=v, retain_graph=True)) + 1.0 * v
test_grad = nn.utils.parameters_to_vector(
    torch.autograd.grad(F.mse_loss(model(X[:1]), Y[:1]), params))
x, r = torch.zeros_like(test_grad), test_grad.clone()
d, rs = r.clone(), r @ r
for i in range(10):
    Hd = hvp(d)
    a = rs / (d @ Hd)
    x, r = x + a * d, r - a * Hd
    rs_new = r @ r
    d, rs = r + rs_new / rs * d, rs_new
print("cg", i, round(rs.sqrt().item(), 6), flat.shape, flat.grad_fn.name())
per_example = torch.stack([nn.utils.parameters_to_vector(
    torch.autograd.grad(F.mse_loss(model(X[k:k + 1]), Y[k:k + 1]), params)) for k in range(6)])
influence = -(per_example @ x)
print("influence", influence.numpy().round(5), influence.argsort().tolist())
print("done")
