"""Progress bars for long steps: tqdm on stderr, silent unless the caller asks.

Library calls take ``progress=False`` by default, so a script or a test prints
nothing; the CLI (and an analyst in a notebook) turns bars on. Bars go to stderr
so that ``--json`` output on stdout stays one clean document.

>>> from intel._progress import Steps, track
>>> with Steps(2, desc="briefing", enabled=False) as steps:
...     with steps.step("counts"):
...         pass
>>> list(track([1, 2, 3], desc="origins"))
[1, 2, 3]
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, TypeVar

__all__ = ["Steps", "track"]

T = TypeVar("T")


def _bar(**kwargs: Any) -> Any:
    from tqdm.std import tqdm

    # dynamic_ncols keeps the bar inside a resized terminal; mininterval avoids flooding a log file
    return tqdm(file=sys.stderr, dynamic_ncols=True, mininterval=0.5, **kwargs)


def track(iterable: Iterable[T], *, desc: str, enabled: bool = False, total: int | None = None,
          unit: str = "it", leave: bool = True) -> Iterable[T]:
    """``iterable`` itself when ``enabled`` is false, else the same items behind a tqdm bar."""
    if not enabled:
        return iterable
    return _bar(iterable=iterable, desc=desc, total=total, unit=unit, leave=leave)


class Steps:
    """A bar over a fixed number of named steps.

    ``with steps.step("backtest"): ...`` shows the step's name while it runs and
    advances the bar when it ends. Disabled, it costs nothing and prints nothing.
    """

    def __init__(self, total: int, *, desc: str, enabled: bool = False) -> None:
        self.enabled = bool(enabled)
        self._bar = _bar(total=total, desc=desc, unit="step", leave=True) if self.enabled else None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self._bar is not None:
            self._bar.set_postfix_str(name, refresh=True)
        yield
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str("done", refresh=False)
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Steps":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
