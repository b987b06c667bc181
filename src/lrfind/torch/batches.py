"""Batches in, a scalar loss out: iteration with restarts, device moves, loss computation.

Batch formats, in the order they are tried:

- ``forward(model, batch) -> loss`` when given: any batch at all.
- a dict: ``model(**batch)``; the loss is the output's ``.loss`` / ``["loss"]``
  (Hugging Face style). With ``loss_fn``, the label key (``labels``, ``label``,
  ``targets``, ``target`` or ``y``) is held back: ``loss_fn(prediction(model(**rest)), labels)``.
- a tuple or list ``(x, y, ...)``: ``loss_fn(prediction(model(x)), y)``; further elements
  (indices, weights) are not used: pass ``forward`` to use them.

``prediction(output)`` is the output itself when it is a tensor, else its ``logits``
(attribute or key), else its first element (tuple or list).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

from lrfind.errors import LRFindError

LABEL_KEYS = ("labels", "label", "targets", "target", "y")
_SEQUENCES = (tuple, list)

LossFn = Callable[..., torch.Tensor]
ForwardFn = Callable[[torch.nn.Module, Any], torch.Tensor]


BLAME_PREFIX = "lrfind: raised "


class SkipBatch(Exception):
    """Raised by a ``forward`` to skip its batch: no backward, no optimizer step, and
    the sweep tries the same lr again on the next batch (at most
    :data:`~lrfind.sweep.DEFAULT_MAX_SKIPS` in a row, then it stops with
    ``"too many skipped steps"``), as for a step ``lrfind.sweep`` is told was skipped.
    The Lightning integration raises it for a ``training_step`` that returns ``None``.
    Not in a validation pass, nor under torch.distributed (the other ranks would wait).
    """


def add_blame(error: BaseException, where: str) -> None:
    """Note on ``error`` that it was raised ``where``, unless an inner place already did."""
    notes = getattr(error, "__notes__", ())
    if not any(note.startswith(BLAME_PREFIX) for note in notes):
        error.add_note(BLAME_PREFIX + where)


class blame:
    """Add a note naming the user's code that raised (``"by loss_fn"``), innermost only.

    A class rather than a generator-based context manager: it is entered several times
    per training step, and this costs a third as much.

    >>> try:
    ...     with blame("by loss_fn"):
    ...         raise KeyError("y")
    ... except KeyError as error:
    ...     error.__notes__
    ['lrfind: raised by loss_fn']
    """

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is not None:
            add_blame(error, self.where)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor nested in tuples, lists, dicts and dataclasses to ``device``."""
    if isinstance(batch, torch.Tensor):
        if batch.device == device:
            return batch
        return batch.to(device, non_blocking=batch.device.type == "cpu" and batch.is_pinned())
    kind = type(batch)
    if kind is tuple or kind is list:  # the usual (x, y): no Mapping or namedtuple checks
        tensor = torch.Tensor
        return kind(
            [v if type(v) is tensor and v.device == device else to_device(v, device) for v in batch]
        )
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: to_device(getattr(batch, f.name), device) for f in dataclasses.fields(batch)
        }
        return dataclasses.replace(batch, **changes)
    return batch


