# Distributions users write themselves on torch.distributions' base classes: a Rayleigh
# ExponentialFamily (its entropy and KL from the Bregman divergence of its log-normalizer,
# fitted by maximum likelihood through rsample-free log_prob), a triangular distribution
# with a dependent support (validated samples, expand through _get_checked_instance, a
# KL registered by register_kl), a LogNormal-like TransformedDistribution subclass and an
# Independent subclass (torch's most specific KL rule), Independent[Normal] as an
# annotation; a Distribution without
# arg_constraints (its warning); the deprecated sample_n; register_kl's ambiguity
# warning and its checks; then the Rayleigh on a worker as a reward model's noise.
import warnings
import distgrad as torch  # PyTorch: import torch
D = torch.distributions
C = D.constraints
torch.manual_seed(8)


def caught(fn):
    """fn()'s result and the warnings it gave (category and message), or its error."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 (printed as the user sees it)
            out = f"{type(e).__name__}: {e}"
    return out, [(w.category.__name__, str(w.message)) for w in seen]


class Rayleigh(D.ExponentialFamily):
    arg_constraints = {"scale": C.positive}
    support = C.positive
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, scale, validate_args=None):
        self.scale, = D.utils.broadcast_all(scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Rayleigh, _instance)
        new.scale = self.scale.expand(batch_shape)
        super(Rayleigh, new).__init__(torch.Size(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _natural_params(self):
        return (-0.5 / self.scale ** 2,)

    def _log_normalizer(self, eta):
        return -torch.log(-2 * eta)

    def rsample(self, sample_shape=torch.Size()):
        u = torch.rand(self._extended_shape(sample_shape), dtype=self.scale.dtype,
                       device=self.scale.device)
        return self.scale * torch.sqrt(-2 * torch.log1p(-u))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return torch.log(value) - 2 * torch.log(self.scale) - value ** 2 / (2 * self.scale ** 2)

    @property
    def mean(self):
        return self.scale * (torch.pi / 2) ** 0.5

    @property
    def variance(self):
        return (2 - torch.pi / 2) * self.scale ** 2


speeds = Rayleigh(torch.tensor([1.5, 3.0])).sample((200,))
log_scale = torch.zeros(2, requires_grad=True)
opt = torch.optim.Adam([log_scale], lr=0.1)
for step in range(30):
    model = Rayleigh(log_scale.exp())
    nll = -model.log_prob(speeds).mean()
    opt.zero_grad()
    nll.backward()
    opt.step()
    if step % 10 == 9:
        print("rayleigh fit", step, round(nll.item(), 5), log_scale.exp().detach().numpy().round(4),
              log_scale.grad.numpy().round(5))
ent = model.entropy()
print("entropy", ent.detach().numpy().round(5), ent.grad_fn.name(), model.perplexity().detach().numpy().round(4),
      model.stddev.detach().numpy().round(4), model.batch_shape, model)
kl = D.kl_divergence(model, Rayleigh(torch.tensor([1.0, 1.0])))
kl.sum().backward()
print("bregman kl", kl.detach().numpy().round(5), kl.grad_fn.name(), log_scale.grad.numpy().round(5))
wide = model.expand((3, 2))
print(wide.batch_shape, wide.sample().shape, D.Independent(wide, 2).log_prob(torch.ones(3, 2)).shape,
      D.MixtureSameFamily(D.Categorical(torch.ones(2)), model).log_prob(torch.tensor([1.0, 2.0])).detach().numpy().round(4))
print(caught(lambda: Rayleigh(torch.tensor([-1.0]))))
print(caught(lambda: Rayleigh(torch.tensor(1.0), validate_args=True).log_prob(torch.tensor(-1.0))))
print(caught(lambda: model.mode), caught(lambda: model.cdf(torch.tensor(1.0))))


class Triangle(D.Distribution):
    arg_constraints = {"high": C.positive}
    has_rsample = True

    def __init__(self, high, validate_args=None):
        self.high = torch.as_tensor(high, dtype=torch.get_default_dtype())
        super().__init__(self.high.shape, validate_args=validate_args)

    @C.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return C.interval(0.0, self.high)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Triangle, _instance)
        new.high = self.high.expand(batch_shape)
        super(Triangle, new).__init__(torch.Size(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=torch.Size()):
        return self.high * torch.rand(self._extended_shape(sample_shape)).sqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return torch.log(2 * value / self.high ** 2)

    def cdf(self, value):
        return (value / self.high) ** 2


@D.register_kl(Triangle, Triangle)
def _kl_triangle(p, q):
    return 2 * torch.log(q.high / p.high)


tri = Triangle(torch.tensor([1.0, 4.0]), validate_args=True)
x = tri.rsample((3,))
print("triangle", x.numpy().round(4), tri.log_prob(x).numpy().round(4), tri.cdf(x).numpy().round(4),
      tri.support, tri.expand((2, 2)).batch_shape)
print(caught(lambda: tri.log_prob(torch.tensor([0.5, 4.5]))))
print(caught(lambda: D.kl_divergence(tri, Triangle(torch.tensor([2.0, 4.0])))),
      caught(lambda: D.kl_divergence(tri, D.Uniform(0.0, 5.0))))
print(caught(lambda: tri.entropy()), caught(lambda: tri.mean), caught(lambda: tri.mode))


class NoConstraints(D.Distribution):
    def __init__(self):
        super().__init__(torch.Size([2]))


print(caught(lambda: NoConstraints().batch_shape))
print(caught(lambda: NoConstraints.arg_constraints))


class ScaledLogNormal(D.TransformedDistribution):
    arg_constraints = {"loc": C.real, "scale": C.positive}

    def __init__(self, loc, scale, factor, validate_args=None):
        super().__init__(D.Normal(loc, scale), [D.ExpTransform(), D.AffineTransform(0.0, factor)],
                         validate_args=validate_args)

    @property
    def loc(self):
        return self.base_dist.loc

    @property
    def scale(self):
        return self.base_dist.scale


sl = ScaledLogNormal(torch.tensor([0.0, 0.5]), torch.tensor([1.0, 0.3]), 2.0)
print("scaled lognormal", sl, sl.log_prob(torch.tensor([1.0, 3.0])).numpy().round(5),
      sl.cdf(torch.tensor([1.0, 3.0])).numpy().round(5), caught(lambda: sl.expand((2, 2))))
print(caught(lambda: D.kl_divergence(sl, sl)), caught(lambda: sl.mean))


class Diag(D.Independent):
    pass


DiagonalGaussian = D.Independent[D.Normal]  # (a type alias: torch's Independent is Generic)


def diagonal_gaussian(loc: torch.Tensor, scale: torch.Tensor) -> D.Independent[D.Normal]:
    return D.Independent(D.Normal(loc, scale), 1)


print(diagonal_gaussian(torch.zeros(2), torch.ones(2)).event_shape,
      DiagonalGaussian.__args__[0].__name__, DiagonalGaussian.__origin__.__name__)
p = Diag(D.Normal(torch.zeros(3), 1.0), 1)
q = D.Independent(D.Normal(torch.ones(3), 2.0), 1)
print("diag", p.expand((2,)), D.kl_divergence(p, q), type(p.expand((2,))).__name__)


class Slow(D.Normal):
    pass


class Fast(D.Normal):
    pass


@D.register_kl(Slow, D.Normal)
def _kl_slow(p, q):
    return torch.tensor(1.0)


@D.register_kl(D.Normal, Fast)
def _kl_fast(p, q):
    return torch.tensor(2.0)


print(caught(lambda: D.kl_divergence(Slow(0.0, 1.0), Fast(0.0, 1.0))))
D.register_kl(Slow, Fast)(_kl_slow)
print(caught(lambda: D.kl_divergence(Slow(0.0, 1.0), Fast(0.0, 1.0))))
print(caught(lambda: D.register_kl(int, D.Normal)), caught(lambda: D.register_kl(D.Normal, "Normal")))
print(caught(lambda: D.Normal(torch.zeros(2), 1.0).sample_n(3).shape))
print(caught(lambda: D.Categorical(logits=torch.zeros(4)).sample_n(5)))
print(caught(lambda: model.sample_n(2).shape))

dev = W[0]
rewards = torch.randn(64, device=dev) + Rayleigh(torch.tensor(0.7, device=dev)).sample((64,))
noise_scale = torch.tensor(0.0, device=dev, requires_grad=True)
nopt = torch.optim.SGD([noise_scale], lr=0.05)
for step in range(10):
    noise = Rayleigh(noise_scale.exp())
    draws = noise.rsample((64,))
    loss = ((rewards - draws.mean()) ** 2).mean() + 0.1 * D.kl_divergence(noise, Rayleigh(torch.tensor(1.0, device=dev)))
    nopt.zero_grad()
    loss.backward()
    nopt.step()
print("worker", round(loss.item(), 5), round(noise_scale.item(), 5), draws.device == rewards.device,
      noise.entropy().item())
print("done")
