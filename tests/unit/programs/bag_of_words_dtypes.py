# A bag-of-words classifier as a user writes one with Python's types for dtypes: counts in
# `zeros(V, dtype=int)` filled by index_add_, tf-idf weights by `.to(float)` (float64),
# document lengths by `sum(dtype=float)`, limits by iinfo(int) and finfo(float), a
# product of flags with prod(dtype=bool), signs by torch.angle, the errors users meet
# (set_default_dtype(float), type(float), a float count added in place), and a float64
# logistic regression trained on the features with its gradients printed, on a worker too.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(9)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.cpu() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, str(e).split(" (op '")[0])


docs = [[0, 3, 3, 5, 1], [2, 2, 4], [5, 5, 5, 0], [1, 4, 3, 3, 2, 0]]
labels = torch.tensor([1, 0, 1, 0], dtype=float)
vocab = 6
counts = torch.zeros(len(docs), vocab, dtype=int)
for row, words in enumerate(docs):
    counts[row].index_add_(0, torch.tensor(words), torch.ones(len(words), dtype=int))
print("counts", counts, counts.dtype, counts.sum(1, dtype=float), counts.sum(dtype=bool))
df = (counts > 0).sum(0)
idf = torch.log(torch.tensor(len(docs), dtype=float) / df.to(float))
tf = counts.to(float) / counts.sum(1, keepdim=True).to(dtype=float)
features = tf * idf
print("tf-idf", features, features.dtype, idf.to("cpu", float))
print("limits", torch.iinfo(int).max, torch.finfo(float).eps, torch.iinfo(int).bits,
      torch.can_cast(float, int), torch.can_cast(int, float), torch.can_cast(bool, torch.uint8))
print("factories", torch.arange(4, dtype=float), torch.full((2,), 7, dtype=int), torch.eye(2, dtype=bool),
      torch.linspace(0, 1, 3, dtype=float), torch.ones_like(idf, dtype=int), torch.tensor([1.9, -1.9], dtype=int),
      torch.empty(2, dtype=bool).dtype, torch.rand(2, dtype=float).dtype, torch.randint(0, 5, (2,), dtype=int).dtype)
present = counts > 0
print("flags", present.prod(1, dtype=bool), present.all(1), counts.prod(0, dtype=torch.int8),
      counts.cumsum(1, dtype=float)[0], features.softmax(1, dtype=float).sum(1))
print("angles", torch.angle(idf - 0.5), torch.angle(torch.tensor([-3, 0, 2])), torch.angle(-features[0]).dtype)
attempt("set_default_dtype(float)", lambda: torch.set_default_dtype(float))
attempt("type(float)", lambda: counts.type(float))
attempt("counts += tf", lambda: counts.clone().add_(tf))
attempt("idf to int", lambda: idf.to(int))
attempt("int8 counts", lambda: counts.to(torch.int8).sum(dtype=torch.int8))

model = nn.Linear(vocab, 1).to(float)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for step in range(3):
    logits = model(features).squeeze(1)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    opt.zero_grad()
    loss.backward()
    print("step", step, loss.dtype, round(loss.item(), 5), model.weight.grad, model.bias.grad)
    opt.step()
with torch.no_grad():
    print("predicted", (model(features).squeeze(1) > 0).to(int), model.weight.dtype)

dev = W[0]
wc = torch.zeros(vocab, dtype=int, device=dev)
wc.index_add_(0, torch.tensor(docs[3], device=dev), torch.ones(len(docs[3]), dtype=int, device=dev))
print("worker counts", wc.cpu(), wc.to(float).cpu(), wc.sum(dtype=float).cpu())
m = nn.Linear(vocab, 1).to(dev, float)
m.load_state_dict(model.state_dict())
loss = F.binary_cross_entropy_with_logits(m(features.to(dev)).squeeze(1), labels.to(dev))
loss.backward()
print("worker grads", round(loss.item(), 5), m.weight.grad.cpu(), m.weight.dtype)
print("done")
