"""Batch judging: the calls a run has not cached yet, submitted through the provider's batch API
(OpenAI-compatible ``/v1/files`` + ``/v1/batches`` via litellm's file and batch functions), at about
half the price and without rate limits; resumable across restarts and days.

How it fits the engine (docs/ENGINE.md, "Batch judging"):

* Each request of a batch is exactly the interactive request (:func:`request_body`: the same model,
  messages, parameters and the same ``response_format`` instructor sends in ``json_schema`` / ``json``
  mode); its ``custom_id`` *is* the call's cache key, so a batch result lands in the same cache entry
  an interactive call would, validated against the same output schema.
* State lives in ``<cache dir>/batches/<id>.json`` (written atomically at every step: the request map
  before the upload, the file id, the batch id right after creation). A restarted command resumes
  polling the same batches and never submits a request twice: a call whose key is in an unfinished
  batch is not submitted again, and a batch interrupted between upload and creation is looked up by
  its ``metadata`` before it is created.
* Failures inside a batch (an error line, an answer that fails validation, a batch that expired or
  was cancelled) are not cached: the run then makes those calls interactively (the retry policy), and
  the state counts them.
* Price: litellm's interactive price × :data:`BATCH_DISCOUNT` (OpenAI and Anthropic document 50% for
  batches), recorded as the result's cost and marked estimated.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from audit.engine.config import JudgeSpec
from audit.engine.provider import litellm_module  # the one litellm import: offline price map, quiet logging
from audit.errors import AuditError

BATCH_DISCOUNT = 0.5
DIR = "batches"
FINAL = ("completed", "failed", "expired", "cancelled")
POLL_START, POLL_MAX = 0.5, 60.0


class BatchesPending(AuditError):
    """``--no-wait``: batches were submitted (or are still running); not an error (exit 0)."""

    exit_code = 0


def unsupported(spec: JudgeSpec) -> str | None:
    """Why a judge cannot be batched (None: it can)."""
    if spec.is_local:
        return "the embedded local judge has no batch API"
    if spec.mode == "tools":
        return "batch judging supports the json_schema and json modes, not tools"
    provider = spec.model.split("/", 1)[0] if "/" in spec.model else "openai"
    if provider not in ("openai", "azure") and not spec.api_base:
        return f"provider {provider!r} has no OpenAI-compatible batch endpoint here"
    return None


def request_body(spec: JudgeSpec, messages: list[dict], response_model) -> dict:
    """The chat-completions body of one call, as instructor sends it interactively."""
    schema = response_model.model_json_schema()
    body: dict = {"model": spec.model.split("/", 1)[1] if spec.model.startswith("openai/") else spec.model,
                  "messages": [dict(m) for m in messages], **dict(spec.params)}
    if spec.mode == "json_schema":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": response_model.__name__, "schema": schema, "strict": False}}
    else:  # json: the schema spelled out in a message, as instructor's JSON mode does
        body["response_format"] = {"type": "json_object"}
        body["messages"].insert(0, {"role": "system", "content": "Return a JSON object matching this JSON schema:\n"
                                                                 + json.dumps(schema)})
    return body


# --- state on disk --------------------------------------------------------------------------------


@dataclass
class BatchStore:
    root: Path

    @classmethod
    def of(cls, cache_dir: Path) -> "BatchStore":
        return cls(Path(cache_dir) / DIR)

    def save(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{state['id']}.json.tmp"
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / f"{state['id']}.json")

    def all(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        return sorted((json.loads(p.read_text(encoding="utf-8")) for p in self.root.glob("*.json")),
                      key=lambda s: s["created"])

    def get(self, batch_id: str) -> dict | None:
        return next((s for s in self.all() if batch_id in (s["id"], s.get("provider_batch_id"))), None)


def provider_kwargs(spec: JudgeSpec) -> dict:
    """litellm's file/batch keyword arguments for a judge (provider, endpoint, key)."""
    kw: dict = {"custom_llm_provider": "azure" if spec.model.startswith("azure/") else "openai"}
    if spec.api_base:
        kw["api_base"] = spec.api_base
    key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if key:
        kw["api_key"] = key
    return kw


