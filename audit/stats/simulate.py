"""Synthetic datasets with planted judge biases, to prove the statistics recover them.

``judge-audit simulate`` writes a JSONL file in the normal input format (see README, "Input
data"), labelled as synthetic in its ``#`` header, with the parameters and the exact expected
value of every planted quantity ("truth") in the header too.

Generative model (all draws from one seeded ``numpy.random.Generator``)::

    item quality      q_i  = mu + u_user(i) + v_i,     u ~ N(0, user_sd^2), v ~ N(0, item_sd^2)
    mention flag      m_i  : exactly round(mention_rate * n) items, at random
    annotator rating  H_ia = R(q_i + h * m_i + e),     e ~ N(0, noise^2)
    judge, one order  J_ijo = R(q_i + h * m_i + x_j + y_j (m_i - pi) + s_o z_j / 2 + e'),
                      e' ~ N(0, judge_noise^2)
                      s_o = +1 when the personalized answer is shown first (slot A), -1 otherwise

``R`` clips to [1, 5] and rounds stochastically (floor + Bernoulli(fraction)), so
E[R(L)] = E[clip(L, 1, 5)] exactly. x = inflation, y = mention bias (judge minus human mention
delta), z = position bias (rating when personalized is in slot A minus when it is in slot B),
h = a real quality difference of mention answers (humans and judges both see it; default 0),
pi = the realised mention share. Without clipping the
planted values are the expected estimands; clipping shrinks them a little, and the header's
``truth`` gives the exact expectations (closed form: L is normal marginally over q and e).

Judge ratings in the input format hold one rating per judge and item, so ``judge_ratings``
holds the verdict of one randomly drawn order (what a single-order run produces). Both orders'
verdicts are written to the documented extension field ``meta.judge_verdicts``: a list of
``{"judge", "order" ("generic_first" | "personalized_first"), "rating" (1-5, 5 = personalized
much better), "raw_rating" (1-5, 5 = Response B much better)}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ATTRIBUTES = ("vegetarian", "software developer", "runner", "parent of two", "lives in Berlin", "beginner cook",
              "plays the guitar", "student", "retired teacher", "cyclist")
ORDERS = ("generic_first", "personalized_first")


@dataclass(frozen=True)
class SimParams:
    """Parameters of one simulated dataset (per-judge values are tuples, one per judge)."""

    n_items: int = 200
    n_annotators: int = 5
    raters_per_item: int = 3
    judges: tuple[str, ...] = ("sim-judge-a", "sim-judge-b")
    inflation: tuple[float, ...] = (0.6, 0.2)
    mention_bias: tuple[float, ...] = (0.4, 0.0)
    position_bias: tuple[float, ...] = (0.3, 0.0)
    noise: float = 0.7
    judge_noise: float = 0.5
    human_mention_effect: float = 0.0
    mention_rate: float = 0.4
    n_users: int | None = None  # default: n_items // 2 (two items per user)
    user_sd: float = 0.3
    item_sd: float = 0.8
    quality_mean: float = 3.0
    generators: tuple[str, ...] = ("sim-gen-a", "sim-gen-b")
    seed: int = 0

    def __post_init__(self):
        k = len(self.judges)
        for name in ("inflation", "mention_bias", "position_bias"):
            vals = tuple(float(v) for v in getattr(self, name))
            if len(vals) == 1 and k > 1:
                vals = vals * k
            if len(vals) != k:
                raise ValueError(f"{name}: give one value or one per judge ({k}), got {len(vals)}")
            object.__setattr__(self, name, vals)
        if self.n_items < 1 or self.n_annotators < 1 or not self.judges:
            raise ValueError("needs at least 1 item, 1 annotator and 1 judge")
        if not 1 <= self.raters_per_item <= self.n_annotators:
            raise ValueError(f"raters per item must be between 1 and the number of annotators ({self.n_annotators})")
        if not 0.0 <= self.mention_rate <= 1.0:
            raise ValueError("mention rate must be between 0 and 1")
        if min(self.noise, self.judge_noise, self.user_sd, self.item_sd) < 0:
            raise ValueError("standard deviations must not be negative")
        if len(set(self.judges)) != len(self.judges):
            raise ValueError("judge names must be distinct")
        if self.users < 1:
            raise ValueError("needs at least 1 user")

    @property
    def users(self) -> int:
        return self.n_users if self.n_users is not None else max(1, self.n_items // 2)

    @property
    def n_mention(self) -> int:
        return int(round(self.mention_rate * self.n_items))


@dataclass
class SimData:
    """One simulated dataset as arrays (see the module docstring for the model)."""

    params: SimParams
    user: np.ndarray          # (N,) user index
    mention: np.ndarray       # (N,) bool
    generator: np.ndarray     # (N,) generator index
    human: np.ndarray         # (N, A) ratings 1-5, NaN where the annotator did not rate the item
    verdicts: np.ndarray      # (N, J, 2) ratings (generic 1 .. 5 personalized) in each order (ORDERS)
    shown: np.ndarray         # (N, J) which order's verdict goes to judge_ratings (0 or 1)
    truth: dict = field(default_factory=dict)

    @property
    def judge_rating(self) -> np.ndarray:
        """(N, J) the single-order rating written to ``judge_ratings``."""
        return np.take_along_axis(self.verdicts, self.shown[..., None], axis=2)[..., 0]

    @property
    def human_mean(self) -> np.ndarray:
        return np.nanmean(self.human, axis=1)


def _stochastic_round(latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clip to [1, 5], then floor + Bernoulli(fraction): unbiased for the clipped value."""
    c = np.clip(latent, 1.0, 5.0)
    low = np.floor(c)
    return np.minimum(low + (rng.random(c.shape) < (c - low)), 5.0)


