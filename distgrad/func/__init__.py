"""`distgrad.func`: torch.func's composable transforms on distgrad's reverse-mode autograd.

    >>> from distgrad.func import functional_call, grad, vmap
    >>> params = {k: v.detach() for k, v in model.named_parameters()}
    >>> def loss(p, x, y):
    ...     return F.cross_entropy(functional_call(model, p, (x[None],)), y[None])
    >>> per_sample_grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)

`grad`, `vjp`, `jacrev`, `hessian` are reverse mode as in torch; `jacfwd` and `jvp` are
too (distgrad has no forward-mode AD), with torch's values. `vmap` runs the function once
per slice and stacks the results (no batching rules). Tensors on workers stay there.
"""
from __future__ import annotations

from .batching import vmap
from .differentiate import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp
from .stateless import functional_call, replace_all_batch_norm_modules_, stack_module_state

__all__ = ["grad", "grad_and_value", "vmap", "hessian", "jacfwd", "jacrev", "jvp", "vjp",
           "linearize", "functional_call", "stack_module_state",
           "replace_all_batch_norm_modules_"]
