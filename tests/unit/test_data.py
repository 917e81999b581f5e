"""distgrad.utils.data against torch.utils.data: the same datasets give the same batches
(values, dtypes and structure: tensors, numbers, numpy arrays, dicts, tuples, lists,
namedtuples, strings), the same len(), and torch's errors for bad arguments; shuffling is
deterministic under a seed and a Generator, and a permutation of the data."""
from __future__ import annotations

import collections
import os
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import distgrad
import distgrad.utils.data as ddata

Point = collections.namedtuple("Point", ["x", "y"])
X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
Y = np.arange(10, dtype=np.int64)


def same(d, t) -> None:
    """d (distgrad's) is t (torch's): the same containers, and tensors of equal values."""
    if isinstance(t, torch.Tensor):
        assert isinstance(d, distgrad.Tensor), type(d)
        assert repr(d.dtype) == str(t.dtype) and tuple(d.shape) == tuple(t.shape)
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    elif isinstance(t, dict):
        assert type(d) is type(t) and list(d) == list(t)
        for k in t:
            same(d[k], t[k])
    elif isinstance(t, (list, tuple)):
        assert type(d).__name__ == type(t).__name__ and len(d) == len(t)
        for a, b in zip(d, t):
            same(a, b)
    else:
        assert type(d) is type(t) and d == t


def both(make):
    """make(lib, data) for (distgrad, distgrad.utils.data) and (torch, torch.utils.data)."""
    return make(distgrad, ddata), make(torch, tdata)


def raised(fn) -> tuple:
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def same_error(make) -> None:
    d, t = raised(lambda: make(distgrad, ddata)), raised(lambda: make(torch, tdata))
    assert d == t


class Samples:
    """A map-style dataset of nested samples, written once for both libraries."""

    def __init__(self, lib, n=7):
        self.lib, self.n = lib, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        lib = self.lib
        return {"x": lib.tensor(X[i]), "pair": (i, float(i) / 2), "list": [np.float32(i), True],
                "point": Point(np.arange(i, i + 2), lib.tensor([i, -i])), "name": f"s{i}",
                "arr": X[i, :2].astype(np.float64)}


@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (7, True)])
def test_loader_batches_are_torchs(batch_size, drop_last):
    def make(lib, data):
        ds = data.TensorDataset(lib.tensor(X), lib.tensor(Y))
        loader = data.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
        return len(loader), list(loader)

    (dn, dbatches), (tn, tbatches) = both(make)
    assert dn == tn == len(tbatches)
    same(dbatches, tbatches)


@pytest.mark.parametrize("drop_last", [False, True])
def test_nested_samples_collate_as_torchs(drop_last):
    def make(lib, data):
        return list(data.DataLoader(Samples(lib), batch_size=3, drop_last=drop_last))

    same(*both(make))


def test_default_collate_and_default_convert_directly():
    batch = [(1, 2.5, np.int64(3)), (4, 5.5, np.int64(6))]
    same(ddata.default_collate(batch), tdata.default_collate(batch))
    same(ddata.default_collate([{"a": [1, 2]}, {"a": [3, 4]}]),
         tdata.default_collate([{"a": [1, 2]}, {"a": [3, 4]}]))
    same(ddata.default_collate([True, False]), tdata.default_collate([True, False]))
    sample = {"a": np.arange(3), "b": (np.float64(1.5), "s"), "p": Point(np.zeros(2), 1)}
    same(ddata.default_convert(sample), tdata.default_convert(sample))


def test_batch_size_none_yields_converted_samples():
    def make(lib, data):
        return list(data.DataLoader(Samples(lib, 3), batch_size=None))

    same(*both(make))


def test_custom_collate_fn_sampler_and_batch_sampler():
    def make(lib, data):
        ds = data.TensorDataset(lib.tensor(X), lib.tensor(Y))
        by_sampler = data.DataLoader(ds, batch_size=2, sampler=[9, 0, 4, 4, 1],
                                     collate_fn=lambda b: [y.item() for _, y in b])
        batches = data.BatchSampler(data.SequentialSampler(range(10)), 4, False)
        by_batch_sampler = data.DataLoader(ds, batch_sampler=batches)
        return (len(by_sampler), list(by_sampler), len(by_batch_sampler),
                list(by_batch_sampler))

    same(*both(make))


