"""Implicit reparameterization gradients, d x / d alpha = -(dF/dalpha)/f at a drawn x (F, f
the cdf and pdf), approximated as torch approximates them, for a standard Gamma draw (ATen's
standard_gamma_grad: a series for x < 0.8, Rice's saddle point expansion for alpha > 8, a
bivariate rational fit otherwise) and for a Dirichlet draw through its Beta marginals
(ATen's dirichlet_grad: series near 0 and 1, a saddle point expansion for large
concentrations, a rational correction otherwise). Written with distgrad ops, so they run
where the draw lives; evaluated in float64, with no gradient of their own (torch has no
second derivative of them either). A Gamma draw is a Function's output whose gradient is
recorded under create_graph up to the implicit gradient's node, which raises as torch's; a
Dirichlet draw is a once-differentiable Function's output, as torch's."""
from __future__ import annotations


import distgrad
from distgrad.autograd.function import Function, once_differentiable

# p/q coefficients of the rational fit, as polynomials in u = log(x/alpha) (rows) that
# make the coefficients of polynomials in v = log(alpha)
_RATIONAL = (
    (0.16009398, -0.094634809, 0.025146376, -0.0030648343,
     1, 0.32668115, 0.10406089, 0.0014179084),
    (0.53487893, 0.1298071, 0.065735949, -0.0015649758,
     0.16639465, 0.020070113, -0.0035938915, -0.00058392623),
    (0.040121004, -0.0065914022, -0.0026286047, -0.0013441777,
     0.017050642, -0.0021309326, 0.00085092367, -1.5247877e-07),
)


def _small_x(alpha, x):
    numer, denom = distgrad.ones_like(x), alpha
    series1, series2 = 1 / alpha, 1 / (alpha * alpha)
    for i in range(1, 6):
        numer = numer * (-x / i)
        denom = denom + 1
        series1 = series1 + numer / denom
        series2 = series2 + numer / (denom * denom)
    pow_x_alpha = x.pow(alpha)
    pdf = x.pow(alpha - 1) * distgrad.exp(-x)
    cdf_alpha = (distgrad.log(x) - distgrad.digamma(alpha)) * pow_x_alpha * series1 \
        - pow_x_alpha * series2
    return _nan_to_zero(-cdf_alpha / pdf)


def _large_alpha(alpha, x):
    near = (1 + 24 * alpha * (1 + 12 * alpha)) * (
        1440 * alpha * alpha + 6 * x * (53 - 120 * x) - 65 * x * x / alpha
        + alpha * (107 + 3600 * x)) / (1244160 * alpha ** 4)
    denom = distgrad.sqrt(8 * alpha)
    term2 = denom / (alpha - x)
    term3 = (x - alpha - alpha * distgrad.log(x / alpha)).pow(-1.5)
    term23 = distgrad.where(x < alpha, term2 - term3, term2 + term3)
    term1 = distgrad.log(x / alpha) * term23 \
        - distgrad.sqrt(2 / alpha) * (alpha + x) / ((alpha - x) * (alpha - x))
    stirling = 1 + 1 / (12 * alpha) * (1 + 1 / (24 * alpha))
    far = -stirling * x * term1 / denom
    return distgrad.where((0.9 * alpha <= x) & (x <= 1.1 * alpha), near, far)


def _rational(alpha, x):
    u, v = distgrad.log(x / alpha), distgrad.log(alpha)
    c = [_RATIONAL[0][i] + u * (_RATIONAL[1][i] + u * _RATIONAL[2][i]) for i in range(8)]
    p = c[0] + v * (c[1] + v * (c[2] + v * c[3]))
    q = c[4] + v * (c[5] + v * (c[6] + v * c[7]))
    return distgrad.exp(p / q)


def standard_gamma_grad(alpha, x):
    """d x/d alpha for standard Gamma(alpha) draws x (torch._standard_gamma_grad)."""
    with distgrad.no_grad():
        a, v = alpha.detach().double(), x.detach().double()
        grad = distgrad.where(v < 0.8, _small_x(a, v),
                              distgrad.where(a > 8.0, _large_alpha(a, v), _rational(a, v)))
        return grad.to(x.dtype)


def _node_named(name: str):
    """Give a Function's node torch's name for the native op it stands for."""
    def rename(function):
        function._backward_cls.__name__ = function._backward_cls.__qualname__ = name
        return function

    return rename


