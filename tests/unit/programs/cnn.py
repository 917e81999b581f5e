# An image classifier's loop: augmentation with tensor ops (flips by index, random crops
# by randint), BatchNorm2d/Dropout2d/MaxPool/AdaptiveAvgPool, label smoothing, accuracy
# and a confusion matrix by bincount, train/eval switches and a best-model copy.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)
net = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout2d(0.2),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
images, labels = torch.rand(16, 3, 12, 12), torch.randint(0, 4, (16,))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
crit = nn.CrossEntropyLoss(label_smoothing=0.1)
best, best_acc = None, -1.0
for epoch in range(3):
    net.train()
    perm = torch.randperm(16)
    for i in range(0, 16, 8):
        idx = perm[i:i + 8]
        xb, yb = images[idx], labels[idx]
        flip = torch.rand(8) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        dx, dy = torch.randint(0, 3, (2,)).tolist()
        xb = F.pad(xb, (1, 1, 1, 1), mode="reflect")[:, :, dy:dy + 12, dx:dx + 12]
        out = net(xb)
        loss = crit(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(images).argmax(1)
        acc = (pred == labels).float().mean().item()
        conf = torch.bincount(labels * 4 + pred, minlength=16).reshape(4, 4)
    print(epoch, round(loss.item(), 5), acc, conf.tolist())
    if acc > best_acc:
        best_acc, best = acc, copy.deepcopy(net.state_dict())
print(net[1].running_mean, net[1].running_var, net[1].num_batches_tracked)
net.load_state_dict(best)
print(best_acc, net[10].bias)
print("done")
