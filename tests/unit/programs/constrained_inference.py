# Constrained parameters the way Pyro-style code fits them with torch.distributions: raw
# parameters in the reals mapped by transform_to(Dist.arg_constraints[...]) (Gamma and
# Beta likelihoods fitted by Adam, a Dirichlet's simplex by softmax), the fitted Gamma's
# calibration checked through its cdf; a Hamiltonian Monte Carlo chain over an
# Exponential x Beta x Dirichlet posterior run in the unconstrained space by biject_to
# (the potential with log|det J|, leapfrog steps by autograd.grad, a Metropolis test);
# a user constraint registered with its factory; the errors a missing registration or a
# bad one raises; then the same transform_to fit with its data on a worker.
import math
import distgrad as torch  # PyTorch: import torch
D = torch.distributions
C, biject_to, transform_to = D.constraints, D.biject_to, D.transform_to
torch.manual_seed(5)

rain = D.Gamma(torch.tensor(2.5), torch.tensor(1.5)).sample((60,))
raw = {name: torch.zeros((), requires_grad=True) for name in D.Gamma.arg_constraints}
opt = torch.optim.Adam(raw.values(), lr=0.1)
for step in range(40):
    params = {k: transform_to(D.Gamma.arg_constraints[k])(v) for k, v in raw.items()}
    nll = -D.Gamma(**params).log_prob(rain).mean()
    opt.zero_grad()
    nll.backward()
    opt.step()
    if step % 10 == 9:
        print("gamma fit", step, round(nll.item(), 5), {k: round(v.item(), 4) for k, v in params.items()},
              params["rate"].grad_fn.name(), round(raw["concentration"].grad.item(), 5))
fitted = D.Gamma(**{k: v.detach() for k, v in params.items()})
pit = fitted.cdf(rain.sort().values)
print("pit", pit[:5].numpy().round(4), round((pit - torch.linspace(0, 1, 60)).abs().max().item(), 4),
      fitted.cdf(torch.tensor([0.5, 1.0, 4.0])).numpy().round(5))
conc = params["concentration"]
cdf = D.Gamma(conc, params["rate"]).cdf(torch.tensor(2.0))
print("cdf grad_fn", cdf.grad_fn.name())
try:
    cdf.backward()
except NotImplementedError as e:
    print("NotImplementedError", e)
rate = transform_to(D.Gamma.arg_constraints["rate"])(raw["rate"])
g_rate, = torch.autograd.grad(D.Gamma(conc.detach(), rate).cdf(torch.tensor(2.0)), raw["rate"])
print("d cdf / d raw rate", round(g_rate.item(), 5))

scores = torch.rand(50) * 0.6 + 0.2
beta_raw = torch.zeros(2, requires_grad=True)
to_positive = transform_to(D.Beta.arg_constraints["concentration1"])
print(to_positive, to_positive.bijective, to_positive.domain, to_positive.codomain)
bopt = torch.optim.SGD([beta_raw], lr=0.05, momentum=0.9)
for step in range(25):
    a, b = to_positive(beta_raw).unbind()
    nll = -D.Beta(a, b).log_prob(scores).mean()
    bopt.zero_grad()
    nll.backward()
    bopt.step()
print("beta fit", round(nll.item(), 5), to_positive(beta_raw).detach().numpy().round(4),
      beta_raw.grad.numpy().round(5), to_positive.inv(to_positive(beta_raw)).detach().numpy().round(4))

votes = torch.tensor([12., 30., 8., 50.])
logits = torch.zeros(4, requires_grad=True)
to_simplex, to_simplex_bij = transform_to(C.simplex), biject_to(C.simplex)
print(to_simplex, to_simplex_bij, to_simplex.bijective, to_simplex_bij.bijective,
      to_simplex_bij.inv(torch.tensor([0.1, 0.2, 0.3, 0.4])).numpy().round(5))
for step in range(3):
    p = to_simplex(logits)
    nll = -D.Multinomial(int(votes.sum()), probs=p).log_prob(votes)
    nll.backward()
    with torch.no_grad():
        logits -= 0.01 * logits.grad
        logits.grad = None
    print("simplex", step, round(nll.item(), 4), p.grad_fn.name(), p.detach().numpy().round(4))

# HMC on the unconstrained space: rate ~ Exponential, bias ~ Beta, mix ~ Dirichlet
waits = D.Exponential(torch.tensor(0.7)).sample((20,))
flips = (torch.rand(20) < 0.3).float()
priors = {"rate": D.Exponential(torch.tensor(1.0)), "bias": D.Beta(torch.tensor(2.0), torch.tensor(2.0)),
          "mix": D.Dirichlet(torch.ones(3))}
bijections = {k: biject_to(d.support) for k, d in priors.items()}
print({k: type(t).__name__ for k, t in bijections.items()}, bijections["mix"].domain.event_dim,
      bijections["rate"].codomain)


def potential(z):
    value, log_det = {}, 0.0
    for k, t in bijections.items():
        value[k] = t(z[k])
        log_det = log_det + t.log_abs_det_jacobian(z[k], value[k]).sum()
    log_joint = sum(priors[k].log_prob(value[k]).sum() for k in priors)
    log_joint = log_joint + D.Exponential(value["rate"]).log_prob(waits).sum()
    log_joint = log_joint + D.Bernoulli(probs=value["bias"]).log_prob(flips).sum()
    return -(log_joint + log_det)


