# Gaussian-process regression written by hand with torch.linalg: an RBF kernel from
# cdist, the negative log marginal likelihood through cholesky, cholesky_solve and the
# log-determinant from the factor's diagonal, its hyperparameters (log lengthscale,
# log variances) fitted by Adam; the posterior mean and variance via solve_triangular;
# then a small linear-algebra check list (slogdet, eigh, qr, lstsq, pinv, matrix_exp).
import math
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(47)
torch.set_default_dtype(torch.float64)
X = torch.rand(20, 1) * 6
y = torch.sin(X[:, 0]) + 0.1 * torch.randn(20)
log_ell = torch.zeros((), requires_grad=True)
log_sf2 = torch.zeros((), requires_grad=True)
log_sn2 = torch.tensor(-2.0, requires_grad=True)


def kernel(a, b):
    return log_sf2.exp() * torch.exp(-0.5 * torch.cdist(a, b).pow(2) / log_ell.exp() ** 2)


def nlml():
    K = kernel(X, X) + log_sn2.exp() * torch.eye(len(X))
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y.unsqueeze(-1), L)
    return 0.5 * (y @ alpha.squeeze(-1)) + L.diagonal().log().sum() + 0.5 * len(X) * math.log(2 * math.pi)


opt = torch.optim.Adam([log_ell, log_sf2, log_sn2], lr=0.1)
for step in range(25):
    opt.zero_grad()
    loss = nlml()
    loss.backward()
    opt.step()
    if step % 8 == 0:
        print(step, round(loss.item(), 5), round(log_ell.item(), 5), log_sn2.grad.dtype)
print(round(loss.item(), 4), [round(p.exp().item(), 4) for p in (log_ell, log_sf2, log_sn2)])

with torch.no_grad():
    Xs = torch.linspace(0, 6, 5).unsqueeze(-1)
    K = kernel(X, X) + log_sn2.exp() * torch.eye(len(X))
    L = torch.linalg.cholesky(K)
    Ks = kernel(X, Xs)
    v = torch.linalg.solve_triangular(L, Ks, upper=False)
    mean = Ks.T @ torch.cholesky_solve(y.unsqueeze(-1), L)
    var = kernel(Xs, Xs).diagonal() - v.pow(2).sum(0)
print(mean.squeeze(-1), var.clamp(min=0).sqrt(), torch.sin(Xs[:, 0]))

A = torch.randn(4, 4)
S = A @ A.T + torch.eye(4)
sign, logabs = torch.linalg.slogdet(S)
evals, evecs = torch.linalg.eigh(S)
Q, R = torch.linalg.qr(A)
print(sign, logabs, evals, torch.allclose(evecs @ torch.diag(evals) @ evecs.T, S))
print(torch.allclose(Q @ R, A), R.diagonal().abs())
B = torch.randn(6, 3)
sol = torch.linalg.lstsq(B, torch.ones(6, 1)).solution
print(sol.squeeze(), torch.allclose(torch.linalg.pinv(B) @ torch.ones(6, 1), sol))
print(torch.linalg.matrix_exp(torch.tensor([[0.0, 1.0], [-1.0, 0.0]])), S.dtype)
M = torch.randn(3, 3, requires_grad=True)
torch.linalg.det(M @ M.T + torch.eye(3)).log().backward()
print(M.grad)
torch.set_default_dtype(torch.float32)
print("done")
