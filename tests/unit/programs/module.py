# nn.Module's containers, buffers, hooks, state dicts, freezing, and torch.utils.data's
# Dataset, DataLoader, random_split, Subset, ConcatDataset; common losses.
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.utils.data; Dataset, DataLoader, TensorDataset, random_split, Subset, ConcatDataset = D.Dataset, D.DataLoader, D.TensorDataset, D.random_split, D.Subset, D.ConcatDataset
rng = np.random.default_rng(3)
def R(*s): return torch.tensor(rng.standard_normal(s).astype(np.float32))
def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 3)})
        self.scale = nn.Parameter(torch.ones(1))
        self.plist = nn.ParameterList([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.ones(3))])
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("tmp", torch.ones(2), persistent=False)
    def forward(self, x):
        for l in self.layers:
            x = F.silu(l(x))
        self.steps += 1
        return {k: h(x) * self.scale for k, h in self.heads.items()}
m = Block()
def init(mod):
    if isinstance(mod, nn.Linear):
        with torch.no_grad():
            mod.weight.copy_(R(*mod.weight.shape) * 0.3); mod.bias.fill_(0.01)
m.apply(init)
print(list(m.state_dict().keys()))
print([n for n, _ in m.named_modules()])
print([(n, tuple(p.shape)) for n, p in m.named_parameters()])
print([n for n, _ in m.named_buffers()])
print(m)
seen = []
h1 = m.layers[0].register_forward_hook(lambda mod, inp, out: seen.append(("fwd", tuple(out.shape))))
h2 = m.register_forward_pre_hook(lambda mod, inp: seen.append(("pre", len(inp))))
h3 = m.heads["a"].register_full_backward_hook(lambda mod, gi, go: seen.append(("bwd", tuple(go[0].shape), gi[0] is None)))
x = R(5, 4)
out = m(x)
(out["a"].sum() + out["b"].pow(2).mean()).backward()
print(seen, m.steps)
h1.remove(); h2.remove(); h3.remove()
print(torch.nn.utils.parameters_to_vector(m.parameters()).shape)
torch.nn.utils.clip_grad_value_(m.parameters(), 0.05)
print(m.layers[0].weight.grad)
m.layers[0].requires_grad_(False)
print(sum(p.numel() for p in m.parameters() if p.requires_grad))
m.eval(); print(m.training, m.layers[0].training); m.train()
sd = m.state_dict(); m2 = Block(); print(m2.load_state_dict(sd, strict=True)); print(m2.steps)
tryp(lambda: m2.load_state_dict({"scale": torch.ones(2)}, strict=False))
tryp(lambda: m2.load_state_dict({"bogus": torch.ones(2)}))
class DS(Dataset):
    def __len__(self): return 10
    def __getitem__(self, i): return {"x": torch.full((2,), float(i)), "y": i % 3}
dl = DataLoader(DS(), batch_size=4)
for b in dl:
    print(b["x"].shape, b["y"], b["y"].dtype)
tds = TensorDataset(torch.arange(10.).reshape(5, 2), torch.arange(5))
print(len(tds), tds[2])
print([len(s) for s in random_split(range(10), [7, 3], generator=torch.Generator().manual_seed(0))].__len__())
print(len(ConcatDataset([tds, tds])), Subset(tds, [0, 4])[1])
dl2 = DataLoader(tds, batch_size=2, drop_last=True)
print(len(dl2), [b[1].tolist() for b in dl2])
lin = nn.Linear(3, 2)
wn = torch.nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
print([n for n, _ in wn.named_parameters()])
emb = nn.Embedding.from_pretrained(torch.eye(3))
print(emb(torch.tensor([2, 0])), emb.weight.requires_grad)
seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
print(seq[0:2], len(seq), seq[-1])
print(nn.utils.parameters_to_vector(nn.Linear(2, 2).parameters()).shape)
cel = nn.CrossEntropyLoss(ignore_index=-100, reduction="none")
print(cel(R(3, 4), torch.tensor([1, -100, 3])))
print(F.nll_loss(F.log_softmax(R(3, 4), 1), torch.tensor([0, 1, 2]), weight=torch.tensor([1., 2., 3., 4.])))
print(F.binary_cross_entropy_with_logits(R(4), torch.tensor([1., 0., 1., 0.]), pos_weight=torch.tensor(2.)))
print(F.kl_div(F.log_softmax(R(2, 3), 1), F.softmax(R(2, 3), 1), reduction="batchmean"))
print(F.smooth_l1_loss(R(5), R(5), beta=0.5), F.huber_loss(R(5), R(5)), F.l1_loss(R(3), R(3)))
print(F.cosine_similarity(R(2, 3), R(2, 3)), F.normalize(R(2, 3), dim=1), F.pad(R(1, 2), (1, 2), value=-1.))
print(F.interpolate(R(1, 1, 2, 2), scale_factor=2, mode="bilinear", align_corners=False))
print(F.unfold(R(1, 1, 3, 3), 2).shape, F.embedding(torch.tensor([1]), R(3, 2)))
print(nn.utils.rnn.pad_sequence([torch.ones(2), torch.ones(3)], batch_first=True))
print("done")