z = {k: t.inv(priors[k].mean).clone().requires_grad_() for k, t in bijections.items()}
print("z0", {k: v.detach().numpy().round(4).tolist() for k, v in z.items()})
eps, accepted = 0.05, 0
for it in range(6):
    p0 = {k: torch.randn_like(v) for k, v in z.items()}
    u0 = potential(z)
    grads = dict(zip(z, torch.autograd.grad(u0, list(z.values()))))
    zq = {k: v.detach() for k, v in z.items()}
    pq = {k: p0[k] - 0.5 * eps * grads[k] for k in z}
    for leap in range(5):
        zq = {k: (zq[k] + eps * pq[k]).requires_grad_() for k in z}
        u = potential(zq)
        grads = dict(zip(zq, torch.autograd.grad(u, list(zq.values()))))
        pq = {k: pq[k] - eps * grads[k] for k in z}
    kinetic0 = sum((v ** 2).sum() / 2 for v in p0.values())
    kinetic = sum((v ** 2).sum() / 2 for v in pq.values())
    log_accept = (u0 + kinetic0 - u - kinetic).item()
    if math.log(torch.rand(()).item()) < log_accept:
        z, accepted = zq, accepted + 1
    print("hmc", it, round(u0.item(), 4), round(log_accept, 4), accepted,
          bijections["mix"](z["mix"]).detach().numpy().round(4))
print("posterior draw", {k: t(z[k]).detach().numpy().round(4).tolist() for k, t in bijections.items()})

for c in (C.greater_than(1.0), C.less_than(0.0), C.interval(-1.0, 3.0), C.unit_interval,
          C.interval(torch.tensor(0.0), torch.tensor(1.0)), C.independent(C.positive, 1),
          C.cat([C.positive, C.unit_interval], 0, [2, 1]), C.corr_cholesky):
    t = transform_to(c)
    x = torch.tensor([[0.5, -0.3, 1.2], [0.1, 0.4, -2.0], [0.3, 0.8, -0.6]], requires_grad=True)
    y = t(x)
    jac = t.log_abs_det_jacobian(x, y)
    g, = torch.autograd.grad((y * y).sum() + jac.sum(), x)
    print(c, "->", type(t).__name__, c.check(y).all().item(), tuple(jac.shape),
          round(jac.sum().item(), 4), g.sum().item(), torch.allclose(t.inv(y), x, atol=1e-5))
for reg, name in ((biject_to, "biject_to"), (transform_to, "transform_to")):
    for c in (C.lower_cholesky, C.positive_definite, C.positive_semidefinite, C.boolean,
              C.integer_interval(0, 4), C.real_vector):
        try:
            t = reg(c)
            y = t(torch.tensor([[1.0, 0.5], [-0.3, 0.2]]))
            print(name, c, t, y.numpy().round(4), t.bijective)
        except NotImplementedError as e:
            print(name, "NotImplementedError", e)
print(C.positive_semidefinite.check(torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]])),
      C.positive_definite.check(torch.tensor([[1.0, 1.0], [1.0, 1.0]])), C.positive_semidefinite.event_dim)
print(D.identity_transform, D.transforms.identity_transform(torch.ones(2)), D.identity_transform.bijective)


class AboveMean(C.Constraint):
    def __init__(self, floor):
        self.floor = floor

    def check(self, value):
        return value > self.floor


transform_to.register(AboveMean, lambda c: D.ComposeTransform([D.SoftplusTransform(),
                                                               D.AffineTransform(c.floor, 1.0)]))
print(transform_to(AboveMean(2.0))(torch.tensor([-1.0, 0.0, 3.0])))


@biject_to.register(AboveMean)
def _above_mean(constraint):
    return D.ComposeTransform([D.ExpTransform(), D.AffineTransform(constraint.floor, 1.0)])


print(biject_to(AboveMean(-1.0))(torch.tensor([0.0, 1.0])), _above_mean.__name__)
for bad in (3, "positive", 2.5):
    try:
        transform_to.register(bad, lambda c: None)
    except TypeError as e:
        print("TypeError", e)
try:
    D.constraint_registry.ConstraintRegistry()(C.positive)
except NotImplementedError as e:
    print("NotImplementedError", e)
for base, ndims in ((C.positive, -1), ("positive", 1), (C.positive, 1.0)):
    try:
        transform_to(C.independent(base, ndims))
    except AssertionError as e:
        print("AssertionError", e)

dev = W[1]
obs = (rain * 1.0).to(dev)
raw_w = torch.zeros(2, device=dev, requires_grad=True)
wopt = torch.optim.Adam([raw_w], lr=0.1)
for step in range(20):
    shape, rate = transform_to(C.positive)(raw_w).unbind()
    nll = -D.Gamma(shape, rate).log_prob(obs).mean()
    wopt.zero_grad()
    nll.backward()
    wopt.step()
print("on worker", round(nll.item(), 5), raw_w.grad.cpu().numpy().round(5), shape.device == obs.device,
      D.Gamma(shape, rate).cdf(obs[:3]).detach().cpu().numpy().round(4),
      biject_to(C.simplex)(torch.zeros(3, device=dev)).cpu())
print("done")
