# A padded-sequence classifier on nn.TransformerEncoder trained under DistributedDataParallel
# (`ddp`): key-padding masks, masked mean pooling, seeded dropout, Adam; then its state_dict
# loaded into a copy on a worker (`W`) for inference and a compiled prediction step
# (`compiled`); `full` gathers. The runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(0)
V, D = 10, 8


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        layer = nn.TransformerEncoderLayer(D, 2, 16, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(D, 3)

    def forward(self, tok):
        pad = tok == 0
        h = self.enc(self.emb(tok), src_key_padding_mask=pad)
        h = h.masked_fill(pad[..., None], 0).sum(1) / (~pad).sum(1, keepdim=True)
        return self.out(h)


net = Classifier()
model = ddp(net)
tok = torch.randint(1, V, (6, 7))
tok[1, 4:] = 0
tok[3, 2:] = 0
y = torch.tensor([0, 1, 2, 0, 1, 2])
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(3):
    torch.manual_seed(step)
    loss = F.cross_entropy(model(tok), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5))
print(full(net.out.bias.detach()), full(net.enc.layers[0].self_attn.in_proj_weight.grad)[:2, :3])
model.eval()
with torch.no_grad():
    print(full(model(tok)))
placed = Classifier().to(W[0])
placed.load_state_dict({k: full(v) for k, v in net.state_dict().items()})
placed.eval()
with torch.no_grad():
    print(placed(tok.to(W[0])).cpu())


@compiled
def predict(t):
    with torch.no_grad():
        return placed(t).argmax(-1)


tw = tok.to(W[0])
print(predict(tw).cpu(), predict(tw).cpu())
print("done")
