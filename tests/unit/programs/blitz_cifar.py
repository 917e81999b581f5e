# "Deep Learning with PyTorch: A 60 Minute Blitz" on random data: its tensor basics (the
# numpy bridge both ways, in-place adds, slicing writes), its autograd page (Q = 3a^3 - b^2
# with an external gradient, freezing a layer), its "Neural Networks" page (the LeNet whose
# loss.grad_fn chain it walks, a manual SGD update through .data) and its CIFAR classifier,
# trained on a worker with the per-class accuracy the tutorial prints.
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F, optim = torch.nn, torch.nn.functional, torch.optim
torch.manual_seed(0)

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
x_np = torch.from_numpy(np.array(data))
x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
print(x_ones, x_rand, x_np.dtype, torch.equal(x_data, x_np))
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}", f"Datatype of tensor: {tensor.dtype}", f"Device: {tensor.device}")
tensor = torch.ones(4, 4)
print(f"First row: {tensor[0]}", f"First column: {tensor[:, 0]}", f"Last column: {tensor[..., -1]}")
tensor[:, 1] = 0
t1 = torch.cat([tensor, tensor, tensor], dim=1)
y1, y2 = tensor @ tensor.T, tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
z1, z3 = tensor * tensor, torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
agg = tensor.sum()
print(t1.shape, y3, torch.equal(y1, y2), z3.equal(z1), agg.item(), type(agg.item()))
tensor.add_(5)
t = torch.ones(5)
n = t.numpy()
t.add_(1)
print(tensor, f"t: {t}", f"n: {n}")
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t}", f"n: {n}")

a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
Q = 3 * a**3 - b**2
Q.backward(gradient=torch.tensor([1., 1.]))
print(9 * a**2 == a.grad, -2 * b == b.grad, Q.grad_fn)
x, y, z = torch.rand(5, 5), torch.rand(5, 5), torch.rand((5, 5), requires_grad=True)
print(f"Does `a` require gradients?: {(x + y).requires_grad}", (x + z).requires_grad)


class Net(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5)
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
        return self.fc3(F.relu(self.fc2(f5)))


net = Net()
print(net)
params = list(net.parameters())
print(len(params), params[0].size())
input = torch.randn(1, 1, 32, 32)
out = net(input)
print(out)
net.zero_grad()
out.backward(torch.randn(1, 10))
output = net(input)
target = torch.randn(10).view(1, -1)
criterion = nn.MSELoss()
loss = criterion(output, target)
print(loss, loss.grad_fn, loss.grad_fn.next_functions[0][0],
      loss.grad_fn.next_functions[0][0].next_functions[0][0])
net.zero_grad()
print("conv1.bias.grad before backward", net.conv1.bias.grad)
loss.backward()
print("conv1.bias.grad after backward", net.conv1.bias.grad)
for f in net.parameters():
    f.data.sub_(f.grad.data * 0.01)
optimizer = optim.SGD(net.parameters(), lr=0.01)
optimizer.zero_grad()
loss = criterion(net(input), target)
loss.backward()
optimizer.step()
print(round(loss.item(), 5), net.fc3.bias)

classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
images = torch.rand(8, 3, 32, 32).sub(0.5).div(0.5)
labels = torch.randint(0, 10, (8,))
trainloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                          batch_size=4, shuffle=True, num_workers=0)
dataiter = iter(trainloader)
imgs, lbls = next(dataiter)
print(" ".join(f"{classes[lbls[j]]:5s}" for j in range(4)), imgs.shape, imgs.dtype)
device = W[0]
net = Net(3).to(device)
print(net.conv1.weight.shape)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
for epoch in range(2):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels_ = data[0].to(device), data[1].to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels_)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if i % 2 == 1:
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 2:.3f}")
            running_loss = 0.0
PATH = None
correct, total = 0, 0
correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}
with torch.no_grad():
    for data in torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=8):
        imgs, lbls = data[0].to(device), data[1].to(device)
        outputs = net(imgs)
        _, predicted = torch.max(outputs.data, 1)
        total += lbls.size(0)
        correct += (predicted == lbls).sum().item()
        for label, prediction in zip(lbls, predicted):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
print(f"Accuracy of the network on the 8 test images: {100 * correct // total} %", predicted.dtype)
for classname, correct_count in correct_pred.items():
    if total_pred[classname]:
        print(f"Accuracy for class: {classname:5s} is {100 * float(correct_count) / total_pred[classname]:.1f} %")
print(net.fc3.weight.grad.shape, net.fc3.bias.grad.cpu(), outputs.grad_fn)
print("done")
