"""One request to a model provider, through litellm (and instructor for structured output).

The only module that imports litellm and instructor (lazily: ``judge-audit --help`` never pays
for them; :mod:`audit.engine.local` registers the embedded SmolLM2 judge with litellm, and
:mod:`audit.engine.pool`'s worker processes call :func:`attempt` in their own processes).

* :func:`attempt` makes one attempt at a call -- one request, plus instructor's re-asks while
  the output fails validation -- and returns an :class:`Attempt`: ``ok`` with the value, tokens,
  latency and price, or the failure classified (:func:`classify`: ``retry`` / ``invalid`` /
  ``rejected`` / ``fatal``) with the provider's Retry-After (:func:`retry_after`).
* The policy around attempts -- cache, concurrency, requests/min, retries with backoff -- is
  :class:`audit.engine.judge.Engine`'s.
* litellm is imported offline (:func:`offline_env`: no price-map download, no telemetry) with its
  own retries off; instructor's per-call model preparation is memoised per model class.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import os
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from audit.engine.config import JudgeSpec
from audit.errors import JudgeUnavailable

RETRY_AFTER_CAP_S = 300.0  # a Retry-After longer than this is capped (and reported in the error)
VALIDATION_RETRIES = 2  # instructor re-asks after an invalid answer (so up to 3 requests per attempt)


# --- litellm, imported lazily --------------------------------------------------------------

_LITELLM = None


def offline_env() -> None:
    """Environment litellm must see before it is imported: no price-map download, no telemetry."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")


def litellm_module():
    """Import litellm once, offline: no price-map download, no telemetry, no own retries, quiet."""
    global _LITELLM
    if _LITELLM is None:
        import logging

        offline_env()
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error
        litellm.drop_params = True  # a judge that rejects e.g. temperature still works
        # Every failure becomes a row with its reason; litellm's and instructor's own error logs
        # would print one multi-line message per retried 429.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "instructor"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        from audit.engine.local import register

        register(litellm)
        _LITELLM = litellm
    return _LITELLM


def missing_keys(model: str) -> list[str]:
    env = litellm_module().validate_environment(model=model)
    return list(env.get("missing_keys") or [])


def _memo_by_model(fn):
    """``fn(response_model)`` computed once per model (unhashable models: every time)."""
    seen: dict = {}

    @functools.wraps(fn)
    def wrapper(model):
        try:
            return seen[model]
        except KeyError:
            pass
        except TypeError:
            return fn(model)
        out = seen[model] = fn(model)
        return out

    wrapper.__judge_audit_memo__ = True
    return wrapper


def _lighten_instructor() -> None:
    """Compute instructor's per-model preparation once per model instead of once per call.

    instructor 1.17 runs ``prepare_response_model`` (which builds a new pydantic subclass with
    ``create_model``) and ``reject_async_validators`` (a walk over the model's fields) on every
    call, ~2-3 ms of CPU per call for results that depend only on the model class. Both are
    memoised here, per model. Internals of other instructor versions are left alone (only slower).
    """
    import importlib

    targets = {"prepare_response_model": ("instructor.v2.core.response_model", "instructor.v2.core.patch",
                                          "instructor.v2.core.response"),
               "reject_async_validators": ("instructor.v2.validation.async_validators", "instructor.v2.core.patch")}
    for name, modules in targets.items():
        try:
            home = importlib.import_module(modules[0])
            original = getattr(home, name)
        except (ImportError, AttributeError):
            continue
        if getattr(original, "__judge_audit_memo__", False):
            continue
        fast = _memo_by_model(original)
        for modname in modules:
            try:
                mod = importlib.import_module(modname)
            except ImportError:
                continue
            if getattr(mod, name, None) is original:
                setattr(mod, name, fast)


@functools.lru_cache(maxsize=None)
def instructor_client(mode: str):
    import instructor

    lm = litellm_module()
    _lighten_instructor()
    modes = {"json_schema": instructor.Mode.JSON_SCHEMA, "json": instructor.Mode.JSON, "tools": instructor.Mode.TOOLS}
    return instructor.from_litellm(lm.acompletion, mode=modes[mode])


