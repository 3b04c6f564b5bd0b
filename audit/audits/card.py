"""The audit card: how every number of a run was made (tool and library versions, dataset hash,
prompt hashes, judges, seed, resamples, calls, cost), and its one-line signature."""

from __future__ import annotations


def package_version(pkg: str) -> str | None:
    """The installed version of ``pkg`` (None when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def card_header(tool: str, packages: tuple[str, ...] = ()) -> dict:
    """The first fields of every audit card: the tool and its version, ``<package>_version`` of each
    of ``packages`` (None when not installed), the Python version and the date (UTC)."""
    import platform

    from audit import __version__

    return {"tool": tool, "tool_version": __version__,
            **{f"{p.replace('-', '_')}_version": package_version(p) for p in packages},
            "python": platform.python_version(), "date": utc_timestamp()}


def utc_timestamp() -> str:
    """Now, in UTC, ISO 8601 to the second."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def command_line() -> str | None:
    """The command as typed (``judge-audit ...``), None when there is no argv."""
    import sys

    return " ".join(["judge-audit", *sys.argv[1:]]) if sys.argv else None


def judges_card(specs, prompts: dict | None = None) -> dict:
    """Name -> what was called (model, api_base, mode, params, prompt) for every called judge spec.
    ``prompts``: judge -> prompt record, for audits whose judges use another task's prompt (the
    extraction verifier); default: the judge's preference prompt."""
    from audit.engine.prompts import judge_prompt

    return {s.name: {"model": s.model, "api_base": s.api_base, "mode": s.mode, "params": s.params,
                     "prompt": (prompts or {}).get(s.name) or judge_prompt(s.prompt).to_dict()} for s in specs}


#: The fields of a judge's fingerprint, in the order ``judge-audit drift`` compares them.
FINGERPRINT_FIELDS = ("source", "model", "api_base", "mode", "params", "prompt", "schema_sha256", "scale",
                      "served_models", "system_fingerprints", "tool_version")


def judge_fingerprints(specs, judgments, imported=(), *, scale: str = "1-5") -> dict:
    """Name -> fingerprint of every judge of a run: what was asked (model id as resolved, endpoint, mode,
    parameters such as temperature and max tokens, prompt name and SHA-256, output-schema SHA-256, scale,
    judge-audit version) and what answered (the distinct response ``model`` and ``system_fingerprint``
    values the provider reported, from judgments.csv). Two runs are comparable for a judge only when
    the fingerprints match (``judge-audit drift`` names the fields that differ). Imported judges have
    only a source and a name: their provenance is whatever produced the data."""
    import hashlib
    import json

    from audit import __version__
    from audit.engine.prompts import judge_prompt

    out = {}
    for s in specs:
        rows = [j for j in judgments if j.judge == s.name and j.status == "ok"]
        prompt = judge_prompt(s.prompt)
        schema = json.dumps(prompt.response_model.model_json_schema(), sort_keys=True, separators=(",", ":"))
        out[s.name] = {"source": "called", "model": s.model, "api_base": s.api_base, "mode": s.mode,
                       "params": dict(sorted(s.params.items())), "prompt": prompt.to_dict(),
                       "schema_sha256": hashlib.sha256(schema.encode()).hexdigest(), "scale": scale,
                       "served_models": sorted({j.served_model for j in rows if j.served_model}),
                       "system_fingerprints": sorted({j.system_fingerprint for j in rows if j.system_fingerprint}),
                       "tool_version": __version__}
    for name in imported:
        out[name] = {"source": "imported", "model": name, "scale": scale}
    return out


def call_counts(judgments) -> dict:
    """Calls made (imported rows are not calls), cache hits, failures and the cost of this run's uncached calls."""
    from audit.data.judgments import NO_CALL_STATUSES

    calls = [j for j in judgments if j.status not in NO_CALL_STATUSES]
    costs = [j.cost_usd for j in calls if not j.cached and j.cost_usd is not None]
    return {"calls": len(calls), "cache_hits": sum(1 for j in calls if j.cached),
            "failures": sum(1 for j in calls if j.status == "failed"),
            "cost_usd_this_run": sum(costs) if costs else None}


def signature(card: dict, *, n_resamples: int | None = None) -> str:
    """One line that names everything needed to reproduce a number, in the spirit of sacrebleu's
    signature: ``judge-audit:0.1.0|data:<sha256[:12]>|seed:0|resamples:2000|prompts:judge_preference@<sha[:8]>|judges:local=<model>``.

    Two audits with the same signature ran the same tool version on the same data file with the same
    seed, resampling, prompt templates and judge models (call parameters are in the card itself)."""
    parts = [f"{card.get('tool', 'judge-audit').replace(' ', '-')}:{card.get('tool_version')}"]
    sha = (card.get("dataset") or {}).get("sha256")
    if sha:
        parts.append(f"data:{sha[:12]}")
    parts.append(f"seed:{card.get('seed', 0)}")
    reps = n_resamples if n_resamples is not None else card.get("n_resamples")
    if reps is not None:
        parts.append(f"resamples:{reps}")
    templates = card.get("prompt_templates") or {}
    if templates:
        parts.append("prompts:" + ",".join(f"{t}@{h[:8]}" for t, h in templates.items()))
    judges = card.get("judges")
    if isinstance(judges, dict) and judges:
        # a judge prompt other than the shipped default is named with its hash: judge=model~name@sha
        parts.append("judges:" + ",".join(
            f"{n}={j.get('model')}" + (f"~{p['name']}@{p['sha256'][:8]}" if (p := j.get("prompt")) and p.get("name") != "default" else "")
            for n, j in judges.items()))
    elif isinstance(judges, list) and judges:
        parts.append("judges:" + ",".join(judges))
    return "|".join(parts)


def audit_card(tool: str, *, packages: tuple[str, ...] = (), dataset: dict, templates: tuple[str, ...] = (),
               called=None, judgments=None, settings: dict | None = None, command: bool = True,
               n_resamples: int | None = None, prompts: dict | None = None) -> dict:
    """The audit card of any audit: :func:`card_header`, the dataset (path, sha256, size), the hash of
    every prompt template used, the called judges, the audit's settings, the call counts of its
    judgments, the command line and the :func:`signature` (the last key).

    ``called``: judge specs (their model, api_base, mode and params are recorded), or a list of names
    for audits that call no model."""
    from audit.engine.prompts import template_hash

    card = {**card_header(tool, packages), "dataset": dataset}
    if templates:
        card["prompt_templates"] = {t: template_hash(t) for t in templates}
    if called is not None:
        names_only = bool(called) and all(isinstance(c, str) for c in called)
        card["judges"] = list(called) if names_only else judges_card(called, prompts)
    card.update(settings or {})
    if judgments is not None:
        card.update(call_counts(judgments))
    if command:
        card["command"] = command_line()
    card["signature"] = signature(card, n_resamples=n_resamples)
    return card