def test_subset_concat_and_in_process_workers():
    def make(lib, data):
        ds = data.TensorDataset(lib.tensor(X), lib.tensor(Y))
        sub = data.Subset(ds, [8, 2, 5])
        cat = ds + data.TensorDataset(lib.tensor(X[:2] * 2), lib.tensor(Y[:2] + 100))
        return (list(data.DataLoader(sub, batch_size=2)), len(cat), cat[-1], cat[10], cat[3],
                list(data.DataLoader(cat, batch_size=4, num_workers=2)))

    same(*both(make))


def test_stack_dataset_of_tuples_and_of_names():
    def make(lib, data):
        ds = data.TensorDataset(lib.tensor(X), lib.tensor(Y))
        names = [f"s{i}" for i in range(len(X))]
        tuples = data.StackDataset(ds, data.Subset(names, list(range(len(X)))[::-1]))
        named = data.StackDataset(pair=ds, sample=names)
        return (len(tuples), tuples[2], named[3], tuples.__getitems__([0, 4]),
                named.__getitems__([1]), list(data.DataLoader(tuples, batch_size=4)),
                list(data.DataLoader(named, batch_size=5)))

    same(*both(make))
    for bad in (lambda lib, data: data.StackDataset(data.TensorDataset(lib.ones(2)), y=[1, 2]),
                lambda lib, data: data.StackDataset(),
                lambda lib, data: data.StackDataset(lib.ones(2), lib.ones(3))):
        same_error(bad)


def Stream(data, n):
    """An iterable dataset of n integers (with a len), of data's IterableDataset."""
    kind = type("Stream", (data.IterableDataset,), {"__iter__": lambda s: iter(range(n)),
                                                     "__len__": lambda s: n})
    return kind()


@pytest.mark.parametrize("batch_size,drop_last", [(None, False), (2, False), (2, True)])
def test_iterable_dataset_batches_and_len(batch_size, drop_last):
    def make(lib, data):
        loader = data.DataLoader(Stream(data, 5), batch_size=batch_size, drop_last=drop_last)
        return len(loader), list(loader)

    same(*both(make))


def test_samplers_as_torchs():
    for make in (lambda data: list(data.SequentialSampler(range(4))),
                 lambda data: list(data.BatchSampler(range(7), 3, False)),
                 lambda data: list(data.BatchSampler(range(7), 3, True)),
                 lambda data: len(data.BatchSampler(range(7), 3, True)),
                 lambda data: len(data.RandomSampler(range(7), num_samples=12)),
                 lambda data: len(data.WeightedRandomSampler([1.0, 2.0], 5))):
        assert make(ddata) == make(tdata)


def test_shuffle_is_a_permutation_deterministic_under_a_seed_and_a_generator():
    ds = ddata.TensorDataset(distgrad.tensor(Y))

    def order(**kwargs):
        return [int(y) for (b,) in ddata.DataLoader(ds, batch_size=3, shuffle=True, **kwargs)
                for y in b.tolist()]

    distgrad.manual_seed(3)
    first, second = order(), order()
    distgrad.manual_seed(3)
    assert order() == first and order() == second
    assert first != second and sorted(first) == list(range(10))
    by_gen = order(generator=distgrad.Generator().manual_seed(5))
    assert by_gen == order(generator=distgrad.Generator().manual_seed(5))
    assert sorted(by_gen) == list(range(10)) and by_gen != list(range(10))


