# A seeded program: manual_seed, randn, default layer init, dropout, a shuffling
# DataLoader, Generators and RNG state: torch's numbers.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(0)
x = torch.randn(5, 3, requires_grad=True)
print(x)
model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
print(model[0].weight, model[3].bias)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
data = torch.utils.data.TensorDataset(torch.randn(20, 3), torch.randint(0, 2, (20,)))
loader = torch.utils.data.DataLoader(data, batch_size=5, shuffle=True)
for epoch in range(2):
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    print(epoch, loss.item())
print(torch.rand(3), torch.randint(0, 10, (4,)), torch.randperm(6), torch.normal(0.0, 1.0, (3,)))
conv = nn.Conv2d(2, 3, 3); lstm = nn.LSTM(3, 4); emb = nn.Embedding(5, 3)
print(conv.weight.flatten()[:5], lstm.weight_hh_l0.flatten()[:5], emb.weight[0])
g = torch.Generator().manual_seed(42)
print(torch.randn(4, generator=g), torch.rand(2, 2, generator=g))
print(torch.distributions.Normal(0.0, 1.0).sample((3,)), torch.bernoulli(torch.full((5,), 0.5)))
s = torch.get_rng_state(); a = torch.randn(3); torch.set_rng_state(s); print(torch.equal(a, torch.randn(3)))
print("done")
