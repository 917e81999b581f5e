"""A module's state dict as torch lays it out, against torch (torch_twin.same): extra state
(get_extra_state / set_extra_state under `_extra_state`), the `_metadata` of versions, and
`_load_from_state_dict` overridden to load an older version (BatchNorm's
num_batches_tracked, InstanceNorm's old running statistics)."""
from __future__ import annotations

from collections import OrderedDict

from torch_twin import attempt, same


def _with_extra_state(T):
    class Counter(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = T.nn.Linear(2, 2)
            self.steps = 0

        def get_extra_state(self):
            return {"steps": self.steps}

        def set_extra_state(self, state):
            self.steps = state["steps"]

    class Model(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.counter = Counter()
            self.head = T.nn.Linear(2, 1)

    return Model


def test_extra_state_is_saved_and_loaded_under_its_key():
    def scenario(T):
        T.manual_seed(0)
        Model = _with_extra_state(T)
        a, b = Model(), Model()
        a.counter.steps = 7
        sd = a.state_dict()
        result = b.load_state_dict(sd)
        without = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("_extra_state"))
        loose = Model().load_state_dict(without, strict=False)
        return [list(sd), sd["counter._extra_state"], b.counter.steps, repr(result),
                attempt(lambda: Model().load_state_dict(without)), loose.missing_keys,
                attempt(lambda: T.nn.Linear(2, 2).load_state_dict(
                    {**T.nn.Linear(2, 2).state_dict(), "_extra_state": 1})),
                attempt(lambda: T.nn.Module().get_extra_state()),
                attempt(lambda: T.nn.Module().set_extra_state(1))]

    same(scenario)


def test_state_dict_metadata_gives_each_prefix_its_version():
    def scenario(T):
        model = T.nn.Sequential(T.nn.Linear(2, 3), T.nn.BatchNorm1d(3),
                                T.nn.Sequential(T.nn.InstanceNorm1d(3), T.nn.ReLU()))
        sd = model.state_dict()
        given = OrderedDict()
        model.state_dict(destination=given, prefix="m.")
        return [type(sd._metadata).__name__, list(sd._metadata.items()),
                hasattr(given, "_metadata"), list(given)]

    same(scenario)


def test_batchnorm_loads_a_checkpoint_from_before_num_batches_tracked():
    def scenario(T):
        bn = T.nn.BatchNorm1d(3)
        bn.num_batches_tracked.fill_(5)
        old = bn.state_dict()
        del old["num_batches_tracked"]
        old._metadata[""]["version"] = 1
        fresh = T.nn.BatchNorm1d(3)
        fresh.num_batches_tracked.fill_(2)
        result = fresh.load_state_dict(old)
        current = bn.state_dict()
        del current["num_batches_tracked"]  # version 2: the key is missing
        return [repr(result), fresh.num_batches_tracked,
                attempt(lambda: T.nn.BatchNorm1d(3).load_state_dict(current))]

    same(scenario)


def test_instance_norm_refuses_running_stats_of_an_unversioned_checkpoint():
    def scenario(T):
        tracked = T.nn.InstanceNorm1d(3, track_running_stats=True).state_dict()
        unversioned = OrderedDict(tracked)  # (no _metadata: torch reads no version)
        versioned = T.nn.InstanceNorm1d(3, track_running_stats=True).state_dict()
        return [attempt(lambda: T.nn.InstanceNorm1d(3).load_state_dict(unversioned)),
                attempt(lambda: T.nn.InstanceNorm1d(3).load_state_dict(versioned))]

    same(scenario)


def test_a_zero_dim_entry_loads_from_a_one_element_tensor():
    def scenario(T):
        m = T.nn.Module()
        m.register_buffer("scale", T.tensor(1.0))
        result = m.load_state_dict({"scale": T.tensor([3.0])})
        return [repr(result), m.scale]

    same(scenario)


def test_positional_state_dict_arguments_warn():
    def scenario(T):
        dest = OrderedDict()
        out = T.nn.Linear(1, 1).state_dict(dest, "p.")
        return [out is dest, list(dest)]

    same(scenario)
