"""distgrad's random numbers are torch's CPU generator's, bit for bit: the same seed gives
the same values in torch and distgrad, call after call (float32 and float64, sizes below and
above normal_'s 16-element blocks, Generator objects, layers' default init, samplers)."""
import numpy as np
import pytest
import torch

import distgrad
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)

SIZES = (1, 5, 15, 16, 17, 40, 100, 1003)


def _array(x):
    if isinstance(x, (list, tuple)):
        return np.concatenate([_array(v).ravel() for v in x]) if x else np.zeros(0)
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, distgrad.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_same_draws(make, seed=0):
    """make(T) with T = torch, then distgrad, each seeded with `seed`: equal, bit for bit."""
    torch.manual_seed(seed)
    expected = _array(make(torch))
    distgrad.manual_seed(seed)
    got = _array(make(distgrad))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def assert_same_error(call, types):
    """call(torch) and call(distgrad) raise the same exception type and message."""
    errors = []
    for T in (torch, distgrad):
        with pytest.raises(types) as e:
            call(T)
        errors.append((e.type, str(e.value)))
    assert errors[0] == errors[1]


def _dtype(T, name):
    return getattr(T, name)


# ---- the factories ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rand_and_randn_several_calls_of_mixed_sizes(dtype):
    def draws(T):
        d = _dtype(T, dtype)
        out = []
        for n in SIZES:
            out += [T.randn(n, dtype=d), T.rand(n, dtype=d), T.randn(3, n % 7 + 1, dtype=d)]
        return out
    assert_same_draws(draws)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_float_normals_are_floats_rounded_with_torchs_draws(dtype):
    # torch fills float16 and bfloat16 as float (rounded after), drawing uniforms for the
    # whole 16-blocks only, then 16 for the last 16: the dtype, values and next draws hold
    def draws(T):
        d = _dtype(T, dtype)
        out = []
        for n in SIZES:
            x = T.randn(2, n, dtype=d)
            assert x.dtype is d
            out += [x.float(), T.empty(n, dtype=d).normal_(2.0, 3.0).float(), T.rand(3)]
        return out
    assert_same_draws(draws)


def test_randn_of_a_million_elements():
    assert_same_draws(lambda T: [T.randn(1000, 1000), T.randn(5), T.randn(1000003)], seed=7)


def test_the_cached_normal_carries_into_the_next_call():
    # randn(5) draws three pairs and keeps the last sine for the next small draw
    assert_same_draws(lambda T: [T.randn(5), T.randn(1), T.randn(20), T.randn(3),
                                 T.randn(2, dtype=T.float64)])


def test_manual_seed_drops_the_cached_normal():
    def draws(T):
        T.randn(3)
        T.manual_seed(4)
        return T.randn(3)
    assert_same_draws(draws)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_fills(dtype):
    def draws(T):
        d = _dtype(T, dtype)
        return [T.empty(40, dtype=d).normal_(0.3, 2.5), T.empty(7, dtype=d).normal_(-1, 0.5),
                T.empty(100, dtype=d).uniform_(-0.3, 0.6), T.empty(9, dtype=d).uniform_(),
                T.empty(30, dtype=d).random_(), T.empty(30, dtype=d).random_(10),
                T.empty(30, dtype=d).random_(-3, 10), T.empty(50, dtype=d).exponential_(2.0),
                T.empty(50, dtype=d).geometric_(0.2), T.empty(50, dtype=d).cauchy_(0.5, 2.0),
                T.empty(51, dtype=d).log_normal_(0.5, 0.7),
                T.empty(50, dtype=d).bernoulli_(0.3),
                T.empty(50, dtype=d).bernoulli_(T.rand(50, dtype=d))]
    assert_same_draws(draws, seed=5)


def test_a_fill_of_a_transposed_view_draws_in_memory_order():
    assert_same_draws(lambda T: [T.zeros(20, 30).t().normal_(), T.zeros(4, 6).t().uniform_(),
                                 T.zeros(6, 4, dtype=T.float64).t().normal_()])