def test_random_samplers():
    g = distgrad.Generator().manual_seed(1)
    drawn = list(ddata.RandomSampler(range(5), num_samples=12, generator=g))
    assert len(drawn) == 12 and sorted(drawn[:5]) == sorted(drawn[5:10]) == list(range(5))
    with_replacement = list(ddata.RandomSampler(range(5), replacement=True, num_samples=40))
    assert len(with_replacement) == 40 and set(with_replacement) <= set(range(5))
    sub = list(ddata.SubsetRandomSampler([7, 3, 9], generator=g))
    assert sorted(sub) == [3, 7, 9]
    weighted = ddata.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50,
                                           generator=distgrad.Generator().manual_seed(2))
    picks = list(weighted)
    assert set(picks) == {1, 3} and picks == list(weighted.__class__(
        [0.0, 1.0, 0.0, 3.0], 50, generator=distgrad.Generator().manual_seed(2)))
    assert sorted(ddata.WeightedRandomSampler([1, 1, 1], 3, replacement=False)) == [0, 1, 2]


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.3, 0.4], [0.25, 0.75], [0.5, 0.5, 0.0]])
def test_random_split_lengths_as_torchs_and_seeded(lengths):
    with warnings.catch_warnings(record=True) as dw:
        warnings.simplefilter("always")
        parts = ddata.random_split(range(10), lengths,
                                   generator=distgrad.Generator().manual_seed(42))
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        tparts = tdata.random_split(range(10), lengths,
                                    generator=torch.Generator().manual_seed(42))
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert [str(w.message) for w in dw] == [str(w.message) for w in tw]
    assert sorted(i for p in parts for i in p) == list(range(10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = ddata.random_split(range(10), lengths,
                                   generator=distgrad.Generator().manual_seed(42))
    assert [list(p) for p in parts] == [list(p) for p in again]


BAD = {
    "batch_sampler with batch_size": lambda lib, data: data.DataLoader(
        range(4), batch_size=2, batch_sampler=[[0, 1]]),
    "batch_sampler with drop_last": lambda lib, data: data.DataLoader(
        range(4), batch_sampler=[[0, 1]], drop_last=True),
    "sampler with shuffle": lambda lib, data: data.DataLoader(range(4), sampler=[0],
                                                              shuffle=True),
    "batch_size None with drop_last": lambda lib, data: data.DataLoader(
        range(4), batch_size=None, drop_last=True),
    "negative num_workers": lambda lib, data: data.DataLoader(range(4), num_workers=-1),
    "prefetch without workers": lambda lib, data: data.DataLoader(range(4), prefetch_factor=2),
    "persistent without workers": lambda lib, data: data.DataLoader(range(4),
                                                                    persistent_workers=True),
    "iterable with shuffle": lambda lib, data: data.DataLoader(Stream(data, 3), shuffle=True),
    "iterable with sampler": lambda lib, data: data.DataLoader(Stream(data, 3), sampler=[0]),
    "zero batch_size": lambda lib, data: data.DataLoader(range(4), batch_size=0),
    "bool drop_last": lambda lib, data: data.BatchSampler(range(4), 2, drop_last=1),
    "num_samples 0": lambda lib, data: data.RandomSampler(range(4), num_samples=0),
    "replacement not bool": lambda lib, data: data.RandomSampler(range(4), replacement=1),
    "weights 2d": lambda lib, data: data.WeightedRandomSampler([[1.0, 2.0]], 2),
    "lengths sum": lambda lib, data: data.random_split(range(4), [1, 2]),
    "fraction out of range": lambda lib, data: data.random_split(range(4), [1.5, -0.5]),
    "tensor sizes": lambda lib, data: data.TensorDataset(lib.ones(2), lib.ones(3)),
    "concat of nothing": lambda lib, data: data.ConcatDataset([]),
    "collate of a set": lambda lib, data: data.default_collate([{1}, {2}]),
    "collate of uneven lists": lambda lib, data: data.default_collate([[1, 2], [3]]),
    "collate of a string array": lambda lib, data: data.default_collate([np.array(["a"])] * 2),
    "set batch_size later": lambda lib, data: setattr(data.DataLoader(range(4)), "batch_size",
                                                      2),
    "dataset without getitem": lambda lib, data: data.Dataset()[0],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_raise_torchs_errors(case):
    same_error(BAD[case])


def test_generator_seeds_randperm_and_rand():
    g1, g2 = distgrad.Generator().manual_seed(7), distgrad.Generator().manual_seed(7)
    assert distgrad.randperm(9, generator=g1).tolist() == \
        distgrad.randperm(9, generator=g2).tolist()
    assert distgrad.rand(3, generator=g1).tolist() == distgrad.rand(3, generator=g2).tolist()
    assert g1.initial_seed() == 7 and distgrad.Generator().initial_seed() == \
        torch.Generator().initial_seed()


# ---- num_workers > 0: torch's worker processes, stood for in-process ---------------------------

class Augmented:
    """A map-style dataset drawing a random augmentation from each global stream (torch's,
    Python's, numpy's), and naming the worker that fetched it."""

    def __init__(self, lib, data, n=6):
        self.lib, self.data, self.n = lib, data, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import random

        info = self.data.get_worker_info()
        return (i, self.lib.rand(()).item(), random.random(), float(np.random.rand()),
                -1 if info is None else info.id)


@pytest.mark.parametrize("num_workers,persistent", [(0, False), (2, False), (2, True),
                                                     (3, True)])
def test_workers_draw_torchs_augmentations_from_their_own_seeded_streams(num_workers,
                                                                         persistent):
    """Each worker's streams are seeded as torch seeds its process (base seed + id); batches
    go to the workers in turn; persistent workers keep their streams, and the base seed is
    drawn once, so the next pass's shuffle is torch's too."""
    def make(lib, data):
        import random

        lib.manual_seed(1)
        random.seed(2)  # (the driver's own streams, which a pass without workers draws from)
        np.random.seed(3)
        loader = data.DataLoader(Augmented(lib, data), batch_size=2, shuffle=True,
                                 num_workers=num_workers, persistent_workers=persistent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (3 workers on a 2-core machine)
            passes = [list(loader) for _ in range(2)]
        return passes, lib.rand(2)

    same(*both(make))


class Split:
    """An iterable dataset of n items, split between the workers when `split`."""

    def __init__(self, data, n, split):
        self.data, self.n, self.split = data, n, split

    def __iter__(self):
        info = self.data.get_worker_info()
        if not self.split or info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("batch_size,drop_last", [(2, False), (2, True), (None, False)])
def test_an_iterable_dataset_is_iterated_by_every_worker(split, batch_size, drop_last):
    """Unsplit, each worker yields the whole stream (torch's duplicates); split by worker
    info, the workers' batches come in turn until each stream ends."""
    def make(lib, data):
        class Iterable(Split, data.IterableDataset):
            pass

        return list(data.DataLoader(Iterable(data, 7, split), batch_size=batch_size,
                                    drop_last=drop_last, num_workers=2))

    same(*both(make))


def test_worker_init_fn_runs_in_each_worker_with_its_info():
    def make(lib, data):
        def init(worker_id):
            info = data.get_worker_info()
            np.random.seed((info.seed + 10 * info.id) % 2 ** 32)  # a common recipe

        class Draws(data.Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, i):
                info = data.get_worker_info()
                return (float(np.random.rand()), info.id, info.num_workers,
                        info.dataset is not None, type(info).__name__)

        lib.manual_seed(5)
        return list(data.DataLoader(Draws(), batch_size=2, num_workers=2, worker_init_fn=init))

    same(*both(make))
    assert distgrad.utils.data.get_worker_info() is None


def test_an_error_in_a_worker_is_raised_in_torchs_words():
    def make(lib, data):
        class Failing(data.Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, i):
                if i == 3:
                    raise ValueError("bad sample 3")
                return i

        return list(data.DataLoader(Failing(), batch_size=1, num_workers=2))

    d, t = raised(lambda: make(distgrad, ddata)), raised(lambda: make(torch, tdata))
    first = [(kind, message.splitlines()[:2]) for kind, message in (d, t)]
    assert first[0] == first[1] and "bad sample 3" in d[1], first


def test_loader_warnings_as_torchs():
    def make(lib, data):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            list(data.DataLoader(range(4), batch_size=2, pin_memory=True))
            data.DataLoader(range(4), num_workers=len(os.sched_getaffinity(0)) + 1)
        return [str(w.message) for w in seen]

    d, t = both(make)
    assert d == t, (d, t)


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False),
                                                  (9, 3, True)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_shares_as_torchs(n, replicas, drop_last, shuffle):
    def make(lib, data):
        shares = []
        for rank in range(replicas):
            sampler = data.DistributedSampler(range(n), num_replicas=replicas, rank=rank,
                                              shuffle=shuffle, seed=4, drop_last=drop_last)
            passes = []
            for epoch in range(2):
                sampler.set_epoch(epoch)
                passes.append(list(sampler))
            shares.append((len(sampler), sampler.total_size, passes))
        return shares

    same(*both(make))
    for bad in (lambda lib, data: data.DistributedSampler(range(4), num_replicas=2, rank=2),
                lambda lib, data: data.DistributedSampler(range(4))):
        same_error(bad)


def test_distributed_sampler_of_one_driver_is_the_whole_dataset():
    """With distgrad.distributed running, the driver is the one replica (DDP splits its
    batches over the workers)."""
    import distgrad.distributed as dist

    dist.init(num_workers=2, backend="local")
    try:
        sampler = ddata.DistributedSampler(range(6), seed=1)
        expected = tdata.DistributedSampler(range(6), num_replicas=1, rank=0, seed=1)
        assert (sampler.num_replicas, sampler.rank) == (1, 0)
        assert list(sampler) == list(expected)
    finally:
        dist.shutdown()
