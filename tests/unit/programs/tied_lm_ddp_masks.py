# A small language model trained as fine-tuning scripts do, under ddp (torch: the module):
# an embedding with padding_idx tied to the output layer, a norm-first encoder layer with a
# causal mask and a padding mask, cross entropy with label smoothing and ignore_index,
# clip_grad_norm_ and an AdamW step, greedy decoding over a window under no_grad, and the
# tied weight's gradient, versions of the plain tensors and the padding row kept at zero.
# `ddp` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(33)
V, D, PAD = 11, 8, 0


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=PAD)
        self.block = nn.TransformerEncoderLayer(D, 2, dim_feedforward=16, dropout=0.0,
                                                batch_first=True, norm_first=True)
        self.out = nn.Linear(D, V, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, ids):
        n = ids.shape[1]
        causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        h = self.block(self.emb(ids), src_mask=causal, src_key_padding_mask=ids == PAD)
        return self.out(h)


net = TinyLM()
model = ddp(net)
print(net.out.weight is net.emb.weight, len(list(net.parameters())), net.emb.weight[PAD].abs().sum().item())
opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.0)
ids = torch.tensor([[3, 5, 7, 2, PAD, PAD], [4, 4, 9, 1, 6, 2], [8, 3, PAD, PAD, PAD, PAD],
                    [1, 2, 3, 4, 5, 6]])
for step in range(2):
    opt.zero_grad()
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1), ignore_index=PAD,
                           label_smoothing=0.1)
    loss.backward()
    total = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    pad_grad = net.emb.weight.grad[PAD].abs().sum().item()
    opt.step()
    print(step, round(loss.item(), 5), round(total.item(), 5), pad_grad, logits.shape)
print(net.emb.weight[PAD].abs().sum().item() < 1e-6, net.out.weight.grad is net.emb.weight.grad)
state = opt.state[net.emb.weight]
print(sorted(state), state["step"].item(), state["exp_avg"].shape)


def next_token(prefix):
    return model(prefix)[:, -1].argmax(-1)


with torch.no_grad():
    seq = ids[:2, :3].clone()
    for _ in range(2):
        seq = torch.cat([seq, next_token(seq[:, -3:]).unsqueeze(1)], dim=1)  # (a window)
print(seq.tolist(), seq.dtype, seq._version, seq.requires_grad)
probe = ids[:1, :4].clone()
out = net(probe)
print(out.grad_fn.name(), out.requires_grad, probe._version)
try:
    net(torch.tensor([[V]]))
except Exception as e:
    print(type(e).__name__, str(e).splitlines()[0])
print("done")
