"""torch's CPU random stream, bit for bit: a 32-bit Mersenne Twister (mt19937) seeded with
the seed's low 32 bits, and torch's ways of turning its words into numbers (ATen's
DistributionsHelper.h, TransformationHelper.h and cpu/DistributionTemplates.h).

The words come from numpy's MT19937 (the same generator, seeded the same way), so every
transformation below is vectorized (the rejection samplers of gamma, poisson and binomial
are not: one element at a time, as torch's). What torch does not define the same way here
(choice, ...) draws from `numpy`, a numpy Generator over the same words: deterministic
under a seed, but not torch's numbers.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import os

import numpy as np

# torch's seed before any manual_seed (default_rng_seed_val in c10)
DEFAULT_SEED = 67280421310721
_F32, _F64 = np.float32, np.float64
_TWO_PI = 2.0 * math.pi
# From this many elements of a contiguous tensor torch's normal_ fills uniforms and turns
# blocks of 16 into normals; below it (or not contiguous) it draws one Box-Muller pair per
# two elements and keeps the second for the next draw.
_NORMAL_FILL_MIN = 16
# sample_gamma's constants are float literals, so these values even in its double arithmetic.
_THIRD = np.float32(1) / np.float32(3)
_SQUEEZE = float(np.float32(0.0331))
# randperm's swap loop draws 32-bit words below this n (TensorFactories.cpp randperm_cpu).
_RANDPERM_SMALL = (2 ** 32 - 1) // 20
# torch's get_rng_state() bytes (CPUGeneratorImplState): the seed, the twister's countdown
# and index, its 624 words (8 bytes each), and the cached normal (normal_y, its flag).
TORCH_STATE = np.dtype({
    "names": ["seed", "left", "seeded", "next", "words", "normal_y", "normal_is_valid"],
    "formats": ["<u8", "<i4", "<i4", "<u8", ("<u8", 624), "<f8", "<i4"],
    "offsets": [0, 8, 12, 16, 24, 5024, 5040], "itemsize": 5056})


def nondeterministic_seed() -> int:
    """A seed from the operating system's entropy, as torch.seed() (kept below 2**63)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


