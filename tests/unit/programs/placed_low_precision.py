# Low precision with tensors on workers and split over them (distgrad: two workers;
# torch: the CPU): bfloat16 autocast over a sharded batch through batched matmuls and
# their backward, sums, means, norms and a Gram matrix of a bfloat16 batch over its split
# dim, half tensors reshaped (a copy of a transposed one) and moved between workers,
# numpy() of a half result, bfloat16 weights trained with a float32 master copy, and the
# dtypes of the grads that come back. `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)

x = torch.randn(6, 4, requires_grad=True)
for dim in (0, 1):
    x.grad = None
    m = shard(x * 1, dim)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = torch.bmm(m.unsqueeze(0), m.t().unsqueeze(0))
        att = m.t().unsqueeze(0) @ scores.softmax(-1)
        print(scores.dtype, att.dtype, att.shape, scores.grad_fn.name(), att.grad_fn.name())
    (att.float().pow(2).sum() + scores.float().sum()).backward()
    print(x.grad.dtype, x.grad[1], full(att.detach()).float()[0, 1])

# -- reductions of a bfloat16 batch over its split dim: accumulated in float32 -----------------------
feats = (torch.randn(64, 8) * 3).bfloat16().requires_grad_()
sf = shard(feats * 1, 0)
stats = [sf.sum(0), sf.mean(0, keepdim=True), sf.norm(), sf.sum(), sf.mean()]
print([(t.dtype, t.grad_fn.name()) for t in stats])
print([full(t.detach()).float().flatten()[:3] for t in stats])
gram = sf.t() @ sf  # (a sum over the split dim: of the workers' products)
print(gram.dtype, gram.grad_fn.name(), full(gram.detach()).float()[2])
(sum(t.float().sum() * (k + 1) for k, t in enumerate(stats)) + gram.float().mean()).backward()
print(feats.grad.dtype, feats.grad[5].float())

h = torch.randn(3, 4).half().to(W[0])
flat = h.t().reshape(12)
moved = flat.to(W[1]).view(4, 3)
print(flat.dtype, moved.dtype, moved.cpu().numpy().dtype, moved.cpu()[1])
b = torch.randn(4, 3).bfloat16().to(W[1])
prod = (b.t().unsqueeze(0) @ torch.ones(1, 4, 2, dtype=torch.bfloat16).to(W[1]))
print(prod.dtype, prod.to(W[0]).cpu().float()[0, :2])

# -- a bfloat16 model on a worker with a float32 master copy ---------------------------------------
master = nn.Linear(4, 2)
model = nn.Linear(4, 2).to(W[0]).bfloat16()
opt = torch.optim.SGD(master.parameters(), lr=0.5)
data, target = torch.randn(8, 4), torch.randn(8, 2)
for step in range(3):
    with torch.no_grad():
        for p, q in zip(model.parameters(), master.parameters()):
            p.copy_(q.to(W[0]))
    out = model(data.to(W[0]).bfloat16())
    loss = F.mse_loss(out.float(), target.to(W[0]))
    model.zero_grad()
    loss.backward()
    for p, q in zip(model.parameters(), master.parameters()):
        q.grad = p.grad.float().cpu()
    opt.step()
    print(step, round(loss.item(), 3), model.weight.grad.dtype, master.weight.grad.dtype, out.dtype)
print(master.weight.detach(), model.weight.dtype, model.weight.device == torch.device(W[0]))
print("done")