def test_randint_random_and_randperm():
    assert_same_draws(lambda T: [
        T.randint(10, (20,)), T.randint(-5, 5, (3, 4)), T.randint(-2 ** 40, 2 ** 40, (20,)),
        T.randint(0, 2 ** 32, (5,)), T.empty(30, dtype=T.int64).random_(),
        T.empty(30, dtype=T.bool).random_(), T.randperm(0), T.randperm(1), T.randperm(2),
        T.randperm(1000), T.randint(3, (2,), dtype=T.float32),
        T.randint_like(T.zeros(5), 10), T.rand_like(T.zeros(5)), T.randn_like(T.zeros(50))],
        seed=11)


def test_normal_with_tensor_arguments():
    def draws(T):
        mean, std = T.linspace(-1, 1, 40), T.linspace(0.5, 2, 40)
        return [T.normal(mean, std), T.normal(mean, 2.7), T.normal(0.3, std[:7]),
                T.normal(0.3, 2.7, (5, 7)), T.normal(mean.double(), std.double()),
                T.normal(mean[:3], std[:3])]
    assert_same_draws(draws, seed=3)


def test_bernoulli_and_multinomial():
    weights = [[0.1, 0.5, 0.2, 0.2], [1, 2, 3, 4], [0, 3, 0, 7]]

    def draws(T):
        out = []
        for d in (T.float32, T.float64):
            w = T.tensor(weights, dtype=d)
            out += [T.multinomial(w, 2), T.multinomial(w, 1),
                    T.multinomial(w, 20, replacement=True), T.multinomial(w[1], 3),
                    T.multinomial(w[1], 3, True), T.bernoulli(T.rand(50, dtype=d)),
                    T.bernoulli(T.zeros(50, dtype=d), 0.3)]
        return out
    assert_same_draws(draws, seed=2)



