# Knowledge-graph embeddings as their papers' reference code trains them: TransE with
# entity tables renormed in place by max_norm (norm_type 1 and 2, repeated ids in a batch,
# the version counter it bumps), relation tables with a padding_idx, DistMult with its
# entity rows normalized in place by F.normalize(out=) and two Adagrads, negatives
# corrupted under a seeded generator (randint, randperm, a bernoulli choice of head or
# tail), margin ranking, triplet margin with swap, triplet with a custom distance, cosine
# embedding losses; Adagrad with lr_decay and weight decay; filtered ranking under no_grad;
# a state_dict and a relation table on a worker. (distgrad has no sparse gradients:
# DistMult's tables are dense here.)
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(13)
N_ENT, N_REL, DIM, PAD = 8, 4, 4, 0

triples = torch.tensor([[1, 1, 2], [2, 1, 3], [3, 2, 4], [4, 2, 5], [5, 3, 6], [6, 3, 7], [1, 2, 7], [2, 3, 1]])
known = set(map(tuple, triples.tolist())) | {(1, 1, 5), (3, 2, 1), (2, 1, 7)}  # facts held out


class TransE(nn.Module):
    def __init__(self):
        super().__init__()
        self.ent = nn.Embedding(N_ENT, DIM, max_norm=1.0)
        self.rel = nn.Embedding(N_REL, DIM, padding_idx=PAD)
        nn.init.uniform_(self.ent.weight, -1.0, 1.0)
        nn.init.xavier_uniform_(self.rel.weight[1:])  # (a view of the leaf, in place)

    def forward(self, h, r, t):
        return (self.ent(h) + self.rel(r) - self.ent(t)).norm(p=1, dim=-1)


def corrupt(batch, gen):
    """Replace the head or the tail (a fair coin each) by a random entity."""
    heads = torch.bernoulli(torch.full((len(batch),), 0.5), generator=gen).bool()
    random = torch.randint(1, N_ENT, (len(batch),), generator=gen)
    neg = batch.clone()
    neg[:, 0] = torch.where(heads, random, batch[:, 0])
    neg[:, 2] = torch.where(heads, batch[:, 2], random)
    return neg


model = TransE()
print(model.ent, model.rel, model.rel.weight[PAD], model.ent.weight.norm(dim=1).max() > 1)
print(model.rel.weight._version > 0, model.rel.weight.grad_fn, model.rel.weight.is_leaf)
opt = torch.optim.Adagrad(model.parameters(), lr=0.1, initial_accumulator_value=0.05, eps=1e-8)
gen = torch.Generator().manual_seed(2)
versions = []
for epoch in range(4):
    perm = torch.randperm(len(triples), generator=gen)
    for batch in triples[perm].split(3):
        neg = corrupt(batch, gen)
        before = model.ent.weight._version
        pos_d = model(*batch.unbind(1))
        neg_d = model(*neg.unbind(1))
        versions.append(model.ent.weight._version - before)
        loss = F.margin_ranking_loss(neg_d, pos_d, torch.ones(len(batch)), margin=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(epoch, perm.tolist(), neg.tolist(), round(loss.item(), 5), model.ent.weight.norm(dim=1)[1:4])
print(versions, model.rel.weight.grad[PAD], opt.state[model.ent.weight]["sum"][0], opt.state[model.rel.weight]["step"])

# max_norm renorms only the rows looked up, in place, even under no_grad; repeated ids once
table = torch.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 1.0]])
emb = nn.Embedding.from_pretrained(table.clone(), freeze=False, max_norm=2.0)
with torch.no_grad():
    emb(torch.tensor([0, 0, 1]))
print(emb.weight, emb.weight._version)
print(emb(torch.tensor([[2], [3]], dtype=torch.int32)), emb.weight[2:], emb.weight._version)  # (ids from numpy)
out = F.embedding(torch.tensor([[2, 3], [2, 0]]), emb.weight, max_norm=1.0, norm_type=1.0)
out.sum().backward()
print(out, emb.weight.detach(), emb.weight.grad)
raw = table.clone()
F.embedding(torch.tensor([3]), raw, max_norm=1.5, norm_type=float("inf"))
print(raw[3], raw._version)
padded = nn.Embedding(5, 2, padding_idx=-1)
print(padded.padding_idx, padded.weight[4], padded(torch.tensor([4, 1, 4])).sum(1))
padded(torch.tensor([4, 1, 4])).pow(2).sum().backward()
print(padded.weight.grad[:, 0])

