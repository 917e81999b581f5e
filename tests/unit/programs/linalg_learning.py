# Numerical linear algebra inside learning loops: a Gaussian whose covariance has a learned
# Cholesky factor (tril + softplus diagonal through diag_embed) fitted by its log-likelihood
# (solve_triangular, cholesky_solve, triangular_solve) and checked against
# MultivariateNormal; batched det/slogdet/inv/solve with first and second derivatives; an
# LU factorisation reused and unpacked (lu_factor, lu_unpack, lu_solve, the older torch.lu);
# qr/svd/eigh/pinv/lstsq/matrix_exp/norms/cross gradients; LinAlgErrors as torch raises them.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)
torch.set_default_dtype(torch.float64)

d = 3
true_L = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 0.6]])
data = torch.randn(64, d) @ true_L.T + torch.tensor([1.0, -2.0, 0.5])


class Gaussian(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(d))
        self.off = nn.Parameter(torch.zeros(d, d))
        self.raw_diag = nn.Parameter(torch.zeros(d))

    def scale_tril(self):
        return torch.tril(self.off, -1) + torch.diag_embed(F.softplus(self.raw_diag))

    def log_prob(self, x):
        L = self.scale_tril()
        z = torch.linalg.solve_triangular(L, (x - self.mean).T, upper=False)
        half_logdet = L.diagonal(dim1=-2, dim2=-1).log().sum()
        return -0.5 * z.pow(2).sum(0) - half_logdet - 0.5 * d * math.log(2 * math.pi)


model = Gaussian(d)
opt = torch.optim.Adam(model.parameters(), lr=0.1)
for step in range(40):
    opt.zero_grad()
    nll = -model.log_prob(data).mean()
    nll.backward()
    opt.step()
    if step % 10 == 0:
        print(step, round(nll.item(), 6), model.raw_diag.grad, model.off.grad[0])
L = model.scale_tril()
print(L.detach(), L.grad_fn.name(), L.requires_grad)
mvn = torch.distributions.MultivariateNormal(model.mean, scale_tril=L)
print(mvn.log_prob(data[:4]), model.log_prob(data[:4]))
L = L.detach()
S = L @ L.T
b = torch.randn(d, 2)
print(torch.cholesky_solve(b, L), torch.linalg.solve(S, b))
print(torch.triangular_solve(b, L, upper=False).solution, torch.cholesky_inverse(L))
print(torch.dist(torch.linalg.cholesky(S), L) < 1e-10)

# batched determinants, inverses and solves, with second derivatives
A = (torch.randn(2, 3, 3) + 3 * torch.eye(3)).requires_grad_()
det = torch.linalg.det(A)
g, = torch.autograd.grad(det.sum(), A, create_graph=True)
print(det, det.grad_fn.name(), g.grad_fn.name())
hv, = torch.autograd.grad(g.pow(2).sum(), A)
print(hv)
sign, logabs = torch.linalg.slogdet(A)
logabs.sum().backward()
print(sign, logabs.grad_fn.name(), torch.allclose(A.grad, torch.linalg.inv(A).mT))
A.grad = None
B = torch.randn(2, 3, 2, requires_grad=True)
X = torch.linalg.solve(A, B)
(X.square().sum() + torch.logdet(A).sum()).backward()
print(X.grad_fn.name(), A.grad[1], B.grad[0])
Ainv = torch.linalg.inv(A)
gg, = torch.autograd.grad(Ainv.trace() if Ainv.ndim == 2 else Ainv.diagonal(0, -2, -1).sum(), A,
                          create_graph=True)
print(Ainv.grad_fn.name(), torch.autograd.grad(gg.sum(), A)[0][0])
left = torch.linalg.solve(A, B.mT, left=False)
print(left.shape, torch.allclose(left @ A, B.mT))