def spec_of(state: dict) -> JudgeSpec:
    """Enough of the judge that made a batch to reach its provider again (batches cancel)."""
    return JudgeSpec(name=state["judge"], model=state["model"], api_base=state.get("api_base"),
                     api_key_env=state.get("api_key_env"), mode=state.get("mode", "json_schema"))


def submit(spec: JudgeSpec, requests: list[tuple[str, dict]], store: BatchStore, *, schema: str) -> dict:
    """Upload and create one batch of ``requests`` (custom id = cache key, body); the state is saved
    before every provider call, so an interruption is resumed by :func:`resume_submission`."""
    state = {"id": f"ja-{uuid.uuid4().hex[:12]}", "judge": spec.name, "model": spec.model, "api_base": spec.api_base,
             "api_key_env": spec.api_key_env, "mode": spec.mode, "schema": schema, "created": time.time(),
             "status": "uploading", "input_file_id": None, "provider_batch_id": None, "output_file_id": None,
             "error_file_id": None, "keys": [k for k, _ in requests], "n_requests": len(requests),
             "counts": {}, "collected": False, "n_cached": 0, "n_failed": 0, "failed": []}
    store.save(state)
    lines = "".join(json.dumps({"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
                    for key, body in requests)
    return resume_submission(spec, state, store, payload=lines.encode())


def resume_submission(spec: JudgeSpec, state: dict, store: BatchStore, *, payload: bytes | None = None) -> dict:
    litellm = litellm_module()
    kw = provider_kwargs(spec)
    if state["input_file_id"] is None:
        if payload is None:  # interrupted before the upload finished: the caller submits these keys again
            state["status"] = "abandoned"
            store.save(state)
            return state
        f = litellm.create_file(file=(f"{state['id']}.jsonl", payload), purpose="batch", **kw)
        state["input_file_id"] = f.id
        state["status"] = "creating"
        store.save(state)
    if state["provider_batch_id"] is None:
        found = _find_created(state, kw)
        b = found or litellm.create_batch(completion_window="24h", endpoint="/v1/chat/completions",
                                          input_file_id=state["input_file_id"],
                                          metadata={"judge_audit_batch": state["id"]}, **kw)
        state["provider_batch_id"] = b.id
        state["status"] = b.status
        state["submitted"] = time.time()
        store.save(state)
    return state


def _find_created(state: dict, kw: dict):
    """A batch created for this state before an interruption (matched by its metadata), if any."""
    litellm = litellm_module()
    try:
        page = litellm.list_batches(limit=100, **kw)
    except Exception:  # noqa: BLE001 - a provider without listing: create (a duplicate is at worst paid twice)
        return None
    for b in getattr(page, "data", None) or []:
        if (getattr(b, "metadata", None) or {}).get("judge_audit_batch") == state["id"]:
            return b
    return None


def poll(spec: JudgeSpec, state: dict, store: BatchStore) -> dict:
    litellm = litellm_module()
    b = litellm.retrieve_batch(batch_id=state["provider_batch_id"], **provider_kwargs(spec))
    state["status"] = b.status
    rc = getattr(b, "request_counts", None)
    state["counts"] = {"total": getattr(rc, "total", None), "completed": getattr(rc, "completed", None),
                       "failed": getattr(rc, "failed", None)} if rc is not None else {}
    state["output_file_id"] = getattr(b, "output_file_id", None)
    state["error_file_id"] = getattr(b, "error_file_id", None)
    store.save(state)
    return state


def collect(spec: JudgeSpec, state: dict, store: BatchStore, cache, response_model) -> dict:
    """Validate every answer of a finished batch and cache it under its key; count the failures."""
    litellm = litellm_module()
    from audit.engine.provider import RESPONSE_KEY, price

    answered: set[str] = set()
    if state.get("output_file_id"):
        text = litellm.file_content(file_id=state["output_file_id"], **provider_kwargs(spec)).content.decode("utf-8")
        for line in text.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key, resp = row.get("custom_id"), row.get("response") or {}
            body = resp.get("body") or {}
            if key not in state["keys"] or resp.get("status_code") != 200:
                continue
            try:
                message = body["choices"][0]["message"]
                content = message.get("content") or ""
                value = response_model.model_validate_json(content).model_dump()
            except Exception:  # noqa: BLE001 - invalid output: retried interactively
                continue
            value[RESPONSE_KEY] = {"model": body.get("model"), "system_fingerprint": body.get("system_fingerprint")}
            usage = body.get("usage") or {}
            tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
            full = price(spec.model, tin, tout)
            cache.set(key, {"value": value, "latency_s": None, "tokens_in": tin, "tokens_out": tout,
                            "cost_usd": None if full is None else full * BATCH_DISCOUNT, "cost_estimated": True,
                            "model": spec.model, "at": time.time(), "batch": state["provider_batch_id"]})
            answered.add(key)
    state["n_cached"] = len(answered)
    state["failed"] = [k for k in state["keys"] if k not in answered]
    state["n_failed"] = len(state["failed"])
    state["collected"] = True
    store.save(state)
    return state


# --- one run's batch stage ------------------------------------------------------------------------


def run_batches(spec_calls: dict[str, tuple[JudgeSpec, list[tuple[str, dict]]]], cache, cache_dir: Path, *,
                response_models: dict[str, type], wait: bool = True, log: Callable[[str], None] = lambda s: None,
                sleep: Callable[[float], None] = time.sleep) -> dict[str, dict]:
    """For every judge: submit its uncached, not-yet-submitted requests as one batch, then (``wait``)
    poll its unfinished batches with backoff until they finish and collect them into the cache.
    ``spec_calls``: judge -> (spec, [(cache key, request body)] of its uncached calls). Returns per judge
    {submitted, n_cached, n_failed}; raises :class:`BatchesPending` with ``wait=False`` while any is open."""
    store = BatchStore.of(cache_dir)
    summary: dict[str, dict] = {}
    for name, (spec, requests) in spec_calls.items():
        open_states = [s for s in store.all() if s["judge"] == name and not s["collected"]
                       and s["status"] != "abandoned"]
        for s in open_states:
            if s["provider_batch_id"] is None:
                resume_submission(spec, s, store)
        pending = {k for s in open_states if s["status"] != "abandoned" for k in s["keys"]}
        todo = [(k, b) for k, b in requests if k not in pending]
        submitted = 0
        if todo:
            state = submit(spec, todo, store, schema=response_models[name].__name__)
            submitted = len(todo)
            log(f"batch: submitted {submitted} requests of {name} ({state['provider_batch_id']}); state in {store.root}")
        summary[name] = {"submitted": submitted, "n_cached": 0, "n_failed": 0}
    delay = POLL_START
    while True:
        open_states = [s for s in store.all() if s["judge"] in spec_calls and not s["collected"]
                       and s["status"] not in ("abandoned",)]
        for s in open_states:
            spec = spec_calls[s["judge"]][0]
            if s["status"] not in FINAL:
                poll(spec, s, store)
            if s["status"] in FINAL:
                collect(spec, s, store, cache, response_models[s["judge"]])
                summary[s["judge"]]["n_cached"] += s["n_cached"]
                summary[s["judge"]]["n_failed"] += s["n_failed"]
                log(f"batch {s['provider_batch_id']} ({s['judge']}): {s['status']}, {s['n_cached']} answers cached, "
                    f"{s['n_failed']} failed (retried interactively)")
        still = [s for s in open_states if not s["collected"]]
        if not still:
            return summary
        counts = ", ".join(f"{s['judge']} {s['status']} {s['counts'].get('completed') or 0}/{s['n_requests']}" for s in still)
        if not wait:
            raise BatchesPending(f"batches submitted and running ({counts}); nothing is lost: run the same command "
                                 "again to collect them (`judge-audit batches` lists them)")
        log(f"batch: waiting ({counts})")
        sleep(delay)
        delay = min(delay * 2, POLL_MAX)
