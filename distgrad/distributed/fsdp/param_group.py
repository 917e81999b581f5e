"""The parameters of one fully_shard call (torch's FSDPParamGroup): each a leaf split on a
dim (Shard(0) by default, torch.chunk's sizes) over the mesh's workers between uses, and
registered on its module, for a forward, as the differentiable gather of that leaf onto
every worker (redistribute to Replicate()), whose backward sums the copies' gradients and
splits the sum back onto the shards."""
from __future__ import annotations

from ... import dtypes
from ...autograd import grad_mode
from ...nn.parameter import Parameter
from .. import sharding
from ..sharding import Shard


class FSDPParam:
    """One managed parameter: where it is registered, its shards, and its dtypes."""

    def __init__(self, owners, param, placement, groups, mp_policy):
        self.owners = owners  # [(module, name)]: a tied parameter is registered on each
        self.orig_param_id = id(param)
        self.workers, self.groups = [w for g in groups for w in g], groups
        self.dim = placement.dim + param.ndim if placement.dim < 0 else placement.dim
        self.sharded_param = _sharded(param, self.dim, groups)
        self.param_dtype, self.reduce_dtype = _compute_dtypes(param.dtype, mp_policy)
        self.unsharded = None
        self.accumulated = None  # the shards' stand-in while gradients are not synced
        self._register(self.sharded_param)

    def _register(self, value) -> None:
        for module, name in self.owners:
            module._parameters[name] = value

    def unshard(self) -> None:
        if self.unsharded is None:
            self.unsharded = self._gathered()[1]
        self._register(self.unsharded)

    def unshard_for_forward(self, syncing: bool, on_backward, grad_scale=None) -> None:
        """Gathered afresh (the shards may have been stepped since). Not syncing, the
        gradient goes to a detached copy of the shards, kept aside; the next synced
        backward adds it to the gradient it reduces."""
        source = self.sharded_param
        if not syncing and self.sharded_param.requires_grad:
            if self.accumulated is None:
                self.accumulated = self.sharded_param.detach().requires_grad_()
            source = self.accumulated
        whole, self.unsharded = self._gathered(source)
        self._register(self.unsharded)
        if whole.requires_grad and grad_mode.is_grad_enabled():
            kept = self.accumulated if syncing else None
            whole.register_hook(
                lambda grad: self._post_backward(grad, kept, on_backward, grad_scale))

    def _post_backward(self, grad, kept, on_backward, grad_scale):
        """At the gradient of the gathered whole (the copies' gradients summed: torch's
        reduced gradient): the divide factor's scale, and what no-sync backwards kept."""
        on_backward()
        if grad_scale is not None:
            grad = grad * grad_scale
        if kept is not None and kept.grad is not None and kept is self.accumulated:
            self.accumulated = None
            grad = grad + kept.grad.full_tensor(grad.device_str).to(grad.dtype)
        return grad

    def reshard(self) -> None:
        self.unsharded = None
        self._register(self.sharded_param)

    def reset_sharded_param(self) -> None:
        """torch's, after a load_state_dict that assigned the module a new parameter: that
        one is the sharded parameter from now on (split as ours if it is not already)."""
        module, name = self.owners[0]
        given = module._parameters[name]
        if given is self.sharded_param or given is self.unsharded:
            return
        placed = sharding.is_sharded(given) and given._sharding.same_split(
            self.sharded_param._sharding)
        self.sharded_param = given if placed and isinstance(given, Parameter) else \
            _sharded(given, self.dim, self.groups)
        self.reshard()

    def _gathered(self, x=None):
        """(the parameter gathered whole on the first worker, its copy on every worker in
        param_dtype): redistribute to Replicate() in two steps, so that the gradient summed
        over the copies (in reduce_dtype, kept in the parameter's own dtype) is the first's
        (the copies' gradients meet there before they are split onto the shards)."""
        x = self.sharded_param if x is None else x
        if self.reduce_dtype is not None:
            x = x.to(self.reduce_dtype)
        whole = sharding.full_tensor(x, self.workers[0])
        full = sharding.replicate(whole, self.workers)
        if self.param_dtype is not None:
            full = full.to(self.param_dtype)
        return whole, full


