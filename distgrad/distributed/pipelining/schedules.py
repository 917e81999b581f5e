"""Pipeline schedules: GPipe, 1F1B and zero bubble, driven from the one driver.

A schedule here holds every stage (PyTorch's runs one per rank). `step` splits the batch
into micro-batches (as `torch.tensor_split` on dim 0, or on the dims of the schedule's
chunk specs: microbatch.py), and records the stages' actions in
the order plan.py finds for the schedule. Recording an action queues its ops for its
stage's worker; the whole step is queued under `hold_runs`, so each worker gets its part
of the step as one run (on Ray; a few in-process), and runs it in that order while the
other workers run theirs. Activations and gradients go worker to worker; a stage never
waits on a send (the receiver's connection reader takes it whatever its run is doing).

Gradients accumulate over the micro-batches in the parameters' `.grad` on their workers,
each micro-batch's loss gradient unscaled; then, as PyTorch's `scale_grads` (for a loss
that averages), each `.grad` is divided by n_microbatches: for an even split, the step's
gradients are the whole batch's.
"""
from __future__ import annotations

import inspect

from ...autograd import grad_mode
from ...tensor import Tensor
from .. import runtime
from ..coordinator import hold_runs
from . import looped
from .plan import make_plan
from ._utils import PipeliningMetadataError
from .microbatch import merge_chunks, split_args_kwargs_into_chunks, split_tensor
from .stage import PipelineStage


