"""The probability a judge gave its own answer, from the token log-probabilities a provider returns
(OpenAI-compatible ``logprobs``; llama.cpp's server and vLLM return them too). Asked for when a judge's
``params`` set ``logprobs = true``; the result is recorded as ``answer_probability`` beside the
validated answer and used as the judge's confidence when it states none (docs/PROMPTS.md).

The answer field (``rating`` of a preference verdict, ``winner`` of a pairwise one) is found in the
text the tokens spell; its probability is exp(logprob) of the token that carries the value's first
character — the probability of the chosen rating given everything before it."""

from __future__ import annotations


import math
import re


def _tokens(completion) -> list[tuple[str, float]] | None:
    try:
        content = completion.choices[0].logprobs.content
    except (AttributeError, IndexError, TypeError):
        content = None
    if content is None:
        try:  # a plain dict (some providers / litellm versions)
            content = completion.choices[0].logprobs["content"]
        except (AttributeError, IndexError, KeyError, TypeError):
            return None
    out = []
    for t in content or []:
        token = t.get("token") if isinstance(t, dict) else getattr(t, "token", None)
        lp = t.get("logprob") if isinstance(t, dict) else getattr(t, "logprob", None)
        if token is None or lp is None:
            return None
        out.append((str(token), float(lp)))
    return out or None


def answer_probability(completion, field: str) -> float | None:
    """exp(logprob) of the token holding the first character of ``field``'s value in the answer JSON;
    None when the provider returned no log-probabilities or the field is not found."""
    tokens = _tokens(completion)
    if not tokens:
        return None
    text = "".join(t for t, _ in tokens)
    m = re.search(r'"' + re.escape(field) + r'"\s*:\s*"?', text)
    if not m:
        return None
    pos, offset = m.end(), 0
    for token, lp in tokens:
        if offset <= pos < offset + len(token):
            p = math.exp(lp)
            return p if 0.0 <= p <= 1.0 else None
        offset += len(token)
    return None


def answer_field(response_model) -> str | None:
    """The field whose probability is the answer's: the first property of the output schema."""
    props = (response_model.model_json_schema().get("properties") or {}) if response_model is not None else {}
    return next(iter(props), None)



