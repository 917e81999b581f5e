# A tiny U-Net for segmentation: GroupNorm conv blocks, max-pool down, ConvTranspose2d and
# bilinear F.interpolate up, skip connections by cat, a Dice + BCE loss on a binary mask,
# InstanceNorm on the input, Adam with ReduceLROnPlateau, IoU in eval, and
# channels_last input.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(43)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(2, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(2, cout), nn.SiLU())


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.InstanceNorm2d(1, affine=True)
        self.down1, self.down2 = block(1, 4), block(4, 8)
        self.bottom = block(8, 8)
        self.up2 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.dec2 = block(16, 4)
        self.dec1 = block(8, 4)
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        x = self.norm(x)
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(b), d2], dim=1))
        u1 = F.interpolate(u2, scale_factor=2, mode="bilinear", align_corners=False)
        return self.out(self.dec1(torch.cat([u1, d1], dim=1)))


def dice_loss(logits, target, eps=1.0):
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2, 3))
    return 1 - ((2 * inter + eps) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + eps)).mean()


yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
centers = torch.randint(3, 9, (6, 2)).float()
radius = torch.rand(6) * 2 + 2
masks = (((yy - centers[:, 0, None, None]) ** 2 + (xx - centers[:, 1, None, None]) ** 2)
         < radius[:, None, None] ** 2).float().unsqueeze(1)
images = masks * 0.8 + 0.3 * torch.randn(6, 1, 12, 12)
print(masks.shape, masks.sum((1, 2, 3)).tolist())
net = UNet()
opt = torch.optim.Adam(net.parameters(), lr=5e-3)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
for epoch in range(5):
    net.train()
    logits = net(images.contiguous(memory_format=torch.channels_last))
    bce = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=torch.tensor([2.0]))
    loss = bce + dice_loss(logits, masks)
    opt.zero_grad()
    loss.backward()
    opt.step()
    plateau.step(loss.item())
    print(epoch, round(bce.item(), 5), round(loss.item(), 5), opt.param_groups[0]["lr"], logits.shape)
print(net.up2.weight.grad.shape, net.norm.weight.grad, net.dec1[1].bias.grad[:2])
net.eval()
with torch.no_grad():
    pred = net(images).sigmoid() > 0.5
    inter = (pred & masks.bool()).sum((1, 2, 3))
    union = (pred | masks.bool()).sum((1, 2, 3))
    print((inter.float() / union.clamp(min=1)).tolist(), pred.dtype, pred.sum().item())
print("done")