class _PipelineSchedule:
    _policy = None

    def __init__(self, stages, n_microbatches: int, loss_fn=None, args_chunk_spec=None,
                 kwargs_chunk_spec=None, output_merge_spec=None, scale_grads: bool = True):
        if isinstance(stages, PipelineStage):
            stages = [stages]
        stages = sorted(stages, key=lambda s: s.stage_index)
        if not stages:
            raise ValueError("a pipeline schedule needs its stages")
        n = stages[0].num_stages
        if [s.stage_index for s in stages] != list(range(n)) or any(
                s.num_stages != n for s in stages):
            raise ValueError(f"{type(self).__name__} takes all the stages of the pipeline, one "
                             f"of each index 0..num_stages-1; got indices "
                             f"{[s.stage_index for s in stages]} of {n}")
        if not isinstance(n_microbatches, int) or n_microbatches < 1:
            raise ValueError(f"n_microbatches must be a positive int, got {n_microbatches!r}")
        self._stages = stages
        self._n_microbatches = n_microbatches
        self._loss_fn = loss_fn
        self._args_chunk_spec, self._kwargs_chunk_spec = args_chunk_spec, kwargs_chunk_spec
        self._output_merge_spec = output_merge_spec
        self.scale_grads = scale_grads
        self._has_backward = loss_fn is not None
        self._plan = self._make_plan(backward=self._has_backward)
        self._actions = _with_weights_together(self._plan)
        self._forward_actions = None  # eval's (made when first asked for)
        # whether the last step whose stages' first forwards ran had a backward: torch's
        # schedule first runs each stage's forward on its own to infer its shapes, on its
        # first step and when switching between step and eval (_first_forward_unwrapped)
        self._inferred_for = None

    def _make_plan(self, backward: bool):
        stages = self._stages
        return make_plan(self._policy, self._n_microbatches, [s.device for s in stages],
                         [s.sources for s in stages], backward=backward)

    @property
    def pipeline_order(self) -> dict:
        """Per worker, its actions in the order it runs them ("0F1": stage 0's forward of
        micro-batch 1; B: input gradients; W: weight gradients)."""
        return {w: [repr(a) for a in acts] for w, acts in self._plan.per_worker().items()}

    @property
    def theoretical_bubble_fraction(self) -> float:
        """The workers' idle share of the step if every action took the same time."""
        return self._plan.bubble_fraction

    def step(self, *args, target=None, losses=None, return_outputs: bool = True,
             loss_kwargs=None, **kwargs):
        """One step on the whole batch `args` and `kwargs` (each tensor split on dim 0 into
        n_microbatches, or on its chunk spec's dim; anything else given whole to each; a
        batch of fewer rows splits into fewer, and fails as torch's), with `target` for the loss
        (`loss_fn(output, target, **loss_kwargs)`); the per-micro-batch losses go into
        `losses` (a list); returns the last stage's output for the whole batch (on its
        worker). A keyword argument goes to every stage whose forward takes it (PyTorch
        gives each rank's stage the keywords of that rank's `step` call)."""
        n = self._n_microbatches
        self._check_grad_mode()
        with hold_runs(runtime.current().queues):
            arg_mbs, kwarg_mbs = split_args_kwargs_into_chunks(
                args, kwargs, n, self._args_chunk_spec, self._kwargs_chunk_spec) \
                if args or kwargs else ([()] * n, None)
            target_mbs = _split_target(target, n) if target is not None else None
            outs = self.step_microbatches(arg_mbs, target_mbs, losses, return_outputs,
                                          kwarg_mbs=kwarg_mbs or None, loss_kwargs=loss_kwargs)
            del arg_mbs, kwarg_mbs, target_mbs  # (inside: their frees go with the step's runs)
            return merge_chunks(outs, self._output_merge_spec) if return_outputs else None

    def eval(self, *args, target=None, losses=None, **kwargs):
        """`step` with forwards only (validation): the losses are computed when the
        schedule has a loss_fn and a target is given; no gradient is made."""
        if self._forward_actions is None:
            self._forward_actions = _with_weights_together(self._make_plan(backward=False))
        saved = self._has_backward, self._actions
        self._has_backward, self._actions = False, self._forward_actions
        try:
            return self.step(*args, target=target, losses=losses, **kwargs)
        finally:
            self._has_backward, self._actions = saved

    def _first_forward_unwrapped(self) -> bool:
        """Whether this step's first forward of each stage raises its error as it comes:
        torch's schedule runs that forward once more on its own first, outside the wrapper
        of a stage's errors, to infer the stage's shapes (unless every stage was given
        examples of its inputs and outputs), on its first step and after switching
        between step and eval."""
        return self._inferred_for != self._has_backward and not all(
            s.declared for s in self._stages)

    def _check_grad_mode(self) -> None:
        if self._has_backward and not grad_mode.is_grad_enabled():
            raise RuntimeError("step() requires gradients to be enabled for backward "
                               "computation; it should not be used under torch.no_grad() "
                               "context. Please call eval() instead.")

    def step_microbatches(self, arg_mbs, target_mbs=None, losses=None,
                          return_outputs: bool = True, kwarg_mbs=None, loss_kwargs=None):
        """One step on micro-batches given one by one (any shapes: nothing is declared
        up front, each is recorded as it is): arg_mbs[i] is micro-batch i's tuple of
        arguments, kwarg_mbs[i] its keyword arguments, target_mbs[i] its target. Returns
        the last stage's output per micro-batch."""
        n = self._n_microbatches
        self._check_grad_mode()
        for name, mbs in (("arg_mbs", arg_mbs), ("kwarg_mbs", kwarg_mbs),
                          ("target_mbs", target_mbs)):
            if mbs is None:
                continue
            if not isinstance(mbs, list):
                raise TypeError(f"{name} must be a list but got a {type(mbs)}")
            if len(mbs) != n:
                raise ValueError(f"Expecting {n} {name} but got {len(mbs)}")
        if self._has_backward and target_mbs is None:
            raise PipeliningMetadataError(f"Stage {self._stages[-1].stage_index}: loss_fn and "
                                          "target required for last stage")
        if losses is not None and not isinstance(losses, list):
            raise TypeError(f"losses must be a list but got a {type(losses)}")
        with_loss = self._loss_fn is not None and target_mbs is not None
        if losses is not None and not with_loss:
            # (PyTorch's words: its losses come from a loss_fn and a target)
            raise RuntimeError(f"Expecting {n} losses but got 0")
        stages = self._stages
        keywords = _keywords_per_stage(stages, kwarg_mbs[0] if kwarg_mbs else {})
        for s in stages:
            s.clear_runtime_states()
        last = stages[-1]
        if self._has_backward and self.scale_grads and _scaled_on_the_way(stages, n):
            for s in stages:
                s.grad_scale = 1.0 / n
        queues = runtime.current().queues
        early = _EarlyRuns(queues)
        inferring = self._first_forward_unwrapped()
        with hold_runs(queues):
            for kind, s, mbs in self._actions:
                stage = stages[s]
                if kind == "F":
                    kwargs = {k: kwarg_mbs[mbs][k] for k in keywords[s]}
                    stage.forward_one_chunk(mbs, arg_mbs[mbs] if stage.is_first else (), stages,
                                            kwargs, self._has_backward, inferring and mbs == 0)
                    if stage.is_last and with_loss:
                        stage.compute_loss(mbs, self._loss_fn, target_mbs[mbs], loss_kwargs)
                    if stage.is_last and mbs == 0:
                        self._inferred_for = self._has_backward
                elif kind == "B":
                    stage.backward_input_one_chunk(mbs, stages)
                else:
                    stage.backward_weight_chunks(mbs)
                early.maybe_send()
            if self._has_backward and self.scale_grads:
                _scale_grads([s for s in stages if s.grad_scale is None], n)
            for s in stages:
                s.grad_scale = None
            # eval's outputs keep the last stage's graph, as torch's; a step's are detached
            # as torch's last stage detaches them after its backward (not a first one's, nor
            # a view). The losses keep their graph, which the backward freed (what it
            # saved): as torch's, they require grad, show their node, and raise if
            # differentiated again
            keep = _detached if self._has_backward and not last.is_first else (lambda t: t)
            output = [keep(last._returned[i]) for i in range(n)] if return_outputs else None
            if losses is not None:
                losses.clear()
                losses.extend(last._losses[i] for i in range(n))
            for s in stages:  # (inside: the frees go with the step's runs)
                s.clear_runtime_states()
        return output


