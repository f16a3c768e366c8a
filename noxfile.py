"""nox sessions: tests, lint, bench (the performance benchmarks in tests/perf/), leaderboard
(the committed example leaderboard in results/example/, made again), mnist and fashion-mnist
(the committed examples in results/mnist/ and results/fashion-mnist/, made again from a data
folder)."""

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


#: the classification tasks of the mnist preset: Fashion-MNIST has no scenes of its own
_CLASSIFICATION_TASKS = "classify,ood,adversarial,imbalanced,continual"


def _mnist_family_example(session: nox.Session, folder: str, sweep_args: list[str]) -> None:
    """The mnist preset (with ``sweep_args``) on the data folder given after ``--``, into
    ``folder``/runs (runs whose record exists are kept), the representation analysis of its
    classify runs (written into their records), then its tables and report."""
    if len(session.posargs) != 1:
        session.error(f"give the data folder: nox -s {session.name} -- DIR")
    (data_dir,) = session.posargs
    session.install("-e", ".[test]")
    runs = f"{folder}/runs"
    session.run(
        "hem-bench", "sweep", "--preset", "mnist", *sweep_args, "--data-dir", data_dir,
        "--workers", "2", "--no-progress", "--out", runs,
    )  # fmt: skip
    session.run(
        "hem-bench", "analyze", "--results", runs, "--task", "classify", "--write-records",
        "--no-plots", "--out", session.create_tmp(),
    )  # fmt: skip
    session.run(
        "hem-bench", "leaderboard", "--results", runs, "--out", folder, "--format",
        "md,csv,html,json,png",
    )  # fmt: skip


@nox.session
def mnist(session: nox.Session) -> None:
    """Make the MNIST example again (results/mnist/) from the data folder holding MNIST/raw
    (``nox -s mnist -- DIR``)."""
    _mnist_family_example(session, "results/mnist", [])


@nox.session(name="fashion-mnist")
def fashion_mnist(session: nox.Session) -> None:
    """Make the Fashion-MNIST example again (results/fashion-mnist/): the mnist preset's
    classification tasks, unchanged, on Fashion-MNIST, seeds 0-2, from the data folder
    holding FashionMNIST/raw and MNIST/raw (MNIST is its far-OOD set;
    ``nox -s fashion-mnist -- DIR``)."""
    _mnist_family_example(
        session,
        "results/fashion-mnist",
        ["--datasets", "fashion-mnist", "--tasks", _CLASSIFICATION_TASKS, "--seeds", "0,1,2"],
    )