def _compute_dtypes(orig: dtypes.dtype, mp_policy):
    """torch's FSDPParam.init_dtype_attrs: (param_dtype, reduce_dtype), None where no cast
    is needed (the gradient is computed in param_dtype; non-floating parameters keep theirs)."""
    param_dtype, reduce_dtype = mp_policy.param_dtype, mp_policy.reduce_dtype
    if reduce_dtype == param_dtype:
        reduce_dtype = None
    if param_dtype == orig or not orig.is_floating_point:
        param_dtype = None
    return param_dtype, reduce_dtype


def _sharded(param, dim: int, groups):
    """`param` as a Parameter split on `dim` over the workers of each group (one group: a
    1-D mesh; one a row of a 2-D mesh, each shard copied down its column: HSDP's
    (Replicate(), Shard(0))) with torch.chunk's sizes (the first ones ceil(n / world), then
    what is left, then empty): FSDP2's uneven split."""
    if sharding.is_sharded(param):
        raise NotImplementedError("fully_shard of a parameter already distributed (tensor "
                                  "parallel: FSDP over a 2-D mesh) is not supported")
    if dim >= param.ndim:
        raise AssertionError(f"Shard dim {dim} is invalid for {param.ndim}D tensor: "
                             f"{param.shape}")
    n, world = param.shape[dim], len(groups[0])
    if dim > 0 and n % world != 0:
        raise NotImplementedError(f"FSDP does not support uneven sharding on dim {dim}: "
                                  f"{param.shape} (world size: {world})")
    chunk = -(-n // world)
    sizes = [max(0, min(chunk, n - k * chunk)) for k in range(world)]
    with grad_mode.no_grad():
        source = param.detach()
    if len(groups) > 1:
        shards = sharding.shard_over_groups(source.requires_grad_(param.requires_grad), dim,
                                            groups, sizes)
    else:
        shards = sharding.shard(source, dim, groups[0], sizes=sizes)
    out = Parameter(shards, param.requires_grad)
    out._storage.version = param._version
    return out


class FSDPParamGroup:
    """The parameters one fully_shard call manages, gathered and freed together."""

    def __init__(self, managed, groups, mp_policy, shard_placement_fn):
        self.workers = [w for g in groups for w in g]  # (the batch is split over them all)
        self.fsdp_params = []
        for owners, param in managed:
            placement = shard_placement_fn(param) if shard_placement_fn is not None else None
            self.fsdp_params.append(FSDPParam(owners, param, placement or Shard(0), groups,
                                              mp_policy))
        self.reshard_after_forward = True
        self.reshard_after_backward = True
        self.reduce_grads = True
        self.gradient_divide_factor = None
        self._sharded_for_state_dicts()

    def _sharded_for_state_dicts(self) -> None:
        """torch's: a state dict is saved from and loaded into the sharded parameters, even
        when the gathered ones are registered (the root's after forward)."""
        owners = {id(m): m for p in self.fsdp_params for m, _ in p.owners}
        for module in owners.values():
            module.register_state_dict_pre_hook(lambda *args, **kwargs: self.reshard())
            module._register_load_state_dict_pre_hook(lambda *args, **kwargs: self.reshard())
            module.register_load_state_dict_post_hook(lambda *args: self._reset_sharded())

    def _reset_sharded(self) -> None:
        for p in self.fsdp_params:
            p.reset_sharded_param()

    @property
    def is_unsharded(self) -> bool:
        return any(p.unsharded is not None for p in self.fsdp_params)

    def unshard(self) -> None:
        for p in self.fsdp_params:
            p.unshard()

    def reshard(self) -> None:
        for p in self.fsdp_params:
            p.reshard()

    def unshard_for_forward(self) -> None:
        for p in self.fsdp_params:
            p.unshard_for_forward(self.reduce_grads, self._post_backward, self._grad_scale())

    def _grad_scale(self):
        """torch divides the sum of the ranks' gradients by the data-parallel size, or by
        gradient_divide_factor when set. The gradient of a loss over the whole batch is
        that average; by another factor it is scaled by size / factor."""
        if self.gradient_divide_factor is None:
            return None
        return len(self.workers) / self.gradient_divide_factor

    def _post_backward(self) -> None:
        """The first gradient of the group's in backward: its parameters are registered
        sharded again (the graph holds the gathered ones it needs)."""
        if self.reshard_after_backward:
            self.reshard()
