# A contrastive (InfoNCE) objective as CLIP- and MoCo-style scripts write it, its embeddings
# split over the workers: two towers on W[0] and W[1], L2-normalised embeddings sharded by
# batch, a learnable log-temperature clamped in place through .data after each step, the
# symmetric cross entropy over the similarity matrix, a post-accumulate-grad hook on the
# temperature, a momentum key encoder updated with torch._foreach_lerp_ under no_grad, a
# queue of negatives (a registered buffer) written in place through a slice with its
# pointer, and the queue's version, the logits' grad_fn and the gradients that reach both
# towers. `W`, `shard`, `full` are the runner's.
import copy
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)
B, Din, Dt, E, Q = 6, 8, 5, 4, 12


class Tower(nn.Module):
    def __init__(self, d_in, device):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 10), nn.LayerNorm(10), nn.GELU(), nn.Linear(10, E)).to(device)

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


class Contrastive(nn.Module):
    def __init__(self):
        super().__init__()
        self.img, self.txt = Tower(Din, W[0]), Tower(Dt, W[1])
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("queue", F.normalize(torch.randn(Q, E), dim=-1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    def forward(self, a, b):
        za = shard(self.img(a.to(W[0])).cpu(), 0)
        zb = shard(self.txt(b.to(W[1])).cpu(), 0)
        logits = full(za @ zb.t()) * self.logit_scale.exp()
        labels = torch.arange(a.shape[0])
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2, logits, za


model = Contrastive()
key_tower = copy.deepcopy(model.txt)
for p in key_tower.parameters():
    p.requires_grad_(False)
scale_grads = []
model.logit_scale.register_post_accumulate_grad_hook(lambda p: scale_grads.append(round(p.grad.item(), 5)))
a, b = torch.randn(B, Din), torch.randn(B, Dt)
loss, logits, za = model(a, b)
print(logits.grad_fn.name(), za.grad_fn is not None, logits.shape, round(loss.item(), 5))
loss.backward()
print(scale_grads, model.img.net[0].bias.grad.cpu(), model.txt.net[3].bias.grad.cpu())
print(model.logit_scale.grad_fn, model.logit_scale.is_leaf, key_tower.net[0].weight.requires_grad)

opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
for step in range(4):
    opt.zero_grad()
    loss, logits, za = model(a, b)
    with torch.no_grad():
        keys = key_tower(b.to(W[1])).cpu()
    neg = za @ model.queue.t()
    moco = F.cross_entropy(torch.cat([full((za * keys).sum(-1, keepdim=True)), full(neg)], 1) / 0.2,
                           torch.zeros(B, dtype=torch.long))
    (loss + moco).backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.data.clamp_(0, math.log(100))
        torch._foreach_lerp_(list(key_tower.parameters()), list(model.txt.parameters()), 0.1)
        start = int(model.ptr)
        model.queue[start:start + B] = keys
        model.ptr.add_(B).remainder_(Q)
    print(step, round(loss.item(), 5), round(moco.item(), 5), round(model.logit_scale.item(), 5),
          model.queue._version, model.ptr.item(), model.logit_scale._version, neg.grad_fn.name())
print(scale_grads[1:], key_tower.net[3].weight._version, key_tower.net[3].weight.cpu()[0])
print(model.queue[:2], model.queue.norm(dim=-1))
print(sorted(model.state_dict())[:4], model.state_dict()["ptr"])
print("done")