class _EarlyRuns:
    """When to send a worker what the step queued for it so far, before the step's end:
    once it is worth a message (coordinator's EAGER_WORK), then each time four times as much
    as the last run waits. So the workers start computing while the driver still records
    the rest of the step (at large sizes a step costs a few runs per worker, not one per
    micro-batch; at small ones, one)."""

    def __init__(self, queues):
        self.queues = queues
        self.threshold = {q.index: q.EAGER_WORK for q in queues}

    def maybe_send(self) -> None:
        for q in self.queues:
            if q.work >= self.threshold[q.index]:
                self.threshold[q.index] = 4 * q.work
                q.flush()


class PipelineScheduleSingle(_PipelineSchedule):
    """The schedules of one stage per worker (torch's base class of that name)."""


class ScheduleGPipe(PipelineScheduleSingle):
    """All forwards, then all backwards (bubble (p - 1) / (m + p - 1))."""

    _policy = "gpipe"


class Schedule1F1B(PipelineScheduleSingle):
    """One forward, one backward: stage s keeps at most num_stages - s micro-batches in
    flight (the same bubble as GPipe, less memory)."""

    _policy = "1f1b"

    def __init__(self, stages, n_microbatches: int, *args, **kwargs):
        super().__init__(stages, n_microbatches, *args, **kwargs)
        n_stages = self._stages[0].num_stages
        if n_microbatches < n_stages:  # (torch's: a stage runs one forward ahead per stage)
            raise ValueError(f"Number of microbatches ({n_microbatches}) must be greater than "
                             f"or equal to the number of stages ({n_stages}).")


class ScheduleZeroBubble(PipelineScheduleSingle):
    """1F1B with each backward split: the input-gradient part goes first (and on to the
    previous stage at once), the weight-gradient part runs when the worker would wait; with
    none ready, a stage runs one forward more than 1F1B allows (num_stages - s + 1
    micro-batches in flight at most: one micro-batch's activations more)."""

    _policy = "zero_bubble"