@_node_named("StandardGammaBackward0")
class _StandardGamma(Function):
    """A standard Gamma draw x whose alpha gets g * standard_gamma_grad(alpha, x), as
    torch._standard_gamma's: that product is recorded under create_graph, so its gradient
    reaches _StandardGammaGrad, which (as torch's) has none. The draw comes in a tuple, so
    alpha is the nodes' one input, as torch's native ops have it."""

    @staticmethod
    def forward(ctx, alpha, draw):
        x, = draw
        ctx.save_for_backward(alpha, x)
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        alpha, x = ctx.saved_tensors
        return grad_output * _StandardGammaGrad.apply(alpha, (x,)), None


@_node_named("StandardGammaGradBackward0")
class _StandardGammaGrad(Function):
    @staticmethod
    def forward(ctx, alpha, draw):
        return _finite(standard_gamma_grad(alpha, draw[0]))

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("the derivative for '_standard_gamma_grad' is not implemented.")


def reparameterized_standard_gamma(alpha, x):
    """The draw x with alpha's implicit gradient: x's value, d/d alpha = standard_gamma_grad."""
    if not alpha.requires_grad:
        return x
    return _StandardGamma.apply(alpha, (x,))




# ---- Dirichlet (through Beta marginals) ---------------------------------------------------------

def _beta_grad_alpha_small(x, alpha, beta):
    factor = distgrad.digamma(alpha) - distgrad.digamma(alpha + beta) - distgrad.log(x)
    numer = distgrad.ones_like(x)
    series = numer / alpha * (factor + 1 / alpha)
    for i in range(1, 11):
        numer = numer * (i - beta) * x / i
        denom = alpha + i
        series = series + numer / denom * (factor + 1 / denom)
    return _nan_to_zero(x * (1 - x).pow(-beta) * series)


def _beta_grad_beta_small(x, alpha, beta):
    factor = distgrad.digamma(alpha + beta) - distgrad.digamma(beta)
    numer, betas, dbetas = distgrad.ones_like(x), distgrad.ones_like(x), distgrad.zeros_like(x)
    series = factor / alpha
    for i in range(1, 9):
        numer = numer * (-x / i)
        dbetas = dbetas * (beta - i) + betas
        betas = betas * (beta - i)
        series = series + numer / (alpha + i) * (dbetas + factor * betas)
    return _nan_to_zero(-(1 - x).pow(1 - beta) * series)


def _beta_grad_alpha_mid(x, a, b):
    total = a + b
    mean = a / total
    std = distgrad.sqrt(a * b / (total + 1)) / total
    poly = 47 * x * b ** 4 + a * (
        (43 + 20 * (16 + 27 * b) * x) * b ** 3 + a * (
            3 * (59 + 180 * b - 90 * x) * b * b + a * (
                (453 + 1620 * b * (1 - x) - 455 * x) * b + a * (8 * (1 - x) * (135 * b - 11)))))
    prefactor_num = (1 + 12 * a) * (1 + 12 * b) / (total * total)
    prefactor_den = 12960 * a ** 3 * b * b * (1 + 12 * total)
    near = prefactor_num / (1 - x) * poly / prefactor_den
    prefactor = -x / distgrad.sqrt(2 * a * b / total)
    stirling = ((1 + 1 / (12 * a) + 1 / (288 * a * a)) * (1 + 1 / (12 * b) + 1 / (288 * b * b))
                / (1 + 1 / (12 * total) + 1 / (288 * total * total)))
    axbx = a * (x - 1) + b * x
    term1 = (2 * a * a * (x - 1) + a * b * (x - 1) - x * b * b) / (
        distgrad.sqrt(2 * a / b) * total.pow(1.5) * axbx * axbx)
    term2 = 0.5 * distgrad.log(a / (total * x))
    term3 = distgrad.sqrt(8 * a * b / total) / axbx
    term4 = (b * distgrad.log(b / (total * (1 - x))) + a * distgrad.log(a / (total * x))).pow(-1.5)
    far = stirling * prefactor * (term1 + term2 * (term3 + distgrad.where(x < mean, term4, -term4)))
    return distgrad.where((mean - 0.1 * std <= x) & (x <= mean + 0.1 * std), near, far)


