"""A population's nets as one stacked net: ``torch.func`` over the members' parameters.

The members' nets have the same structure; their parameters and buffers are stacked along a new
leading dimension (``torch.func.stack_module_state``: (members, *shape)) and the forward pass is
one ``vmap`` of ``functional_call`` on a template copy of the net that holds no memory (the
``meta`` device). Each member computes exactly what its own net computes; only the order of
floating-point sums inside a batched matrix product may differ (HFTA, Wang et al., MLSys 2021;
the torch.func "model ensembling" tutorial).

Each stacked parameter is laid out as its gradient arrives (:func:`grad_layouts`): under
``vmap`` a linear layer's weight gradient comes transposed, (members, in, out) in memory, and
autograd copies a gradient whose strides differ from its parameter's into the parameter's layout
before it accumulates it, a transposing copy of every weight at every step (docs/sweeps.md).
The parameters' values are the same in any layout; the matrix products
that read them round differently (a member's numbers move in the last digits, as any change
of kernel moves them).

Batch norm updates each member's running statistics in place, through the stacked buffers.
Dropout draws each member's masks from its own RNG (:mod:`.dropout`). Any other random operation
inside the forward would draw one tensor for all members, so :func:`unbatchable` refuses a net
that has one, as it refuses a net with a layer ``vmap`` has no rule for (``nn.LSTM``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from initlab.population.dropout import Draw, MemberRNG, replace_dropout

log = logging.getLogger(__name__)


def stacked_name(name: str) -> str:
    return name.replace(".", ":")  # a parameter's path as a registrable name


class Stack(nn.Module):
    """The members' parameters and buffers, stacked, and the forward pass over all of them.

    ``params`` holds one ``nn.Parameter`` per parameter of the members' net, (members, *shape),
    in the net's own order (so the optimizer's state lines up with a member's own optimizer's),
    named by its path with ``:`` for ``.``, laid out as its gradient arrives (not necessarily
    contiguous); the buffers likewise in ``buffers``.
    """

    def __init__(
        self,
        nets: Sequence[nn.Module],
        rngs: Sequence[MemberRNG],
        in_shape: Sequence[int] | None = None,
    ):
        """``in_shape``: one input's shape, to lay out each parameter as its gradient arrives
        (:func:`grad_layouts`); None keeps them contiguous."""
        super().__init__()
        self.eval_dropout = False  # dropout on in eval mode too (set while validating, val_dropout)
        self.size = len(nets)
        params, buffers = stack_module_state(list(nets))
        self.names = list(params)
        self.buffer_names = list(buffers)
        self.state_names = list(nets[0].state_dict())  # a net's own order of both
        template = copy.deepcopy(nets[0]).to("meta")  # structure only
        strides = {} if in_shape is None else grad_layouts(template, params, buffers, in_shape)
        self.params = nn.ParameterDict(
            {stacked_name(k): nn.Parameter(_laid_out(v, strides.get(k))) for k, v in params.items()}
        )
        self.buffers_ = nn.Module()
        for k, v in buffers.items():
            self.buffers_.register_buffer(stacked_name(k), v)
        self._dropouts = replace_dropout(template)
        # Not a submodule: its (meta) tensors stay out of state_dict, .to() and the optimizer.
        self.__dict__["template"] = template
        self.rngs = list(rngs)

    @property
    def has_dropout(self) -> bool:
        return bool(self._dropouts)

    def stacked(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(parameters, buffers) by the net's own names, (members, *shape) each."""
        params = {k: self.params[stacked_name(k)] for k in self.names}
        buffers = {k: getattr(self.buffers_, stacked_name(k)) for k in self.buffer_names}
        return params, buffers

    def member_state(self, i: int) -> dict[str, torch.Tensor]:
        """Member ``i``'s parameters and buffers (views, not necessarily contiguous), as its net's
        ``state_dict`` names them."""
        params, buffers = self.stacked()
        both = {**params, **buffers}
        return {k: both[k][i] for k in self.state_names}

    def forward(
        self, x: torch.Tensor, shared: bool, active: Sequence[bool], record: Sequence[str] = ()
    ) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """Every member's logits, (members, B, classes), for ``x``: one batch for all members
        (``shared``, (B, ...)) or one each ((members, B, ...)). ``active``: per member, whether
        it still trains (a diverged one draws no dropout noise). ``record``: module paths whose
        (input, output) pairs come back too, (members, ...) each (the diagnostics' sites)."""
        # Lightning sets the modes of its modules' tree directly (and restores them after
        # validation): the template, outside that tree, follows this module's.
        if self.template.training != self.training:
            self.template.train(self.training)
        for d in self._dropouts:
            d.training = self.training or self.eval_dropout
        params, buffers = self.stacked()
        member = torch.arange(self.size, device=x.device)
        modules = dict(self.template.named_modules())
        seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def hook(path):
            def keep(module, inputs, output):
                if isinstance(output, tuple):  # (out, weights) of an attention
                    output = output[0]
                seen[path] = (inputs[0].detach(), output.detach())

            return keep

        def one(p, b, xi, m):
            draw = Draw(self.rngs, active, m)
            for d in self._dropouts:
                d.draw = draw
            handles = [modules[path].register_forward_hook(hook(path)) for path in record]
            try:
                logits = functional_call(self.template, (p, b), (xi,))
            finally:
                for h in handles:
                    h.remove()
                for d in self._dropouts:
                    d.draw = None
            return logits, {path: seen[path] for path in record if path in seen}

        # "same": the dropout draws happen on unbatched tensors, one member's RNG each.
        return vmap(one, in_dims=(0, 0, None if shared else 0, 0), randomness="same")(
            params, buffers, x, member
        )

    def member_forward(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Member ``i`` alone, without vmap, in eval mode (no dropout draw)."""
        self.template.eval()  # the next stacked forward sets the modes again
        return functional_call(self.template, self.member_state(i), (x,))


def grad_layouts(
    template: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    in_shape: Sequence[int],
) -> dict[str, tuple[int, ...]]:
    """The strides in which each stacked parameter's gradient arrives, where they are not the
    parameter's and lay it out densely: one stacked forward and backward of ``template`` (a meta
    net) on the meta device, in eval mode (no dropout draw), which computes shapes and strides
    and nothing else. These are eager autograd's strides; a compiled objective or another
    device may return others, which costs the copy again, not a number. Empty where the meta
    device cannot run the net: the parameters stay contiguous."""
    meta = {k: torch.empty_like(v, device="meta").requires_grad_() for k, v in params.items()}
    stacked = {k: torch.empty_like(v, device="meta") for k, v in buffers.items()}
    x = torch.empty((2, *in_shape), device="meta")  # a batch: a size-1 one may skip reductions
    arrived: dict[str, tuple[int, ...]] = {}
    for k, p in meta.items():
        p.register_hook(lambda g, k=k: arrived.__setitem__(k, g.stride()))
    modes = {module: module.training for module in template.modules()}
    template.eval()
    try:
        logits = vmap(lambda p, b: functional_call(template, (p, b), (x,)))(meta, stacked)
        logits.sum().backward()
    except Exception as err:  # an op without a meta kernel: only speed is at stake
        log.debug("stacked parameters stay contiguous: %s", err)
        return {}
    finally:
        for module, training in modes.items():
            module.training = training
    return {k: s for k, s in arrived.items() if s != meta[k].stride() and _dense(meta[k].shape, s)}


def _dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether ``strides`` lay a tensor of ``shape`` out with no gap and no overlap (a
    permutation of a contiguous layout)."""
    expected = 1
    for size, stride in sorted(
        ((n, st) for n, st in zip(shape, strides, strict=True) if n != 1), key=lambda d: d[1]
    ):
        if stride != expected:
            return False
        expected *= size
    return True