def draw(params: SimParams, seed: int | None = None) -> SimData:
    """Draw one dataset (vectorised; ``seed`` overrides ``params.seed``)."""
    p = params
    rng = np.random.default_rng(p.seed if seed is None else seed)
    n, a, k = p.n_items, p.n_annotators, len(p.judges)
    user = np.sort(rng.integers(0, p.users, n)) if p.users < n else np.arange(n)
    q = p.quality_mean + rng.normal(0.0, p.user_sd, p.users)[user] + rng.normal(0.0, p.item_sd, n)
    mention = np.zeros(n, bool)
    mention[rng.permutation(n)[:p.n_mention]] = True
    pi = mention.mean()
    generator = np.arange(n) % len(p.generators)
    # which annotators rate each item: raters_per_item distinct ones, at random
    order = np.argsort(rng.random((n, a)), axis=1)[:, :p.raters_per_item]
    who = np.zeros((n, a), bool)
    np.put_along_axis(who, order, True, axis=1)
    latent_h = q[:, None] + p.human_mention_effect * mention[:, None] + rng.normal(0.0, p.noise, (n, a))
    human = np.where(who, _stochastic_round(latent_h, rng), np.nan)
    x, y, z = (np.asarray(v, float) for v in (p.inflation, p.mention_bias, p.position_bias))
    slot = np.array([-0.5, 0.5])  # ORDERS: generic_first (personalized in slot B), personalized_first
    latent_j = (q[:, None, None] + p.human_mention_effect * mention[:, None, None] + x[None, :, None]
                + y[None, :, None] * (mention[:, None, None] - pi)
                + z[None, :, None] * slot[None, None, :] + rng.normal(0.0, p.judge_noise, (n, k, 2)))
    verdicts = _stochastic_round(latent_j, rng)
    shown = rng.integers(0, 2, (n, k))
    return SimData(p, user, mention, generator, human, verdicts, shown, expected_values(p, pi))


def _e_clip(mu, sd, lo: float = 1.0, hi: float = 5.0):
    """E[clip(L, lo, hi)] for L ~ N(mu, sd^2) (closed form)."""
    from scipy.special import ndtr  # the standard normal CDF

    mu = np.asarray(mu, float)
    if sd == 0:
        return np.clip(mu, lo, hi)
    a, b = (lo - mu) / sd, (hi - mu) / sd

    def pdf(v):
        return np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)

    return lo * ndtr(a) + hi * ndtr(-b) + mu * (ndtr(b) - ndtr(a)) + sd * (pdf(a) - pdf(b))


