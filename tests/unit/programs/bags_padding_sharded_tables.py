# A click-through model as recommender tutorials write it, with its tables split and placed:
# an item table split over the workers by rows (`shard`) read by nn.Embedding with a
# padding_idx (the padding row's gradient stays zero; torch's from_pretrained with
# freeze=False), users' histories as bags (EmbeddingBag mean/sum with offsets and
# per_sample_weights, padding_idx inside bags) on a worker (`W`), a dot-product score and
# BCE-with-logits, Adagrad and SGD with momentum stepping the tables; the padding row
# written through a view under no_grad (versions, the view's base), a row's gradient
# hooked, and torch's errors for offsets that do not start at 0 and out-of-range ids.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(31)
N_ITEMS, N_USERS, D = 9, 4, 4

items = nn.Embedding(N_ITEMS, D, padding_idx=0)
items.weight = nn.Parameter(shard(items.weight.detach(), 0))
history = nn.EmbeddingBag(N_ITEMS, D, mode="mean", padding_idx=0).to(W[1])
users = nn.Embedding.from_pretrained(torch.randn(N_USERS, D), freeze=False)
print(items.padding_idx, full(items.weight)[0].tolist(), users.weight.requires_grad, users.weight.is_leaf)
opt = torch.optim.Adagrad([items.weight, users.weight], lr=0.1)
opt_bag = torch.optim.SGD(history.parameters(), lr=0.2, momentum=0.9)
bags = torch.tensor([3, 0, 5, 2, 0, 0, 7, 8, 1])
offsets = torch.tensor([0, 3, 4, 6])
user_ids = torch.tensor([0, 1, 2, 3])
target_items = torch.tensor([[2, 0], [5, 6], [0, 1], [8, 3]])
clicks = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
seen = []
items.weight.register_hook(lambda g: seen.append(round(full(g)[0].abs().sum().item(), 6)))
for step in range(3):
    h = history(bags.to(W[1]), offsets.to(W[1]))
    u = users(user_ids) + h.to("cpu")
    t = items(target_items)
    score = (t * u.unsqueeze(1)).sum(-1)
    loss = F.binary_cross_entropy_with_logits(score, clicks)
    opt.zero_grad()
    opt_bag.zero_grad()
    loss.backward()
    opt.step()
    opt_bag.step()
    print(step, round(loss.item(), 5), type(t.grad_fn).__name__, type(h.grad_fn).__name__,
          full(items.weight.grad)[0].tolist(), round(history.weight.grad[0].abs().sum().item(), 6))
print(seen, round(full(items.weight).sum().item(), 4), round(history.weight.sum().item(), 4))
print(items.weight._version, history.weight._version, users.weight._version)

weighted = nn.EmbeddingBag(N_ITEMS, D, mode="sum").to(W[0])
w = torch.tensor([0.5, 1.0, 2.0, 1.0, 0.1, 0.3]).to(W[0]).requires_grad_()
out = weighted(torch.tensor([1, 2, 2, 4, 5, 1]).to(W[0]), torch.tensor([0, 2, 5]).to(W[0]),
               per_sample_weights=w)
out.sum().backward()
print(out.shape, [round(v, 5) for v in w.grad.tolist()], weighted.weight.grad[2].tolist() == [3.0] * D)

with torch.no_grad():
    pad = items.weight[0]
    pad.fill_(0.5)
print(pad._is_view(), pad._base is items.weight, items.weight._version, full(items.weight)[0].tolist())
emb = items(torch.tensor([0, 3]))
emb.sum().backward()
print(full(items.weight.grad)[0].tolist(), round(full(items.weight.grad)[3].sum().item(), 4))
try:
    history(bags.to(W[1]), torch.tensor([1, 3]).to(W[1]))
except (RuntimeError, ValueError) as e:
    print(type(e).__name__, e)
try:
    items(torch.tensor([1, N_ITEMS]))
except IndexError as e:
    print(type(e).__name__, e)
try:
    weighted(torch.tensor([[1, 2], [3, 4]]).to(W[0]), torch.tensor([0, 1]).to(W[0]))
except ValueError as e:
    print(type(e).__name__, e)
print("done")
