# The "Neural Networks" tutorial's LeNet, then a training loop over a DataLoader, a
# save/load of its state dict and an evaluation.
import os, tempfile
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F, optim = torch.nn, torch.nn.functional, torch.optim
TensorDataset, DataLoader = torch.utils.data.TensorDataset, torch.utils.data.DataLoader
rng = np.random.default_rng(0)
def R(*s): return torch.tensor(rng.standard_normal(s).astype(np.float32))
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
    def forward(self, input):
        c1 = F.relu(self.conv1(input))
        s2 = F.max_pool2d(c1, (2, 2))
        c3 = F.relu(self.conv2(s2))
        s4 = F.max_pool2d(c3, 2)
        s4 = torch.flatten(s4, 1)
        f5 = F.relu(self.fc1(s4))
        f6 = F.relu(self.fc2(f5))
        output = self.fc3(f6)
        return output
net = Net()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(R(*p.shape) * 0.1)
print(net)
params = list(net.parameters())
print(len(params))
print(params[0].size())
input = R(1, 1, 32, 32)
out = net(input)
print(out)
net.zero_grad()
out.backward(R(1, 10))
output = net(input)
target = R(10).view(1, -1)
criterion = nn.MSELoss()
loss = criterion(output, target)
print(loss)
print(loss.grad_fn)
print(loss.grad_fn.next_functions[0][0])
print(loss.grad_fn.next_functions[0][0].next_functions[0][0])
net.zero_grad()
print('conv1.bias.grad before backward')
print(net.conv1.bias.grad)
loss.backward()
print('conv1.bias.grad after backward')
print(net.conv1.bias.grad)
optimizer = optim.SGD(net.parameters(), lr=0.01)
optimizer.zero_grad()
output = net(input)
loss = criterion(output, target)
loss.backward()
optimizer.step()
print(net.fc3.bias)
# training loop
X = R(64, 1, 32, 32); Y = torch.tensor(rng.integers(0, 10, 64))
loader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=False)
crit = nn.CrossEntropyLoss()
opt = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
for epoch in range(2):
    running_loss = 0.0
    for i, data in enumerate(loader, 0):
        inputs, labels = data
        opt.zero_grad()
        outputs = net(inputs)
        loss = crit(outputs, labels)
        loss.backward()
        opt.step()
        running_loss += loss.item()
    print(f'[{epoch + 1}] loss: {running_loss / 4:.6f}')
path = os.path.join(tempfile.mkdtemp(), 'net.pth')
torch.save(net.state_dict(), path)
net2 = Net()
net2.load_state_dict(torch.load(path, weights_only=True))
net2.eval()
correct = 0; total = 0
with torch.no_grad():
    for inputs, labels in loader:
        outputs = net2(inputs)
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
print(correct, total, type(correct))
print({k: v.shape for k, v in net2.state_dict().items()})
print(sum(p.numel() for p in net.parameters() if p.requires_grad))
print("done")