def expected_values(params: SimParams, pi: float | None = None) -> dict:
    """The exact expectations of the planted quantities (over items, users and noise).

    ``pi``: the realised mention share (default round(mention_rate * n) / n, as drawn).
    Per judge: ``inflation`` (E[J - H], the judge's rating from a random order), ``mention_delta``
    (E[J | m=1] - E[J | m=0]), ``excess_mention_uplift`` (that minus the humans' delta) and
    ``position_shift`` (E[J | personalized first] - E[J | generic first]); for humans
    ``mention_delta`` and ``no_better_rate`` is not given (it depends on the rating mix).
    """
    p = params
    pi = p.n_mention / p.n_items if pi is None else float(pi)
    sq = math.hypot(p.user_sd, p.item_sd)
    sh, sj = math.hypot(sq, p.noise), math.hypot(sq, p.judge_noise)
    mu = p.quality_mean
    eh = {m: float(_e_clip(mu + p.human_mention_effect * m, sh)) for m in (0, 1)}
    weights = {1: pi, 0: 1.0 - pi}
    out = {"humans": {"mention_delta": eh[1] - eh[0], "mean_rating": sum(weights[m] * eh[m] for m in (0, 1))},
           "judges": {}, "mention_share": pi}
    for name, x, y, z in zip(p.judges, p.inflation, p.mention_bias, p.position_bias):
        e = {(m, s): float(_e_clip(mu + p.human_mention_effect * m + x + y * (m - pi) + s * z / 2, sj))
             for m in (0, 1) for s in (-1, 1)}
        ej = {m: (e[(m, -1)] + e[(m, 1)]) / 2 for m in (0, 1)}
        out["judges"][name] = {
            "inflation": sum(weights[m] * (ej[m] - eh[m]) for m in (0, 1)),
            "mention_delta": ej[1] - ej[0],
            "excess_mention_uplift": (ej[1] - ej[0]) - (eh[1] - eh[0]),
            "position_shift": sum(weights[m] * (e[(m, 1)] - e[(m, -1)]) for m in (0, 1)),
            "planted": {"inflation": x, "mention_bias": y, "position_bias": z},
        }
    return out


def to_rows(data: SimData) -> list[dict]:
    """The dataset as input-format rows (one dict per item)."""
    p = data.params
    rows = []
    jr = data.judge_rating
    for i in range(p.n_items):
        attrs = [ATTRIBUTES[i % len(ATTRIBUTES)], ATTRIBUTES[(i * 7 + 3) % len(ATTRIBUTES)]]
        if attrs[0] == attrs[1]:
            attrs = attrs[:1]
        mention = bool(data.mention[i])
        personalized = (f"As a {attrs[0]}, you could try option {i + 1} (synthetic personalized answer that names the "
                        "attribute)." if mention else
                        f"Option {i + 1} fits well here (synthetic personalized answer, tailored without naming "
                        "an attribute).")
        verdicts = [{"judge": name, "order": ORDERS[o], "rating": int(data.verdicts[i, k, o]),
                     "raw_rating": int(data.verdicts[i, k, o]) if o == 0 else 6 - int(data.verdicts[i, k, o])}
                    for k, name in enumerate(p.judges) for o in (0, 1)]
        rows.append({
            "id": f"sim-{i + 1:05d}",
            "user_id": f"sim-user-{int(data.user[i]) + 1:04d}",
            "prompt": f"Synthetic request number {i + 1}.",
            "attributes": attrs,
            "generic": f"Synthetic generic answer {i + 1}.",
            "personalized": personalized,
            "generator": p.generators[int(data.generator[i])],
            "mention": mention,
            "human_ratings": [{"annotator": f"annotator-{chr(65 + a) if a < 26 else a + 1}", "rating": int(v)}
                              for a, v in enumerate(data.human[i]) if not np.isnan(v)],
            "judge_ratings": [{"judge": name, "rating": int(jr[i, k])} for k, name in enumerate(p.judges)],
            "meta": {"synthetic": True, "judge_verdicts": verdicts},
        })
    return rows


def header_lines(data: SimData) -> list[str]:
    p = data.params
    return [
        "# SYNTHETIC DATA written by `judge-audit simulate`: not real answers, not real ratings, not real people "
        "or models.",
        "# Judges, annotators, users and generators are labels of the simulation (sim-judge-*, annotator-*, ...).",
        "# Rating scale: 1 = generic much better, 3 = no difference, 5 = personalized much better.",
        "# meta.judge_verdicts holds each judge's verdict in both presentation orders; judge_ratings holds one "
        "order, drawn at random.",
        "# params: " + json.dumps(asdict(p), sort_keys=True),
        "# truth: " + json.dumps(data.truth, sort_keys=True),
    ]


def write_jsonl(path: str | Path, params: SimParams) -> SimData:
    """Draw a dataset and write it as JSONL with its header; returns the drawn data."""
    data = draw(params)
    path = Path(path)
    lines = header_lines(data) + [json.dumps(r, ensure_ascii=False) for r in to_rows(data)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data