# --- one attempt: one provider request (plus instructor's re-asks of invalid output) ---------


@dataclass
class Attempt:
    """The outcome of one attempt, small and picklable (it crosses process boundaries).

    kind: ``ok`` | ``retry`` (429, 5xx, timeout, connection) | ``invalid`` (output failed
    validation after instructor's re-asks) | ``rejected`` (the provider refused this request,
    e.g. 400) | ``fatal`` (the judge cannot be used: 401/403/404).
    """

    kind: str
    value: dict | None = None
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    retry_after: float | None = None
    error: str | None = None


def _header(headers, name: str):
    try:
        return headers.get(name)
    except AttributeError:
        return None


def _parse_retry_after(headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except (TypeError, ValueError):
            pass
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _chain(exc: BaseException, limit: int = 8) -> list[BaseException]:
    out, seen = [], exc
    while seen is not None and len(out) < limit:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def retry_after(exc: BaseException) -> float | None:
    """Retry-After of a provider error, wherever this litellm version keeps the headers.

    litellm 1.106 exceptions carry the provider's headers in ``litellm_response_headers``; their
    ``response`` is a synthetic httpx.Response *without* them. The openai SDK error and the
    httpx.HTTPStatusError further down the chain carry them in ``response.headers``. instructor
    wraps the whole chain in InstructorRetryException. Look everywhere.
    """
    for e in _chain(exc):
        for headers in (getattr(e, "litellm_response_headers", None),
                        getattr(getattr(e, "response", None), "headers", None)):
            seconds = _parse_retry_after(headers)
            if seconds is not None:
                return seconds
    return None


def _provider_error(exc: BaseException) -> BaseException | None:
    """The provider's own error inside instructor's wrapper, if there is one."""
    for e in _chain(exc):
        if type(e).__module__.startswith(("litellm", "openai", "httpx", "aiohttp")):
            return e
        if isinstance(e, (asyncio.TimeoutError, ConnectionError)):
            return e
    return None


RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529}
FATAL_STATUS = {401, 403, 404}


def classify(exc: BaseException) -> str:
    """``retry`` (transient), ``fatal`` (judge unusable), ``rejected`` (this request refused) or
    ``invalid`` (output failed validation)."""
    lm = litellm_module()
    inner = _provider_error(exc)
    if inner is None:
        return "invalid"  # instructor gave up re-asking: validation / JSON errors only
    status = getattr(inner, "status_code", None)
    if isinstance(inner, (lm.AuthenticationError, lm.PermissionDeniedError, lm.NotFoundError)) or status in FATAL_STATUS:
        return "fatal"
    transient = (lm.RateLimitError, lm.InternalServerError, lm.ServiceUnavailableError, lm.APIConnectionError,
                 lm.Timeout, lm.BadGatewayError, asyncio.TimeoutError, ConnectionError)
    if isinstance(inner, transient) or status in RETRY_STATUS or type(inner).__name__ in ("TimeoutError", "ReadTimeout", "ConnectTimeout"):
        return "retry"
    if isinstance(status, int) and 400 <= status < 500:
        return "rejected"
    if isinstance(inner, getattr(lm, "JSONSchemaValidationError", ())):
        return "invalid"
    return "retry" if isinstance(status, int) and status >= 500 else "rejected"


def describe_error(exc: BaseException) -> str:
    inner = _provider_error(exc) or exc
    text = " ".join(str(inner).split())
    return f"{type(inner).__name__}: {text[:240]}"


_UNPRICED: set[str] = set()


