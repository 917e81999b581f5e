# Discrete latents trained through straight-through estimators, as VQ-VAE and Gumbel
# scripts write them: F.gumbel_softmax(hard=True) over logits split over the workers
# (one-hot forward, soft gradient back; seeded), the same trick written by hand as
# `y_hard - y_soft.detach() + y_soft` and as a custom autograd Function whose backward
# passes the gradient through, a vector-quantiser on W[1] whose codebook (a buffer) is
# updated by exponential moving averages with index_add_ into placed accumulators and
# in-place mul_/add_ through a view, `z + (q - z).detach()` carrying the decoder's
# gradient to the encoder, a commitment loss, a hook on the encoder output, and the
# versions, grad_fns and gradients each leaves. `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(71)
B, D, K = 6, 3, 4


class RoundST(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def backward(ctx, g):
        return g


# -- Gumbel-softmax over sharded logits --------------------------------------------------------
logits = torch.randn(B, K, requires_grad=True)
values = torch.arange(K, dtype=torch.float32)
for dim in (0, 1):
    logits.grad = None
    torch.manual_seed(3)
    sample = F.gumbel_softmax(shard(logits * 1.0, dim), tau=0.7, hard=True)
    picked = full(sample)
    print(dim, picked.sum(1), picked.argmax(1), sample.grad_fn.name(), sample._version)
    (picked * values).sum().backward()
    print(logits.grad[0], logits.grad.sum().abs().item() < 1e-5)

torch.manual_seed(3)
soft = F.softmax((logits - torch.empty_like(logits).exponential_().log()) / 0.7, dim=-1)
hard = torch.zeros_like(soft).scatter_(1, soft.argmax(1, keepdim=True), 1.0)
by_hand = hard - soft.detach() + soft
print(hard._version, by_hand.grad_fn.name(), torch.equal(by_hand.detach(), hard))
rounded = RoundST.apply(shard(logits * 2, 0))
full(rounded).sum().backward()
print(rounded.grad_fn.name(), full(rounded.detach())[0], logits.grad[0])


# -- a vector quantiser with an EMA codebook on W[1] ---------------------------------------------
class VQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("codebook", torch.randn(K, D))
        self.register_buffer("counts", torch.ones(K))
        self.register_buffer("sums", self.codebook.clone())

    def forward(self, z):
        dist = torch.cdist(z.detach(), self.codebook)
        idx = dist.argmin(1)
        q = self.codebook.index_select(0, idx)
        if self.training:
            with torch.no_grad():
                self.counts.mul_(0.8).index_add_(0, idx, torch.full_like(idx, 0.2, dtype=torch.float32))
                step = torch.zeros_like(self.sums).index_add_(0, idx, z.detach())
                self.sums.mul_(0.8).add_(step, alpha=0.2)
                self.codebook.view(-1).copy_((self.sums / self.counts.unsqueeze(1)).view(-1))
        return z + (q - z).detach(), q, idx


enc = nn.Linear(5, D).to(W[1])
dec = nn.Linear(D, 5).to(W[1])
vq = VQ().to(W[1])
seen = []
x = torch.randn(B, 5).to(W[1])
opt = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.1)
for it in range(3):
    opt.zero_grad()
    z = enc(x)
    z.register_hook(lambda g: seen.append(round(g.abs().sum().item(), 4)))
    zq, q, idx = vq(z)
    recon = dec(zq)
    commit = F.mse_loss(z, q)
    loss = F.mse_loss(recon, x) + 0.25 * commit
    loss.backward()
    opt.step()
    print(it, round(loss.item(), 4), idx.cpu(), zq.grad_fn.name(), q.requires_grad, vq.codebook._version,
          vq.counts.cpu(), seen[-1])
print(vq.codebook.cpu(), enc.weight.grad.cpu()[0], q.grad_fn)
print("done")