def _laid_out(v: torch.Tensor, strides: tuple[int, ...] | None) -> torch.Tensor:
    """``v``'s values in the memory layout ``strides`` (None: ``v`` itself, contiguous)."""
    if strides is None:
        return v.detach()
    laid = torch.empty_strided(v.shape, strides, dtype=v.dtype, device=v.device)
    return laid.copy_(v.detach())


def lay_out_state(optimizer: torch.optim.Optimizer) -> None:
    """Each of ``optimizer``'s per-element state tensors (Adam's moments, SGD's momentum) in its
    parameter's layout. A population's own state follows its parameters (``zeros_like``), but
    one stacked from its members' checkpoints comes contiguous, and element-wise arithmetic
    on mixed layouts takes another path, which may round otherwise."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if (
                torch.is_tensor(value)
                and value.shape == param.shape
                and value.stride() != param.stride()
            ):
                laid = torch.empty_strided(
                    param.shape, param.stride(), dtype=value.dtype, device=value.device
                )
                state[key] = laid.copy_(value)


def unbatchable(net: nn.Module, in_shape: Sequence[int]) -> str | None:
    """Why ``net`` cannot train stacked with exactly its sequential results, or None.

    A stacked forward and backward of two copies of it, on the ``meta`` device (no memory, no
    compute), with random operations refused: an operation vmap has no batching rule for, or a
    random one other than ``nn.Dropout``'s (which :mod:`.dropout` draws per member), raises.
    """
    try:
        with torch.device("meta"):
            nets = [copy.deepcopy(net).to("meta") for _ in range(2)]
            params, buffers = stack_module_state(nets)
            template = copy.deepcopy(net).to("meta")
            replace_dropout(template)  # their draw is None here: the identity
            template.train()
            x = torch.zeros(2, 2, *in_shape)

            def one(p, b, xi):
                return functional_call(template, (p, b), (xi,))

            out = vmap(one, randomness="error")(params, buffers, x)
            out.sum().backward()
    except Exception as err:  # what vmap (or meta) says it cannot do
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return None
