# The DCGAN tutorial's training step on random "images": a generator of ConvTranspose2d +
# BatchNorm2d + ReLU ending in Tanh, a discriminator of strided Conv2d + BatchNorm2d +
# LeakyReLU ending in Sigmoid, weights_init applied by Module.apply (normal_/constant_ by
# class name), BCELoss with labels by torch.full and fill_, D trained on real then on
# fake.detach() with errors summed, G trained through D on the same fake, two Adams with
# betas=(0.5, 0.999); then the fixed-noise samples in eval mode and BatchNorm's buffers.
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
torch.manual_seed(999)
nz, ngf, ndf, nc = 8, 4, 4, 1


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, input):
        return self.main(input)


netG, netD = Generator(), Discriminator()
netG.apply(weights_init)
netD.apply(weights_init)
criterion = nn.BCELoss()
fixed_noise = torch.randn(4, nz, 1, 1)
real_label, fake_label = 1.0, 0.0
optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
data = torch.rand(12, nc, 16, 16) * 2 - 1
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=6, shuffle=True)
G_losses, D_losses = [], []
for epoch in range(2):
    for i, (real_cpu,) in enumerate(loader):
        netD.zero_grad()
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b_size, nz, 1, 1)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        G_losses.append(errG.item())
        D_losses.append(errD.item())
        print(epoch, i, f"{errD.item():.4f} {errG.item():.4f} {D_x:.4f} {D_G_z1:.4f}/{D_G_z2:.4f}")
netG.eval()
with torch.no_grad():
    fake = netG(fixed_noise).detach().cpu()
print(fake.shape, fake.mean().item(), fake.std().item(), fake.min().item() >= -1)
bn = netG.main[1]
print(bn.running_mean[:4], bn.running_var[:4], bn.num_batches_tracked)
print(netD.main[3].weight.grad[:4], sum(G_losses) / len(G_losses))
grid = torch.cat([f for f in fake], dim=2).squeeze(0)
print(grid.shape, ((grid + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8)[0, :6])
print("done")
