"""Entry point of the frozen app (PyInstaller runs this file; see build.spec).

torch is imported before anything that loads Qt: on Windows, loading torch's DLLs after Qt's fails
("DLL initialization routine failed"), and the order costs nothing elsewhere.
"""

import multiprocessing
import os
import sys


def _subcommand(argv: list[str]) -> str | None:
    """The subcommand the way cli.main finds it: the first argument that is not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


if __name__ == "__main__":
    # Child processes of a frozen app re-run this executable; this hands them to multiprocessing.
    multiprocessing.freeze_support()
    # A windowed build on Windows has no console: print() and logging would fail on a None stream.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    if _subcommand(sys.argv[1:]) == "train":
        # torch's optimisers import torch._dynamo, which build.spec leaves out with the rest of torch's compiler
        # stack (sympy, inductor: about 100 MB). Say so instead of failing with a traceback mid-start.
        print("pconv-studio: error: training is not part of the installed app (it leaves out torch's compiler "
              "stack); train from a source checkout: bash scripts/dev.sh run train ...", file=sys.stderr)
        sys.exit(2)

    import torch  # noqa: F401  (before Qt, on purpose: see above)

    from pconv_studio.cli.main import main

    sys.exit(main())