# the rational correction's coefficients: [p or q][power of u][power of a][power of b]
_DIRICHLET = (
    (((1.003668233, -0.01061107488, -0.0657888334, 0.01201642863),
      (0.6336835991, -0.3557432599, 0.05486251648, -0.001465281033),
      (-0.03276231906, 0.004474107445, 0.002429354597, -0.0001557569013)),
     ((0.221950385, -0.3187676331, 0.01799915743, 0.01074823814),
      (-0.2951249643, 0.06219954479, 0.01535556598, 0.001550077057),
      (0.02155310298, 0.004170831599, 0.001292462449, 6.976601077e-05)),
     ((-0.05980841433, 0.008441916499, 0.01085618172, 0.002319392565),
      (0.02911413504, 0.01400243777, -0.002721828457, 0.000751041181),
      (0.005900514878, -0.001936558688, -9.495446725e-06, 5.385558597e-05))),
    (((1, -0.02924021934, -0.04438342661, 0.007285809825),
      (0.6357567472, -0.3473456711, 0.05454656494, -0.002407477521),
      (-0.03301322327, 0.004845219414, 0.00231480583, -0.0002307248149)),
     ((0.5925320577, -0.1757678135, 0.01505928619, 0.000564515273),
      (0.1014815858, -0.06589186703, 0.01272886114, -0.0007316646956),
      (-0.007258481865, 0.001096195486, 0.0003934994223, -4.12701925e-05)),
     ((0.06469649321, -0.0236701437, 0.002902096474, -5.896963079e-05),
      (0.001925008108, -0.002869809258, 0.0008000589141, -6.063713228e-05),
      (-0.0003477407336, 6.959756487e-05, 1.097287507e-05, -1.650964693e-06))),
)


def _dirichlet_rational(x, alpha, total):
    u = distgrad.log(x)
    a = distgrad.log(alpha) - u
    b = distgrad.log(total) - a
    pq = []
    for table in _DIRICHLET:
        acc = distgrad.zeros_like(x)
        for i in range(3):
            for j in range(3):
                c = table[i][j]
                acc = acc + u ** i * a ** j * (c[0] + b * (c[1] + b * (c[2] + b * c[3])))
        pq.append(acc)
    approx = x * (distgrad.digamma(total) - distgrad.digamma(alpha)) / (total - alpha)
    return pq[0] / pq[1] * approx


def dirichlet_grad(x, alpha, total):
    """torch._dirichlet_grad: the Beta(alpha, total - alpha) marginal's -(dF/dalpha)/f/(1-x)."""
    with distgrad.no_grad():
        dtype = x.dtype
        x, alpha, total = x.detach().double(), alpha.detach().double(), total.detach().double()
        beta = total - alpha
        boundary = total * x * (1 - x)
        grad = distgrad.where(
            (x <= 0.5) & (boundary < 2.5), _beta_grad_alpha_small(x, alpha, beta),
            distgrad.where(
                (x >= 0.5) & (boundary < 0.75), -_beta_grad_beta_small(1 - x, beta, alpha),
                distgrad.where((alpha > 6) & (beta > 6), _beta_grad_alpha_mid(x, alpha, beta),
                               _dirichlet_rational(x, alpha, total))))
        return grad.to(dtype)


class _Dirichlet(Function):
    """A Dirichlet draw whose concentration gets, for an output gradient g,
    dirichlet_grad * (g - <x, g>): torch's distributions.dirichlet._Dirichlet (so its
    grad_fn is _DirichletBackward, and differentiating that gradient raises as torch's).
    The draw comes in a tuple: the node's one input is the concentration, as torch's."""

    @staticmethod
    def forward(ctx, concentration, draw):
        x, = draw
        ctx.save_for_backward(x, concentration)
        return x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, concentration = ctx.saved_tensors
        total = concentration.sum(-1, True).expand_as(concentration)
        grad = _finite(dirichlet_grad(x, concentration, total))
        return grad * (grad_output - (x * grad_output).sum(-1, True)), None


def reparameterized_dirichlet(concentration, x):
    """The Dirichlet draw x with torch's gradient wrt its concentration."""
    return _Dirichlet.apply(concentration, (x,))


def _nan_to_zero(t):
    return distgrad.where(distgrad.isnan(t), distgrad.zeros_like(t), t)


def _finite(t):
    return distgrad.where(distgrad.isfinite(t), t, distgrad.zeros_like(t))
