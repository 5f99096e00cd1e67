"""Command line: `nas4cnn search | evaluate | train | space | ...`, a thin layer over `nas4cnn.api`.

- `parser`: the commands and their options; `flags`: the settings' flags, made from their
  declarations in `nas4cnn.core.config`;
- `commands`: the commands that train or read models (they import the API, and PyTorch);
- `space`: the space command, which for the bundled digits needs neither;
- `output`: how results are printed.

`main` imports the API only for a command that needs it, so help, `--version`, argument
errors and `nas4cnn space` answer at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

from nas4cnn.cli.parser import build_parser, command_in
from nas4cnn.core.errors import Nas4cnnError


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM (what a cluster scheduler sends before it kills a job)
    raises KeyboardInterrupt in this process, so the command stops as after Ctrl-C (a search
    keeps what it stored and prints how to resume). A forked worker that inherited the handler
    ends as SIGTERM ends a process by default. Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pid = os.getpid()

    def handler(signum, frame) -> None:
        if os.getpid() != pid:  # a worker process forked from this one
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args) -> int | None:
    if args.command == "space":
        from nas4cnn.cli.space import space

        return space(args)
    from nas4cnn.cli.commands import COMMANDS

    return COMMANDS[args.command](args)


class _Notices(logging.Handler):
    """Notices as whole lines on stderr, above the progress bars rather than inside them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm  # here: the bars exist only once work runs

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _show_notices(args) -> None:
    """What the API tells on the `nas4cnn.run` logger (the values chosen from the data's size,
    time estimates, the budget) goes to stderr as plain lines, unless --quiet."""
    notices = logging.getLogger("nas4cnn.run")
    notices.propagate = False
    notices.handlers.clear()
    if getattr(args, "quiet", False):
        notices.setLevel(logging.WARNING)
        return
    handler = _Notices()
    handler.setFormatter(logging.Formatter(f"nas4cnn {args.command}: %(message)s"))
    notices.addHandler(handler)
    notices.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the command `argv` (default: the program's arguments) names; its exit status: 0 done,
    1 a search that trained nothing, 2 bad input (one line on stderr), 130 interrupted (Ctrl-C
    or SIGTERM). `nas4cnn` alone prints the help on stderr and exits with 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_in(argv)
    parser = build_parser([command] if command else [])
    if command is None and not argv:
        parser.print_help(sys.stderr)
        return 2
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command's parser, as its other errors are
        prog = f"nas4cnn {args.command}" if args.command else "nas4cnn"
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extra)}\n")
    if args.command is None:  # options only, none of which ends the program (there are none today)
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _show_notices(args)
    with sigterm_as_interrupt():
        try:
            return _run(args) or 0
        except Nas4cnnError as e:
            print(f"nas4cnn {args.command}: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"nas4cnn {args.command}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
