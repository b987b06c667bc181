"""Passes over the data that belong to lrfind: the sweep's endless stream of batches,
fresh validation passes, and the loaders' own generators put back.

The user's harness goes on as if no sweep happened: a DataLoader with persistent workers
keeps its own iterator and workers (lrfind starts its own, :func:`start_pass`), a
``DistributedSampler``'s epoch and a loader's ``torch.Generator`` come back as they were
(:class:`LoaderGenerators`), and every pass lrfind started is stopped when it is done.

>>> batches = Batches([1, 2])
>>> [next(batches) for _ in range(5)], batches.restarts
([1, 2, 1, 2, 1], 2)
>>> batches.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from lrfind.errors import LRFindError


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
