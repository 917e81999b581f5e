# A translation-style seq2seq on nn.Transformer: padded batches with key-padding masks,
# a causal target mask from generate_square_subsequent_mask, CrossEntropyLoss with
# ignore_index and label smoothing, a warmup (Noam) LambdaLR, and greedy decoding that
# grows the target one token at a time under inference_mode.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(7)
PAD, BOS, EOS, V, D = 0, 1, 2, 12, 16


class Translator(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, D, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(V, D, padding_idx=PAD)
        self.pos = nn.Parameter(torch.zeros(1, 16, D))
        self.core = nn.Transformer(d_model=D, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                   dim_feedforward=32, dropout=0.1, batch_first=True)
        self.out = nn.Linear(D, V)

    def embed(self, emb, tokens):
        return emb(tokens) * math.sqrt(D) + self.pos[:, :tokens.size(1)]

    def forward(self, src, tgt):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
        h = self.core(self.embed(self.src_emb, src), self.embed(self.tgt_emb, tgt),
                      tgt_mask=tgt_mask, src_key_padding_mask=src == PAD,
                      tgt_key_padding_mask=tgt == PAD, memory_key_padding_mask=src == PAD)
        return self.out(h)


def make_batch(n):
    lengths = torch.randint(3, 7, (n,))
    src = torch.full((n, 7), PAD)
    tgt = torch.full((n, 9), PAD)
    for i, L in enumerate(lengths.tolist()):
        seq = torch.randint(3, V, (L,))
        src[i, :L] = seq
        tgt[i, 0], tgt[i, 1:L + 1], tgt[i, L + 1] = BOS, seq.flip(0), EOS
    return src, tgt


model = Translator()
print(sum(p.numel() for p in model.parameters()), model.core.encoder.layers[0].self_attn.in_proj_weight.shape)
opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: D ** -0.5 * min((s + 1) ** -0.5, (s + 1) * 4 ** -1.5))
crit = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
src, tgt = make_batch(6)
print(src.tolist()[0], tgt.tolist()[0])
for step in range(6):
    model.train()
    logits = model(src, tgt[:, :-1])
    loss = crit(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    tokens = (tgt[:, 1:] != PAD).sum().item()
    print(step, round(loss.item(), 4), tokens, round(sched.get_last_lr()[0], 6))
print(model.out.bias.detach())
print(model.src_emb.weight.grad[PAD].abs().sum().item(), model.pos.grad.shape)

model.eval()
with torch.inference_mode():
    out = torch.full((2, 1), BOS)
    for _ in range(8):
        logits = model(src[:2], out)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out = torch.cat([out, nxt], dim=1)
    print(out.tolist(), out.is_inference(), logits.softmax(-1)[:, -1].max(-1).values)
print("done")