class LoaderGenerators:
    """The states of the ``torch.Generator`` objects that loaders draw their order from,
    and the pass counters that seed it.

    A ``DataLoader(..., generator=g)`` (or a sampler given its own generator) advances
    ``g`` at every pass: without putting its state back, the data order of the training
    after a range test would differ from the one without it. The global RNGs are the
    snapshot's business; these are the loaders' own. They are looked for on the loader
    and down its chain of samplers (``sampler``, ``batch_sampler``, as deep as a wrapper
    nests them: Accelerate's ``BatchSamplerShard`` holds the ``BatchSampler`` that holds
    the ``RandomSampler``), under ``generator`` and ``synchronized_generator``
    (Accelerate's); the integer ``iteration`` (Accelerate's count of passes, which seeds
    the next) and ``epoch`` of each of them come back too, and so do the loaders an
    Accelerate ``gradient_state`` believes it is inside (a pass the sweep left midway
    never says it ended).

    >>> g = torch.Generator().manual_seed(0)
    >>> loader = torch.utils.data.DataLoader(range(4), shuffle=True, generator=g)
    >>> saved = LoaderGenerators.take(loader)
    >>> first = [int(x) for x in loader]
    >>> saved.restore()
    >>> [int(x) for x in loader] == first
    True
    """

    __slots__ = ("counters", "inside", "saved")

    NESTED = ("sampler", "batch_sampler")
    GENERATORS = ("generator", "synchronized_generator")
    COUNTERS = ("iteration", "epoch")
    DEPTH = 4

    def __init__(
        self,
        saved: list[tuple[torch.Generator, torch.Tensor]],
        counters: list[tuple[object, str, int]] | None = None,
        inside: list[tuple[Any, list[Any]]] | None = None,
    ) -> None:
        self.saved = saved
        self.counters = counters or []
        self.inside = inside or []

    @classmethod
    def take(cls, *sources: object) -> LoaderGenerators:
        """Record the generators and pass counters of each source and its samplers."""
        holders: list[object] = []

        def visit(holder: object, depth: int) -> None:
            if holder is None or any(holder is seen for seen in holders):
                return
            holders.append(holder)
            if depth < cls.DEPTH:
                for name in cls.NESTED:
                    visit(getattr(holder, name, None), depth + 1)

        for source in sources:
            visit(source, 0)
        found: list[torch.Generator] = []
        counters: list[tuple[object, str, int]] = []
        inside: list[tuple[Any, list[Any]]] = []
        for holder in holders:
            state = getattr(holder, "gradient_state", None)
            references = getattr(state, "dataloader_references", None)
            if isinstance(references, list) and all(state is not s for s, _ in inside):
                inside.append((state, list(references)))
            for name in cls.GENERATORS:
                generator = getattr(holder, name, None)
                if isinstance(generator, torch.Generator) and all(
                    generator is not g for g in found
                ):
                    found.append(generator)
            for name in cls.COUNTERS:
                value = getattr(holder, name, None)
                if isinstance(value, int) and not isinstance(value, bool):
                    counters.append((holder, name, value))
        return cls([(generator, generator.get_state()) for generator in found], counters, inside)

    def restore(self) -> None:
        for generator, state in self.saved:
            generator.set_state(state)
        for holder, name, value in self.counters:
            setattr(holder, name, value)
        for state, references in self.inside:
            state.dataloader_references = references


def _own_workers(data: object) -> bool:
    """Whether ``iter(data)`` would hand out the DataLoader's own persistent iterator.

    A ``DataLoader(..., persistent_workers=True)`` keeps one iterator and its worker
    processes for its whole life: ``iter(loader)`` resets that one, which the user's
    next epoch resumes. lrfind must not use it (it would stop it, or leave it mid-epoch
    with its workers' RNGs advanced), so it starts iterators of its own for such a
    loader, as ``DataLoader.__iter__`` would without persistence. A subclass with its
    own ``__iter__`` is iterated through it.
    """
    loader = torch.utils.data.DataLoader
    return (
        isinstance(data, loader)
        and bool(data.persistent_workers)
        and data.num_workers > 0
        and type(data).__iter__ is loader.__iter__
    )


def start_pass(data: Iterable[Any], previous: Iterator[Any] | None = None) -> Iterator[Any]:
    """A new pass over ``data`` that belongs to lrfind, ``previous`` (lrfind's last pass
    over it, if any) reused or stopped.

    For a DataLoader with persistent workers, lrfind's own iterator (started once, then
    reset, as the loader resets its own), never the loader's: the loader's iterator and
    workers are left exactly as they were. For anything else, ``iter(data)``.
    """
    if _own_workers(data):
        if previous is not None and not getattr(previous, "_shutdown", True):
            previous._reset(data)  # type: ignore[attr-defined]  # the workers go on
            return previous
        if previous is not None:
            stop_pass(previous, data)
        return data._get_iterator()  # type: ignore[attr-defined, no-any-return]
    if previous is not None:
        stop_pass(previous, data)  # a pass left mid-way: its workers stop now, not at gc
    return iter(data)


