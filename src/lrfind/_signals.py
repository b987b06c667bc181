"""Ctrl-C and SIGTERM while lrfind holds the user's state: the restore always finishes.

A range test changes the user's model and optimizer and puts them back in a
``finally``. A signal whose handler raises (Python's Ctrl-C raises
``KeyboardInterrupt``) can land inside that ``finally`` too, and an exception there
stops the restore half-way: a tensor copy-back cut off, a disk snapshot half loaded.
:class:`Guard` prevents it. Installed (on the main thread, where Python runs signal
handlers) for the whole range test, it lets SIGINT and SIGTERM through while the sweep
runs: SIGINT to the handler that was there (``KeyboardInterrupt`` by default), SIGTERM
to its handler too or, when nothing handles it (the default, which kills the process
on the spot and leaves a disk snapshot behind), as :class:`~lrfind.errors.Terminated`
so that the state is restored and what was measured kept. From the first signal that
stops the sweep, and during the whole restore, every SIGINT and SIGTERM is held; once
the restore is done, the handlers that were there are put back and the held signals
delivered to them (a second Ctrl-C during a Ctrl-C's restore becomes a note on the
first one's exception).

Off the main thread no handler can be installed, and no signal reaches the thread:
nothing is held then.

>>> guard = Guard()
>>> guard.install()
>>> guard.hold()            # the restore starts: signals wait
>>> guard.release(None)     # done: the handlers are back, nothing was held
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from lrfind.errors import INTERRUPTS, Terminated

SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals held during a restore."""


def _stop(signum: int) -> BaseException:
    """What a signal with the default action raises instead of killing the process."""
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(signum)


class Guard:
    """Hold SIGINT and SIGTERM while the state is restored; see the module docstring."""

    __slots__ = ("live", "pending", "previous")

    def __init__(self) -> None:
        self.live = False
        self.pending: list[int] = []
        self.previous: dict[int, Any] = {}

    @property
    def installed(self) -> bool:
        """Whether the handlers are in place (only on the main thread)."""
        return bool(self.previous)

    def install(self) -> None:
        """Put the handlers in place (on the main thread; nothing elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self.live = True
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if previous is None:  # installed by C code: could not be put back; left alone
                continue
            self.previous[signum] = previous
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.live:
            self.pending.append(signum)
            return
        previous = self.previous.get(signum)
        if previous == signal.SIG_IGN:
            return
        self.live = False  # this signal stops the sweep: from now on, signals wait
        if callable(previous):
            try:
                previous(signum, frame)
            except BaseException:
                raise
            self.live = True  # the user's handler did not stop the sweep
            return
        raise _stop(signum)

    def hold(self) -> None:
        """From now on every SIGINT and SIGTERM waits for :meth:`release`."""
        self.live = False

    def release(self, error: BaseException | None) -> None:
        """Put the handlers back and deliver the held signals to them.

        ``error`` is the exception the range test is ending with, if any: when it is an
        interrupt (``KeyboardInterrupt``, :class:`~lrfind.errors.Terminated`), the held
        signals only add a note to it (they asked for what is already happening).
        """
        self.live = False
        held = list(dict.fromkeys(self.pending))
        self.pending.clear()
        previous, self.previous = self.previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if not held:
            return
        names = ", ".join(signal.Signals(signum).name for signum in held)
        if isinstance(error, INTERRUPTS):
            error.add_note(f"lrfind: {names} arrived during the restore and waited for it to end")
            return
        for signum in held:
            handler = previous.get(signum)
            if handler == signal.SIG_IGN:
                continue
            try:
                if callable(handler):
                    handler(signum, None)
                else:
                    raise _stop(signum)
            except BaseException as raised:
                raised.add_note(
                    f"lrfind: {signal.Signals(signum).name} arrived during the restore and "
                    "was held until everything was restored"
                )
                raise
