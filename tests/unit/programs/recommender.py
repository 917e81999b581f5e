# A two-tower recommender as its tutorials write one: users' histories as bags of items
# (EmbeddingBag with offsets, sum/mean/max, per_sample_weights, padding_idx) next to an
# item Embedding with max_norm, negatives drawn by torch.multinomial from item popularity
# (bincount, pow(0.75)) under a seed, BCEWithLogits with pos_weight, margin ranking,
# cosine embedding and triplet losses, Adagrad with a StepLR; then top-k evaluation with
# topk, stable sorts, isin, and counts by index_add_/scatter_add_ on a worker; an item
# table split by rows under scale_grad_by_freq; the errors torch raises for bad offsets
# and a SparseAdam given dense gradients; and a multinomial without replacement asked for
# more draws than nonzero weights (torch's CPU kernel fills in zero-weight categories).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)
N_USERS, N_ITEMS, DIM, PAD = 6, 12, 5, 0

# each user's history: item ids (0 pads) flattened with offsets, and a recency weight each
history = [[3, 5, 5, 7], [2, 0], [9], [1, 4, 6, 8, 10], [11, 3], [5, 2, 0, 7]]
flat = torch.tensor([i for h in history for i in h])
offsets = torch.tensor([0] + [len(h) for h in history[:-1]]).cumsum(0)
recency = torch.cat([torch.linspace(0.5, 1.0, len(h)) for h in history])
popularity = torch.bincount(flat, minlength=N_ITEMS).float()
print(offsets, popularity, popularity.dtype)


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.hist = nn.EmbeddingBag(N_ITEMS, DIM, mode="sum", padding_idx=PAD)
        self.hist_max = nn.EmbeddingBag.from_pretrained(torch.randn(N_ITEMS, DIM), freeze=False,
                                                        mode="max", padding_idx=PAD)
        self.items = nn.Embedding(N_ITEMS, DIM, max_norm=1.5)
        self.proj = nn.Linear(2 * DIM, DIM)

    def user(self, flat, offsets, weights):
        summed = self.hist(flat, offsets, per_sample_weights=weights)
        return self.proj(torch.cat([summed, self.hist_max(flat, offsets)], 1))

    def forward(self, flat, offsets, weights, items):
        u = self.user(flat, offsets, weights)
        return (u.unsqueeze(1) * self.items(items)).sum(-1), u


model = TwoTower()
print(model.hist, model.hist_max, model.items, model.hist_max.weight.requires_grad)
opt = torch.optim.Adagrad(model.parameters(), lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
positives = torch.tensor([7, 2, 9, 10, 3, 5])
noise = popularity.clamp(min=0.5).pow(0.75)
gen = torch.Generator().manual_seed(4)
for step in range(4):
    negatives = torch.multinomial(noise.expand(N_USERS, -1), 3, replacement=True, generator=gen)
    items = torch.cat([positives.unsqueeze(1), negatives], 1)
    labels = torch.zeros(N_USERS, 4)
    labels[:, 0] = 1
    logits, u = model(flat, offsets, recency, items)
    bce = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=torch.tensor([3.0]))
    rank = F.margin_ranking_loss(logits[:, 0], logits[:, 1], torch.ones(N_USERS), margin=0.2)
    loss = bce + rank
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    print(step, negatives[0], round(bce.item(), 5), round(rank.item(), 5), sched.get_last_lr())
print(logits.grad_fn.name(), bce.grad_fn.name(), u.grad_fn.name())
print(model.items.weight.norm(dim=1), model.items.weight._version)
print(model.hist.weight.grad[PAD], model.hist_max.weight.grad[:3], opt.state[model.hist.weight]["sum"][5])

