"""The ``hem-bench`` command line.

Each subcommand lives in its own module under :mod:`hem_bench.cli` with two functions:
``add_arguments(parser)`` (import-light: no torch, no lightning) and ``run(args) -> int``
(which imports what it needs). ``hem-bench --help`` therefore starts in a fraction of a
second. Errors caused by the user's input (:class:`hem_bench.errors.HemBenchError`) print
one line and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from hem_bench.errors import HemBenchError, one_line
from hem_bench.version import __version__

#: subcommand -> (module under hem_bench.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "train and evaluate one model on one task; writes a run record"),
    "sweep": ("sweep", "run a grid of tasks x losses x seeds on local workers or SLURM"),
    "tasks": ("tasks", "list the tasks with their default data, model, recipe and headline"),
    "losses": ("losses", "list the losses in the registry, with their papers and parameters"),
    "datasets": ("datasets", "list the data sets: embedded ones and those read from --data-dir"),
    "models": ("models", "list the models: built-in ones, timm/<name> and smp/<arch>:<encoder>"),
    "analyze": ("analyze", "representation analysis: class separation, CKA, transfer"),
    "leaderboard": ("leaderboard", "tables and an HTML report from many runs"),
    "plan": ("plan", "how many seeds would decide each undecided claim or comparison"),
}

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse's parser, except that a usage error is one line (what is wrong, and where
    the options are listed) instead of the whole usage text; subcommands' parsers are of
    this class too."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {one_line(message, limit=600)} "
            f"('{self.prog} --help' lists the options)\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hem-bench",
        description=(
            "A benchmark suite for classification losses: is a loss a general-purpose "
            "replacement for cross-entropy?"
        ),
        epilog="Run 'hem-bench COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"hem-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"hem_bench.cli.{module_name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(_module=module_name)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = str(message)
    if not text.startswith("hem-bench:"):
        text = f"hem-bench: warning: {text}"
    print(text, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    module = importlib.import_module(f"hem_bench.cli.{args._module}")
    with warnings.catch_warnings():  # restores the previous showwarning afterwards
        warnings.showwarning = _show_warning
        return _run(module, args)


def _run(module, args: argparse.Namespace) -> int:
    try:
        return int(module.run(args) or 0)
    except HemBenchError as exc:
        print(f"hem-bench {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"hem-bench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def entry_point() -> None:  # pragma: no cover - thin wrapper for the console script
    sys.exit(main())
