"""nox sessions: tests, lint, bench (the performance benchmarks in tests/perf/), leaderboard
(the committed example leaderboard in results/example/, made again)."""

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