def price(model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """USD from litellm's price map; None (unknown), never 0, when the model is not priced."""
    if tokens_in is None or tokens_out is None or model in _UNPRICED:
        return None
    try:
        cin, cout = litellm_module().cost_per_token(model=model, prompt_tokens=int(tokens_in), completion_tokens=int(tokens_out))
    except Exception:  # noqa: BLE001 - not in the price map
        _UNPRICED.add(model)
        return None
    return float(cin) + float(cout)


#: Key of the provider's own report (response ``model`` and ``system_fingerprint``) in a call's value.
RESPONSE_KEY = "_response"


async def attempt(spec: JudgeSpec, messages: list[dict], response_model: type[BaseModel] | None,
                  api_key: str | None = None) -> Attempt:
    """One attempt at a call: one request, plus instructor's re-asks when the output is invalid."""
    lm = litellm_module()
    kwargs: dict[str, Any] = dict(spec.params)
    if spec.api_base:
        kwargs["api_base"] = spec.api_base
    if api_key:
        kwargs["api_key"] = api_key
    kwargs.update(timeout=spec.timeout, num_retries=0)  # the Engine's retry loop is the only one
    if spec.mode == "tools":
        kwargs["_skip_mcp_handler"] = True
    if spec.is_local:  # the judge's concurrency = the local server's parallel slots
        from audit.engine.local import reserve

        reserve(spec.model.split("/", 1)[1], spec.concurrency)
    started = time.perf_counter()
    try:
        if response_model is None:
            completion = await lm.acompletion(model=spec.model, messages=messages, **kwargs)
            value = {"text": completion.choices[0].message.content or ""}
        else:
            obj, completion = await instructor_client(spec.mode).chat.completions.create_with_completion(
                model=spec.model, messages=messages, response_model=response_model,
                max_retries=VALIDATION_RETRIES, **kwargs)
            value = obj.model_dump()
            if spec.params.get("logprobs"):
                from audit.engine.logprobs import answer_field, answer_probability

                prob = answer_probability(completion, answer_field(response_model) or "")
                if prob is not None:
                    value["answer_probability"] = prob
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified, never swallowed silently
        kind = classify(exc)
        error = describe_error(exc)
        if kind == "invalid":
            error = f"invalid output after {VALIDATION_RETRIES + 1} requests: {error}"
        return Attempt(kind, latency_s=time.perf_counter() - started,
                       retry_after=retry_after(exc) if kind == "retry" else None, error=error)
    latency = time.perf_counter() - started
    served = {"model": getattr(completion, "model", None), "system_fingerprint": getattr(completion, "system_fingerprint", None)}
    if any(v is not None for v in served.values()):  # what the provider says answered (drift fingerprints)
        value[RESPONSE_KEY] = {k: (str(v) if v is not None else None) for k, v in served.items()}
    usage = getattr(completion, "usage", None)
    tin, tout = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    return Attempt("ok", value, latency, tin, tout, price(spec.model, tin, tout))


def record_for(spec: JudgeSpec, a: Attempt, attempts: int = 1) -> dict:
    """What the cache keeps for a validated result."""
    return {"value": a.value, "latency_s": a.latency_s, "tokens_in": a.tokens_in, "tokens_out": a.tokens_out,
            "cost_usd": a.cost_usd, "model": spec.model, "at": time.time()}


def check_credentials(spec: JudgeSpec) -> None:
    """Fail before any spending when a judge's API key is not set."""
    if spec.is_local:
        from audit.engine.local import check_available

        check_available(spec.model.split("/", 1)[1], spec.concurrency)  # raises JudgeUnavailable if it cannot run
        return
    if spec.api_key_env:
        if not os.environ.get(spec.api_key_env):
            raise JudgeUnavailable(
                f"judge {spec.name!r} ({spec.model}) needs an API key: set {spec.api_key_env} "
                f"(or choose another judge; `judge-audit judges` lists them)"
            )
        return
    if spec.api_base:
        return  # a self-hosted endpoint may need no key
    missing = missing_keys(spec.model)
    if missing:
        raise JudgeUnavailable(f"judge {spec.name!r} ({spec.model}) needs an API key: set {', '.join(missing)}")
