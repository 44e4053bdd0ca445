"""One exception type for the user's mistakes, and the wrapper that turns it into exit code 2."""
import sys
from typing import Callable, Sequence


class UserError(Exception):
    """A mistake in the user's input: the message says what is wrong and what would be right."""


def run_cli(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> None:
    """Run a script's main; a UserError becomes one line on stderr and exit code 2."""
    try:
        main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
