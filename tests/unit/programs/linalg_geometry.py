# Geometry with linear algebra, as research code writes it: Gram–Schmidt writing columns
# into a preallocated matrix (version counters, the gradient through the in-place writes),
# ZCA whitening through eigh and randomized PCA (pca_lowrank, svd_lowrank), orthogonal
# Procrustes through svd on a worker, einsum tensor-network and bilinear contractions, kron,
# cdist and tensordot with their gradients.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def gram_schmidt(A, keep_columns=True):
    Q = torch.zeros_like(A)
    done = []
    for j in range(A.shape[1]):
        v = A[:, j]
        for i in range(j):
            q = done[i] if keep_columns else Q[:, i]  # (a view of Q is saved, then Q written)
            v = v - (q @ A[:, j]) * q
        done.append(v / v.norm())
        Q[:, j] = done[-1]
    return Q


A = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
try:
    gram_schmidt(A, keep_columns=False).sum().backward()
except RuntimeError as e:
    print(e)
Q = gram_schmidt(A)
print(Q._version, Q.grad_fn.name(), Q.grad_fn.next_functions[0][0].name())
print(torch.allclose(Q.T @ Q, torch.eye(3, dtype=torch.float64)))
Qr, R = torch.linalg.qr(A)
print(torch.allclose(Q.abs(), Qr.abs()), (Q * Qr).sum(0).sign())
(Q[:, 2] * torch.arange(5.0, dtype=torch.float64)).sum().backward()
print(A.grad)
Qw = gram_schmidt(A.detach().to(W[0]).requires_grad_())
Qw[:, 1].sum().backward()
print(Qw.device.type == A.device.type or "worker" in str(Qw.device), Qw.detach().cpu()[0])
try:
    Qw.add_(1)
except RuntimeError as e:
    print(e)

# ZCA whitening of correlated features
X = torch.randn(200, 4) @ torch.tensor([[2.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0],
                                       [0.0, 0.5, 0.3, 0.0], [0.2, 0.0, 0.0, 1.5]])
Xc = X - X.mean(0, keepdim=True)
cov = Xc.T @ Xc / (len(X) - 1)
evals, evecs = torch.linalg.eigh(cov)
Wzca = evecs @ torch.diag(evals.clamp_min(1e-5).rsqrt()) @ evecs.T
white = Xc @ Wzca
print(evals, torch.cov(white.T).diagonal(), torch.corrcoef(X.T)[0])
print(torch.allclose(torch.cov(white.T), torch.eye(4), atol=1e-4))
# the same directions by randomized PCA (seeded draws), on a worker too, and its gradient
U, S, V = torch.pca_lowrank(X, q=3)
print(S.pow(2) / (len(X) - 1), (V[:, 0] * evecs[:, -1]).sum().abs(), U.shape, V.shape)
Xw = X.to(W[0]).requires_grad_()
Uw, Sw, Vw = torch.pca_lowrank(Xw, q=2, niter=3)
(Xc.to(W[0]) @ Vw).pow(2).mean().backward()
print(Sw.detach().cpu(), Vw.grad_fn.name(), Xw.grad.cpu()[:2])
print(torch.svd_lowrank(Xc, q=2, M=torch.zeros(1, 4))[1], torch.linalg.svdvals(Xc)[:2])
try:
    torch.pca_lowrank(X, q=5)
except ValueError as e:
    print(e)

# orthogonal Procrustes on a worker: recover a rotation, then learn one by gradient
theta = torch.tensor(0.7)
Rtrue = torch.stack([torch.stack([theta.cos(), -theta.sin()]), torch.stack([theta.sin(), theta.cos()])])
src = torch.randn(30, 2).to(W[1])
dst = src @ Rtrue.to(W[1]).T + 0.01 * torch.randn(30, 2).to(W[1])
U, S, Vh = torch.linalg.svd(dst.T @ src)
Rhat = U @ Vh
print(Rhat.cpu(), S.cpu(), torch.linalg.det(Rhat).cpu())
angle = torch.zeros((), requires_grad=True)
opt = torch.optim.SGD([angle], lr=0.5, momentum=0.5)
for step in range(15):
    rot = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    loss = (src @ rot.to(W[1]).T - dst).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(round(angle.item(), 4), round(loss.item(), 6), angle.grad)

# tensor network: a matrix-product state contracted against a product state, bilinear layers
cores = [torch.randn(1, 2, 3, requires_grad=True), torch.randn(3, 2, 3, requires_grad=True),
         torch.randn(3, 2, 1, requires_grad=True)]
xs = torch.softmax(torch.randn(3, 2), -1)
env = torch.ones(1)
for core, x in zip(cores, xs):
    env = torch.einsum("a,aib,i->b", env, core, x)
norm2 = torch.einsum("aib,cid->acbd", cores[0], cores[0]).reshape(1, 9)
print(env, env.grad_fn.name(), norm2.shape)
env.sum().backward()
print([c.grad.sum().item() for c in cores])
bil = nn.Bilinear(3, 4, 2)
a, b = torch.randn(5, 3), torch.randn(5, 4)
print(torch.allclose(bil(a, b), torch.einsum("bi,oij,bj->bo", a, bil.weight, b) + bil.bias, atol=1e-6))
wt = torch.randn(2, 3, 4, requires_grad=True)
out = torch.einsum("bi,oij,bj->b", a, wt, b) + torch.einsum("ii", wt[0, :, :3]) \
    + torch.einsum("oij->", wt) + torch.einsum("bi,bi->b", a, a).sum()
out.sum().backward()
print(out, wt.grad[1])
print(torch.einsum("...ij,...jk", torch.randn(2, 2, 3), torch.randn(2, 3, 1)).shape)
try:
    torch.einsum("ij,jk->ik", torch.randn(2, 3), torch.randn(4, 2))
except RuntimeError as e:
    print(e)

# kron, cdist, tensordot and their gradients
k1 = torch.randn(2, 2, requires_grad=True)
k2 = torch.randn(3, 1, requires_grad=True)
K = torch.kron(k1, k2)
K.pow(2).sum().backward()
print(K.shape, K.grad_fn.name(), k1.grad, k2.grad)
p = torch.randn(2, 5, 3, requires_grad=True)
q = torch.randn(2, 4, 3)
D = torch.cdist(p, q)
D1 = torch.cdist(p, q, p=1)
(D.min(-1).values.sum() + D1.mean()).backward()
print(D[0], D.grad_fn.name(), p.grad[1])
gp, = torch.autograd.grad(torch.cdist(p, q).sum(), p, create_graph=True)
print(gp.grad_fn.name(), [n.name() if n else None for n, _ in gp.grad_fn.next_functions])
try:
    gp.sum().backward()
except NotImplementedError as e:
    print(e)
robust = torch.linalg.vector_norm(torch.tensor([[1.0, float("nan"), -2.0], [3.0, -3.0, 1.0]],
                                               requires_grad=True), float("inf"), dim=1)
r_leaf = robust.grad_fn.next_functions[0][0].variable
robust.nansum().backward()
print(robust, r_leaf.grad)
p.grad = None
Dself = torch.cdist(p[0], p[0])
Dself.sum().backward()
print(Dself.diagonal(), p.grad[0, 0])
T1 = torch.randn(3, 4, 5, requires_grad=True)
T2 = torch.randn(4, 5, 2, requires_grad=True)
td = torch.tensordot(T1, T2, dims=2)
td2 = torch.tensordot(T1, T2, dims=([1], [0]))
(td.sum() + td2.pow(2).mean()).backward()
print(td, td2.shape, T2.grad[0, 0], td.grad_fn.name())
print("done")
