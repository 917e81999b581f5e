# A denoising diffusion model as the DDPM tutorials write it: a cosine noise schedule
# (cumprod, clipped betas, buffers registered on the module), timesteps gathered per
# example, sinusoidal time embeddings, a small conv denoiser with FiLM conditioning and a
# class embedding dropped for classifier-free guidance, the epsilon loss with min-SNR
# weighting, an EMA copy of the weights updated by lerp_ over parameters and buffers,
# gradient accumulation over two micro-batches, then DDPM and DDIM sampling loops under
# inference_mode writing the image in place, with guidance; and the model also trained
# with its denoiser placed on a worker.
import math

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)
T_STEPS = 20


def cosine_betas(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=0.999).float()


class Schedule(nn.Module):
    def __init__(self, T):
        super().__init__()
        betas = cosine_betas(T)
        alphas = 1 - betas
        self.register_buffer("betas", betas)
        self.register_buffer("alpha_bar", torch.cumprod(alphas, 0))
        self.register_buffer("sqrt_ab", self.alpha_bar.sqrt())
        self.register_buffer("sqrt_1m_ab", (1 - self.alpha_bar).sqrt())

    def q_sample(self, x0, t, noise):
        shape = (-1,) + (1,) * (x0.ndim - 1)
        return self.sqrt_ab.gather(0, t).view(shape) * x0 + \
            self.sqrt_1m_ab.gather(0, t).view(shape) * noise


def time_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], -1)


class Denoiser(nn.Module):
    def __init__(self, c=8, classes=3):
        super().__init__()
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 2 * c))
        self.label = nn.Embedding(classes + 1, 2 * c)  # the last: no label (guidance)
        self.norm = nn.GroupNorm(2, c)
        self.mid = nn.Conv2d(c, c, 3, padding=1)
        self.out = nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        self.classes = classes

    def forward(self, x, t, y):
        h = self.inp(x)
        scale, shift = (self.time(time_embedding(t, 16)) + self.label(y)).chunk(2, -1)
        h = self.norm(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        h = h + self.mid(F.silu(h))
        return self.out(F.silu(h))


def images(n, g):
    y = torch.randint(0, 3, (n,), generator=g)
    base = torch.zeros(n, 1, 8, 8)
    for k in range(n):
        c = int(y[k])
        base[k, 0, 2 * c:2 * c + 3, 1:7] = 1.0
    return base * 2 - 1, y


sched = Schedule(T_STEPS)
model = Denoiser()
ema = Denoiser()
ema.load_state_dict(model.state_dict())
ema.requires_grad_(False)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.99))
g = torch.Generator().manual_seed(7)
snr = sched.alpha_bar / (1 - sched.alpha_bar)
for step in range(4):
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for micro in range(2):
        x0, y = images(6, g)
        drop = torch.rand(6, generator=g) < 0.25
        y = y.masked_fill(drop, model.classes)
        t = torch.randint(0, T_STEPS, (6,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        xt = sched.q_sample(x0, t, noise)
        per_pixel = F.mse_loss(model(xt, t, y), noise, reduction="none")
        weight = torch.minimum(snr[t], torch.tensor(5.0)) / snr[t]
        loss = (per_pixel.mean((1, 2, 3)) * weight).mean() / 2
        loss.backward()
        total += loss.item()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 0.1)
        for be, bm in zip(ema.buffers(), model.buffers()):
            be.copy_(bm)
    print("train", step, round(total, 5), round(norm.item(), 5),
          model.out.weight.grad.abs().sum().item() > 0, ema.out.weight.abs().max().item())


def sample(net, labels, guidance=2.0, ddim=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = len(labels)
    x = torch.randn(n, 1, 8, 8, generator=gen)
    none = torch.full((n,), net.classes, dtype=torch.long)
    with torch.inference_mode():
        for i in reversed(range(T_STEPS)):
            t = torch.full((n,), i, dtype=torch.long)
            both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, none]))
            cond, uncond = both.chunk(2)
            eps = uncond + guidance * (cond - uncond)
            ab = sched.alpha_bar[i]
            x0_hat = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp_(-1, 1)
            if i == 0:
                x = x0_hat
            elif ddim:
                ab_prev = sched.alpha_bar[i - 1]
                x = ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps
            else:
                beta = sched.betas[i]
                mean = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
                x = mean.add_(beta.sqrt() * torch.randn(x.shape, generator=gen))
    return x


for ddim in (False, True):
    out = sample(ema, torch.tensor([0, 1, 2]), ddim=ddim)
    print("sample", ddim, out.shape, out.is_inference(), out.requires_grad,
          out.mean((1, 2, 3)), out[0, 0, 2:5, 3])
try:
    out.add_(1)
    out.requires_grad_()
    print("inference tensor", out.requires_grad)
except RuntimeError as e:
    print("inference tensor error:", str(e).split("\n")[0])

# the denoiser on a worker, the schedule and data on the driver
torch.manual_seed(42)
placed = Denoiser().to(W[1])
popt = torch.optim.Adam(placed.parameters(), lr=2e-3)
for step in range(3):
    x0, y = images(4, g)
    t = torch.randint(0, T_STEPS, (4,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    xt = sched.q_sample(x0, t, noise)
    pred = placed(xt.to(W[1]), t.to(W[1]), y.to(W[1]))
    loss = F.mse_loss(pred.cpu(), noise)
    popt.zero_grad()
    loss.backward()
    popt.step()
    print("placed", step, round(loss.item(), 5), placed.time[2].bias.grad.cpu()[:3])
print("done")
