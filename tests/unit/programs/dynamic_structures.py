# Models whose graph changes with the data, as papers' reference code writes them: a
# child-sum Tree-LSTM over parse trees by recursion (children's states stacked, a
# forget gate per child), a hypernetwork emitting a target network's weights that
# torch.func.functional_call runs, adaptive computation time (a halting loop with
# per-example masks and a remainder), Gumbel-softmax with hard=True choosing among
# experts, and masked attention where a row is fully masked (NaN made safe with
# nan_to_num / where), each trained for a few steps.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)


class TreeLSTM(nn.Module):
    def __init__(self, d_in, d):
        super().__init__()
        self.iou_x, self.iou_h = nn.Linear(d_in, 3 * d), nn.Linear(d, 3 * d, bias=False)
        self.f_x, self.f_h = nn.Linear(d_in, d), nn.Linear(d, d, bias=False)
        self.d = d

    def forward(self, tree, emb):
        word, children = tree
        x = emb[word]
        if children:
            states = [self(child, emb) for child in children]
            h_k = torch.stack([h for h, _ in states])
            c_k = torch.stack([c for _, c in states])
        else:
            h_k = c_k = x.new_zeros(1, self.d)
        i, o, u = (self.iou_x(x) + self.iou_h(h_k.sum(0))).chunk(3, -1)
        f = torch.sigmoid(self.f_x(x)[None] + self.f_h(h_k))
        c = torch.sigmoid(i) * torch.tanh(u) + (f * c_k).sum(0)
        return torch.sigmoid(o) * torch.tanh(c), c


trees = [(0, [(1, []), (2, [(3, []), (4, [])])]), (5, [(6, []), (7, [(8, [(9, [])])])]),
         (2, [])]
labels = torch.tensor([1, 0, 1])
emb = nn.Embedding(10, 6)
tree = TreeLSTM(6, 5)
cls = nn.Linear(5, 2)
opt = torch.optim.Adagrad([*emb.parameters(), *tree.parameters(), *cls.parameters()], lr=0.1)
for epoch in range(3):
    total = 0.0
    for t, y in zip(trees, labels):
        h, c = tree(t, emb.weight)
        loss = F.cross_entropy(cls(h)[None], y[None])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    print("tree", epoch, round(total, 5), emb.weight.grad[[0, 9]].abs().sum().item() > 0,
          h.grad_fn.name(), c.shape)

# --- hypernetwork ---------------------------------------------------------------------
target = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
shapes = {k: v.shape for k, v in target.named_parameters()}
sizes = [s.numel() for s in shapes.values()]
hyper = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, sum(sizes)))
hopt = torch.optim.Adam(hyper.parameters(), lr=1e-2)
tasks = torch.randn(4, 2)
xs = torch.randn(4, 10, 3)
ys = (xs * tasks[:, None, :1]).sum(-1, keepdim=True) + tasks[:, None, 1:]
for step in range(4):
    flat = hyper(tasks)
    losses = []
    for k in range(len(tasks)):
        chunks = flat[k].split(sizes)
        params = {name: chunk.view(shape) for (name, shape), chunk in zip(shapes.items(), chunks)}
        out = torch.func.functional_call(target, params, (xs[k],))
        losses.append(F.mse_loss(out, ys[k]))
    loss = torch.stack(losses).mean()
    hopt.zero_grad()
    loss.backward()
    hopt.step()
    print("hyper", step, round(loss.item(), 5), hyper[2].weight.grad.abs().max().item(),
          target[0].weight.grad)


# --- adaptive computation time ---------------------------------------------------------
class ACT(nn.Module):
    def __init__(self, d, max_steps=6, eps=0.05):
        super().__init__()
        self.cell, self.halt = nn.GRUCell(d, d), nn.Linear(d, 1)
        self.max_steps, self.eps = max_steps, eps

    def forward(self, x):
        h = torch.zeros_like(x)
        halted = torch.zeros(x.shape[0], dtype=torch.bool)
        cum = torch.zeros(x.shape[0])
        out = torch.zeros_like(x)
        ponder = torch.zeros(x.shape[0])
        for n in range(self.max_steps):
            h = self.cell(x, h)
            p = torch.sigmoid(self.halt(h)).squeeze(-1)
            running = ~halted
            last = running & ((cum + p > 1 - self.eps) | (n == self.max_steps - 1))
            weight = torch.where(last, 1 - cum, p) * running
            out = out + weight[:, None] * h
            ponder = ponder + running.float()
            cum = cum + torch.where(last, torch.zeros_like(p), p) * running
            halted = halted | last
            if bool(halted.all()):
                break
        return out, ponder, n + 1


act = ACT(4)
aopt = torch.optim.RMSprop(act.parameters(), lr=1e-2, momentum=0.5)
x = torch.randn(5, 4)
for step in range(3):
    out, ponder, steps = act(x)
    loss = out.pow(2).mean() + 0.01 * ponder.mean()
    aopt.zero_grad()
    loss.backward()
    aopt.step()
    print("act", step, round(loss.item(), 5), ponder, steps, act.halt.weight.grad.norm().item())

# --- hard Gumbel routing and fully masked attention --------------------------------------
experts = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
router = nn.Linear(4, 3)
x = torch.randn(6, 4)
g = torch.Generator().manual_seed(3)
noise = -torch.empty(6, 3).exponential_(generator=g).log()
logits = router(x)
soft = F.softmax((logits + noise) / 0.5, -1)
hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
choice = hard - soft.detach() + soft
mixed = torch.stack([e(x) for e in experts], 1)
routed = (choice[..., None] * mixed).sum(1)
routed.sum().backward()
print("routing", hard.sum(0), router.weight.grad.abs().sum().item(),
      [e.weight.grad is None for e in experts], [round(e.weight.grad.sum().item(), 5)
                                                 for e in experts if e.weight.grad is not None])

q = torch.randn(2, 3, 4, requires_grad=True)
k = torch.randn(2, 5, 4, requires_grad=True)
mask = torch.ones(2, 3, 5, dtype=torch.bool)
mask[0, 1] = False
mask[1, :, 3:] = False
scores = (q @ k.transpose(1, 2)).masked_fill(~mask, float("-inf"))
attn = scores.softmax(-1)
print("masked", attn.isnan().any(-1), attn[1, 0])
safe = torch.where(mask.any(-1, keepdim=True), attn, torch.zeros_like(attn))
safe.sum().backward(retain_graph=True)
print("masked grads", q.grad.isnan().any().item(), q.grad[0, 1], k.grad.isnan().sum().item())
q.grad = None
k.grad = None
fixed = scores.softmax(-1).nan_to_num(0.0)
(fixed * torch.arange(5.0)).sum().backward()
print("nan_to_num", q.grad.isnan().sum().item(), k.grad[1, 3:], fixed.sum(-1))
print("done")
