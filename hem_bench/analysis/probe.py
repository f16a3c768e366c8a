r"""Linear-probe transfer: how well a linear classifier reads new classes off frozen
features (Kornblith, Shlens & Le 2019, "Do better ImageNet models transfer better?";
Kornblith et al. 2021, Section 4: L2-regularised multinomial logistic regression on
fixed penultimate features, its regularisation chosen on held-out data).

The classifier is scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`
(multinomial softmax, L-BFGS) on standardised features (zero mean, unit variance, fitted
on the training features), minimising

.. math::

    \frac12 \lVert W\rVert_F^2 + C \sum_i -\log \operatorname{softmax}(W x_i + b)_{y_i}.

Regularisation: by default (``C="cv"``) the inverse strength C is chosen from
``C_GRID`` (10⁻³ … 10³, a decade apart) by stratified 3-fold cross-validated accuracy on
the training features (ties go to the smaller C, i.e. the stronger regularisation), and
the probe is refitted on all of them with that C; a number fixes C instead. Classes with
fewer than 2 training examples make cross-validation impossible: C = 1 is then used.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hem_bench.analysis.cka import as_matrix
from hem_bench.analysis.separation import _labels

#: the candidate inverse regularisation strengths for ``C="cv"``
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`linear_probe` measured and how it was fitted."""

    accuracy: float
    C: float
    #: "cv" (chosen by cross-validation) or "fixed"
    C_selection: str
    cv_accuracy: float | None
    max_iter: int
    n_iter: int
    converged: bool
    standardized: bool
    n_train: int
    n_test: int
    n_classes: int
    chance: float
    solver: str = "lbfgs"
    penalty: str = "l2"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pipeline(C: float, max_iter: int, standardize: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # lbfgs fits the multinomial (softmax) model for more than two classes
    classifier = LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter)
    return make_pipeline(StandardScaler(), classifier) if standardize else classifier


#: below this many feature values, fits run on one BLAS thread: multithreaded BLAS on small
#: matrices spends its time synchronising (ten times slower on two cores)
SMALL_PROBLEM = 2_000_000


def _fit(model, X, y):
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    limit = 1 if X.size < SMALL_PROBLEM else None
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limit):
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged


def _choose_C(X, y, max_iter: int, standardize: bool, seed: int) -> tuple[float, float | None]:
    from sklearn.model_selection import StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    folds = min(3, int(counts.min()))
    if folds < 2:
        return 1.0, None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(X, y))
    best_C, best_score = C_GRID[0], -1.0
    for C in C_GRID:
        scores = []
        for train, held in splits:
            model, _ = _fit(_pipeline(C, max_iter, standardize), X[train], y[train])
            scores.append(float((model.predict(X[held]) == y[held]).mean()))
        score = float(np.mean(scores))
        if score > best_score + 1e-12:
            best_C, best_score = C, score
    return best_C, best_score


def linear_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    C: float | str = "cv",
    max_iter: int = 5000,
    standardize: bool = True,
    seed: int = 0,
) -> ProbeResult:
    """Test accuracy of an L2-regularised multinomial logistic regression (L-BFGS) fitted
    on frozen ``train_features`` (n x D) / ``train_labels`` and evaluated on
    ``test_features`` / ``test_labels`` (Kornblith et al. 2019, 2021).

    Args:
        C: inverse regularisation strength, or ``"cv"`` (default) to choose it from
            :data:`C_GRID` by stratified 3-fold cross-validation on the training features.
        max_iter: L-BFGS iterations (5000: enough for standardised features of small
            data sets; ``converged`` in the result says whether it sufficed).
        standardize: standardise the features with statistics of the training set.
        seed: seed of the cross-validation folds.

    Returns a :class:`ProbeResult`: the accuracy and the settings fitted (C, how it was
    chosen, iterations, sizes, chance level ``1 / classes in the training set``).
    """
    X_train, X_test = as_matrix(train_features), as_matrix(test_features)
    y_train = _labels(train_labels, X_train.shape[0])
    y_test = _labels(test_labels, X_test.shape[0])
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"train and test features differ in width: {X_train.shape[1]} vs {X_test.shape[1]}"
        )
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise ValueError(f"a probe needs at least 2 training classes; got {len(classes)}")
    if len(y_test) == 0:
        raise ValueError("a probe needs test examples; got none")
    cv_accuracy = None
    if isinstance(C, str):
        if C != "cv":
            raise ValueError(f"C must be a positive number or 'cv'; got {C!r}")
        chosen, cv_accuracy = _choose_C(X_train, y_train, max_iter, standardize, seed)
        selection = "cv" if cv_accuracy is not None else "fixed"
    else:
        if not C > 0:
            raise ValueError(f"C must be a positive number or 'cv'; got {C!r}")
        chosen, selection = float(C), "fixed"
    model, converged = _fit(_pipeline(chosen, max_iter, standardize), X_train, y_train)
    accuracy = float((model.predict(X_test) == y_test).mean())
    classifier = model[-1] if standardize else model
    return ProbeResult(
        accuracy=accuracy,
        C=float(chosen),
        C_selection=selection,
        cv_accuracy=cv_accuracy,
        max_iter=max_iter,
        n_iter=int(np.max(classifier.n_iter_)),
        converged=converged,
        standardized=standardize,
        n_train=int(X_train.shape[0]),
        n_test=int(X_test.shape[0]),
        n_classes=len(classes),
        chance=1.0 / len(classes),
    )