class MersenneStream:
    def __init__(self, seed: int) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> None:
        self.seed = int(seed) % 2 ** 64
        self.bits = np.random.MT19937()
        self.bits._legacy_seeding(int(seed) & 0xFFFFFFFF)
        self.numpy = np.random.Generator(self.bits)
        self.next_normal = None  # torch's next_double_normal_sample

    # ---- words ----------------------------------------------------------------------------

    def random32(self, n: int) -> np.ndarray:
        return self.bits.random_raw(int(n)).astype(np.uint64)

    def random64(self, n: int) -> np.ndarray:
        """torch's random64(): two words, the first the high half."""
        pairs = self.bits.random_raw(2 * int(n)).reshape(-1, 2)
        return (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]

    # ---- uniform --------------------------------------------------------------------------

    def uniform01(self, n: int, dtype) -> np.ndarray:
        """[0, 1) as torch's uniform_real_distribution: float64 from 53 bits of random64,
        float32 from 24 bits of one word."""
        if dtype == _F64:
            return (self.random64(n) & np.uint64(2 ** 53 - 1)).astype(_F64) * 2.0 ** -53
        return (self.random32(n) & np.uint64(2 ** 24 - 1)).astype(_F32) * _F32(2.0 ** -24)

    def uniform_values(self, shape, dtype, low=0.0, high=1.0) -> np.ndarray:
        """uniform_(low, high): x * (high - low) + low in the dtype's precision."""
        low, high = dtype.type(low), dtype.type(high)
        x = self.uniform01(_numel(shape), dtype)
        return _fused(dtype)(x, high - low, low).astype(dtype).reshape(shape)

    # ---- normal ---------------------------------------------------------------------------

    def normal_values(self, shape, dtype, mean=0.0, std=1.0, contiguous=True) -> np.ndarray:
        n = _numel(shape)
        if n < _NORMAL_FILL_MIN or not contiguous:
            normals = _fma64(self.standard_normal_pairs(n), std, mean)
            return normals.astype(dtype).reshape(shape)
        whole = n - n % 16
        if np.dtype(dtype).itemsize == 2:
            return self._low_float_normals(n, whole, mean, std).astype(dtype).reshape(shape)
        fill = _normal_16_float32 if dtype == _F32 else _normal_16_float64
        out = self.uniform01(n, dtype)
        out[:whole] = fill(out[:whole], mean, std)
        if n % 16:  # torch draws 16 more for the last 16 (overwriting some blocks' too)
            out[n - 16:] = fill(self.uniform01(16, dtype), mean, std)
        return out.reshape(shape)

    def _low_float_normals(self, n: int, whole: int, mean, std) -> np.ndarray:
        """float16's and bfloat16's normals: float's, rounded; torch draws uniforms for the
        whole blocks only, then 16 for the last 16."""
        out = np.empty(n, _F32)
        out[:whole] = _normal_16_float32(self.uniform01(whole, _F32), mean, std)
        if n % 16:
            out[n - 16:] = _normal_16_float32(self.uniform01(16, _F32), mean, std)
        return out

    def standard_normal_pairs(self, n: int) -> np.ndarray:
        """n draws of torch's normal_distribution<double>: a pair from two uniforms, the
        sine half kept for the next draw (also across calls, until manual_seed)."""
        out = np.empty(n, _F64)
        start = 0
        if n and self.next_normal is not None:
            out[0], self.next_normal, start = self.next_normal, None, 1
        u = self.uniform01(2 * ((n - start + 1) // 2), _F64).reshape(-1, 2)
        radius = _map(lambda u2: math.sqrt(-2.0 * math.log1p(-u2)), u[:, 1])
        theta = _TWO_PI * u[:, 0]
        pairs = np.stack([radius * _map(math.cos, theta), radius * _map(math.sin, theta)], 1)
        pairs = pairs.reshape(-1)
        if (n - start) % 2:
            self.next_normal, pairs = float(pairs[-1]), pairs[:-1]
        out[start:] = pairs
        return out

    # ---- other distributions (DistributionsHelper.h, all via double uniforms) ------------

    def bernoulli(self, shape, p) -> np.ndarray:
        """uniform < p: a float64 uniform for a number or float64 p, float32 for float32 p."""
        dtype = p.dtype if isinstance(p, np.ndarray) else np.dtype(_F64)
        return self.uniform01(_numel(shape), dtype).reshape(shape) < p

    def exponential(self, shape, lambd) -> np.ndarray:
        u = self.uniform01(_numel(shape), _F64)
        return ((-1.0 / lambd) * _map(math.log1p, -u)).reshape(shape)

    def cauchy(self, shape, median, sigma) -> np.ndarray:
        u = self.uniform01(_numel(shape), _F64)
        return (median + sigma * _map(math.tan, math.pi * (u - 0.5))).reshape(shape)

    def geometric(self, shape, p) -> np.ndarray:
        u = self.uniform01(_numel(shape), _F64)
        return np.ceil(_map(math.log, u) / math.log1p(-p)).reshape(shape)

    def log_normal(self, shape, mean, std) -> np.ndarray:
        z = _fma64(self.standard_normal_pairs(_numel(shape)), std, mean)
        return _map(math.exp, z).reshape(shape)

    def standard_gamma(self, alpha: np.ndarray) -> np.ndarray:
        """Gamma(alpha, 1) per element of `alpha` (C order), as torch's _standard_gamma:
        Marsaglia and Tsang's rejection from double uniforms and normals, alpha's own dtype
        where torch's kernel keeps it (the boost below 1 and d), at least the dtype's tiny."""
        dtype = alpha.dtype
        tiny = float(np.finfo(dtype).tiny)
        out = [max(tiny, float(dtype.type(self._gamma(a)))) for a in alpha.reshape(-1)]
        return np.array(out, dtype).reshape(alpha.shape)

    def dirichlet(self, concentration: np.ndarray) -> np.ndarray:
        """A Dirichlet draw per row (last dim) of `concentration`, as torch's
        _sample_dirichlet: gammas in double, each over its row's sum, cast and kept in
        [the dtype's tiny, the float below 1]."""
        dtype = concentration.dtype
        gammas = self.standard_gamma(concentration.astype(_F64))
        x = (gammas / gammas.sum(-1, keepdims=True)).astype(dtype)
        return np.clip(x, np.finfo(dtype).tiny, np.nextafter(dtype.type(1), dtype.type(0)))

    def _gamma(self, a):
        """One draw of torch's sample_gamma for `a` (a numpy float of the tensor's dtype)."""
        one = a.dtype.type(1)
        scale = 1.0
        if a < one:
            if a == 0:
                return 0.0
            scale *= (1.0 - self._uniform()) ** float(one / a)
            a = a + one
        d = float(a - a.dtype.type(_THIRD))
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = self._normal()
            y = 1.0 + c * x
            while y <= 0:
                x = self._normal()
                y = 1.0 + c * x
            v = y * y * y
            u = 1.0 - self._uniform()
            xx = x * x
            if u < 1.0 - _SQUEEZE * xx * xx or \
                    math.log(u) < 0.5 * xx + d * (1.0 - v + math.log(v)):
                return scale * d * v

    def _uniform(self) -> float:
        return float(self.uniform01(1, _F64)[0])

    def _normal(self) -> float:
        return float(self.standard_normal_pairs(1)[0])

    # ---- poisson and binomial (Distributions.cpp sample_poisson, Distributions.h
    # sample_binomial): a rejection loop per element, in C order, from double uniforms ---------

    def poisson(self, rates: np.ndarray) -> np.ndarray:
        """A Poisson draw per rate (float64, C order), as torch's sample_poisson: Hoermann's
        transformed rejection from rate 10, a product of uniforms below it, 0 for rate 0.
        A negative or NaN rate raises where torch's loop meets it, the earlier elements
        drawn."""
        rates = np.asarray(rates, _F64)
        out = np.empty(rates.size, _F64)
        with _Uniforms(self, 2 * rates.size) as uniform:
            for i, lam in enumerate(rates.reshape(-1).tolist()):
                if not lam >= 0:
                    raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
                out[i] = _poisson_ptrs(lam, uniform) if lam >= 10 else \
                    _poisson_product(lam, uniform)
        # torch casts k to int64: what it cannot hold (an infinite rate's NaN, say) becomes
        # int64's minimum, as x86's conversion gives
        out[~((out >= -2.0 ** 63) & (out < 2.0 ** 63))] = -2.0 ** 63
        return out.reshape(rates.shape)

    def binomial(self, count: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """A binomial draw per (count, prob) pair of one float dtype (C order), as torch's
        sample_binomial: 0 for count <= 0 or prob <= 0, count for prob >= 1, else of the
        smaller of prob and 1 - prob, BTRS where count times it is 10 or more, inversion
        below; NaN for a NaN prob. Set up in the dtype's precision, as torch's kernel."""
        dtype = count.dtype
        plan = _binomial_plan(count.reshape(-1), prob.reshape(-1))
        out = np.empty(count.size, dtype)
        single = dtype == _F32
        with _Uniforms(self, 2 * count.size) as uniform:
            for i, (n, flip, kind, constants) in enumerate(zip(*plan)):
                if kind == _BTRS:
                    k = _btrs(n, constants, uniform, single)
                elif kind == _INVERSION:
                    k = _binomial_inversion(n, constants, uniform)
                else:
                    out[i] = constants
                    continue
                out[i] = n - k if flip else k
        return out.reshape(count.shape)

    # ---- integers -------------------------------------------------------------------------

    def randint(self, low: int, high: int, shape) -> np.ndarray:
        """[low, high) as torch's random_(from, to): a word (random64 for a range of 2**28 or
        more, as torch 2.13 draws) modulo the range."""
        span = int(high) - int(low)
        n = _numel(shape)
        words = self.random64(n) if span >= 2 ** 28 else self.random32(n)
        return ((words % np.uint64(span)).astype(np.int64) + int(low)).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """torch's randperm on the CPU: swap i with i + (word % (n - i)), i = 0 .. n-2."""
        n = int(n)
        if n >= _RANDPERM_SMALL:
            raise NotImplementedError("randperm of (2**32 - 1) // 20 elements or more")
        perm = list(range(n))
        if n > 1:
            offsets = (self.random32(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
            for i, z in enumerate(offsets):
                perm[i], perm[i + z] = perm[i + z], perm[i]
        return np.array(perm, dtype=np.int64)

    # ---- state ----------------------------------------------------------------------------

    def get_state(self) -> dict:
        return {"mt19937": self.bits.state, "next_normal": self.next_normal}

    def set_state(self, state: dict) -> None:
        self.bits.state = state["mt19937"]
        self.next_normal = state["next_normal"]

    def words(self) -> tuple:
        """The Mersenne Twister's state as plain numbers, to draw the same words elsewhere."""
        state = self.bits.state["state"]
        return tuple(state["key"].tolist()), int(state["pos"])

    @classmethod
    def from_words(cls, words: tuple) -> "MersenneStream":
        stream = cls(0)
        key, pos = words
        stream.bits.state = {"bit_generator": "MT19937",
                             "state": {"key": np.array(key, np.uint32), "pos": pos}}
        return stream

    def torch_state(self) -> np.ndarray:
        """The state as torch's get_rng_state() bytes (uint8)."""
        key, pos = self.words()
        state = np.zeros((), TORCH_STATE)
        state["seed"], state["seeded"], state["words"] = self.seed, 1, key
        # torch counts down `left` to its next twist; a fresh seed shows index 0, not 624
        state["left"], state["next"] = 625 - pos, 0 if _untwisted(key, pos) else pos
        if self.next_normal is not None:
            state["normal_y"], state["normal_is_valid"] = self.next_normal, 1
        return np.frombuffer(state.tobytes(), np.uint8)

    def set_torch_state(self, data: np.ndarray) -> None:
        state = np.frombuffer(np.asarray(data, np.uint8).tobytes(), TORCH_STATE)[0]
        self.seed = int(state["seed"])
        words = state["words"].astype(np.uint32).tolist(), 625 - int(state["left"])
        self.bits.state = MersenneStream.from_words(words).bits.state
        self.next_normal = float(state["normal_y"]) if state["normal_is_valid"] else None

    def __getattr__(self, name):
        # numpy's Generator methods (poisson, binomial, choice, ...) over the same words
        if name == "numpy":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.numpy, name)


# ---- the serial samplers' pieces ----------------------------------------------------------------

# The C library's lgamma and float log1p, as torch's kernels call them (Python's math.lgamma is
# its own and differs in the last bit now and then; numpy has no float log1p of the C library).
_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
_LIBM.lgamma.restype, _LIBM.lgamma.argtypes = ctypes.c_double, [ctypes.c_double]
_LIBM.log1pf.restype, _LIBM.log1pf.argtypes = ctypes.c_float, [ctypes.c_float]
_lgamma = _LIBM.lgamma
# sample_binomial's branches, and the table of stirling_approx_tail below 10
_CONSTANT, _INVERSION, _BTRS = 0, 1, 2
_STIRLING_TAIL = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                  0.00833056343336287)
_F32_EXACT = 2 ** 24  # float32 holds every integer up to here


class _Uniforms:
    """torch's uniform doubles for a serial sampler, one per call, drawn ahead in chunks
    (a Python loop takes them faster from a list); on exit the twister is left just after the
    last one taken, where torch's is."""

    def __init__(self, stream: MersenneStream, ahead: int) -> None:
        self.stream, self.ahead = stream, min(max(int(ahead), 64), 2 ** 20)

    def __enter__(self):
        self.start = self.stream.bits.state
        values, at, drawn = [], 0, 0

        def uniform() -> float:
            nonlocal values, at, drawn
            if at == len(values):
                values, at = self.stream.uniform01(self.ahead, _F64).tolist(), 0
                drawn += len(values)
            at += 1
            return values[at - 1]

        self.taken = lambda: drawn - len(values) + at
        return uniform

    def __exit__(self, *error) -> None:
        taken = self.taken()
        self.stream.bits.state = self.start
        self.stream.random64(taken)


def _poisson_product(lam: float, uniform) -> float:
    """Below rate 10: how many uniforms multiply to above exp(-rate) (one more is drawn)."""
    if lam == 0:
        return 0
    enlam = math.exp(-lam)
    x, prod = 0, 1.0
    while True:
        prod *= uniform()
        if prod <= enlam:
            return x
        x += 1


def _transformed_try(uniform, a: float, b: float, center: float, offset: float = 0.0) -> tuple:
    """One try of Hoermann's transformed rejection (PTRS and BTRS): a pair of uniforms as
    us and v, and the candidate floor((2a / us + b) u + center + offset), summed in torch's
    order; a zero first uniform (us = 0) makes it -inf, as torch's, refused as negative."""
    u = uniform() - 0.5
    v = uniform()
    us = 0.5 - abs(u)
    if us == 0.0:
        return us, v, -math.inf
    k = (2 * a / us + b) * u + center + offset
    return us, v, float(math.floor(k)) if math.isfinite(k) else k  # an infinite rate's NaN


def _poisson_ptrs(lam: float, uniform) -> float:
    """From rate 10: Hoermann's transformed rejection (PTRS), a pair of uniforms a try."""
    loglam = math.log(lam)
    b = 0.931 + 2.53 * math.sqrt(lam)
    a = -0.059 + 0.02483 * b
    log_invalpha = math.log(1.1239 + 1.1328 / (b - 3.4))
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        us, v, k = _transformed_try(uniform, a, b, lam, 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if v == 0.0 or (math.log(v) + log_invalpha - math.log(a / (us * us) + b)
                        <= -lam + k * loglam - _lgamma(k + 1.0)):
            return k


def _binomial_plan(count: np.ndarray, prob: np.ndarray) -> tuple:
    """Per element (flat, one float dtype): the count, whether torch samples 1 - prob and
    subtracts, the branch, and its constants, computed in the dtype where torch's are."""
    dtype, one = count.dtype, count.dtype.type(1)
    flip = prob > 0.5
    q = np.where(flip, (1.0 - prob.astype(_F64)).astype(dtype), prob)
    kind = np.where(count * q >= 10.0, _BTRS, _INVERSION)
    zero, whole = (count <= 0) | (prob <= 0), prob >= 1
    nan = ~(zero | whole | (prob <= 0.5) | flip)
    kind[zero | whole | nan] = _CONSTANT
    constants = np.where(zero, 0.0, np.where(whole, count, np.nan)).astype(object)
    inversion, btrs = np.flatnonzero(kind == _INVERSION), np.flatnonzero(kind == _BTRS)
    constants[inversion] = _log1p_of_dtype(-q[inversion])
    # the set-up once per distinct (count, q): most draws repeat a few parameters
    pairs, where = np.unique(np.stack([count[btrs], q[btrs]], 1), axis=0, return_inverse=True)
    constants[btrs] = _btrs_constants(pairs[:, 0], pairs[:, 1], one)[where.reshape(-1)]
    return count.tolist(), flip.tolist(), kind.tolist(), constants.tolist()


def _log1p_of_dtype(x: np.ndarray) -> np.ndarray:
    """log1p in x's precision (the C library's double or float function), per element,
    once per distinct value."""
    log1p = math.log1p if x.dtype == _F64 else _LIBM.log1pf
    values, where = np.unique(x, return_inverse=True)
    return np.array([log1p(v) for v in values.tolist()], _F64)[where.reshape(-1)]


def _btrs_constants(count, q, one) -> np.ndarray:
    """btrs's set-up per element: float products in the dtype, the rest in double, and the
    parts of the acceptance bound that do not depend on the try."""
    stddev = np.sqrt(count * q * (one - q)).astype(_F64)
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * q.astype(_F64)
    c = (count * q).astype(_F64) + 0.5
    v_r = 0.92 - 4.2 / b
    r = (q / (one - q)).astype(_F64)
    alpha = (2.83 + 5.1 / b) * stddev
    m = np.floor((count + one) * q).astype(_F64)
    rest_m = count.astype(_F64) - m
    head = (m + 0.5) * _map(math.log, (m + 1) / (r * (rest_m + 1)))
    tails = [(_stirling_tail(x), _stirling_tail(y)) for x, y in zip(m.tolist(), rest_m.tolist())]
    rows = np.empty(len(count), object)
    rows[:] = list(zip(a.tolist(), b.tolist(), c.tolist(), v_r.tolist(), r.tolist(),
                    alpha.tolist(), (rest_m + 1).tolist(), (count + one).astype(_F64).tolist(),
                    head.tolist(), tails))
    return rows


def _stirling_tail(k: float) -> float:
    """log k! minus Stirling's approximation of it: a table below 10, a series above."""
    if k < 10:
        return _STIRLING_TAIL[int(k)]
    kp1sq = (k + 1) * (k + 1)
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)


def _btrs(n: float, constants: tuple, uniform, single: bool) -> float:
    """Hoermann's BTRS for a binomial of mean n * q >= 10 (q <= 0.5), a pair of uniforms a
    try; `single`: torch keeps k, n - k + 1 and k + 1 in float32."""
    a, b, c, v_r, r, alpha, rest_m1, n_plus_1, head, (tail_m, tail_rest_m) = constants
    rounds = single and n > _F32_EXACT
    while True:
        us, v, k = _transformed_try(uniform, a, b, c)
        if rounds:
            k = float(_F32(k))
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        v *= alpha
        if v == 0.0:  # log(0) is below any bound
            return k
        rest_k1, k1, rest_k = n - k + 1, k + 1, n - k
        if rounds:
            rest_k1, k1, rest_k = (float(_F32(x)) for x in (_F32(rest_k) + _F32(1), k1, rest_k))
        bound = (head + n_plus_1 * math.log(rest_m1 / rest_k1)
                 + (k + 0.5) * math.log(r * rest_k1 / k1) + tail_m + tail_rest_m
                 - _stirling_tail(k) - _stirling_tail(rest_k))
        if math.log(v / (a / (us * us) + b)) <= bound:
            return k


def _binomial_inversion(n: float, logprob: float, uniform) -> int:
    """For a mean below 10: geometric gaps (ceil(log U / log(1 - q))) until they pass n."""
    total, successes = 0.0, 0
    while True:
        u = uniform()
        if u == 0.0:  # log(0): an infinite gap
            return successes
        total += math.ceil(math.log(u) / logprob)
        if total > n:
            return successes
        successes += 1

def _untwisted(key, pos) -> bool:
    """Whether the words are a seed's, not yet twisted (init_genrand's recurrence holds)."""
    return pos == 624 and key[1] == (1812433253 * (key[0] ^ (key[0] >> 30)) + 1) & 0xFFFFFFFF


def _map(fn, values: np.ndarray) -> np.ndarray:
    """fn (the C library's, as torch calls) over float64 values: numpy's own log and
    log1p differ from it in the last bit for some inputs (about 1 in 500 for log)."""
    return np.fromiter(map(fn, values.tolist()), _F64, len(values))


def _normal_16_float64(uniforms, mean, std):
    """normal_fill_16 for double: blocks of 16, the first 8 giving radii, the last 8 angles."""
    blocks = uniforms.reshape(-1, 2, 8)
    radius = np.sqrt(-2.0 * _map(math.log, (1.0 - blocks[:, 0]).reshape(-1))).reshape(-1, 8)
    theta = (_TWO_PI * blocks[:, 1]).reshape(-1)
    # numpy's float64 cos and sin agree with the C library's (checked over 10**6 angles here);
    # its log does not always, so log goes through math
    cos, sin = np.cos(theta).reshape(-1, 8), np.sin(theta).reshape(-1, 8)
    return np.stack([_fma64(radius * cos, std, mean), _fma64(radius * sin, std, mean)],
                    1).reshape(-1)


# ---- float32: torch's AVX2 kernel (normal_fill_16_AVX2, also taken on AVX-512 CPUs) ----------
# It computes log and sincos with avx_mathfun.h's cephes polynomials in float32, and the
# compiler fuses a multiply feeding an add into one rounding (FMA); both are copied here.

def _fma(a, b, c):
    """a * b + c rounded once: the float32 product is exact in float64."""
    wide = np.multiply(a, b, dtype=_F64)
    return np.add(wide, c, out=wide).astype(_F32)


def _split(a):
    """Veltkamp's split of a float64 into two halves of 26 bits each, exactly."""
    t = a * 134217729.0  # 2**27 + 1
    high = t - (t - a)
    return high, a - high


def _fma64(a, b, c):
    """a * b + c for float64 as one rounding (Dekker's exact product, then Knuth's exact
    sum); the last step rounds twice, which differs from an FMA only at rare ties."""
    a, b, c = (np.asarray(v, _F64) for v in (a, b, c))
    product = a * b
    (ah, al), (bh, bl) = _split(a), _split(b)
    product_error = ((ah * bh - product) + ah * bl + al * bh) + al * bl
    total = product + c
    back = total - product
    sum_error = (product - (total - back)) + (c - back)
    return total + (sum_error + product_error)


def _horner(x, coefficients):
    y = np.full_like(x, _F32(coefficients[0]))
    for c in coefficients[1:]:
        y = _fma(y, x, _F32(c))
    return y


_LOG_POLY = (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1,
             1.4249322787E-1, -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1,
             3.3333331174E-1)


def _log_avx(x):
    """log256_ps for x in (0, 1]."""
    bits = np.maximum(x, _F32(np.finfo(_F32).tiny)).view(np.int32)
    e = ((bits >> 23) - 0x7F).astype(_F32) + _F32(1)
    x = ((bits & ~0x7F800000) | _F32(0.5).view(np.int32)).view(_F32)  # mantissa in [0.5, 1)
    small = x < _F32(0.707106781186547524)
    x = (x - _F32(1)) + np.where(small, x, _F32(0))
    e = e - small.astype(_F32)
    z = x * x
    y = _horner(x, _LOG_POLY) * x
    y = _fma(y, z, e * _F32(-2.12194440e-4))
    y = _fma(z, _F32(-0.5), y)
    return _fma(e, _F32(0.693359375), x + y)


_SIN_POLY = (-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1)
_COS_POLY = (2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002)
_PI4_PARTS = (-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8)


def _sincos_avx(x):
    """sincos256_ps for x >= 0: reduce by pi/4 in three parts, two polynomials."""
    octant = (x * _F32(1.27323954473516)).astype(np.int32)
    octant = (octant + 1) & ~1
    y = octant.astype(_F32)
    for part in _PI4_PARTS:
        x = _fma(y, _F32(part), x)
    z = x * x
    cos_poly = _horner(z, _COS_POLY) * z
    cos_poly = _fma(cos_poly, z, -(z * _F32(0.5))) + _F32(1)
    sin_poly = _fma(_horner(z, _SIN_POLY) * z, x, x)
    first = (octant & 2) == 0
    sin = np.where(first, sin_poly, cos_poly)
    cos = np.where(first, cos_poly, sin_poly)
    sin = np.where((octant & 4) != 0, -sin, sin)
    cos = np.where((~(octant - 2) & 4) != 0, -cos, cos)
    return sin, cos


def _normal_16_float32(uniforms, mean, std):
    blocks = uniforms.reshape(-1, 2, 8)
    radius = np.sqrt(_F32(-2) * _log_avx(_F32(1) - blocks[:, 0]))
    sin, cos = _sincos_avx(_F32(_TWO_PI) * blocks[:, 1])
    mean, std = _F32(mean), _F32(std)
    return np.stack([_fma(radius * cos, std, mean), _fma(radius * sin, std, mean)],
                    1).reshape(-1)


def _fused(dtype):
    """torch's kernels are compiled to fuse `x * a + b` into one rounding (FMA)."""
    return _fma64 if dtype == _F64 else _fma


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if not isinstance(shape, int) else shape
