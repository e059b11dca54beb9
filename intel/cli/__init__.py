"""The ``intel`` command: parse arguments, call one library function, write files.

No analysis logic lives here. Each sub-command is a module of this package with a
``register(app)`` function; shared load options live in :mod:`intel.cli._options`,
file writing in :mod:`intel.cli._output`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import typer

from ..exceptions import IntelError

app = typer.Typer(
    name="intel",
    help="Place-based crime and incident intelligence: load, map, find patterns, forecast, plan patrols.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command; registration order is the order in --help.
_COMMANDS = ("validate", "hotspots", "emerging", "nearrepeat", "backtest", "forecast", "patrol", "brief")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every automatic choice and step."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger = logging.getLogger("intel")
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "_intel_cli", False):
            break
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("intel: %(message)s"))
        handler._intel_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    # one process may run several commands (tests, notebooks): today's stderr and a fresh filter each run
    handler.stream = sys.stderr  # not setStream: it flushes the old stream, which may be closed
    handler.filters = [_OncePerRun()]


class _OncePerRun(logging.Filter):
    """Show each automatic-choice line once: a backtest refits its models at every origin and
    would otherwise repeat the same choice dozens of times. Warnings and errors always show."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        if message in self._seen:
            return False
        self._seen.add(message)
        return True


for _name in _COMMANDS:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    """Entry point of the ``intel`` console script: IntelErrors become one clear line, exit code 2."""
    try:
        app()
    except IntelError as exc:
        typer.echo(f"intel: error: {exc}", err=True)
        raise SystemExit(2) from None
