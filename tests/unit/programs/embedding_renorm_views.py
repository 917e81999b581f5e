# Embeddings as NLP code uses them: max_norm renormalising the looked-up rows of the weight
# in place during forward (its version counts it), padding_idx rows that get no gradient,
# a weight tied to an output projection read through a transpose, scale_grad_by_freq,
# F.embedding on a weight view, the weight on a worker, and lookups of a sharded weight
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(67)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


emb = nn.Embedding(6, 4, padding_idx=0, max_norm=1.0)
with torch.no_grad():
    emb.weight.mul_(3)
ids = torch.tensor([[1, 2, 0], [2, 5, 5]])
v0 = emb.weight._version
out = emb(ids)
print(emb.weight._version - v0, emb.weight.norm(dim=1), out.grad_fn.name())
proj = out @ emb.weight.t()
proj.sum().backward()
print(emb.weight.grad, emb.weight.grad[0])

e2 = nn.Embedding(6, 3, padding_idx=2, scale_grad_by_freq=True)
(e2(ids) * torch.arange(3.)).sum().backward()
print(e2.weight.grad)

base = torch.randn(8, 3, requires_grad=True)
table = base[2:] * 1
rows = F.embedding(torch.tensor([0, 3, 3]), table, max_norm=0.5, norm_type=1.0)
print(table._version, table.abs().sum(1), rows.grad_fn.name())
print(attempt(lambda: rows.sum().backward()))
print(base.grad)

for name, put in (("worker", lambda t: t.to(W[1])), ("shard0", lambda t: shard(t, 0)),
                  ("shard1", lambda t: shard(t, 1))):
    w = put(torch.randn(6, 4)).requires_grad_()
    idx = torch.tensor([[0, 5], [3, 3]])
    looked = F.embedding(idx.to(W[1]) if name == "worker" else idx, w, padding_idx=5)
    print(name, looked.shape, looked.grad_fn.name(), looked.requires_grad)
    (full(looked) ** 2).sum().backward()
    print(full(w.grad))
    with torch.no_grad():
        w[3].zero_()
    print(w._version, full(F.embedding(idx.to(W[1]) if name == "worker" else idx, w))[1])
print("done")
