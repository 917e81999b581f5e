# Regression and probabilistic losses in a user's experiments: a heteroscedastic regressor
# (mean and variance heads) trained with GaussianNLLLoss, robust losses compared (MSE, L1,
# SmoothL1 and Huber with their widths) with the gradient of the gradient a penalty takes,
# a multi-label tagger with BCEWithLogitsLoss (pos_weight, weight), a count model with
# PoissonNLLLoss, distillation with KLDivLoss (log_target, batchmean), and the mistakes.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])


class Hetero(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 12), nn.Tanh())
        self.mean = nn.Linear(12, 2)
        self.log_var = nn.Linear(12, 2)

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), self.log_var(h).exp()


x = torch.randn(16, 3)
y = torch.stack([x[:, 0] * 2 - x[:, 1], x[:, 2].sin()], 1) + 0.1 * torch.randn(16, 2)
model = Hetero()
gnll = nn.GaussianNLLLoss(full=True, eps=1e-4)
print(gnll)
opt = torch.optim.Adam(model.parameters(), lr=0.03)
for step in range(5):
    mu, var = model(x)
    loss = gnll(mu, y, var)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), model.log_var.bias.grad)
mu, var = model(x)
for reduction in ("none", "mean", "sum"):
    print(reduction, F.gaussian_nll_loss(mu, y, var, reduction=reduction).detach().flatten()[:3])
print(F.gaussian_nll_loss(mu, y, var[:, :1]), F.gaussian_nll_loss(mu, y, var[:, 0]))
tryp(lambda: F.gaussian_nll_loss(mu, y, torch.tensor(0.5), eps=0.6))
tryp(lambda: F.gaussian_nll_loss(mu, y, 0.5, eps=0.6))

# robust losses: values, gradients with create_graph, and the penalty's gradient
pred = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.3, -0.2], [0.05, -3.0, 1.0]], requires_grad=True)
target = torch.tensor([[0.5, 0.0, 1.0], [0.0, 0.3, 0.2], [0.0, 0.0, 0.0]], requires_grad=True)
losses = {"mse": lambda r: F.mse_loss(pred, target, reduction=r),
          "l1": lambda r: F.l1_loss(pred, target, reduction=r),
          "smooth_l1 beta=0": lambda r: F.smooth_l1_loss(pred, target, reduction=r, beta=0.0),
          "smooth_l1 beta=0.5": lambda r: nn.SmoothL1Loss(reduction=r, beta=0.5)(pred, target),
          "huber delta=0.3": lambda r: nn.HuberLoss(reduction=r, delta=0.3)(pred, target),
          "huber delta=2": lambda r: F.huber_loss(pred, target, reduction=r, delta=2.0)}
for name, loss_fn in losses.items():
    for reduction in ("none", "mean", "sum"):
        out = loss_fn(reduction)
        gp, gt = torch.autograd.grad(out.sum() * 1.5, (pred, target), create_graph=True)
        print(name, reduction, out.detach().sum().item(), out.grad_fn.name())
        print(gp, gt.grad_fn)
        if gp.requires_grad:
            print(torch.autograd.grad((gp * gp).sum() + gt.sum(), (pred, target), allow_unused=True))
out = F.mse_loss(pred, target, reduction="none")
g_out = torch.full_like(out, 2.0, requires_grad=True)
gp, = torch.autograd.grad(out, pred, g_out, create_graph=True)
print(torch.autograd.grad(gp.sum(), g_out))
print(nn.HuberLoss(delta=0.3), nn.SmoothL1Loss(beta=0.5), nn.L1Loss(reduction="sum"))

# multi-label tagging with BCEWithLogitsLoss: pos_weight, weight and large logits
tagger = nn.Linear(5, 4)
feats = torch.randn(10, 5)
labels = (torch.rand(10, 4) > 0.7).float()
crit = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 3.0, 0.5, 2.0]),
                            weight=torch.tensor([1.0, 1.0, 2.0, 1.0]))
print(crit, list(crit.state_dict()))
sgd = torch.optim.SGD(tagger.parameters(), lr=0.5)
for step in range(3):
    loss = crit(tagger(feats), labels)
    sgd.zero_grad()
    loss.backward()
    sgd.step()
    print(step, round(loss.item(), 5), tagger.bias.grad)