# bags of other shapes: 2-D input, mean mode, include_last_offset, an empty bag
mean_bag = nn.EmbeddingBag.from_pretrained(model.hist.weight.detach(), mode="mean")
print(mean_bag(torch.tensor([[3, 5], [0, 9]])), mean_bag.weight.requires_grad)
last = F.embedding_bag(torch.tensor([1, 2, 4, 5]), model.hist.weight, torch.tensor([0, 2, 2, 4]),
                       mode="sum", include_last_offset=True)
print(last, last.grad_fn.name())
for bad in (torch.tensor([1, 3]), torch.tensor([0, 20])):
    try:
        model.hist(flat, bad)
    except RuntimeError as e:
        print("RuntimeError", e)
try:
    model.hist(flat.view(2, -1), offsets)
except ValueError as e:
    print("ValueError", e)
freq = nn.Embedding(N_ITEMS, DIM, scale_grad_by_freq=True)
freq(flat).sum().backward()
table = shard(freq.weight.detach(), 0).requires_grad_()  # (the item table's rows split)
F.embedding(flat, table, padding_idx=PAD, scale_grad_by_freq=True).mul(recency[:, None]).sum().backward()
print(freq, freq.weight.grad[:, 0], full(table.grad)[:, 0])

# contrastive losses on the towers' outputs
anchor = model.user(flat, offsets, recency)[:4]
pos, neg = model.items(positives[:4]), model.items(torch.tensor([1, 4, 6, 8])).detach()
cos = F.cosine_embedding_loss(anchor, pos, torch.tensor([1, -1, 1, -1]), margin=0.1)
tri = nn.TripletMarginLoss(margin=1.0, p=2, swap=True)(anchor, pos, neg)
print(round(cos.item(), 5), round(tri.item(), 5), cos.grad_fn.name(), tri.grad_fn.name())
sparse = torch.optim.SparseAdam(model.items.parameters(), lr=0.01)
sparse.zero_grad()
(cos + tri).backward()
print(model.proj.bias.grad, model.items.weight.grad.abs().sum(1))
try:
    sparse.step()
except RuntimeError as e:
    print("RuntimeError", e)
try:
    torch.optim.SparseAdam(model.items.parameters(), lr=0.0)
except ValueError as e:
    print("ValueError", e)

# evaluation: top-k over all items, the history masked out, hits against held-out items
with torch.no_grad():
    users = model.user(flat, offsets, recency)
    scores = users @ model.items.weight.t()
    seen = torch.zeros(N_USERS, N_ITEMS).to(W[0])
    bag_of = torch.repeat_interleave(torch.arange(N_USERS), torch.tensor([len(h) for h in history]))
    seen.index_put_((bag_of.to(W[0]), flat.to(W[0])), torch.ones(len(flat)).to(W[0]), accumulate=True)
    scores = scores.to(W[0]).masked_fill(seen > 0, float("-inf"))
top = scores.topk(3, dim=1)
held_out = torch.tensor([[4, 8], [1, 7], [9, 2], [3, 11], [6, 5], [10, 1]]).to(W[0])
hits = (top.indices.unsqueeze(2) == held_out.unsqueeze(1)).any(2)
anywhere = torch.isin(top.indices, held_out[:, 0])
print(top.indices.cpu(), hits.cpu(), anywhere.cpu(), seen._version, hits.any(1).float().mean().item())
ranks = scores.argsort(dim=1, descending=True, stable=True)
order, idx = torch.sort(popularity, descending=True, stable=True)
print(ranks[:2].cpu(), idx, order)
clicks = torch.zeros(N_ITEMS).to(W[1])
clicks.index_add_(0, top.indices.reshape(-1).to(W[1]), torch.ones(18).to(W[1]))
per_user = torch.zeros(N_USERS, dtype=torch.long).scatter_add_(0, bag_of, torch.ones_like(flat))
print(clicks.cpu(), clicks._version, per_user, torch.bincount(top.indices.cpu().reshape(-1)))
picks = torch.multinomial(torch.tensor([0.0, 2.0, 0.0, 1.0]), 4, generator=gen)
print(picks, picks.dtype)
print("done")