def stop_pass(iterator: Iterator[Any], data: object) -> None:
    """Stop a pass :func:`start_pass` started (a DataLoader iterator's worker processes);
    an iterator that is the user's (``data`` itself, or a loader's own persistent one)
    is left alone."""
    if iterator is data or iterator is getattr(data, "_iterator", None):
        return
    stop = getattr(iterator, "_shutdown_workers", None) or getattr(iterator, "close", None)
    if callable(stop):
        stop()


class Passes:
    """Fresh passes over re-iterable data (validation, evaluation), each lrfind's own.

    >>> passes = Passes([1, 2, 3])
    >>> list(passes.start()), list(passes.start())
    ([1, 2, 3], [1, 2, 3])
    >>> passes.close()
    """

    __slots__ = ("_iterator", "data")

    def __init__(self, data: Iterable[Any]) -> None:
        self.data = data
        self._iterator: Iterator[Any] | None = None

    def start(self) -> Iterator[Any]:
        """A new pass; the last one is reset (persistent workers) or stopped."""
        self._iterator = start_pass(self.data, self._iterator)
        return self._iterator

    def close(self) -> None:
        """Stop the last pass (its worker processes)."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            stop_pass(iterator, self.data)


class Batches:
    """An endless stream of batches from ``data``, restarted whenever it runs out.

    Raises ``LRFindError`` when ``data`` yields nothing, or runs out and cannot be
    restarted (a one-shot iterator). A ``DistributedSampler`` gets ``set_epoch``
    with a new epoch at each restart (put back by :meth:`close`). A DataLoader with
    persistent workers is iterated with lrfind's own workers (:func:`start_pass`).
    """

    def __init__(self, data: Iterable[Any], name: str = "data") -> None:
        if not isinstance(data, Iterable):
            raise ValueError(f"{name} must be an iterable of batches, got {type(data).__name__}")
        self.data = data
        self.name = name
        self.restarts = 0
        self.seen = 0
        self._sampler: Any = getattr(data, "sampler", None)
        self._epoch = getattr(self._sampler, "epoch", None)
        self._iterator: Iterator[Any] = start_pass(data)
        self._one_shot = self._iterator is data

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self._iterator)
        except StopIteration:
            batch = self._restart()
        self.seen += 1
        return batch

    def _restart(self) -> Any:
        if self.seen == 0 and self.restarts == 0:
            raise LRFindError(f"{self.name} yielded no batches") from None
        if self._one_shot:
            raise LRFindError(
                f"{self.name} ran out after {self.seen} batches and cannot be restarted "
                f"(it is an iterator): pass a DataLoader or a list, or use fewer steps"
            ) from None
        self.restarts += 1
        if self._epoch is not None and hasattr(self._sampler, "set_epoch"):
            self._sampler.set_epoch(self._epoch + self.restarts)
        self._iterator = start_pass(self.data, self._iterator)
        try:
            return next(self._iterator)
        except StopIteration:
            raise LRFindError(f"{self.name} yielded no batches after a restart") from None

    def close(self) -> None:
        """Stop the iterator lrfind started (DataLoader workers); put a sampler's epoch back.

        Done explicitly: after an error, the traceback keeps the iterator (and its
        worker processes) alive for as long as the user keeps the error. The user's
        own iterators (a one-shot iterator, a DataLoader's persistent one) are left be.
        """
        iterator, self._iterator = self._iterator, iter(())
        stop_pass(iterator, self.data)
        if self._epoch is not None and hasattr(self._sampler, "set_epoch"):
            self._sampler.set_epoch(self._epoch)


def prediction(output: Any) -> Any:
    """What ``loss_fn`` gets from a model output (see the module docstring)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, Mapping):
        logits = output.get("logits")
    if logits is not None:
        return logits
    if isinstance(output, list | tuple) and output:
        return output[0]
    return output


def _own_loss(output: Any) -> torch.Tensor | None:
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
    return loss if isinstance(loss, torch.Tensor) else None


