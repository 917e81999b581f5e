# A modern recipe: Muon for the hidden layers' 2-D weights (Newton–Schulz orthogonalized
# momentum in bfloat16, nesterov or not, both learning-rate adjustments, custom
# coefficients, an lr given as a tensor) beside AdamW for biases, norms and embeddings;
# warmup then cosine decay by SequentialLR on each optimizer; both optimizers' and
# schedulers' state saved to a BytesIO mid-run and resumed into fresh objects; the errors
# Muon's options and non-matrix parameters raise; and a Muon-trained layer on a worker
# (`W`: the runner's, test_programs.py).
import io
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
O, S = torch.optim, torch.optim.lr_scheduler
torch.manual_seed(0)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(12, 8)
        self.norm = nn.LayerNorm(8)
        self.up = nn.Linear(8, 16)
        self.down = nn.Linear(16, 8, bias=False)
        self.head = nn.Linear(8, 12)

    def forward(self, tokens):
        h = self.norm(self.emb(tokens))
        h = h + self.down(F.gelu(self.up(h)))
        return self.head(h.mean(1))


tokens, labels = torch.randint(0, 12, (10, 5)), torch.randint(0, 12, (10,))


def build(model, **muon_options):
    hidden = [p for n, p in model.named_parameters() if p.ndim == 2 and n.split(".")[0] in ("up", "down")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim == 2 and n.split(".")[0] in ("up", "down"))]
    muon = O.Muon(hidden, **muon_options)
    adamw = O.AdamW(rest, lr=3e-3, weight_decay=0.01)
    schedules = [S.SequentialLR(o, [S.LinearLR(o, 0.25, total_iters=2), S.CosineAnnealingLR(o, 6)],
                                milestones=[2]) for o in (muon, adamw)]
    return muon, adamw, schedules


def train(model, muon, adamw, schedules, steps, tag):
    for step in steps:
        muon.zero_grad()
        adamw.zero_grad()
        loss = F.cross_entropy(model(tokens), labels)
        loss.backward()
        muon.step()
        adamw.step()
        for s in schedules:
            s.step()
        print(tag, step, round(loss.item(), 4), [round(float(s.get_last_lr()[0]), 5) for s in schedules])


for options in (dict(lr=0.02), dict(lr=0.02, nesterov=False, momentum=0.9, weight_decay=0.0),
                dict(lr=0.05, adjust_lr_fn="match_rms_adamw", ns_steps=3),
                dict(lr=torch.tensor(0.02), ns_coefficients=(3.0, -3.2, 1.2), eps=1e-5)):
    torch.manual_seed(1)
    model = Tiny()
    muon, adamw, schedules = build(model, **options)
    train(model, muon, adamw, schedules, range(3), "run")
    print("  ", model.down.weight[0, :4], model.up.weight.grad[0, :4], model.head.bias.grad[:3])
    print("  ", sorted(muon.state[model.up.weight]), muon.state[model.down.weight]["momentum_buffer"][0, :3])
print(muon)

# resumed mid-run from a checkpoint in memory
torch.manual_seed(2)
model = Tiny()
muon, adamw, schedules = build(model, lr=0.02)
train(model, muon, adamw, schedules, range(2), "a")
buf = io.BytesIO()
torch.save({"model": model.state_dict(), "muon": muon.state_dict(), "adamw": adamw.state_dict(),
            "sched": [s.state_dict() for s in schedules]}, buf)
train(model, muon, adamw, schedules, range(2, 4), "a")
buf.seek(0)
ckpt = torch.load(buf)
print(ckpt["muon"]["param_groups"], sorted(ckpt["muon"]["state"]), ckpt["sched"][0]["last_epoch"])
model2 = Tiny()
model2.load_state_dict(ckpt["model"])
muon2, adamw2, schedules2 = build(model2, lr=0.5)
muon2.load_state_dict(ckpt["muon"])
adamw2.load_state_dict(ckpt["adamw"])
for s, sd in zip(schedules2, ckpt["sched"]):
    s.load_state_dict(sd)
train(model2, muon2, adamw2, schedules2, range(2, 4), "b")
print(torch.equal(model.up.weight, model2.up.weight), muon2.param_groups[0]["lr"] == muon.param_groups[0]["lr"])

# what Muon refuses
p = nn.Parameter(torch.ones(2, 3))
for options in (dict(lr=-1), dict(momentum=-1), dict(weight_decay=-0.1), dict(adjust_lr_fn="exp"),
                dict(lr=torch.tensor([0.1, 0.2])), dict(ns_steps=100), dict(ns_coefficients=(1.0, 2.0)),
                dict(foreach=True)):
    try:
        opt = O.Muon([p], **options)
        p.grad = torch.ones(2, 3)
        opt.step()
        print(options, p.detach())
    except (ValueError, TypeError) as e:
        print(options, type(e).__name__, e)
for params in ([nn.Parameter(torch.ones(3))], Tiny().parameters()):
    try:
        O.Muon(params)
    except ValueError as e:
        print(type(e).__name__, e)

# a layer on a worker, its momentum buffer beside it
torch.manual_seed(3)
layer = nn.Linear(6, 4).to(W[1])
muon = O.Muon([layer.weight], lr=0.05)
xw = torch.randn(8, 6).to(W[1])
for step in range(3):
    muon.zero_grad()
    loss = layer(xw).pow(2).mean()
    loss.backward()
    muon.step()
print("placed", round(loss.item(), 4), layer.weight.detach().cpu()[0], layer.weight.grad.cpu()[0])
print("done")