logits = torch.tensor([[30.0, -30.0, 0.5], [-2.0, 18.0, 0.0]], requires_grad=True)
soft = torch.tensor([[0.9, 0.2, 0.5], [0.0, 1.0, 0.3]], requires_grad=True)
for reduction in ("none", "mean", "sum"):
    out = F.binary_cross_entropy_with_logits(logits, soft, pos_weight=torch.tensor([2.0, 0.5, 1.0]),
                                             reduction=reduction)
    gl, gs = torch.autograd.grad(out.sum(), (logits, soft), create_graph=True)
    print(reduction, out.detach(), gl, gs)
    print(torch.autograd.grad((gl ** 2).sum() + (gs ** 2).sum(), (logits, soft)))
probs = torch.sigmoid(logits.detach()[:, 2:]).requires_grad_()
bce = F.binary_cross_entropy(probs, soft.detach()[:, 2:], weight=torch.tensor([[2.0], [0.5]]))
bce.backward()
print(bce, probs.grad)

# counts with PoissonNLLLoss, distillation with KLDivLoss
rates = torch.randn(6, 2, requires_grad=True)
counts = torch.tensor([[0.0, 1.0], [3.0, 2.0], [1.0, 0.0], [5.0, 4.0], [2.0, 2.0], [0.0, 7.0]])
for full in (False, True):
    for reduction in ("none", "mean", "sum"):
        out = F.poisson_nll_loss(rates, counts, full=full, reduction=reduction)
        print(full, reduction, out.detach().sum().item(), out.grad_fn.name())
out = nn.PoissonNLLLoss(log_input=False, eps=0.1)(rates.exp(), counts)
out.backward()
print(out, rates.grad, nn.PoissonNLLLoss(log_input=False, full=True))
teacher = torch.randn(6, 5)
student = torch.randn(6, 5, requires_grad=True)
log_p = F.log_softmax(student / 2.0, 1)
for reduction in ("none", "mean", "sum", "batchmean"):
    print(reduction, F.kl_div(log_p, F.softmax(teacher / 2.0, 1), reduction=reduction).sum().item(),
          F.kl_div(log_p, F.log_softmax(teacher / 2.0, 1), reduction=reduction, log_target=True).sum().item())
kd = nn.KLDivLoss(reduction="batchmean", log_target=True)(log_p, F.log_softmax(teacher / 2.0, 1)) * 4
g, = torch.autograd.grad(kd, student, create_graph=True)
print(kd, g.grad_fn.name(), torch.autograd.grad(g.pow(2).sum(), student)[0][:2])

# the mistakes
tryp(lambda: F.mse_loss(pred, target[:1]).shape)
tryp(lambda: F.mse_loss(pred, target[:, :2]))
tryp(lambda: F.mse_loss(pred, target.long()))
tryp(lambda: F.huber_loss(pred, target, delta=0.0))
tryp(lambda: F.smooth_l1_loss(pred, target, beta=-0.5))
tryp(lambda: F.binary_cross_entropy(pred, target))
tryp(lambda: F.binary_cross_entropy(probs, soft[:, :2]))
tryp(lambda: F.binary_cross_entropy(probs, soft.detach()[:, 2:], weight=torch.ones(3)))
tryp(lambda: F.binary_cross_entropy_with_logits(logits, soft[:1]))
tryp(lambda: F.binary_cross_entropy_with_logits(logits, soft, pos_weight=torch.ones(2)))
tryp(lambda: F.binary_cross_entropy_with_logits(logits, soft, weight=torch.ones(2, 1, 3)))
tryp(lambda: F.binary_cross_entropy_with_logits(logits, soft, weight=torch.ones(4)))
tryp(lambda: F.gaussian_nll_loss(mu, y, var[:3]))
tryp(lambda: F.gaussian_nll_loss(mu, y, -var))
tryp(lambda: F.gaussian_nll_loss(mu, y, var, reduction="avg"))
tryp(lambda: F.kl_div(log_p, teacher, reduction="average"))
tryp(lambda: F.poisson_nll_loss(rates, counts, reduction="avg"))
print("done")
