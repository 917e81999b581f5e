# Random ops on placed and sharded activations, recomputed by checkpoints: dropout (and
# F.dropout in place) on shards inside a checkpoint with preserve_rng_state on and off,
# rand_like/randn_like/bernoulli of sharded tensors, the generator's state saved and
# restored around them, and a checkpointed block on a worker (distgrad: two workers;
# torch: the CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
ckpt = torch.utils.checkpoint.checkpoint
torch.manual_seed(73)

x = torch.randn(6, 4, requires_grad=True)


def block(t):
    h = F.dropout(t * 2, 0.5, training=True)
    F.dropout(h, 0.25, training=True, inplace=True)
    return h.tanh()


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    for preserve in (True, False):
        torch.manual_seed(5)
        y = ckpt(block, put(x * 1), use_reentrant=False, preserve_rng_state=preserve)
        mask = full(y.detach()) != 0
        full(y).sum().backward()
        print(name, preserve, mask.sum().item(), (x.grad != 0).sum().item(),
              torch.equal(x.grad != 0, mask) if preserve else "-")
        x.grad = None

torch.manual_seed(9)
s = shard(torch.zeros(6, 4), 0)
state = torch.get_rng_state()
r1 = full(torch.rand_like(s))
n1 = full(torch.randn_like(s))
torch.set_rng_state(state)
r2 = full(torch.rand_like(s))
print(torch.equal(r1, r2), r1[0], n1[5])
b = full(torch.bernoulli(shard(torch.full((6, 4), 0.3), 1)))
print(b.sum(), b.dtype, torch.rand(2))
print("done")
