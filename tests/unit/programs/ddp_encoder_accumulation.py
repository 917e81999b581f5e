# A sequence classifier on nn.TransformerEncoderLayer trained data-parallel (`ddp`) with
# gradient accumulation as large-batch scripts write it: `loss / k` per micro-batch, no_sync
# for all but the last, one clip_grad_norm_ and one step per k micro-batches, checked against
# the same model trained on the driver with the whole batch; a key padding mask per
# micro-batch, masked mean pooling, label smoothing, a warmup LambdaLR, AdamW; then the
# trained weights' state_dict loaded back into the reference (distgrad: DDP over two
# workers; torch: the module itself). `ddp` and `full` are the runner's (test_programs.py).
import contextlib
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(89)
V, D, H, L, C, K = 9, 8, 2, 5, 3, 2


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        self.enc = nn.TransformerEncoderLayer(D, H, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(D, C)

    def forward(self, ids):
        pad = ids == 0
        h = self.enc(self.emb(ids), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.head((h * keep).sum(1) / keep.sum(1))


ref = Classifier()
model = copy.deepcopy(ref)
wrapped = ddp(model)
ids = torch.randint(1, V, (8, L))
ids[1, 3:] = 0
ids[4, 2:] = 0
ids[6, 4:] = 0
labels = torch.randint(0, C, (8,))


def setup(params):
    opt = torch.optim.AdamW(params, lr=0.02, weight_decay=0.01)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 2))


opt, sched = setup(wrapped.parameters())
ropt, rsched = setup(ref.parameters())
for step in range(2):
    batch, lab = ids[4 * step:4 * step + 4], labels[4 * step:4 * step + 4]
    for j, (mb, ml) in enumerate(zip(batch.chunk(K), lab.chunk(K))):
        ctx = wrapped.no_sync() if j < K - 1 and hasattr(wrapped, "no_sync") else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(wrapped(mb), ml, label_smoothing=0.1) / K
            loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(wrapped.parameters(), 1.0)
    rloss = F.cross_entropy(ref(batch), lab, label_smoothing=0.1)
    rloss.backward()
    rnorm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
    print(step, round(loss.item() * K, 4), round(rloss.item(), 4), full(norm).item() - rnorm.item() < 1e-5,
          sched.get_last_lr())
    print(torch.allclose(full(model.head.weight.grad), ref.head.weight.grad, atol=1e-5),
          torch.allclose(full(model.emb.weight.grad), ref.emb.weight.grad, atol=1e-5),
          full(model.emb.weight.grad)[0].abs().sum().item())
    for o, s in ((opt, sched), (ropt, rsched)):
        o.step()
        s.step()
        o.zero_grad()

w = model.enc.self_attn.in_proj_weight
print(torch.allclose(full(w).detach(), ref.enc.self_attn.in_proj_weight.detach(), atol=1e-5),
      w.is_leaf, w.requires_grad, w.grad)
model.eval()
ref.eval()
with torch.no_grad():
    out, rout = full(wrapped(ids)), ref(ids)
print(torch.allclose(out, rout, atol=1e-5), out.argmax(1), out.requires_grad)
sd = {k: full(v).detach().clone() for k, v in model.state_dict().items()}
print(len(sd), list(sd)[:4], ref.load_state_dict(sd))
print("done")
