"""fully_shard (torch's FSDP2) for one driver: a module's parameters split on dim 0 over
the mesh's workers, gathered onto every worker for its forward, its gradients summed back
onto the shards; the module's class becomes torch's `FSDP<Class>` (FSDPModule first).

torch's FSDP runs one process per rank, each on its own batch, and averages the ranks'
gradients. With one driver the root FSDP module takes the whole batch and splits it on dim
0 over the workers (as DistributedDataParallel does); the loss over the whole batch then
has the gradient torch's ranks average to.
"""
from __future__ import annotations

import warnings

from ...nn.modules import Module
from ...nn.container import ModuleDict
from ...nn.modules.module import ModuleList
from ..device_mesh import DeviceMesh, init_device_mesh
from .api import MixedPrecisionPolicy, OffloadPolicy
from .param_group import FSDPParamGroup
from .state import FSDPState

_cls_to_fsdp_cls: dict = {}


def fully_shard(module, *, mesh: DeviceMesh | None = None, reshard_after_forward=None,
                shard_placement_fn=None, mp_policy: MixedPrecisionPolicy = MixedPrecisionPolicy(),
                offload_policy: OffloadPolicy = OffloadPolicy(), ignored_params=None,
                dp_mesh_dims=None):
    """torch's fully_shard: shard `module`'s parameters (those not managed by a fully_shard
    already applied to a submodule, nor in `ignored_params`) and return it, now an
    FSDPModule. Apply it bottom-up: each block, then the root. A list of modules is one
    group (a parameter tied between them is one sharded parameter)."""
    modules = list(module) if isinstance(module, (list, tuple)) else [module]
    for mod in modules:
        _validate_module(mod)
        if "_fsdp_state" in mod.__dict__:
            raise AssertionError("Each distinct composable distributed API can only be applied "
                                 "to a module once. fully_shard has already been applied to "
                                 f"the following module:\n{mod}")
    if dp_mesh_dims is not None:
        raise NotImplementedError("fully_shard: dp_mesh_dims (an SPMD mesh) is not supported")
    mesh = mesh if mesh is not None else init_device_mesh((_num_workers(),))
    groups = _shard_groups(mesh)
    reshard = _checked_reshard_after_forward(reshard_after_forward, len(groups[0]))
    managed = _managed_params(modules, set(ignored_params or ()))
    group = FSDPParamGroup(managed, groups, mp_policy, shard_placement_fn)
    FSDPState(modules, group, mesh, mp_policy, reshard).attach()
    for mod in modules:
        _swap_class(mod)
    return module


def _num_workers() -> int:
    from .. import runtime

    return runtime.num_workers()


def _shard_groups(mesh: DeviceMesh) -> list:
    """The workers each parameter is split over, one list per copy of the split: a 1-D
    mesh's workers; a 2-D mesh's rows (HSDP: replicated over dim 0, sharded over dim 1)."""
    if mesh.ndim == 1:
        return [mesh.workers]
    if mesh.ndim != 2:
        raise ValueError(f"fully_shard expects a 1D or 2D DeviceMesh but got {mesh}")
    if mesh.mesh_dim_names is None:
        raise AssertionError("Please init the 2D mesh for HSDP with mesh_dim_names specified")
    return [[f"worker:{k}" for k in row] for row in mesh.mesh.tolist()]


def _validate_module(module) -> None:
    if isinstance(module, (ModuleList, ModuleDict)) and \
            type(module).forward is Module.forward:
        raise ValueError("fully_shard does not support containers that do not implement "
                         f"forward: {module}")


def _checked_reshard_after_forward(value, shard_mesh_size: int):
    """None (root: False, others: True) or a bool; an int is a world size to reshard to,
    torch's checks, taken as True (the values are the same, only the memory differs)."""
    if value is None:
        return None
    if not isinstance(value, (bool, int)):
        raise ValueError("reshard_after_forward should be a bool or an int representing the "
                         f"group size to reshard to, not {value}")
    if isinstance(value, bool):
        return value
    if value < 1 or value > shard_mesh_size or shard_mesh_size % value != 0:
        raise ValueError("If passing reshard_after_forward as an int, it should be a "
                         f"factor of {shard_mesh_size}, not {value}")
    return value != 1


def _managed_params(roots: list, ignored: set) -> list:
    """([(owner, name), ...], parameter) for each parameter fully_shard(roots) manages:
    every parameter of their modules once (with each module it is registered on), not
    descending into modules fully_shard was applied to."""
    ignored_ids = {id(p) for p in ignored}
    found = {}
    for mod in _managed_modules(roots):
        for name, p in mod._parameters.items():
            if p is None or id(p) in ignored_ids:
                continue
            if p.ndim == 0:
                raise ValueError("fully_shard doesn't support scalar parameters. "
                                 f"Change {name} to a 1D tensor with numel equal to 1.")
            found.setdefault(id(p), ([], p))[0].append((mod, name))
    return list(found.values())


def _managed_modules(roots: list) -> list:
    """The roots' modules in post-order, each once, without those under a nested FSDP
    module."""
    found, visited = [], set()
    root_ids = {id(r) for r in roots}

    def visit(mod):
        if id(mod) not in root_ids and isinstance(mod, FSDPModule):
            return
        visited.add(id(mod))
        for child in mod.children():
            if id(child) not in visited:
                visit(child)
        found.append(mod)

    for root in roots:
        if id(root) not in visited:
            visit(root)
    return found


