"""Continual-learning metrics from the accuracy matrix (Lopez-Paz & Ranzato 2017, "Gradient
episodic memory for continual learning"; Chaudhry et al. 2018, "Riemannian walk for
incremental learning"; Riemer et al. 2019's learning accuracy), with ``R[t][i]`` the
accuracy on experience i after learning experience t (i <= t) and T experiences:

- ``avg_acc`` = mean_i R[T-1][i];
- ``learning_acc`` = mean_i R[i][i], the accuracy on each experience right after learning it;
- ``bwt`` = mean_{i<T-1} (R[T-1][i] - R[i][i]) (backward transfer; negative: forgetting);
- ``forgetting`` = mean_{i<T-1} max_{i<=l<T-1} (R[l][i] - R[T-1][i]).

Written here because Avalanche, which computes them, is not a dependency; the formulas are
a few lines over the matrix.
"""

from __future__ import annotations


def continual_metrics(matrix: list[list[float]]) -> dict[str, float]:
    """``avg_acc``, ``learning_acc``, ``bwt`` and ``forgetting`` from the lower-triangular
    accuracy matrix ``matrix[t][i]`` (accuracy on experience i after learning experience t,
    i <= t)."""
    last = len(matrix) - 1
    final = matrix[last]
    results = {
        "avg_acc": sum(final[: last + 1]) / (last + 1),
        "learning_acc": sum(matrix[t][t] for t in range(last + 1)) / (last + 1),
    }
    if last == 0:
        results["bwt"] = 0.0
        results["forgetting"] = 0.0
        return results
    results["bwt"] = sum(final[i] - matrix[i][i] for i in range(last)) / last
    results["forgetting"] = (
        sum(max(matrix[later][i] for later in range(i, last)) - final[i] for i in range(last))
        / last
    )
    return results
