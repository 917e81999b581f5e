# Two training objectives from papers: knowledge distillation (a frozen teacher, a
# student trained on KLDivLoss(log_softmax/T, softmax/T) * T^2 mixed with the hard
# cross-entropy), and a SimCLR step (two noisy views, an MLP projector, normalize, the
# 2N x 2N cosine-similarity matrix with its diagonal masked by -inf, cross_entropy to
# the positive pair), with a temperature as a learned log-parameter.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)
x = torch.randn(32, 10)
y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()
teacher = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
topt = torch.optim.SGD(teacher.parameters(), lr=0.2, momentum=0.9)
for _ in range(15):
    topt.zero_grad()
    F.cross_entropy(teacher(x), y).backward()
    topt.step()
teacher.eval()
teacher.requires_grad_(False)
print("teacher", round(F.cross_entropy(teacher(x), y).item(), 4), teacher[0].weight.requires_grad)

student = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.Adam(student.parameters(), lr=1e-2)
kl = nn.KLDivLoss(reduction="batchmean")
T, alpha = 3.0, 0.7
for step in range(5):
    with torch.no_grad():
        soft = F.softmax(teacher(x) / T, dim=-1)
    logits = student(x)
    distill = kl(F.log_softmax(logits / T, dim=-1), soft) * T * T
    hard = F.cross_entropy(logits, y)
    loss = alpha * distill + (1 - alpha) * hard
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(distill.item(), 5), round(hard.item(), 5), soft.requires_grad)
log_t = F.log_softmax(teacher(x) / T, -1)
print(F.kl_div(F.log_softmax(student(x) / T, -1), log_t, reduction="batchmean", log_target=True).item())


class SimCLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU())
        self.projector = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 8))
        self.log_tau = nn.Parameter(torch.tensor(-1.0))

    def forward(self, a, b):
        z = F.normalize(self.projector(self.encoder(torch.cat([a, b]))), dim=1)
        sim = z @ z.T / self.log_tau.exp()
        n = a.size(0)
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        return F.cross_entropy(sim, targets), sim


model = SimCLR()
opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
for step in range(4):
    batch = x[step * 8:(step + 1) * 8]
    v1 = batch + 0.1 * torch.randn_like(batch)
    v2 = batch * (torch.rand_like(batch) > 0.2)
    loss, sim = model(v1, v2)
    opt.zero_grad()
    loss.backward()
    opt.step()
    acc = (sim.argmax(1) == torch.cat([torch.arange(8, 16), torch.arange(8)])).float().mean()
    print(step, round(loss.item(), 5), acc.item(), sim.diagonal()[:2].tolist(), round(model.log_tau.item(), 5))
print(model.log_tau.grad, sim.isinf().sum().item(), model.encoder[1].running_mean[:3])
print("done")