@pytest.mark.parametrize("n", [6, 40, 300])
def test_multinomial_without_replacement_past_the_nonzero_weights(n):
    """torch's CPU kernel draws more samples than nonzero weights without refusing: the
    zero-weight categories follow, in the order its topk leaves the tied zeros."""
    def draws(T):
        w = T.zeros(3, n)
        w[0, 1], w[1, :n // 2], w[2, -1] = 1.0, T.rand(n // 2), 2.0
        return [T.multinomial(w, n), T.multinomial(w[0].double(), n // 2 + 1),
                T.multinomial(w, 1), T.multinomial(w[1], n // 2 + 2)]
    assert_same_draws(draws, seed=4)

# ---- Generator objects and the state ------------------------------------------------------------

def test_generators_are_streams_of_their_own():
    def draws(T):
        g, h = T.Generator().manual_seed(5), T.Generator()
        return [T.randn(3, generator=g), T.randn(30, generator=g), T.rand(4, generator=h),
                T.randn(5), T.randperm(10, generator=g), T.randint(9, (4,), generator=h),
                T.empty(20).normal_(generator=g), T.randn(3, generator=g),
                T.empty(5).uniform_(generator=h)]
    assert_same_draws(draws)


def test_seeds_as_torch():
    assert distgrad.Generator().initial_seed() == torch.Generator().initial_seed()
    assert distgrad.Generator().manual_seed(-1).initial_seed() == torch.Generator().manual_seed(
        -1).initial_seed()
    assert distgrad.manual_seed(3) is distgrad.default_generator
    assert distgrad.initial_seed() == 3
    g = distgrad.Generator()
    s = g.seed()
    assert g.initial_seed() == s and 0 <= s < 2 ** 64
    # a seed beyond 32 bits: the generator takes its low 32 bits, as torch's does
    assert_same_draws(lambda T: T.randn(5), seed=2 ** 32 + 7)


def test_the_state_is_torchs_bytes():
    def states(T):
        g = T.Generator()
        out = [T.get_rng_state(), g.get_state()]
        T.randn(5)  # a normal cached
        out.append(T.get_rng_state())
        T.rand(700)  # past a twist
        g.manual_seed(-1)
        T.rand(1, generator=g)
        return out + [T.get_rng_state(), g.get_state()]
    assert_same_draws(states, seed=2 ** 40 + 3)  # (uint8 tensors, torch's ByteTensor)


def test_a_torch_state_sets_the_stream():
    torch.manual_seed(9)
    torch.randn(3)
    state = torch.get_rng_state()
    distgrad.set_rng_state(distgrad.tensor(state.tolist(), dtype=distgrad.uint8))
    assert distgrad.initial_seed() == 9
    np.testing.assert_array_equal(distgrad.randn(7).numpy(), torch.randn(7).numpy())


@pytest.mark.parametrize("state, error, message", [
    ({}, TypeError, "expected a torch.ByteTensor, but got dict"),
    (distgrad.zeros(5056), TypeError, "RNG state must be a torch.ByteTensor"),
    (distgrad.zeros(5056, dtype=distgrad.int64), TypeError, "RNG state must be a torch.ByteTensor"),
    (distgrad.zeros(10, dtype=distgrad.uint8), RuntimeError,
     "Expected a CPUGeneratorImplState of size 5056 but found the input RNG state size to be "
     "10"),
])
def test_a_wrong_state_is_refused_as_torch(state, error, message):
    with pytest.raises(error, match=message):
        distgrad.set_rng_state(state)


def test_the_state_round_trips_with_the_cached_normal():
    distgrad.manual_seed(0)
    distgrad.randn(5)  # leaves a normal cached
    state = distgrad.get_rng_state()
    first = distgrad.randn(3).tolist(), distgrad.rand(20).tolist()
    distgrad.set_rng_state(state)
    assert (distgrad.randn(3).tolist(), distgrad.rand(20).tolist()) == first
    g = distgrad.Generator().manual_seed(9)
    distgrad.randn(1, generator=g)
    state = g.get_state()
    first = distgrad.randn(7, generator=g).tolist()
    g.set_state(state)
    assert distgrad.randn(7, generator=g).tolist() == first


def test_fork_rng_puts_the_state_back():
    """torch.random.fork_rng: draws inside the block do not move the stream after it (not
    when disabled); torch.random has the seed and state functions too."""
    def draws(T):
        T.randn(3)
        with T.random.fork_rng():
            T.random.manual_seed(5)
            inside = T.rand(4)
        after = T.randn(3)
        with T.random.fork_rng(enabled=False):
            T.rand(2)
        state = T.random.get_rng_state()
        return [inside, after, T.rand(2), T.random.initial_seed(), state.sum()]
    assert_same_draws(draws, seed=3)


# ---- layers and nn.init -------------------------------------------------------------------------

def _parameters(module):
    return [p for _, p in module.named_parameters()]


@pytest.mark.parametrize("make", [
    lambda nn: [nn.Linear(3, 4), nn.Linear(30, 40)],
    lambda nn: [nn.Conv2d(3, 8, 3), nn.Conv1d(3, 8, 3), nn.ConvTranspose2d(3, 4, 3)],
    lambda nn: [nn.Embedding(10, 4), nn.LayerNorm(4), nn.Linear(3, 4), nn.BatchNorm1d(4)],
    lambda nn: [nn.LSTM(3, 5), nn.GRU(3, 5, num_layers=2), nn.Bilinear(3, 4, 5)],
    lambda nn: [nn.MultiheadAttention(8, 2), nn.TransformerEncoderLayer(8, 2, 16)],
], ids=["linear", "conv", "embedding_norm", "recurrent", "attention"])
def test_default_init_of_layers(make):
    assert_same_draws(lambda T: [_parameters(m) for m in make(T.nn)])


def test_nn_init_functions():
    def draws(T):
        init = T.nn.init
        out = [init.xavier_uniform_(T.empty(7, 9)), init.xavier_normal_(T.empty(7, 9)),
               init.kaiming_normal_(T.empty(7, 9)), init.kaiming_uniform_(T.empty(7, 9)),
               init.uniform_(T.empty(7, 9), -2, 3), init.normal_(T.empty(7, 9), 1, 2),
               init.sparse_(T.empty(7, 9), 0.3)]
        for bounds in [(0, 1, -2, 2), (0, 1, 2, 3), (0, 0.02, -0.04, 0.04), (1, 0.1, -2, 2)]:
            out.append(init.trunc_normal_(T.empty(50, 50), *bounds))
        return out
    assert_same_draws(draws)


def test_orthogonal_init_draws_torchs_normals():
    # the QR after the draws runs in float64 here (LAPACK's float32 in torch): a rounding apart
    torch.manual_seed(0)
    expected = [torch.nn.init.orthogonal_(torch.empty(*s)).numpy() for s in [(7, 9), (9, 4)]]
    distgrad.manual_seed(0)
    got = [distgrad.nn.init.orthogonal_(distgrad.empty(*s)).numpy() for s in [(7, 9), (9, 4)]]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-6)
    # and the stream after them is torch's
    np.testing.assert_array_equal(distgrad.rand(3).numpy(), torch.rand(3).numpy())


# ---- random layers, distributions, data ---------------------------------------------------------

def test_dropout_and_random_activations():
    def draws(T):
        F = T.nn.functional
        x = T.linspace(-1, 1, 600).reshape(30, 20)
        return [F.dropout(x, 0.3), T.nn.Dropout(0.5)(x), F.dropout2d(x.reshape(2, 5, 6, 10), 0.3),
                F.alpha_dropout(x, 0.3, True), F.rrelu(x, training=True), F.dropout(x, 1.0),
                T.rand(3)]
    assert_same_draws(draws)


def test_dropout_of_a_transpose_draws_its_mask_in_memory_order():
    # torch draws the mask into empty_like(input): a transpose's along its columns, as
    # attention's output is when it reaches a Transformer layer's dropout1
    def draws(T):
        F = T.nn.functional
        x = T.linspace(-1, 1, 336).reshape(7, 3, 16)
        return [F.dropout(x.transpose(0, 1), 0.3), F.dropout(x.permute(2, 0, 1), 0.5),
                F.alpha_dropout(x.transpose(1, 2), 0.3, True), F.dropout(x[:, 1:, ::2].mT, 0.2),
                F.dropout(x.transpose(0, 1).clone(), 0.3, inplace=True), T.rand(3)]
    assert_same_draws(draws, seed=3)


def test_distributions_sample_as_torch():
    def draws(T):
        D = T.distributions
        p = T.tensor([0.2, 0.3, 0.5])
        return [D.Normal(T.zeros(5), T.ones(5)).sample((3,)),
                D.Normal(T.zeros(20), T.ones(20)).rsample(),
                D.Uniform(T.zeros(20), T.ones(20)).sample(), D.Categorical(p).sample((10,)),
                D.Categorical(p).sample(), D.Bernoulli(p).sample((10,)),
                D.Exponential(p).sample((10,)), D.Geometric(p).sample((10,))]
    assert_same_draws(draws, seed=11)


def test_multinomial_mixture_and_lowrank_samples_as_torch():
    # Categorical draws counted; a mixture draws its choices, then every component; a
    # low-rank normal its factor's normals, then the diagonal's
    def draws(T):
        D = T.distributions
        p = T.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
        loc = T.tensor([[-5.0, 0.0, 5.0], [1.0, 2.0, 3.0]])
        mvn_like = D.Independent(D.Normal(loc[0].unsqueeze(-1).expand(3, 2), 1.0), 1)
        return [D.Multinomial(7, p).sample((3,)).flatten(),
                D.MixtureSameFamily(D.Categorical(p), D.Normal(loc, 0.5)).sample((4,)).flatten(),
                D.MixtureSameFamily(D.Categorical(p[0]), mvn_like).sample((3,)).flatten(),
                D.LowRankMultivariateNormal(loc, T.ones(2, 3, 2), T.ones(3)).sample((5,)).flatten()]
    assert_same_draws(lambda T: T.cat(draws(T)), seed=19)


def test_relaxed_samples_as_torch():
    # clamped uniforms through logs: torch's draws, rounded as torch's kernels may not be
    def draws(T):
        D, p = T.distributions, T.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
        return T.cat([D.RelaxedBernoulli(T.tensor(0.5), p).sample((2,)).flatten(),
                      D.RelaxedOneHotCategorical(T.tensor(0.5), p).sample((2,)).flatten(),
                      D.OneHotCategoricalStraightThrough(p).rsample((3,)).flatten()])
    torch.manual_seed(23)
    expected = draws(torch).numpy()
    distgrad.manual_seed(23)
    np.testing.assert_allclose(draws(distgrad).numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(distgrad.rand(3).numpy(), torch.rand(3).numpy())


def _scale_and_shape(T, dtype):
    dt = getattr(T, dtype)
    return T.tensor([0.5, 1.0, 2.0], dtype=dt), T.tensor([0.7, 1.0, 3.0], dtype=dt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_heavy_tailed_samples_as_torch(dtype):
    # Cauchy and normal draws scaled, folded, or divided by a Chi2 (gamma) draw: StudentT
    # draws its normals before its gammas; VonMises rejects uniforms until every entry has
    # accepted one
    def draws(T):
        D, (scale, k) = T.distributions, _scale_and_shape(T, dtype)
        return [D.Cauchy(T.zeros_like(scale), scale).sample((2,)),
                D.HalfCauchy(scale).sample((2,)), D.HalfNormal(scale).rsample((2,)),
                D.StudentT(k, 1.0, scale).sample((2,)), D.Chi2(k).sample((2,)),
                D.FisherSnedecor(k, scale).sample((2,)),
                D.VonMises(scale, T.tensor([1e-6, 0.5, 40.0], dtype=k.dtype)).sample((5,)),
                T.rand(3, dtype=scale.dtype)]
    assert_same_draws(draws, seed=17)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transformed_samples_take_torchs_draws(dtype):
    # uniform, exponential and gamma draws through log, pow and exp, which may round the
    # last bit unlike torch's vectorized kernels (as Laplace's log1p)
    def draws(T):
        D, (scale, k) = T.distributions, _scale_and_shape(T, dtype)
        return [D.Gumbel(T.zeros_like(scale), scale).sample((2,)),
                D.Weibull(scale, k).sample((2,)), D.Pareto(scale, k).sample((2,)),
                D.InverseGamma(k, scale).sample((2,)), D.Kumaraswamy(k, scale).sample((2,)),
                D.LKJCholesky(3, k).sample((2,)).flatten(),
                D.ContinuousBernoulli(scale / 2.5).rsample((2,)),
                D.LogisticNormal(T.zeros_like(scale), scale).sample((2,)),
                D.GeneralizedPareto(T.zeros_like(scale), scale, k - 1).sample((2,))]
    torch.manual_seed(17)
    expected = _array(draws(torch))
    distgrad.manual_seed(17)
    got = _array(draws(distgrad))
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == "float32" else 1e-14)
    np.testing.assert_array_equal(distgrad.rand(3).numpy(), torch.rand(3).numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gamma_family_samples_as_torch(dtype):
    # Marsaglia and Tsang's rejection, draw for draw (concentrations below 1 boosted, a
    # rejection now and then), in the dtype torch's kernel keeps; Dirichlet in double; the
    # Beta mixup draws from one
    def draws(T):
        D, dt = T.distributions, getattr(T, dtype)
        alpha = T.tensor([0.05, 0.4, 1.0, 2.5, 9.0, 0.9], dtype=dt)
        return [D.Gamma(alpha, T.tensor(2.0, dtype=dt)).sample((4,)),
                D.Dirichlet(T.tensor([[0.3, 1.0, 2.0], [5.0, 0.2, 0.2]], dtype=dt)).sample((2,)),
                D.Beta(T.tensor(0.4, dtype=dt), T.tensor(0.4, dtype=dt)).sample((8,)),
                D.Beta(alpha, alpha.flip(0)).rsample(), T.rand(3, dtype=dt)]
    assert_same_draws(draws, seed=13)


# ---- poisson and binomial: torch's rejection samplers, element by element ---------------------

RATES = [0.0, 1e-8, 0.5, 1.0, 9.99, 10.0, 10.5, 37.0, 1e3, 1e6]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 3])
def test_poisson_as_torch(dtype, seed):
    # products of uniforms below rate 10, Hoermann's transformed rejection from it, drawn in
    # memory order (a transposed or expanded rate is read as the result's layout), and the
    # uniform after the last one taken comes next
    def draws(T):
        d = getattr(T, dtype)
        rates = T.tensor(RATES, dtype=d)
        grid = T.linspace(0, 40, 300, dtype=d).reshape(3, 100)
        return [T.poisson(rates), T.poisson(grid), T.poisson(grid.t()),
                T.poisson(rates.reshape(-1, 1).expand(10, 4)), T.poisson(T.tensor(12.0, dtype=d)),
                T.poisson(T.full((500,), 3.0, dtype=d)), T.poisson(T.zeros(0, 3, dtype=d)),
                T.rand(3, dtype=T.float64)]
    assert_same_draws(draws, seed=seed)


def test_poisson_with_a_generator_and_the_state_after():
    def draws(T):
        gen = T.Generator().manual_seed(5)
        rates = T.tensor(RATES)
        return [T.poisson(rates, generator=gen), T.rand(3, generator=gen), T.randn(3),
                T.poisson(rates, gen), T.rand(2, generator=gen), T.get_rng_state()]
    assert_same_draws(draws, seed=2)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_a_bad_poisson_rate_raises_where_torch_meets_it(bad):
    # torch's kernel has drawn for the elements before it: the stream is left there
    errors = []
    for T in (torch, distgrad):
        T.manual_seed(0)
        with pytest.raises(RuntimeError) as e:
            T.poisson(T.tensor([5.0, 20.0, bad, 3.0]))
        errors.append((str(e.value), T.rand(3).numpy()))
    assert errors[0][0] == errors[1][0]
    np.testing.assert_array_equal(errors[0][1], errors[1][1])


def test_poisson_of_rates_beyond_int64_and_of_integers_as_torch():
    # torch's k of an infinite rate is NaN or inf, of 1e30 too large: its cast to int64
    # gives int64's minimum (x86), once the box test passes
    assert_same_draws(lambda T: [T.poisson(T.tensor([float("inf"), 12.0, 1e30])),
                                 T.poisson(T.tensor([1e25, 50.0], dtype=T.float64)),
                                 T.rand(3)], seed=1)
    assert_same_error(lambda T: T.poisson(T.tensor([5, 6])), NotImplementedError)


def _binomial_cases(T, d):
    counts = T.tensor([0.0, 1.0, 2.5, 7.0, 20.0, 100.0, 1e3, 1e6, -3.0], dtype=d)
    probs = T.tensor([0.0, 1e-6, 0.01, 0.2, 0.5, 0.50001, 0.8, 0.99, 1 - 1e-6, 1.0], dtype=d)
    return counts.reshape(-1, 1).expand(9, 10), probs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 7])
def test_binomial_as_torch(dtype, seed):
    # BTRS where count * min(p, 1 - p) >= 10, inversion below, count minus a draw of 1 - p
    # above p = 0.5; 0 for count <= 0 or p = 0, count for p = 1, NaN for a NaN p; the
    # constants in the parameters' float dtype as torch's kernel keeps them
    def draws(T):
        d = getattr(T, dtype)
        counts, probs = _binomial_cases(T, d)
        return [T.binomial(counts, probs.expand(9, 10)), T.binomial(counts.t(), probs.reshape(-1, 1)),
                T.binomial(T.full((400,), 50.0, dtype=d), T.full((400,), 0.3, dtype=d)),
                T.binomial(T.tensor([1e8, 3e7], dtype=d), T.tensor([0.4, 1e-6], dtype=d)),
                T.binomial(T.tensor([4.0, 4.0], dtype=d), T.tensor([float("nan"), 0.5], dtype=d)),
                T.rand(3, dtype=T.float64)]
    assert_same_draws(draws, seed=seed)


def test_binomial_with_a_generator_and_its_errors_as_torch():
    def draws(T):
        gen = T.Generator().manual_seed(9)
        counts, probs = _binomial_cases(T, T.float64)
        return [T.binomial(counts, probs.expand(9, 10), generator=gen), T.rand(3, generator=gen),
                T.rand(3)]
    assert_same_draws(draws, seed=1)
    for call in (lambda T: T.binomial(T.tensor([5]), T.tensor([0.5])),
                 lambda T: T.binomial(T.tensor([5.0]), T.tensor([1])),
                 lambda T: T.binomial(T.tensor([5.0]), T.tensor([0.5], dtype=T.float64))):
        assert_same_error(call, (ValueError, RuntimeError))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_poisson_binomial_and_negative_binomial_samples_as_torch(dtype):
    # Poisson samples torch.poisson of the expanded rate, Binomial torch.binomial of the
    # expanded count and probs (logits through their probs), NegativeBinomial a Poisson draw
    # at a Gamma draw's rate
    def draws(T):
        D, d = T.distributions, getattr(T, dtype)
        probs = _binomial_cases(T, d)[1]
        return [D.Poisson(T.tensor(RATES, dtype=d)).sample((3,)),
                D.Poisson(T.tensor(4.0, dtype=d)).sample((200,)),
                D.Binomial(T.tensor([[0.0], [7.0], [20.0], [1e3], [1e6]], dtype=d),
                           probs).sample((2,)),
                D.Binomial(7, logits=T.tensor([-2.0, 3.0], dtype=d)).sample((20,)),
                D.Binomial(T.tensor(1000.0, dtype=d), T.tensor(0.3, dtype=d)).sample((100,)),
                D.NegativeBinomial(T.tensor([2.0, 50.0], dtype=d),
                                   T.tensor([0.3, 0.9], dtype=d)).sample((10,)),
                D.NegativeBinomial(3.0, logits=T.tensor([0.5, -1.0], dtype=d)).sample((10,)),
                T.rand(3, dtype=T.float64)]
    assert_same_draws(draws, seed=21)

def test_laplace_samples_torchs_draws():
    # the draws are torch's; float32 log1p of them may differ in the last bit
    torch.manual_seed(0)
    expected = torch.distributions.Laplace(torch.zeros(20), torch.ones(20)).sample().numpy()
    distgrad.manual_seed(0)
    got = distgrad.distributions.Laplace(distgrad.zeros(20), distgrad.ones(20)).sample().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_array_equal(distgrad.rand(3).numpy(), torch.rand(3).numpy())


def test_samplers_and_data_loader_shuffle_as_torch():
    def draws(T):
        data = T.utils.data
        return [list(data.RandomSampler(range(10))),
                list(data.RandomSampler(range(10), replacement=True, num_samples=40)),
                [b.tolist() for b in data.DataLoader(list(range(10)), batch_size=3,
                                                     shuffle=True)],
                [list(s.indices) for s in data.random_split(range(10), [3, 7])],
                list(data.WeightedRandomSampler([0.1, 0.9, 0.4], 10)),
                list(data.SubsetRandomSampler([5, 6, 7, 8]))]

    def flat(T):
        out = []
        for group in draws(T):
            for item in group:
                out += item if isinstance(item, list) else [item]
        return np.array(out)
    assert_same_draws(flat, seed=4)


@pytest.mark.parametrize("call", [
    lambda T: T.randint(0, 300, (3,), dtype=T.uint8),
    lambda T: T.randint(-5, 3, (3,), dtype=T.uint8),
    lambda T: T.zeros(2, dtype=T.int8).random_(0, 200),
    lambda T: T.zeros(2, dtype=T.bool).random_(0, 3),
    lambda T: T.randperm(300, dtype=T.uint8),
    lambda T: T.randperm(2 ** 31 + 2, dtype=T.int32),
    lambda T: T.zeros(2, dtype=T.int32).normal_(),
    lambda T: T.zeros(2, dtype=T.int16).uniform_(),
])
def test_random_draws_a_dtype_cannot_hold_are_refused_as_torch(call):
    assert_same_error(call, (RuntimeError, NotImplementedError))


def test_random_fills_of_narrow_integers_as_torch():
    assert_same_draws(lambda T: [T.zeros(5, dtype=T.int8).random_(), T.randperm(256, dtype=T.uint8),
                                 T.randint(-3, 100, (6,), dtype=T.int16),
                                 T.zeros(4, dtype=T.bool).random_(0, 2)], seed=17)


@pytest.mark.parametrize("high", [2 ** 28 - 1, 2 ** 28, 2 ** 30 + 7, 2 ** 32 - 1, 2 ** 32, 2 ** 40])
def test_randint_of_a_wide_range_takes_torchs_word(high):
    """torch 2.13 draws a 64-bit word from a range of 2**28 on, a 32-bit one below it."""
    draws = []
    for T in (torch, distgrad):
        T.manual_seed(5)
        draws.append((T.randint(0, high, (6,)).tolist(), T.rand(2).tolist()))
    assert draws[1] == draws[0]


def test_random_likes_of_a_worker_tensor_stay_on_its_worker(local_workers):
    """randn_like and rand_like draw the whole tensor in the driver (torch's order), then
    place it as their input is: on its worker (they came back on the driver)."""
    x = distgrad.zeros(5, 4, device="worker:1")
    distgrad.manual_seed(3)
    got = [distgrad.randn_like(x), distgrad.rand_like(x, dtype=distgrad.float64),
           distgrad.randn_like(x, requires_grad=True)]
    assert [(t.device, t.requires_grad) for t in got] == [
        (distgrad.device("worker:1"), False), (distgrad.device("worker:1"), False),
        (distgrad.device("worker:1"), True)]
    torch.manual_seed(3)
    expected = [torch.randn(5, 4), torch.rand(5, 4, dtype=torch.float64), torch.randn(5, 4)]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.detach().cpu().numpy(), e.numpy())