# DistMult, its entity rows touched by a batch, two Adagrads
class DistMult(nn.Module):
    def __init__(self):
        super().__init__()
        self.ent = nn.Embedding(N_ENT, DIM)
        self.rel = nn.Embedding(N_REL, DIM, padding_idx=PAD)

    def forward(self, h, r, t):
        return (self.ent(h) * self.rel(r) * self.ent(t)).sum(-1)


dm = DistMult()
ent_opt = torch.optim.Adagrad(list(dm.ent.parameters()), lr=0.2)
rel_opt = torch.optim.Adagrad(list(dm.rel.parameters()), lr=0.2, lr_decay=0.1, weight_decay=1e-3)
for step in range(3):
    F.normalize(dm.ent.weight.data, dim=1, out=dm.ent.weight.data)  # unit entities, in place
    neg = corrupt(triples, gen)
    scores = dm(*torch.cat([triples, neg]).unbind(1))
    target = torch.cat([torch.ones(len(triples)), torch.zeros(len(neg))])
    loss = F.binary_cross_entropy_with_logits(scores, target)
    ent_opt.zero_grad()
    rel_opt.zero_grad()
    loss.backward()
    grad = dm.ent.weight.grad
    print(step, round(loss.item(), 5), grad.abs().sum(1).nonzero().flatten().tolist(), grad[0], grad[2])
    ent_opt.step()
    rel_opt.step()
print(dm.ent.weight[1], dm.rel.weight[PAD], ent_opt.state[dm.ent.weight]["sum"][1], dm.ent.weight._version)

# the other losses on embedded triples, and their gradients
ent = model.ent.weight.detach().clone().requires_grad_()
anchor = ent[triples[:, 0]] + model.rel.weight.detach()[triples[:, 1]]
positive, negative = ent[triples[:, 2]], ent[corrupt(triples, gen)[:, 2]]
tri = F.triplet_margin_loss(anchor, positive, negative, margin=0.5, p=1, swap=True, reduction="none")
tri_noswap = nn.TripletMarginLoss(margin=0.5, p=1)(anchor, positive, negative)
cos_dist = nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: 1 - F.cosine_similarity(a, b),
                                             margin=0.3, swap=True)
cos_tri = cos_dist(anchor, positive, negative)
pair = F.pairwise_distance(anchor, positive, p=2, eps=1e-6, keepdim=True)
y = torch.tensor([1, -1, 1, -1, 1, -1, 1, -1])
cos = F.cosine_embedding_loss(anchor, negative, y, margin=0.2, reduction="sum")
print(tri, round(tri_noswap.item(), 5), round(cos_tri.item(), 5), pair.shape, round(cos.item(), 5))
(tri.mean() + cos_tri + cos).backward()
print(ent.grad, cos_tri.grad_fn.name(), tri.grad_fn.name())
for loss_fn in (lambda: F.margin_ranking_loss(anchor[:, 0], positive[:, 0], y[:3]),
                lambda: F.cosine_embedding_loss(anchor, positive, y.float()[:5])):
    try:
        loss_fn()
    except RuntimeError as e:
        print("RuntimeError", str(e)[:80])

# filtered ranking: score every tail, push known true ones down, rank the true tail
model.eval()
with torch.no_grad():
    h, r, t = triples.unbind(1)
    all_tails = model(h.unsqueeze(1).expand(-1, N_ENT - 1), r.unsqueeze(1).expand(-1, N_ENT - 1),
                      torch.arange(1, N_ENT).expand(len(triples), -1))
    mask = torch.tensor([[(a, b, c) in known and c != t_ for c in range(1, N_ENT)]
                         for (a, b, t_) in triples.tolist()])
    all_tails[mask] = float("inf")
    true = all_tails.gather(1, (t - 1).unsqueeze(1))
    ranks = (all_tails < true).sum(1) + 1
print(ranks, (1.0 / ranks.float()).mean(), (ranks <= 3).float().mean(), mask.sum(), all_tails.requires_grad)

state = model.state_dict()
print(list(state), state["rel.weight"][PAD])
rel = nn.Embedding(N_REL, DIM, padding_idx=PAD).to(W[1])
rel.load_state_dict({"weight": state["rel.weight"]})
score = (rel(triples[:, 1].to(W[1])) * state["ent.weight"][triples[:, 0]].to(W[1])).sum()
score.backward()
print(round(score.item(), 5), rel.weight.grad.cpu()[:, :2], rel.weight.grad.device == rel.weight.device)
print("done")