def describe(batch: Any) -> str:
    """A short name of a batch's shape for error messages."""
    if isinstance(batch, torch.Tensor):
        return f"a Tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Mapping):
        return f"a dict with keys {sorted(map(str, batch))}"
    if isinstance(batch, list | tuple):
        return f"a {type(batch).__name__} of {len(batch)}"
    return f"a {type(batch).__name__}"


def check_batch(batch: Any, loss_fn: LossFn | None, forward: ForwardFn | None) -> None:
    """Refuse, before any training, a batch that ``compute_loss`` cannot handle."""
    if forward is not None:
        return
    if isinstance(batch, Mapping):
        return
    if isinstance(batch, list | tuple) and len(batch) >= 2:
        if loss_fn is None:
            raise ValueError(
                f"loss_fn is required for (x, y) batches (got {describe(batch)}): pass "
                f"loss_fn=nn.CrossEntropyLoss() or the like, or forward=(model, batch) -> loss"
            )
        return
    raise ValueError(
        f"forward is required for batches like {describe(batch)}: pass "
        f"forward=lambda model, batch: loss (e.g. loss_fn(model(batch), batch) for an autoencoder)"
    )


def _call_loss_fn(loss_fn: LossFn, output: Any, target: Any) -> Any:
    """``loss_fn(prediction(output), target)``, saying what the model returned if it fails."""
    pred = prediction(output)
    try:
        return loss_fn(pred, target)
    except BaseException as error:
        where = "by loss_fn(prediction, target)"
        if not isinstance(pred, torch.Tensor):
            where += (
                f"; the model returned {describe(output)} with no tensor lrfind could pick "
                f"(a tensor, .logits, ['logits'] or a first element): pass "
                f"forward=lambda model, batch: loss to say which output is the prediction"
            )
        add_blame(error, where)
        raise


def compute_loss(
    model: torch.nn.Module, batch: Any, loss_fn: LossFn | None, forward: ForwardFn | None
) -> torch.Tensor:
    """The loss of one batch (see the module docstring for the formats).

    Called at every step: ``try`` rather than :class:`blame` (free unless it raises), and
    a plain tuple or list is recognised before the (slower) ``Mapping`` check.
    """
    loss: Any
    if forward is not None:
        try:
            loss = forward(model, batch)
        except BaseException as error:
            add_blame(error, "by forward(model, batch)")
            raise
    elif type(batch) not in _SEQUENCES and isinstance(batch, Mapping):
        if loss_fn is None:
            with blame("by the model's forward (model(**batch))"):
                output = model(**batch)
            loss = _own_loss(output)
            if loss is None:
                raise ValueError(
                    "the model's output has no loss (.loss or ['loss']) for a dict batch: "
                    "pass labels in the batch, or loss_fn, or forward"
                )
        else:
            key = next((k for k in LABEL_KEYS if k in batch), None)
            if key is None:
                raise ValueError(
                    f"loss_fn needs labels, but the dict batch has none of {list(LABEL_KEYS)}"
                )
            inputs = {k: v for k, v in batch.items() if k != key}
            with blame("by the model's forward (model(**batch))"):
                output = model(**inputs)
            loss = _call_loss_fn(loss_fn, output, batch[key])
    else:
        if loss_fn is None:  # pragma: no cover - check_batch refuses this first
            raise ValueError("loss_fn is required for (x, y) batches")
        try:
            output = model(batch[0])
        except BaseException as error:
            add_blame(error, "by the model's forward (model(x))")
            raise
        loss = _call_loss_fn(loss_fn, output, batch[1])
    if not isinstance(loss, torch.Tensor):
        raise ValueError(
            f"the loss must be a torch.Tensor (to backpropagate), got {type(loss).__name__}"
        )
    if loss.ndim != 0:
        if loss.numel() == 1:  # shape (1,), (1, 1): DataParallel's gathered loss, some heads
            return loss.reshape(())
        raise ValueError(
            f"the loss must be a scalar (one element), got a tensor of shape "
            f"{tuple(loss.shape)}: reduce it (reduction='mean') or return loss.mean() from "
            f"forward"
        )
    return loss