# one LU factorisation reused for many right-hand sides, unpacked, and its gradients
LU, piv = torch.linalg.lu_factor(A)
P, Lf, Uf = torch.lu_unpack(LU, piv)
print(P[0], piv, Lf.grad_fn.name(), P.requires_grad, torch.allclose(P @ Lf @ Uf, A))
sols = torch.linalg.lu_solve(LU, piv, torch.eye(3).expand(2, 3, 3))
old_api = torch.lu_solve(torch.eye(3).expand(2, 3, 3), *torch.lu(A))
print(torch.allclose(sols, old_api), torch.allclose(sols, torch.linalg.inv(A)))
A.grad = None
(Lf.tril(-1).pow(2).sum() + Uf.diagonal(0, -2, -1).log().abs().sum() + sols.sum()).backward()
print(A.grad[0])
tall_lu, tall_piv = torch.linalg.lu_factor(torch.randn(4, 2))
print([t.shape for t in torch.lu_unpack(tall_lu, tall_piv)], torch.lu_unpack(tall_lu, tall_piv,
      unpack_pivots=False).P.shape)
try:
    torch.lu_unpack(LU, piv.long())
except RuntimeError as e:
    print(e)

# factorisations and their gradients
M = torch.randn(5, 3, requires_grad=True)
Q, R = torch.linalg.qr(M)
U, s, Vh = torch.linalg.svd(M, full_matrices=False)
P = torch.linalg.pinv(M)
sol = torch.linalg.lstsq(M, torch.ones(5, 2)).solution
loss = Q[:, 0].sum() + R.diagonal().abs().sum() + s.sum() + (U[:, 0] * Vh[0].sum()).pow(2).sum() \
    + P.pow(2).sum() + sol.sum()
loss.backward()
print([t.grad_fn.name() for t in (Q, R, U, s, P, sol)])
print(M.grad)
C = M.detach().T @ M.detach()
C.requires_grad_()
evals, evecs = torch.linalg.eigh(C)
(evals.pow(2).sum() + evecs[:, -1].abs().sum()).backward()
print(evals, C.grad, evals.grad_fn.name())
G = torch.tensor([[0.0, 1.0, 0.2], [-1.0, 0.0, 0.3], [-0.2, -0.3, 0.0]], requires_grad=True)
E = torch.linalg.matrix_exp(G)
g1, = torch.autograd.grad(E[0, 1], G, create_graph=True)
print(E, E.grad_fn.name(), g1)
print(torch.autograd.grad(g1.sum(), G)[0])
v = torch.randn(4, 3, requires_grad=True)
w = torch.randn(4, 3)
n = torch.linalg.vector_norm(torch.linalg.cross(v, w), ord=3, dim=-1)
fro = torch.linalg.matrix_norm(v, ord="fro") + torch.linalg.matrix_norm(v, ord=2) \
    + torch.linalg.matrix_norm(v, ord="nuc") + torch.linalg.matrix_norm(v, ord=-1)
(n.sum() + fro).backward()
print(n, fro, v.grad, n.grad_fn.name())
print(torch.linalg.norm(v.detach(), dim=0), torch.linalg.vector_norm(v.detach(), ord=0))

# errors torch raises
for bad in (torch.tensor([[1.0, 2.0], [2.0, 1.0]]), torch.zeros(2, 3)):
    try:
        torch.linalg.cholesky(bad)
    except (RuntimeError, torch.linalg.LinAlgError) as e:
        print(type(e).__name__, e)
try:
    torch.linalg.solve(torch.ones(2, 2), torch.ones(2))
except RuntimeError as e:
    print(type(e).__name__, isinstance(e, torch.linalg.LinAlgError), e)
L_ex, info = torch.linalg.cholesky_ex(torch.tensor([[[4.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]))
print(info, L_ex[0])
try:
    torch.linalg.inv(torch.randn(2, 3))
except RuntimeError as e:
    print(e)
torch.set_default_dtype(torch.float32)
print("done")
