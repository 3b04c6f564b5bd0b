"""What judging costs: per-judge totals of a run (results.json ``judges.J.cost``) and the
``--dry-run`` plan (calls and estimated cost per judge before anything is spent).

Prices come from litellm's bundled price map (``litellm.cost_per_token``); a model it does not
price has an unknown cost -- ``null`` in results.json, "unknown" on the terminal -- never 0.
"""

from __future__ import annotations

import json



OUT_TOKENS_EST = 60  # a 1-5 rating and a one-or-two-sentence rationale, as JSON
SAMPLE_FOR_TOKENS = 200  # calls per judge whose prompt tokens are counted exactly (the rest scaled)


# --- --dry-run ------------------------------------------------------------------------------


def estimate_prompt_tokens(model: str, messages: list[dict], schema: dict | None) -> int:
    """Prompt tokens of one call (litellm.token_counter), plus the output schema instructor sends."""
    from audit.engine.provider import litellm_module as _litellm

    lm = _litellm()
    n = lm.token_counter(model=model, messages=messages)
    if schema is not None:
        n += lm.token_counter(model=model, text=json.dumps(schema))
    return int(n)


def estimate_cost(model: str, tokens_in: float, tokens_out: float) -> float | None:
    from audit.engine.provider import litellm_module as _litellm

    try:
        cin, cout = _litellm().cost_per_token(model=model, prompt_tokens=int(round(tokens_in)),
                                              completion_tokens=int(round(tokens_out)))
    except Exception:  # noqa: BLE001 - not in the price map
        return None
    return float(cin) + float(cout)


