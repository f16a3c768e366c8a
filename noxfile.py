"""nox sessions: tests, lint, bench (the performance benchmarks in tests/perf/), leaderboard
(the committed example leaderboard in results/example/, made again) and mnist (the committed
MNIST example in results/mnist/, made again from a data folder)."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", "tests/perf", "-s", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def leaderboard(session: nox.Session) -> None:
    """Make the example leaderboard again: the embedded grid (runs whose record exists are
    kept; delete results/example/runs/ first for a clean run), the representation analysis
    of its classify runs (written into their records), then its tables and report."""
    session.install("-e", ".[test]")
    session.run(
        "hem-bench",
        "sweep",
        "--preset",
        "embedded",
        "--workers",
        "2",
        "--no-progress",
        "--out",
        "results/example/runs",
    )
    session.run(
        "hem-bench",
        "analyze",
        "--results",
        "results/example/runs",
        "--task",
        "classify",
        "--write-records",
        "--no-plots",
        "--out",
        session.create_tmp(),
    )
    session.run(
        "hem-bench",
        "leaderboard",
        "--results",
        "results/example/runs",
        "--out",
        "results/example",
        "--format",
        "md,csv,html,json,png",
    )


@nox.session
def mnist(session: nox.Session) -> None:
    """Make the MNIST example again (results/mnist/): the mnist preset on the MNIST files
    of the data folder given after ``--`` (``nox -s mnist -- DIR``; runs whose record exists
    are kept), the representation analysis of its classify runs (written into their
    records), then its tables and report."""
    if len(session.posargs) != 1:
        session.error("give the data folder holding MNIST/raw: nox -s mnist -- DIR")
    (data_dir,) = session.posargs
    session.install("-e", ".[test]")
    runs = "results/mnist/runs"
    session.run(
        "hem-bench", "sweep", "--preset", "mnist", "--data-dir", data_dir, "--workers", "2",
        "--no-progress", "--out", runs,
    )  # fmt: skip
    session.run(
        "hem-bench", "analyze", "--results", runs, "--task", "classify", "--write-records",
        "--no-plots", "--out", session.create_tmp(),
    )  # fmt: skip
    session.run(
        "hem-bench", "leaderboard", "--results", runs, "--out", "results/mnist", "--format",
        "md,csv,html,json,png",
    )  # fmt: skip
