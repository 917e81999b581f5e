"""torch's CPU random stream, bit for bit: a 32-bit Mersenne Twister (mt19937) seeded with
the seed's low 32 bits, and torch's ways of turning its words into numbers (ATen's
DistributionsHelper.h, TransformationHelper.h and cpu/DistributionTemplates.h).

The words come from numpy's MT19937 (the same generator, seeded the same way), so every
transformation below is vectorized (gamma's rejection loop is not: one element at a time,
as torch's). What torch does not define the same way here (poisson, binomial, ...) draws
from `numpy`, a numpy Generator over the same words: deterministic
under a seed, but not torch's numbers.
"""
from __future__ import annotations

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
        fill = _normal_16_float32 if dtype == _F32 else _normal_16_float64
        whole = n - n % 16
        out = self.uniform01(n, dtype)
        out[:whole] = fill(out[:whole], mean, std)
        if n % 16:  # torch draws 16 more for the last 16 (overwriting some blocks' too)
            out[n - 16:] = fill(self.uniform01(16, dtype), mean, std)
        return out.reshape(shape)

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
