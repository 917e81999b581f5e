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


def test_batch_norm_running_stats_count_the_writes_torch_counts():
    # torch's __init__ resets them in place (version 1 each); its kernel then moves the
    # running mean and variance below autograd (not counted); num_batches_tracked += 1 is
    def scenario(torch):
        bn = torch.nn.BatchNorm1d(3)
        buffers = (bn.running_mean, bn.running_var, bn.num_batches_tracked)
        seen = [[b._version for b in buffers]]
        bn(torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -2.0], [0.1, 3.0, 1.0]]))
        seen.append([b._version for b in buffers])
        torch.nn.functional.batch_norm(torch.ones(2, 3), bn.running_mean, bn.running_var,
                                       training=True)
        seen.append([b._version for b in buffers])
        return seen, bn.running_mean

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


# ---- state dict hooks ----------------------------------------------------------------------

def test_state_dict_hooks_run_in_torchs_order_with_its_arguments():
    def scenario(T):
        seen = []
        model = T.nn.Sequential(T.nn.Linear(2, 2), T.nn.BatchNorm1d(2))
        inner = model[1]
        h1 = inner.register_state_dict_pre_hook(
            lambda m, prefix, keep_vars: seen.append(("pre", type(m).__name__, prefix, keep_vars)))
        inner.register_state_dict_post_hook(
            lambda m, sd, prefix, meta: seen.append(("post", prefix, sorted(sd), meta)))
        model._register_state_dict_hook(lambda m, sd, prefix, meta: OrderedDict(
            (k, v) for k, v in sd.items() if "num_batches" not in k))
        sd = model.state_dict()
        h1.remove()
        model.state_dict(keep_vars=True)
        bad = T.nn.Linear(1, 1)
        bad.register_state_dict_post_hook(lambda m, sd, prefix, meta: sd)
        return [seen, list(sd), attempt(bad.state_dict)]

    same(scenario)


def test_load_state_dict_hooks_see_and_change_what_is_loaded():
    def scenario(T):
        seen = []
        model = T.nn.Sequential(T.nn.Linear(2, 2), T.nn.Linear(2, 1))
        sd = model.state_dict()
        renamed = OrderedDict((k.replace("1.", "1.old_"), v) for k, v in sd.items())

        def rename_back(m, state_dict, prefix, meta, strict, missing, unexpected, errors):
            seen.append(("pre", type(m).__name__, prefix, meta, strict))
            for name in ("weight", "bias"):
                if prefix + "old_" + name in state_dict:
                    state_dict[prefix + name] = state_dict.pop(prefix + "old_" + name)

        def post(m, keys):
            seen.append(("post", type(m).__name__, list(keys.missing_keys),
                         list(keys.unexpected_keys)))

        model[1].register_load_state_dict_pre_hook(rename_back)
        model[1].register_load_state_dict_post_hook(post)
        model.register_load_state_dict_post_hook(post)
        result = model.load_state_dict(renamed)
        model._register_load_state_dict_pre_hook(
            lambda state_dict, prefix, *rest: seen.append(("private", prefix)))
        model.load_state_dict(sd)
        bad = T.nn.Linear(1, 1)
        bad.register_load_state_dict_post_hook(lambda m, keys: 1)
        return [seen, repr(result), attempt(lambda: bad.load_state_dict(bad.state_dict()))]

    same(scenario)


def test_get_buffer_get_parameter_and_set_submodule():
    def scenario(T):
        model = T.nn.Sequential(T.nn.Linear(2, 2), T.nn.BatchNorm1d(2))
        model.set_submodule("0", T.nn.Linear(2, 3))
        model.set_submodule("extra", T.nn.ReLU())
        return [model.get_buffer("1.running_mean"), model.get_parameter("0.bias").shape,
                [type(m).__name__ for m in model.children()],
                attempt(lambda: model.get_buffer("1.weight")),
                attempt(lambda: model.get_buffer("1.nothing")),
                attempt(lambda: model.get_parameter("0.training")),
                attempt(lambda: model.set_submodule("", T.nn.ReLU())),
                attempt(lambda: model.set_submodule("0", 3)),
                attempt(lambda: model.set_submodule("new", T.nn.ReLU(), strict=True)),
                attempt(lambda: model.set_submodule("0.weight", T.nn.ReLU())),
                attempt(lambda: model.set_submodule("5.x", T.nn.ReLU())),
                attempt(lambda: model.get_submodule("0.weight")),
                attempt(lambda: model.get_submodule("0.training")),
                attempt(lambda: model.get_parameter("0.weight.data"))]

    same(scenario)
