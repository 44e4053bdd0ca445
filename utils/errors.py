"""One exception type for the user's mistakes, and the wrapper that turns it into exit code 2."""
import atexit
import os
import sys
import threading
from typing import Callable, NoReturn, Sequence


class UserError(Exception):
    """A mistake in the user's input: the message says what is wrong and what would be right."""


def run_cli(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> None:
    """Run a script's main; a UserError becomes one line on stderr and exit code 2. Run from the shell (`argv` None:
    the process's own arguments), the process then ends at once (`leave`); given `argv` (a test, another script) it
    returns, or raises SystemExit with the code."""
    try:
        main(argv)
        code = 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    if argv is None:
        leave(code)
    if code:
        sys.exit(code)


def leave(code: int) -> NoReturn:
    """End the process with `code` as Python would, less its teardown: wait for running threads, flush the standard
    streams, run the atexit handlers (DataLoader workers, temporary folders, logging), then exit without tearing down
    every module one by one, which takes 0.5 to 0.9 s once torch is imported (bench/bench_startup.py). Every file we
    write is closed before it is renamed into place, so nothing waits on that teardown."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that went away (`| head`)
        pass
    atexit._run_exitfuncs()
    os._exit(code)
