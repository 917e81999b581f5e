# A graph neural network written with scatter ops, as done without PyG: an edge list,
# symmetric degree normalisation by index_add_, GCN-style message passing with
# index_add_ and scatter_add_, a max-aggregating layer by scatter_reduce ("amax",
# include_self=False), node classification on a train mask and a mean pooled readout.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(13)
N, E = 10, 24
src = torch.randint(0, N, (E,))
dst = (src + torch.randint(1, N, (E,))) % N
edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
loops = torch.arange(N).repeat(2, 1)
edge_index = torch.cat([edge_index, loops], dim=1)
row, col = edge_index
deg = torch.zeros(N).index_add_(0, col, torch.ones(col.numel()))
norm = deg[row].rsqrt() * deg[col].rsqrt()
print(edge_index.shape, deg.tolist())


class GCNLayer(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.lin = nn.Linear(cin, cout, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        h = self.lin(x)
        msg = h[row] * norm.unsqueeze(-1)
        out = torch.zeros_like(h).index_add_(0, col, msg)
        return out + self.bias


class MaxLayer(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.msg = nn.Linear(2 * cin, cout)

    def forward(self, x):
        m = F.relu(self.msg(torch.cat([x[col], x[row] - x[col]], dim=-1)))
        index = col.unsqueeze(-1).expand_as(m)
        agg = torch.zeros(N, m.size(1)).scatter_reduce(0, index, m, reduce="amax", include_self=False)
        count = torch.zeros(N, m.size(1)).scatter_add_(0, index, torch.ones_like(m))
        mean = torch.zeros(N, m.size(1)).scatter_reduce(0, index, m, reduce="mean", include_self=False)
        return agg + mean, count[:, 0]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.g1, self.g2, self.mx = GCNLayer(4, 8), GCNLayer(8, 8), MaxLayer(8, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = F.dropout(F.relu(self.g1(x)), 0.2, self.training)
        h = F.relu(self.g2(h))
        h, count = self.mx(h)
        return self.head(h), h.mean(0), count


x = torch.randn(N, 4)
y = torch.randint(0, 3, (N,))
train_mask = torch.zeros(N, dtype=torch.bool)
train_mask[torch.randperm(N)[:6]] = True
net = Net()
opt = torch.optim.Adam(net.parameters(), lr=0.02, weight_decay=5e-4)
for epoch in range(6):
    net.train()
    logits, readout, count = net(x)
    loss = F.cross_entropy(logits[train_mask], y[train_mask])
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(epoch, round(loss.item(), 5), readout.shape)
print(count.tolist(), net.g1.bias.grad, net.mx.msg.weight.grad.abs().sum().item())
net.eval()
with torch.no_grad():
    pred = net(x)[0].argmax(1)
    print(pred.tolist(), (pred[~train_mask] == y[~train_mask]).float().mean().item())
print("done")
