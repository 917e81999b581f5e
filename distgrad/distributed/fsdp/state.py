"""What fully_shard attaches to a module (torch's FSDPState): its parameter group and the
forward hooks that gather its parameters before its forward and free them after."""
from __future__ import annotations

from ...autograd import grad_mode
from ...nn.parallel.distributed import split_batch

# The FSDP module whose forward is running outermost (None between forwards): it takes
# the whole batch and splits it; the modules it calls get their inputs as they are.
_forward_root = [None]


class FSDPState:
    def __init__(self, modules, group, mesh, mp_policy, reshard_after_forward):
        self.modules = tuple(modules)  # (torch names them so in its errors)
        self.group, self.mesh, self.mp_policy = group, mesh, mp_policy
        self.auto_reshard_after_forward = reshard_after_forward is None
        group.reshard_after_forward = True if reshard_after_forward is None \
            else reshard_after_forward
        self.is_root = None
        self.is_last_backward = True

    def attach(self) -> None:
        for module in self.modules:
            module.__dict__["_fsdp_state"] = self
            module.register_forward_pre_hook(self.pre_forward, prepend=True, with_kwargs=True)
            module.register_forward_hook(self.post_forward, always_call=True)

    def pre_forward(self, module, args, kwargs):
        self._lazy_init()
        if _forward_root[0] is None:
            _forward_root[0] = self
            workers = self.group.workers
            if _batch_covers(workers, *args, *kwargs.values()):
                args = tuple(split_batch(a, workers) for a in args)
                kwargs = {k: split_batch(v, workers) for k, v in kwargs.items()}
        args, kwargs = self._cast_inputs(args), self._cast_inputs(kwargs)
        self.group.unshard_for_forward()
        return args, kwargs

    def post_forward(self, module, args, output):
        if self.group.reshard_after_forward:
            self.group.reshard()
        if _forward_root[0] is self:
            _forward_root[0] = None
        if self.mp_policy.output_dtype is not None:
            output = _cast_floating(output, self.mp_policy.output_dtype)
        return output

    def _lazy_init(self) -> None:
        """torch's: the first FSDP module to run forward is the root; the others under it
        are not. The root keeps its parameters gathered after forward unless told."""
        if self.is_root is not None:
            return
        from .fully_shard import FSDPModule

        self.is_root = True
        if len(self.modules) > 1:
            raise RuntimeError(f"FSDP requires a single root module but got {self.modules}")
        for name, mod in self.modules[0].named_modules():
            if mod is self.modules[0] or not isinstance(mod, FSDPModule):
                continue
            state = mod._get_fsdp_state()
            if state.is_root is not None and state.is_root:
                raise RuntimeError(f"FSDP state has already been lazily initialized for {name}"
                                   "\nFSDP requires running forward through the root module "
                                   "first")
            state.is_root = False
        if self.auto_reshard_after_forward:
            self.group.reshard_after_forward = False
        self._check_no_shared_params()

    def _check_no_shared_params(self) -> None:
        """torch's: a parameter tied across two fully_shard groups would be two sharded
        copies; it must be in one group."""
        from .fully_shard import FSDPModule

        root = self.modules[0]
        names = {}
        for name, p in root.named_parameters():
            names.setdefault(id(p), name)
        seen = set()
        groups = {id(m._get_fsdp_state().group): m._get_fsdp_state().group
                  for m in root.modules() if isinstance(m, FSDPModule)}
        for group in groups.values():
            for param in group.fsdp_params:
                if param.orig_param_id in seen:
                    raise ValueError(
                        f"Parameter '{names.get(id(param.sharded_param))}' is shared with a "
                        "parameter already managed by another FSDP group. For shared/tied "
                        "parameters, use fully_shard([module_a, module_b]) to place them in "
                        "the same FSDP group.")
                seen.add(param.orig_param_id)

    def _cast_inputs(self, values):
        if not (self.mp_policy.cast_forward_inputs and self.mp_policy.param_dtype):
            return values
        return _cast_floating(values, self.mp_policy.param_dtype)


def _batch_covers(workers, *values) -> bool:
    """Whether every tensor input has a row for each worker. A smaller batch (one sample
    to generate from) runs whole, on the gathered parameters' copies."""
    return all(v.shape[0] >= len(workers) for v in values
               if hasattr(v, "_storage") and v.ndim > 0)


def _cast_floating(value, dtype):
    """torch's _apply_to_tensors(_cast_fp_tensor): floating tensors in `value` (nested in
    tuples, lists and dicts) cast to `dtype`."""
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_floating(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast_floating(v, dtype) for k, v in value.items()}
    if hasattr(value, "_storage") and value.is_floating_point() and value.dtype != dtype:
        return value.to(dtype)
    return value