class PipelineScheduleMulti(_PipelineSchedule):
    """A schedule of several stages per worker, in the order PyTorch's schedule of that
    name gives each rank (looped.py): with P workers, stage s runs on the worker of stage
    s % P ("loop"), or in a V ("v": ZB-V). Its stages are all the pipeline's, as for the
    other schedules here."""

    _style = "loop"
    _split = False  # (a schedule whose backward is split in input and weight parts)

    def _make_plan(self, backward: bool):
        stages = self._stages
        p = len({s.device for s in stages})
        ranks = looped.placement(self._style, p, len(stages))
        workers = [s.device for s in stages[:p]]  # (stage r < p: on worker r, its rank)
        if len(set(workers)) < p or any(s.device != workers[r] for s, r in zip(stages, ranks)):
            raise ValueError(
                f"{type(self).__name__} runs stage s on the worker of stage ranks[s] over its "
                f"{p} workers (the {self._style} placement: ranks {ranks}); got stages on "
                f"{[t.device for t in stages]}")
        n_local = sum(1 for s in stages if s.device == stages[0].device)
        if n_local * p != len(stages):
            raise ValueError(f"{type(self).__name__} needs as many stages on each worker; "
                             f"got stages on {[t.device for t in stages]}")
        orders = self._rank_orders(self._n_microbatches, p, n_local)
        return looped.plan_from_orders({workers[r]: acts for r, acts in orders.items()},
                                       [s.sources for s in stages], self._split, backward)

    def _rank_orders(self, m: int, p: int, n_local: int) -> dict:
        raise NotImplementedError


class ScheduleLoopedBFS(PipelineScheduleMulti):
    """Breadth first: each worker runs every micro-batch through its first stage, then
    its next, ...; then the backwards, from its last stage back."""

    def _rank_orders(self, m, p, n_local):
        return looped.looped_bfs(m, p, n_local)


