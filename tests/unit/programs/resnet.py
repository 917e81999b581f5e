# A small ResNet as people write one: BasicBlocks with a 1x1 projection shortcut when the
# shape changes, kaiming_normal_ init and zero-init of each block's last BatchNorm, AdamW
# with no weight decay on norms and biases, OneCycleLR stepped per batch, a TensorDataset
# DataLoader, then eval with top-2 accuracy and a confusion matrix by bincount.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
torch.manual_seed(2)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2)
        self.fc = nn.Linear(16, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


model = ResNet()
decay = [p for n, p in model.named_parameters() if p.ndim > 1]
no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
print(len(decay), len(no_decay), sum(p.numel() for p in model.parameters()))
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                         {"params": no_decay, "weight_decay": 0.0}], lr=3e-3)
images = torch.randn(24, 1, 8, 8)
labels = (images[:, 0, :4].mean((1, 2)) > 0).long() + (images[:, 0, 4:].mean((1, 2)) > 0.3).long()
loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
epochs = 3
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, epochs=epochs, steps_per_epoch=len(loader))
for epoch in range(epochs):
    model.train()
    total, seen = 0.0, 0
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(yb)
        seen += len(yb)
    print(epoch, round(total / seen, 4), [round(g["lr"], 6) for g in opt.param_groups])
print(model.layer1.bn2.weight.detach(), model.layer2.shortcut[1].running_var[:4])
print(model.stem[1].num_batches_tracked.item(), model.layer2.conv1.weight.grad.norm().item())

model.eval()
with torch.no_grad():
    logits = model(images)
    top2 = logits.topk(2, dim=1).indices
    top1_acc = (top2[:, 0] == labels).float().mean().item()
    top2_acc = (top2 == labels[:, None]).any(1).float().mean().item()
    conf = torch.bincount(labels * 3 + logits.argmax(1), minlength=9).view(3, 3)
print(round(top1_acc, 4), round(top2_acc, 4), conf.tolist(), logits.dtype, logits.requires_grad)
print(F.softmax(logits[:3], 1))
print("done")
