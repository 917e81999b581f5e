# The spatial-transformer tutorial in small: a localization net (conv, max-pool, ReLU,
# a regressor whose last Linear starts at the identity transform by .data writes) giving
# theta for F.affine_grid, the input resampled by F.grid_sample (bilinear and nearest,
# zeros/border/reflection padding, align_corners both ways), a classifier on top, a few
# SGD steps with nll_loss, then theta's and the image's gradients through the sampler.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)


class STN(nn.Module):
    def __init__(self):
        super().__init__()
        self.localization = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3), nn.MaxPool2d(2, stride=2), nn.ReLU(True),
            nn.Conv2d(4, 6, kernel_size=3), nn.ReLU(True))
        self.fc_loc = nn.Sequential(nn.Linear(6 * 2 * 2, 8), nn.ReLU(True), nn.Linear(8, 3 * 2))
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))
        self.conv = nn.Conv2d(1, 5, kernel_size=3)
        self.fc = nn.Linear(5 * 4 * 4, 3)

    def stn(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 6 * 2 * 2)
        theta = self.fc_loc(xs).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False), theta

    def forward(self, x):
        x, theta = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv(x), 2))
        x = x.flatten(1)
        return F.log_softmax(self.fc(F.dropout(x, 0.2, self.training)), dim=1), theta


model = STN()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
data, target = torch.rand(6, 1, 10, 10), torch.tensor([0, 1, 2, 0, 1, 2])
for step in range(5):
    model.train()
    opt.zero_grad()
    out, theta = model(data)
    loss = F.nll_loss(out, target)
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), model.fc_loc[2].bias.grad.abs().sum().item())
model.eval()
with torch.no_grad():
    out, theta = model(data)
    pred = out.argmax(dim=1, keepdim=True)
    print(pred.eq(target.view_as(pred)).sum().item(), theta[0])
    warped, _ = model.stn(data)
    print(warped.shape, warped.mean().item(), (warped - data).abs().max().item())

img = torch.rand(2, 2, 5, 4, requires_grad=True)
angle = torch.tensor([0.3, -0.5], requires_grad=True)
scale = torch.tensor([0.9, 1.2], requires_grad=True)
cos, sin = angle.cos() * scale, angle.sin() * scale
zeros = torch.zeros_like(angle)
theta = torch.stack([torch.stack([cos, -sin, zeros + 0.1], 1), torch.stack([sin, cos, zeros], 1)], 1)
for mode, pad, corners in (("bilinear", "zeros", False), ("bilinear", "border", True),
                           ("bilinear", "reflection", False), ("nearest", "zeros", True)):
    grid = F.affine_grid(theta, (2, 2, 3, 6), align_corners=corners)
    out = F.grid_sample(img, grid, mode=mode, padding_mode=pad, align_corners=corners)
    g_img, g_angle, g_scale = torch.autograd.grad((out ** 2).sum(), (img, angle, scale), retain_graph=True)
    print(mode, pad, corners, out.shape, round(out.sum().item(), 5), g_img.abs().sum().item(),
          g_angle, g_scale)
grid = F.affine_grid(theta, (2, 2, 3, 6), align_corners=False)
grid.retain_grad()
F.grid_sample(img, grid, align_corners=False).sum().backward()
print(grid.grad.shape, grid.grad[0, 0], angle.grad, img.grad.sum())
print("done")
