# Forecasting and tabular code as data scientists write it: series with missing values
# filled by nanmean and forward fill (cummax of indices), windows cut by unfold, features
# from diff / torch.gradient / rolling statistics, quantile bins by bucketize, a dilated
# causal conv (TCN) and a DeepAR-style Gaussian head trained by its negative
# log-likelihood (GaussianNLLLoss), quantile (pinball) loss for several quantiles at once,
# a tabular model whose categorical columns go through embeddings and whose numeric
# columns are standardised in place, covariance/corrcoef of its features, and the
# gradient of each prediction with respect to its inputs (saliency) by autograd.grad.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(31)

T, S = 40, 3
t = torch.arange(T, dtype=torch.float32)
series = torch.stack([torch.sin(t / 4 + k) * (k + 1) + 0.05 * t for k in range(S)])
series += 0.1 * torch.randn(S, T)
missing = torch.rand(S, T) < 0.1
series[missing] = float("nan")
print("missing", missing.sum().item(), series.isnan().sum(1), torch.nanmean(series, 1))

# forward fill: each position takes the last observed index at or before it
observed = ~series.isnan()
last = torch.where(observed, torch.arange(T).expand(S, T), torch.zeros(S, T, dtype=torch.long))
last = last.cummax(1).values
filled = series.gather(1, last)
filled = torch.where(filled.isnan(), torch.nanmean(series, 1, keepdim=True), filled)
print("filled", filled.isnan().any().item(), filled[:, :5])

slope = torch.gradient(filled, dim=1)[0]
change = filled.diff(dim=1, prepend=filled[:, :1])
windows = filled.unfold(1, 8, 1)
roll_mean, roll_std = windows.mean(-1), windows.std(-1)
edges = torch.quantile(filled.flatten(), torch.tensor([0.25, 0.5, 0.75]))
bins = torch.bucketize(filled, edges)
print("features", slope[:, 1:4], change.abs().max(1).values, roll_mean.shape,
      roll_std[:, -1], edges, torch.bincount(bins.flatten(), minlength=4))


class TCN(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.inp = nn.Conv1d(1, c, 1)
        self.blocks = nn.ModuleList(nn.Conv1d(c, c, 2, dilation=d) for d in (1, 2, 4))
        self.mu, self.var = nn.Conv1d(c, 1, 1), nn.Conv1d(c, 1, 1)

    def forward(self, x):
        h = self.inp(x)
        for conv in self.blocks:
            pad = conv.dilation[0] * (conv.kernel_size[0] - 1)
            h = h + F.gelu(conv(F.pad(h, (pad, 0))))
        return self.mu(h), F.softplus(self.var(h)) + 1e-4


model = TCN()
nll = nn.GaussianNLLLoss()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
x = filled[:, None, :-1].contiguous()
scale = x.abs().amax(-1, keepdim=True)
x /= scale
y = filled[:, None, 1:] / scale
for step in range(4):
    mu, var = model(x)
    loss = nll(mu, y, var)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    opt.step()
    print("tcn", step, round(loss.item(), 5), model.blocks[2].weight.grad.norm().item())



@compiled
def tcn_step(x, y):
    mu, var = model(x)
    loss = nll(mu, y, var)
    loss.backward()
    return loss


for step in range(2):
    opt.zero_grad()
    loss = tcn_step(x, y)
    opt.step()
    print("compiled tcn", step, round(loss.item(), 5), model.mu.weight.grad.flatten()[:3])

qs = torch.tensor([0.1, 0.5, 0.9])
head = nn.Linear(8, 3)
feats = torch.stack([roll_mean[:, :-1], roll_std[:, :-1], slope[:, 7:-1], change[:, 7:-1],
                     bins[:, 7:-1].float(), filled[:, 7:-1],
                     torch.sin(t[7:-1] / 4).expand(S, -1), torch.ones(S, T - 8)], -1)
target = filled[:, 8:]
qopt = torch.optim.SGD(head.parameters(), lr=0.05)
for step in range(3):
    pred = head(feats)
    err = target[..., None] - pred
    pinball = torch.maximum(qs * err, (qs - 1) * err).mean()
    qopt.zero_grad()
    pinball.backward()
    qopt.step()
    print("quantile", step, round(pinball.item(), 5), (pred[..., 0] <= pred[..., 2]).float().mean().item())

# --- tabular -------------------------------------------------------------------------
n = 24
cats = torch.randint(0, 5, (n, 2))
nums = torch.randn(n, 3) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([0.0, 5.0, -1.0])
label = (nums[:, 0] + (cats[:, 0] == 2).float() > 0.5).float()
mean, std = nums.mean(0), nums.std(0, unbiased=True)
nums.sub_(mean).div_(std)
print("standardised", nums.mean(0).abs().max().item() < 1e-5, nums.std(0), torch.cov(nums.T),
      torch.corrcoef(nums.T)[0])


class Tabular(nn.Module):
    def __init__(self):
        super().__init__()
        self.embs = nn.ModuleList([nn.Embedding(5, 3), nn.Embedding(5, 2, max_norm=1.0)])
        self.bn = nn.BatchNorm1d(3)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.SiLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, cats, nums):
        e = [emb(cats[:, i]) for i, emb in enumerate(self.embs)]
        return self.mlp(torch.cat(e + [self.bn(nums)], 1)).squeeze(1)


tab = Tabular()
topt = torch.optim.NAdam(tab.parameters(), lr=1e-2)
pos_weight = (1 - label).sum() / label.sum()
for epoch in range(3):
    tab.train()
    perm = torch.randperm(n)
    for b in perm.split(8):
        logits = tab(cats[b], nums[b])
        loss = F.binary_cross_entropy_with_logits(logits, label[b], pos_weight=pos_weight)
        topt.zero_grad()
        loss.backward()
        topt.step()
    tab.eval()
    with torch.no_grad():
        acc = ((tab(cats, nums) > 0).float() == label).float().mean()
    print("tabular", epoch, round(loss.item(), 5), acc.item(), tab.bn.running_var,
          tab.embs[1].weight.norm(dim=1).max().item() <= 1.0 + 1e-6)

torch.manual_seed(4)
inner = Tabular()
replica = ddp(inner)
ropt = torch.optim.SGD(replica.parameters(), lr=0.1, momentum=0.9)
for b in torch.arange(n).split(12):
    loss = F.binary_cross_entropy_with_logits(replica(cats[b], nums[b]), label[b])
    ropt.zero_grad()
    loss.backward()
    ropt.step()
    print("ddp tabular", round(loss.item(), 5), inner.bn.running_mean.cpu(),
          inner.embs[0].weight.grad.abs().sum().item())
inputs = nums.clone().requires_grad_()
out = tab(cats, inputs)
(saliency,) = torch.autograd.grad(out.sum(), inputs)
print("saliency", saliency.abs().mean(0), saliency.shape)
jac = torch.autograd.functional.jacobian(lambda z: tab(cats[:4], z), nums[:4])
print("jacobian", jac.shape, torch.einsum("iij->j", jac) - saliency[:4].sum(0))
print("done")
