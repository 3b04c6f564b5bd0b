"""Every cluster-bootstrap interval against an independent one: scipy.stats.bootstrap resampling the
same clusters (users) with its own random stream, percentile method, and the statistic written out
here from its definition with numpy/scipy/scikit-learn. The two intervals differ only by Monte Carlo
error; with 4,000 resamples each the endpoints agree within ``TOL`` (a few Monte Carlo SEs on these
data). A bug in cluster resampling (resampling items instead of users, dropping resamples, a wrong
percentile) moves an endpoint by far more: resampling items instead of users narrows a user-level share's CI by far more than TOL (last test).

Data: SYNTHETIC, generated here (24 users x 5 items, seeded); labels, not people or models.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from audit.stats import counterfactual as cf
from audit.stats import measure
from audit.stats import relevance as rm
from audit.stats.bootstrap import ClusterBootstrap

B = 4000
TOL = 0.035

rng = np.random.default_rng(2026)
N_USERS, PER = 24, 5
USERS = np.repeat([f"user-{u:02d}" for u in range(N_USERS)], PER)
USER_EFFECT = np.repeat(rng.normal(0, 1.0, N_USERS), PER)  # items of one user move together
MENTION = rng.random(N_USERS * PER) < 0.4
HUMAN = np.clip(np.round(3 + USER_EFFECT + 0.4 * MENTION + rng.normal(0, 0.8, len(USERS)), 1), 1, 5)
JUDGE = np.clip(np.round(HUMAN + 0.3 + 0.6 * MENTION + rng.normal(0, 0.7, len(USERS))), 1, 5)
CODES = np.unique(USERS, return_inverse=True)[1]
MEMBERS = [np.flatnonzero(CODES == c) for c in range(N_USERS)]


def reference_ci(statistic) -> tuple[float, float]:
    """95% percentile CI of ``statistic(rows)`` under resampling users with replacement (scipy)."""
    def on_users(user_idx):
        rows = np.concatenate([MEMBERS[int(u)] for u in user_idx])
        return statistic(rows)

    res = stats.bootstrap((np.arange(N_USERS),), on_users, vectorized=False, n_resamples=B, method="percentile",
                          rng=np.random.default_rng(99))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def close(est, ref):
    lo, hi = (est.ci_low, est.ci_high) if hasattr(est, "ci_low") else est
    assert lo == pytest.approx(ref[0], abs=TOL) and hi == pytest.approx(ref[1], abs=TOL), (lo, hi, ref)


def boot():
    return ClusterBootstrap(USERS, n_reps=B, seed=1)


def test_inflation():
    close(measure.inflation(JUDGE, HUMAN, clusters=USERS, boot=boot()),
          reference_ci(lambda r: np.mean(JUDGE[r] - HUMAN[r])))


def delta(values, r):
    m = MENTION[r]
    return np.mean(values[r][m]) - np.mean(values[r][~m])


def test_mention_delta_and_excess_uplift():
    close(measure.mention_delta(JUDGE, MENTION, clusters=USERS, boot=boot()), reference_ci(lambda r: delta(JUDGE, r)))
    close(measure.excess_mention_uplift(JUDGE, HUMAN, MENTION, clusters=USERS, boot=boot()),
          reference_ci(lambda r: delta(JUDGE, r) - delta(HUMAN, r)))


def test_no_better_rate():
    close(measure.no_better_rate(HUMAN, clusters=USERS, boot=boot()), reference_ci(lambda r: np.mean(HUMAN[r] <= 3)))


def test_spearman():
    close(measure.rank_correlation(JUDGE, HUMAN, clusters=USERS, boot=boot()),
          reference_ci(lambda r: stats.spearmanr(JUDGE[r], HUMAN[r]).statistic))


def test_causal_effect():
    without = HUMAN
    with_mention = np.clip(HUMAN + rng.choice([0, 0, 1, 1, 2], len(HUMAN)), 1, 5)
    close(cf.causal_effect(with_mention, without, kind="ablation", clusters=USERS, boot=boot()),
          reference_ci(lambda r: np.mean(with_mention[r] - without[r])))


# relevance: selected by the judge, k of m annotators said relevant
SELECTED = (HUMAN + rng.normal(0, 1, len(HUMAN))) > 3.2
M = np.full(len(HUMAN), 4)
K = np.clip(np.round((HUMAN - 1) + rng.normal(0, 0.7, len(HUMAN))), 0, 4).astype(int)


def test_over_selection_ratio():
    est = rm.over_selection_ratio(SELECTED, K, M, USERS, n_resamples=B, seed=1)
    close(est, reference_ci(lambda r: SELECTED[r].mean() / (K[r].sum() / M[r].sum())))


def test_f1_against_the_majority():
    truth = (K / M > 0.5).astype(float)
    est = rm.precision_recall_f1(SELECTED, truth, USERS, n_resamples=B, seed=1)["f1"]
    close(est, reference_ci(lambda r: f1_score(truth[r].astype(int), SELECTED[r].astype(int), zero_division=np.nan)))


def test_the_reference_would_see_items_resampled_instead_of_users():
    """The tolerance is tight enough: for a difference that is the same for all items of a user (the
    user effect), resampling items (ignoring users) gives a CI about sqrt(5) times narrower, far outside it."""
    shifted = HUMAN + USER_EFFECT
    clustered = measure.inflation(shifted, HUMAN, clusters=USERS, boot=boot())
    itemwise = measure.inflation(shifted, HUMAN, clusters=np.arange(len(USERS)),
                                 boot=ClusterBootstrap(np.arange(len(USERS)), n_reps=B, seed=1))
    ref = reference_ci(lambda r: np.mean(USER_EFFECT[r]))
    close(clustered, ref)
    assert (ref[1] - ref[0]) - (itemwise.ci_high - itemwise.ci_low) > 2 * TOL
