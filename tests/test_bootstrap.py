"""audit.stats.bootstrap: the vectorised cluster bootstrap, checked against explicit loops and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from audit.stats import bootstrap
from audit.stats.bootstrap import ClusterBootstrap, one_hot, percentile_ci, ratio, wald_p_value


def test_counts_draw_every_cluster_total_with_replacement():
    boot = ClusterBootstrap(["u1", "u2", "u3", "u1"], n_reps=500, seed=1)
    assert boot.n_clusters == 3
    assert boot.counts.shape == (500, 3)
    assert (boot.counts.sum(axis=1) == 3).all()  # each resample draws C clusters
    # with replacement: some resamples repeat a cluster
    assert (boot.counts.max(axis=1) > 1).any()
    # every cluster is drawn with probability 1/C: mean count 1
    assert boot.counts.mean() == pytest.approx(1.0, abs=0.05)


def test_seeded_reproducible_and_independent_of_item_order():
    a = ClusterBootstrap(["x", "y", "z", "y"], n_reps=50, seed=7)
    b = ClusterBootstrap(["z", "y", "x"], n_reps=50, seed=7)
    c = ClusterBootstrap(["x", "y", "z"], n_reps=50, seed=8)
    assert np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, c.counts)


def test_sums_equal_an_explicit_loop_over_resamples():
    rng = np.random.default_rng(0)
    clusters = [f"u{k}" for k in rng.integers(0, 6, 20)]
    values = rng.normal(size=(20, 3))
    boot = ClusterBootstrap(clusters, n_reps=40, seed=3)
    got = boot.sums(values, clusters)
    for b in range(40):
        # resample b: cluster c drawn counts[b, c] times, each time with all of its items
        expected = np.zeros(3)
        for c, label in enumerate(boot.labels):
            members = [i for i, lab in enumerate(clusters) if lab == label]
            expected += boot.counts[b, c] * values[members].sum(axis=0)
        assert got[b] == pytest.approx(expected)


def test_sparse_and_chunked_paths_agree(monkeypatch):
    rng = np.random.default_rng(1)
    clusters = [f"u{k}" for k in rng.integers(0, 9, 30)]
    values = rng.normal(size=(30, 2))
    dense = ClusterBootstrap(clusters, n_reps=450, seed=5)
    monkeypatch.setattr(bootstrap, "_DENSE_LIMIT", 0)
    chunked = ClusterBootstrap(clusters, n_reps=450, seed=5)
    assert chunked._wt is None
    np.testing.assert_allclose(dense.sums(values, clusters), chunked.sums(values, clusters))
    np.testing.assert_allclose(dense.sums(sparse.csr_matrix(values), clusters), dense.sums(values, clusters))
    codes = dense.codes(clusters)
    np.testing.assert_allclose(dense.resample(dense.cluster_sums(values, codes=codes)), dense.sums(values, clusters))


def test_unknown_cluster_is_an_error():
    boot = ClusterBootstrap(["a", "b"], n_reps=5)
    with pytest.raises(ValueError, match="not among"):
        boot.codes(["a", "c"])
    with pytest.raises(ValueError):
        ClusterBootstrap(["a"], n_reps=0)


def test_one_hot_and_ratio():
    m = one_hot([0, 2, -1, 2], 3, weights=[1, 2, 3, 4]).toarray()
    assert m.tolist() == [[1, 0, 0], [0, 0, 2], [0, 0, 0], [0, 0, 4]]
    r = ratio(np.array([1.0, 2.0]), np.array([2.0, 0.0]))
    assert r[0] == 0.5 and np.isnan(r[1])


def test_percentile_ci_hand_worked():
    # 100 replicates 1..100: numpy's linear quantile at 2.5% is position 0.025 * 99 = 2.475
    # -> 3 + 0.475 = 3.475; at 97.5% position 96.525 -> 97.525.
    lo, hi, n = percentile_ci(np.arange(1, 101, dtype=float))
    assert (lo, hi, n) == (pytest.approx(3.475), pytest.approx(97.525), 100)
    # undefined replicates are left out; with fewer than 90% defined there is no interval (the one
    # validity rule, MIN_VALID_SHARE): 100 of 110 defined (90.9%) gives the same interval, 100 of 112
    # (89.3%) none
    reps = np.r_[np.arange(1, 101, dtype=float), np.full(10, np.nan)]
    assert percentile_ci(reps) == (pytest.approx(3.475), pytest.approx(97.525), 100)
    assert percentile_ci(np.r_[np.arange(1, 101, dtype=float), np.full(12, np.nan)]) == (None, None, 100)
    assert percentile_ci(np.r_[1.0, 2.0, np.full(5, np.nan)]) == (None, None, 2)


def test_wald_p_value_hand_worked():
    from scipy.stats import t

    reps = np.array([-1.0, 1.0] * 50)  # SD (ddof=1) = sqrt(100/99)
    se = np.sqrt(100 / 99)
    assert wald_p_value(2.0, reps, 10) == pytest.approx(2 * t.sf(2.0 / se, 10))
    assert wald_p_value(2.0, np.ones(10), 10) is None  # zero SE
    assert wald_p_value(2.0, reps, 0) is None


def test_item_bootstrap_interval_matches_scipy_bootstrap():
    """With one item per cluster the plan is the ordinary bootstrap; its percentile interval of a
    mean must agree with scipy.stats.bootstrap's (different random draws: agreement to MC error)."""
    from scipy.stats import bootstrap as scipy_bootstrap

    x = np.random.default_rng(2).normal(3.0, 1.0, 200)
    boot = ClusterBootstrap(range(200), n_reps=20000, seed=1)
    r = boot.sums(np.column_stack([x, np.ones_like(x)]), range(200))
    lo, hi, _ = percentile_ci(r[:, 0] / r[:, 1])
    ref = scipy_bootstrap((x,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(9))
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_clusters_widen_the_interval_when_items_within_a_cluster_agree():
    """60 users with 4 identical items each carry the information of 60 items, not 240: the
    cluster interval is about sqrt(4) = 2 times wider than an (invalid) item-level one."""
    base = np.random.default_rng(4).normal(0, 1, 60)
    x = np.repeat(base, 4)
    users = np.repeat(np.arange(60), 4)
    vals = np.column_stack([x, np.ones_like(x)])
    by_user = ClusterBootstrap(users, n_reps=4000, seed=0)
    by_item = ClusterBootstrap(range(240), n_reps=4000, seed=0)
    r_u, r_i = by_user.sums(vals, users), by_item.sums(vals, range(240))
    w_u = np.subtract(*percentile_ci(r_u[:, 0] / r_u[:, 1])[1::-1])
    w_i = np.subtract(*percentile_ci(r_i[:, 0] / r_i[:, 1])[1::-1])
    assert 1.7 < w_u / w_i < 2.3


def test_float32_count_path_is_exact_for_integer_tables(monkeypatch):
    rng = np.random.default_rng(6)
    clusters = [f"u{k}" for k in rng.integers(0, 30, 200)]
    counts = sparse.csr_matrix(rng.integers(0, 3, (200, 12)).astype(float))
    boot = ClusterBootstrap(clusters, n_reps=300, seed=2)
    s = boot.cluster_sums(counts, clusters)
    exact = boot.counts.astype(float) @ s.toarray()
    assert np.array_equal(boot.resample_counts(s), exact)
    assert np.array_equal(boot.resample_counts(s, 10, 20), exact[10:20])
    monkeypatch.setattr(bootstrap, "_DENSE_LIMIT", 0)
    chunked = ClusterBootstrap(clusters, n_reps=300, seed=2)
    assert np.array_equal(chunked.resample_counts(s), exact)