def _swap_class(module: Module) -> None:
    cls = type(module)
    if isinstance(module, FSDPModule):
        return
    new_cls = _cls_to_fsdp_cls.get(cls)
    if new_cls is None:
        new_cls = type(f"FSDP{cls.__name__}", (FSDPModule, cls),
                       {"__deepcopy__": _unimplemented_deepcopy})
        _cls_to_fsdp_cls[cls] = new_cls
    module.__class__ = new_cls


def _unimplemented_deepcopy(*args, **kwargs):
    raise AssertionError("FSDP does not support deepcopy. Please use state dict for "
                         "serialization.")


class FSDPModule:
    """torch's: the base put before a module's class by fully_shard."""

    _orig_cls_mro_index = 2

    def __new__(cls, *args, **kwargs):
        """A new module of such a class (indexing into a sharded container) is of the
        original class, as torch's."""
        orig_cls = cls.__mro__[cls._orig_cls_mro_index]
        self = orig_cls.__new__(orig_cls)
        self.__init__(*args, **kwargs)
        return self

    def _get_fsdp_state(self) -> FSDPState:
        state = self.__dict__.get("_fsdp_state")
        if state is None:
            raise AssertionError(f"No FSDP state found on {self}")
        return state

    def reshard(self) -> None:
        """Register the sharded parameters (not recursive)."""
        self._get_fsdp_state().group.reshard()

    def unshard(self, async_op: bool = False):
        """Gather the parameters and register them whole (not recursive); with async_op, a
        handle whose wait() is a no-op (the gather is recorded in order already)."""
        self._get_fsdp_state().group.unshard()
        return UnshardHandle() if async_op else None

    def set_requires_gradient_sync(self, requires_gradient_sync: bool, *,
                                   recurse: bool = True) -> None:
        """False: later backwards keep their gradients aside (unsharded, in torch) instead
        of adding them to the sharded `.grad`; the first backward after setting it back
        adds them all (torch's no_sync gradient accumulation)."""
        for state in self._states(recurse):
            state.group.reduce_grads = requires_gradient_sync

    def set_reshard_after_forward(self, reshard_after_forward: bool, recurse: bool = True) -> None:
        if not isinstance(reshard_after_forward, bool):
            raise ValueError(f"reshard_after_forward should be a bool, got "
                             f"{type(reshard_after_forward)}")
        for state in self._states(recurse):
            state.auto_reshard_after_forward = False
            state.group.reshard_after_forward = reshard_after_forward

    def set_reshard_after_backward(self, reshard_after_backward: bool, *,
                                   recurse: bool = True) -> None:
        for state in self._states(recurse):
            state.group.reshard_after_backward = reshard_after_backward

    def set_modules_to_forward_prefetch(self, modules: list) -> None:
        """torch's hint for which gathers to start early in forward: checked and kept as
        torch keeps it. Each worker runs a gather as soon as the shards it needs are
        there, in the order recorded; the values do not depend on it."""
        _assert_all_fsdp_modules(modules)
        self._get_fsdp_state().forward_prefetch = list(modules)

    def set_modules_to_backward_prefetch(self, modules: list) -> None:
        """torch's prefetch order for the gathers in backward (see the forward one)."""
        _assert_all_fsdp_modules(modules)
        self._get_fsdp_state().backward_prefetch = list(modules)

    def set_gradient_divide_factor(self, factor: float) -> None:
        """The ranks' gradients summed and divided by `factor` instead of averaged."""
        self._get_fsdp_state().group.gradient_divide_factor = factor

    def set_reduce_scatter_divide_factor(self, factor: float) -> None:
        warnings.warn("Use `set_gradient_divide_factor` instead", DeprecationWarning,
                      stacklevel=2)
        self.set_gradient_divide_factor(factor)

    def set_is_last_backward(self, is_last_backward: bool) -> None:
        """(torch waits for pending reductions on the last one; here none are pending)"""
        self._get_fsdp_state().is_last_backward = is_last_backward

    def _states(self, recurse: bool) -> list:
        modules = list(self.modules()) if recurse else [self]
        return [m._get_fsdp_state() for m in modules if isinstance(m, FSDPModule)]

    def _apply(self, *args, **kwargs):
        self.reshard()
        return super()._apply(*args, **kwargs)


def _assert_all_fsdp_modules(modules) -> None:
    for module in modules:
        if not isinstance(module, FSDPModule):
            raise ValueError(f"Expects FSDPModule but got {type(module)}: {module}")


class UnshardHandle:
    """torch's handle of an unshard(async_op=True)."""

    def wait(self) -> None:
        return


def register_fsdp_forward_method(module: Module, method_name: str) -> None:
    """Run `module.method_name` between FSDP's pre- and post-forward (a no-op for a module
    that is not an FSDPModule), as torch's."""
    if not isinstance(module, FSDPModule):
        return
    if not hasattr(module, method_name):
        raise ValueError(f"{type(module)} does not have a method {method_name}")
    orig = getattr(module, method_name)

    def wrapped(*args, **kwargs):
        state = module._get_fsdp_state()
        args, kwargs = state.pre_forward(module, args, kwargs)
        return state.post_forward(module, args, orig(*args, **kwargs))

    setattr(module, method_name, wrapped)


__all__ = ["fully_shard", "FSDPModule", "UnshardHandle", "register_fsdp_forward_method"]
