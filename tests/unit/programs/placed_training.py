# Training where parameters live on workers, against the same steps on the CPU: a model
# with a tied embedding, batch norm and an unused layer under `ddp` (find_unused_parameters;
# a second backward through a retained graph, a hook on a weight's gradient); a compiled
# Adam step whose forward writes views of its activations in place (a graph that saved the
# weight before it refuses its backward after); an Adam over a sharded leaf, a worker leaf
# and a driver leaf with clipping; and a manual SGD under torch.no_grad on a worker with
# the .grad edits real code makes. `W`, `shard`, `full`, `ddp`, `compiled`:
# the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(8)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.norm = nn.Embedding(10, 6), nn.BatchNorm1d(6)
        self.mid, self.unused = nn.Linear(6, 6), nn.Linear(6, 6)

    def forward(self, tok):
        h = F.relu(self.mid(self.norm(self.emb(tok).mean(1))))
        h = h + h.clone().mul_(0.5)
        return h @ self.emb.weight.t()


net = Tied()
model = ddp(net, find_unused_parameters=True)  # (torch's reducer needs it for `unused`)
seen = []
net.mid.weight.register_hook(lambda g: seen.append(round(g.norm().item(), 4)))
opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-3, nesterov=True)
tok, tgt = torch.randint(0, 10, (8, 3)), torch.randint(0, 10, (8,))
for step in range(4):
    opt.zero_grad()
    logits = model(tok)
    loss = F.cross_entropy(logits, tgt)
    loss.backward(retain_graph=step == 1)
    if step == 1:
        loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), logits.grad_fn.name(), net.unused.weight.grad)
print(full(net.norm.running_mean), full(net.norm.num_batches_tracked), seen)
print(full(net.emb.weight.grad)[:3], full(net.mid.bias.detach()))
model.eval()
with torch.no_grad():
    ev = model(tok)
print(ev.requires_grad, full(ev)[:2])

lin = nn.Linear(4, 4).to(W[0])
adam = torch.optim.Adam(lin.parameters(), lr=0.05)


@compiled
def train_step(x):
    adam.zero_grad()
    h = lin(x)
    h[:, :2] = h[:, :2].tanh()
    h.t()[3].mul_(2)
    loss = h.pow(2).sum()
    loss.backward()
    adam.step()
    return loss, h.detach()


xs = torch.randn(3, 4).to(W[0])
for i in range(4):  # (recorded twice, then replayed)
    held = lin.weight.pow(2).sum()  # saves the weight the step will write
    loss, h = train_step(xs)
    try:
        held.backward()
    except RuntimeError as e:
        held = str(e)[:60]
    print("compiled", i, round(loss.item(), 5), h.cpu()[0], lin.weight._version, held)
print(lin.weight.detach().cpu(), lin.bias.grad.cpu())

sl = shard(torch.randn(4, 3), 0).requires_grad_()
wl = torch.randn(3, 2).to(W[1]).requires_grad_()
dl = torch.randn(2, requires_grad=True)
opt = torch.optim.Adam([{"params": [sl]}, {"params": [wl, dl], "lr": 0.05}], lr=0.01)
for step in range(3):
    opt.zero_grad()
    loss = ((full(sl).to(W[1]) @ wl).cpu() + dl).pow(2).mean()
    loss.backward()
    print(step, nn.utils.clip_grad_norm_([sl, wl, dl], 1.0).item(), sl.is_leaf, sl.grad_fn)
    opt.step()
print(full(sl.detach()), wl.detach().cpu(), dl, opt.state[wl]["exp_avg"].cpu())

m = nn.Linear(3, 3).to(W[0])
m.weight.register_hook(lambda g: g.clamp(max=0.5))
for step in range(2):
    m(torch.ones(2, 3).to(W[0]) * step).pow(2).sum().backward()
    m.weight.grad[0] = 0.0
    m.bias.grad = None if step == 0 else m.bias.grad.mul_(2)
    with torch.no_grad():
        for p in m.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
                p.grad.zero_()
    print(step, m.weight.detach().cpu()[1], m.bias.grad if step == 0 else m.bias.grad.cpu(), m.weight._version, m.weight.is_leaf)
print("done")