class _Interleaved(PipelineScheduleMulti):
    _name = ""  # (how torch's error names the schedule)

    def _rank_orders(self, m, p, n_local):
        rounds = max(1, m // p)
        if m % rounds:
            raise ValueError(f"{self._name} requires the number of microbatches to be a "
                             f"multiple of the number of rounds ({rounds}), but got {m}.")
        return looped.interleaved(m, p, n_local, self._split)


class ScheduleInterleaved1F1B(_Interleaved):
    """Interleaved 1F1B: depth first, micro-batches in rounds of one per worker through
    each worker's stages, one forward and one backward in the steady state."""

    _name = "Interleaved 1F1B"


class ScheduleInterleavedZeroBubble(_Interleaved):
    """Interleaved zero bubble (ZB1P): interleaved 1F1B with each backward split, the
    weight parts run behind to fill the bubble."""

    _name = "Zero bubble"
    _split = True


class ScheduleZBVZeroBubble(PipelineScheduleMulti):
    """Zero bubble V: two stages per worker, worker r holding stages r and 2P - 1 - r;
    each backward split."""

    _style = "v"
    _split = True

    def _rank_orders(self, m, p, n_local):
        if n_local != 2:
            raise ValueError(f"ZBV requires exactly 2 stages per rank, but got {n_local}.")
        return looped.zero_bubble_v(m, p)


class ScheduleDualPipeV(PipelineScheduleMulti):
    """DualPipeV: two stages per worker in a V, as ZB-V; in the middle of the step each
    worker pairs a forward of one stage with a whole backward of the other; the last
    micro-batches' backwards are split, their weight parts run last."""

    _style = "v"
    _split = True

    def _rank_orders(self, m, p, n_local):
        if n_local != 2:
            raise ValueError(f"ZBV requires exactly 2 stages per rank, but got {n_local}.")
        if m < 2 * p:
            raise ValueError("DualPipeV requires at least as many microbatches as stages, "
                             f"but got {m} microbatches and {2 * p} stages.")
        return looped.dual_pipe_v(m, p)


def get_schedule_class(schedule_name: str):
    """The schedule class of that name, without its "Schedule" (any case): "1F1B",
    "GPipe", "DualPipeV", ... (torch's names, and distgrad's "ZeroBubble")."""
    schedule_map = {
        "1F1B": Schedule1F1B,
        "Interleaved1F1B": ScheduleInterleaved1F1B,
        "GPipe": ScheduleGPipe,
        "LoopedBFS": ScheduleLoopedBFS,
        "InterleavedZeroBubble": ScheduleInterleavedZeroBubble,
        "PipelineScheduleSingle": PipelineScheduleSingle,
        "PipelineScheduleMulti": PipelineScheduleMulti,
        "ZBVZeroBubble": ScheduleZBVZeroBubble,
        "DualPipeV": ScheduleDualPipeV,
        "ZeroBubble": ScheduleZeroBubble,
    }
    by_lower = {k.lower(): k for k in schedule_map}
    if schedule_name.lower() not in by_lower:
        raise ValueError(f"Unknown schedule name '{schedule_name}'. The valid options are "
                         f"{list(schedule_map)}")
    return schedule_map[by_lower[schedule_name.lower()]]


def _with_weights_together(plan) -> list:
    """The plan's actions as (kind, stage, micro-batch), where the weight-gradient actions
    a worker runs one after another for one stage become one (kind "W", stage, [its
    micro-batches]), run together (PipelineStage.backward_weight_chunks). A worker runs
    its actions in the order they are recorded, so recording the group at its first action
    keeps every worker's order; a W sends nothing, so no other worker waits on it."""
    by_worker = plan.per_worker()
    group_of = {}  # W action -> the micro-batches of its group (at its first action)
    for acts in by_worker.values():
        run: list = []
        for a in acts + [None]:
            if a is not None and a.kind == "W" and (not run or run[0].stage == a.stage):
                run.append(a)
                continue
            if run:
                group_of[run[0]] = [w.mb for w in run]
                group_of.update({w: None for w in run[1:]})
            run = [a] if a is not None and a.kind == "W" else []
    out = []
    for a in plan.actions:
        if a.kind != "W":
            out.append((a.kind, a.stage, a.mb))
        elif group_of[a] is not None:
            out.append(("W", a.stage, group_of[a]))
    return out


def _scaled_on_the_way(stages, n: int) -> bool:
    """Whether the stages' weight gradients may be divided by n as they are made (the
    gradients reaching each weight's matmul, 4x smaller than a Linear's weight gradient
    at 4 micro-batches) instead of in `.grad` after the step, with the same result: n a
    power of two (dividing is exact), no `.grad` held from before the step, no parameter
    in two stages. A stage still divides after if a hook watches its weights or another
    leaf gets gradients with them (PipelineStage._stop_scaling)."""
    if n < 2 or n & (n - 1):
        return False
    seen = set()
    for s in stages:
        for q in s.submod.parameters():
            if id(q) in seen or q.grad is not None:
                return False
            seen.add(id(q))
    return True


def _scale_grads(stages, n: int) -> None:
    """Every stage parameter's `.grad` divided by n after the step's backwards, as torch's
    `PipelineStage.scale_grads`: the backwards accumulate each micro-batch's loss gradient
    unscaled (hooks see them so), and what `.grad` held before the step is divided too."""
    if n == 1:
        return
    params = {id(q): q for s in stages for q in s.submod.parameters()}  # (a tied one once)
    with grad_mode.no_grad():
        for q in params.values():
            if q.grad is not None:
                q.grad.div_(n)


def _keywords_per_stage(stages, kwargs: dict) -> list:
    """Per stage, the names in `kwargs` its submodule's forward takes (a name no stage
    takes is an error, as an unexpected keyword is)."""
    if not kwargs:  # (the usual step: no signature to read)
        return [[] for _ in stages]
    out, taken = [], set()
    for stage in stages:
        params = inspect.signature(stage.submod.forward).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            names = list(kwargs)
        else:
            names = [k for k in kwargs if any(p.name == k and p.kind in (
                p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)]
        out.append(names)
        taken.update(names)
    for k in kwargs:
        if k not in taken:
            raise TypeError(f"forward() got an unexpected keyword argument '{k}' (no stage's "
                            "forward takes it)")
    return out


def _split_target(target, n: int) -> list:
    """The target in n micro-batches on dim 0: a tensor, as torch's (which reads its size)."""
    if not isinstance(target, Tensor):
        raise AttributeError(f"'{type(target).__name__}' object has no attribute 'size'")
    return split_tensor(target, n)


def _detached(out):
    """A last stage's output (a tensor, or tuples, lists and dicts of them) detached, but
    its views (which torch's stage cannot detach in place)."""
    return _map_structure(out, lambda t: t.detach() if isinstance(t, Tensor) and
                          not t._is_view() else t)


def _map_structure(out, fn):
    if isinstance(out, dict):
        return {k: _map_structure(v, fn) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        items = [_map_structure(v, fn) for v in out]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    return fn(out)
