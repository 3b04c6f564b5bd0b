"""A tiny, stdlib-only, OpenAI-compatible chat-completions server for tests.

Usage::

    from openai_server import OpenAIServer, judge_responder

    with OpenAIServer(judge_responder(lambda text: 4), latency=0.1) as srv:
        ... litellm.acompletion(model="openai/test-judge", api_base=srv.base_url,
                                api_key="sk-test", messages=[...])
        assert srv.count == 1

Endpoints (also without the ``/v1`` prefix):

* ``POST /v1/chat/completions`` -- non-streaming chat completions.  If the
  request has ``tools`` the answer is returned as a tool call (instructor
  TOOLS mode), otherwise as ``message.content``.
* ``GET /v1/models`` -- a small model list.

Faults (``faults`` rates / ``faults_script``): ``"429"``, ``"500"``, ``"hang"``,
``"malformed"``, ``"out_of_range"``.  Only 127.0.0.1 is ever bound.

Request shapes (``mode``): a server started with ``mode="json_schema" | "json" | "tools"``
answers 400 (outcome ``"bad_shape"``, reason in ``shape_errors``) to any chat request that
does not have the shape that structured-output mode sends:

* ``json_schema``: ``response_format = {"type": "json_schema", "json_schema": {"name", "schema"}}``
  with an object schema, and no ``tools``;
* ``json``: ``response_format = {"type": "json_object"}``, no ``tools``, and the output schema
  spelled out in a message (the model must be told the fields);
* ``tools``: one function in ``tools`` with an object schema as ``parameters``, ``tool_choice``
  forcing that function, and no ``response_format``.

``allow_text=True`` also accepts plain requests (neither ``response_format`` nor ``tools``):
free-text calls such as answer generation.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional, Union

__all__ = [
    "OpenAIServer",
    "judge_responder",
    "default_responder",
    "prompt_text",
    "FAULT_KINDS",
    "MODES",
    "shape_error",
]

#: Fault kinds in priority order (rates are drawn in this order).
FAULT_KINDS = ("429", "500", "hang", "malformed", "out_of_range")
#: Structured-output modes whose request shape the server can check.
MODES = ("json_schema", "json", "tools")

MALFORMED_CONTENT = '{"rating": 4, "rationale": "unterminated'
OUT_OF_RANGE_CONTENT = '{"rating": 9, "rationale": "out of range"}'

Responder = Callable[[dict], Union[str, dict]]


# --------------------------------------------------------------------------- helpers


def _content_text(content: Any) -> str:
    """Text of one message's ``content`` (string, list of parts, or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def prompt_text(request: dict, roles: Optional[Iterable[str]] = None) -> str:
    """Concatenation (newline-joined) of the message contents in a request.

    ``roles`` (e.g. ``("user",)``) restricts which messages are included;
    default: all of them.
    """
    wanted = None if roles is None else set(roles)
    return "\n".join(
        _content_text(m.get("content"))
        for m in request.get("messages") or []
        if isinstance(m, dict) and (wanted is None or m.get("role") in wanted)
    )


def _estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1


def default_responder(request: dict) -> str:
    return json.dumps({"rating": 3, "rationale": "default"})


def judge_responder(
    rule: Callable[[str], Any],
    rationale: str = "planted judge",
    *,
    roles: Optional[Iterable[str]] = None,
) -> Responder:
    """Responder answering ``{"rating": rule(prompt_text), "rationale": ...}``.

    ``rule(text)`` receives the concatenation of all message contents (or
    only those whose role is in ``roles``) and returns an int rating, or a
    ``(rating, rationale)`` tuple.

    Beware: instructor's JSON / MD_JSON modes inject a system message that
    starts "As a genius expert, ..." -- a rule keyed on "As a" must use
    ``roles=("user",)`` (or a more specific marker).  Instructor re-asks
    (validation retries) also append assistant/user/tool messages.
    """
    roles = None if roles is None else tuple(roles)

    def responder(request: dict) -> str:
        out = rule(prompt_text(request, roles))
        if isinstance(out, tuple):
            rating, why = out
        else:
            rating, why = out, rationale
        return json.dumps({"rating": rating, "rationale": why})

    return responder


def _object_schema(schema: Any) -> Optional[str]:
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return "is not an object schema with properties"
    if not schema["properties"]:
        return "has no properties"
    return None


def shape_error(request: dict, mode: str, allow_text: bool = False) -> Optional[str]:
    """Why ``request`` is not what structured-output ``mode`` sends, or None."""
    fmt, tools = request.get("response_format"), request.get("tools")
    if allow_text and fmt is None and not tools:
        return None
    if mode == "json_schema":
        if tools:
            return "json_schema mode sent tools"
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return f"json_schema mode needs response_format.type 'json_schema' (got {fmt!r:.80})"
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not spec.get("name"):
            return "json_schema mode needs response_format.json_schema with a name"
        why = _object_schema(spec.get("schema"))
        return f"response_format.json_schema.schema {why}" if why else None
    if mode == "json":
        if tools:
            return "json mode sent tools"
        if not isinstance(fmt, dict) or fmt.get("type") != "json_object":
            return f"json mode needs response_format.type 'json_object' (got {fmt!r:.80})"
        if '"properties"' not in prompt_text(request):
            return "json mode must spell the output schema out in a message"
        return None
    if mode == "tools":
        if fmt is not None:
            return f"tools mode sent response_format {fmt!r:.80}"
        if not isinstance(tools, list) or len(tools) != 1 or not isinstance(tools[0], dict):
            return "tools mode needs exactly one tool"
        fn = tools[0].get("function") or {}
        if tools[0].get("type") != "function" or not fn.get("name"):
            return "tools mode needs a function tool with a name"
        why = _object_schema(fn.get("parameters"))
        if why:
            return f"the tool's parameters {why}"
        choice = request.get("tool_choice")
        if not (isinstance(choice, dict) and (choice.get("function") or {}).get("name") == fn["name"]):
            return f"tools mode must force the tool with tool_choice (got {choice!r:.80})"
        return None
    raise ValueError(f"unknown mode {mode!r}")


def _error_body(message: str, type_: str, code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop open (keep-alive) client connections so a stopped server serves nothing."""
        with self._conns_lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet: clients hanging up are normal
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx/openai clients expect
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms per request on Linux), so every answer came ~40 ms later than ``latency``.
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    sys_version = ""

    # set per server instance via a subclass
    owner: "OpenAIServer"

    def log_message(self, format, *args):  # quiet
        pass

    # ---- low level
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    # consume trailer
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, obj: Any, headers: Optional[dict] = None) -> None:
        data = json.dumps(obj).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    # ---- verbs
    def do_GET(self):
        path = self._path()
        if path.startswith(("/v1/files", "/v1/batches", "/files", "/batches")):
            status, body = self.owner._batch_get(path)
            if isinstance(body, bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._send_json(status, body)
        elif path in ("/v1/models", "/models"):
            self._send_json(200, self.owner._models_body())
        elif path in ("", "/", "/health", "/v1", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, _error_body(f"Unknown path {self.path}", "invalid_request_error", "not_found"))

    def do_POST(self):
        path = self._path()
        try:
            raw = self._read_body()
        except Exception:
            self.close_connection = True
            return
        if path.startswith(("/v1/files", "/v1/batches", "/files", "/batches")):
            status, body = self.owner._batch_post(path, raw, dict(self.headers.items()))
            self._send_json(status, body)
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, _error_body(f"Unknown path {self.path}", "invalid_request_error", "not_found"))
            return
        status, body, headers = self.owner._handle_chat(raw, dict(self.headers.items()))
        self._send_json(status, body, headers)


# --------------------------------------------------------------------------- the server


class OpenAIServer:
    """OpenAI-compatible fake on 127.0.0.1:<free port>.

    Parameters
    ----------
    responder: ``responder(request_body: dict) -> str | dict``; the assistant
        message content (a dict is JSON-encoded).  Default: ``{"rating": 3,
        "rationale": "default"}``.
    latency: seconds to sleep before answering every chat request (faults
        included), or ``callable(request) -> float``.
    faults: rates, e.g. ``{"429": 0.1, "500": 0.1, "hang": 0.05,
        "malformed": 0.1, "out_of_range": 0.05}``.  Per request one draw per
        kind from ``random.Random(seed)`` (under a lock) in FAULT_KINDS order;
        the first hit wins.
    faults_script: list consumed one entry per request before rates apply;
        entries are a fault kind or ``None``/``"ok"`` (normal answer).
    seed: RNG seed for fault rates.
    model_name_echo: echo the request's ``model`` in the response (else
        ``"test-model"``).
    retry_after: value of the ``Retry-After`` header on 429s.
    hang_seconds: how long a "hang" sleeps before answering normally
        (interrupted early by ``stop()``).
    require_api_key: if set, requests without ``Authorization: Bearer <key>``
        get a 401.
    mode: ``"json_schema" | "json" | "tools"``: every chat request must have the
        shape of that structured-output mode, else 400 (see the module docstring).
    allow_text: with ``mode``, also accept plain free-text requests.
    system_fingerprint: the ``system_fingerprint`` of every response (a provider's snapshot id).
    batch_delay: seconds from a batch's creation until it completes (``/v1/batches``; statuses
        validating -> in_progress -> completed, or cancelled).
    batch_errors: ``callable(custom_id) -> bool``: the requests of a batch that fail (they go to the
        batch's error file instead of its output file).
    token_probability: ``callable(request, token, index) -> float`` in (0, 1]: the probability
        returned for each content token when a request asks ``logprobs`` (default 0.9 each).
    """

    def __init__(
        self,
        responder: Optional[Responder] = None,
        *,
        latency: Union[float, Callable[[dict], float]] = 0.0,
        faults: Optional[dict] = None,
        faults_script: Optional[Iterable[Optional[str]]] = None,
        seed: int = 0,
        model_name_echo: bool = True,
        retry_after: Union[int, float] = 1,
        hang_seconds: float = 30.0,
        require_api_key: Optional[str] = None,
        mode: Optional[str] = None,
        allow_text: bool = False,
        token_probability: Optional[Callable[[dict, str, int], float]] = None,
        system_fingerprint: str = "fp_test",
        batch_delay: float = 0.0,
        batch_errors: Optional[Callable[[str], bool]] = None,
    ):
        self.responder: Responder = responder or default_responder
        self.latency = latency
        self.faults = dict(faults or {})
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected {FAULT_KINDS}")
        self.faults_script: list = list(faults_script or [])
        self._check_script(self.faults_script)
        self.seed = seed
        self.model_name_echo = model_name_echo
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.require_api_key = require_api_key
        if mode not in (None, *MODES):
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self.allow_text = allow_text
        self.token_probability = token_probability
        self.system_fingerprint = system_fingerprint
        self.batch_delay = batch_delay
        self.batch_errors = batch_errors
        self.files: dict = {}  # file id -> {"bytes", "purpose", "filename"}
        self.batches: dict = {}  # batch id -> the batch object (plus private fields)
        self.batches_created = 0
        self.batch_requests_answered = 0
        self.shape_errors: list = []

        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stop_event = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.host = "127.0.0.1"
        self.port: Optional[int] = None

        self._requests: list = []
        self._headers: list = []
        self._outcomes: list = []
        self._count = 0
        self._in_flight = 0
        self._max_in_flight = 0

    # ---- lifecycle
    def start(self) -> "OpenAIServer":
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        handler = type("BoundHandler", (_Handler,), {"owner": self})
        self._httpd = _HTTPServer((self.host, 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"openai-fake-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop_event.set()  # wake sleeping "hang"/latency handlers
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """Full chat-completions URL."""
        return self.base_url + "/chat/completions"

    # ---- counters (thread-safe snapshots)
    @property
    def requests(self) -> list:
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list:
        """Headers (lower-cased names) of each parsed request, parallel to ``requests``."""
        with self._lock:
            return [dict(h) for h in self._headers]

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def outcomes(self) -> list:
        with self._lock:
            return list(self._outcomes)

    @property
    def ok_count(self) -> int:
        with self._lock:
            return sum(1 for o in self._outcomes if o == "ok")

    @property
    def max_in_flight(self) -> int:
        """Largest number of chat requests being handled at the same time."""
        with self._lock:
            return self._max_in_flight

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._headers.clear()
            self._outcomes.clear()
            self._count = 0
            self._max_in_flight = self._in_flight

    def script(self, *entries: Optional[str]) -> None:
        """Append entries to the fault script (thread-safe)."""
        self._check_script(entries)
        with self._lock:
            self.faults_script.extend(entries)

    @staticmethod
    def _check_script(entries) -> None:
        for e in entries:
            if e is not None and e != "ok" and e not in FAULT_KINDS:
                raise ValueError(f"unknown scripted fault {e!r}; expected None, 'ok' or one of {FAULT_KINDS}")

    # ---- internals
    def _sleep(self, seconds: float) -> None:
        if seconds and seconds > 0:
            self._stop_event.wait(seconds)

    def _pick_fault(self) -> Optional[str]:
        """Called under self._lock."""
        if self.faults_script:
            entry = self.faults_script.pop(0)
            return None if entry in (None, "ok") else entry
        if not self.faults:
            return None
        chosen = None
        for kind in FAULT_KINDS:  # one draw each, always, so the stream is stable
            if kind in self.faults:
                hit = self._rng.random() < float(self.faults[kind])
                if hit and chosen is None:
                    chosen = kind
        return chosen

    def _models_body(self) -> dict:
        now = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": now, "owned_by": "judge-audit-tests"}
                for name in ("test-judge", "test-model")
            ],
        }

    def _record_outcome(self, outcome: str) -> None:
        with self._lock:
            self._outcomes.append(outcome)

    def _handle_chat(self, raw: bytes, headers: dict) -> tuple:
        hdrs = {k.lower(): v for k, v in headers.items()}
        try:
            request = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            request = None
            parse_error = str(e)
        else:
            parse_error = None if isinstance(request, dict) else "body must be a JSON object"

        with self._lock:
            self._count += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if parse_error is None:
                self._requests.append(request)
                self._headers.append(hdrs)
        try:
            return self._answer(request, parse_error, hdrs)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: Optional[dict], parse_error: Optional[str], hdrs: dict) -> tuple:
        if parse_error is not None:
            self._record_outcome("400")
            return 400, _error_body(f"Invalid JSON body: {parse_error}", "invalid_request_error"), None

        if self.require_api_key is not None:
            auth = hdrs.get("authorization", "")
            if auth != f"Bearer {self.require_api_key}":
                self._record_outcome("401")
                return 401, _error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), None

        if self.mode is not None:
            why = shape_error(request, self.mode, self.allow_text)
            if why is not None:
                with self._lock:
                    self.shape_errors.append(why)
                self._record_outcome("bad_shape")
                return 400, _error_body(f"request shape: {why}", "invalid_request_error", "bad_shape"), None

        if request.get("stream"):
            self._record_outcome("400")
            return 400, _error_body("stream=true is not supported by this test server", "invalid_request_error"), None

        latency = self.latency(request) if callable(self.latency) else self.latency
        self._sleep(float(latency or 0.0))

        with self._lock:
            fault = self._pick_fault()

        if fault == "429":
            self._record_outcome("429")
            return (
                429,
                _error_body("Rate limit reached for requests (injected).", "requests", "rate_limit_exceeded"),
                {"Retry-After": self.retry_after},
            )
        if fault == "500":
            self._record_outcome("500")
            return 500, _error_body("The server had an error while processing your request (injected).", "server_error"), None
        if fault == "hang":
            # recorded up front so tests can see it while the client is timing out
            self._record_outcome("hang")
            self._sleep(self.hang_seconds)
            if self._stop_event.is_set():
                return 503, _error_body("server shutting down", "server_error"), None

        if fault == "malformed":
            content = MALFORMED_CONTENT
        elif fault == "out_of_range":
            content = OUT_OF_RANGE_CONTENT
        else:
            try:
                content = self.responder(request)
            except Exception as e:  # a buggy responder shows up as a 500, not a dead thread
                if fault != "hang":
                    self._record_outcome("responder_error")
                return 500, _error_body(f"responder raised {type(e).__name__}: {e}", "server_error"), None
            if isinstance(content, (dict, list)):
                content = json.dumps(content)
            elif not isinstance(content, str):
                content = str(content)

        body = self._completion_body(request, content)
        if fault != "hang":
            self._record_outcome(fault or "ok")
        return 200, body, None

    # ---- files and batches (OpenAI-compatible, for batch judging)
    def _batch_post(self, path: str, raw: bytes, headers: dict) -> tuple:
        import email.parser
        import email.policy

        parts = [p for p in path.split("/") if p and p != "v1"]
        hdrs = {k.lower(): v for k, v in headers.items()}
        if parts == ["files"]:
            ctype = hdrs.get("content-type", "")
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
            fields, data, filename = {}, None, "upload.jsonl"
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    data, filename = part.get_payload(decode=True), part.get_filename()
                else:
                    fields[name] = part.get_content().strip() if hasattr(part, "get_content") else part.get_payload()
            if data is None:
                return 400, _error_body("no file in the upload", "invalid_request_error")
            with self._lock:
                fid = f"file-{next(self._ids)}"
                self.files[fid] = {"bytes": data, "purpose": fields.get("purpose", "batch"), "filename": filename}
            return 200, self._file_object(fid)
        if parts == ["batches"]:
            body = json.loads(raw.decode() or "{}")
            fid = body.get("input_file_id")
            if fid not in self.files:
                return 400, _error_body(f"unknown input_file_id {fid!r}", "invalid_request_error")
            with self._lock:
                bid = f"batch_{next(self._ids)}"
                lines = [json.loads(x) for x in self.files[fid]["bytes"].decode().splitlines() if x.strip()]
                self.batches[bid] = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
                                     "input_file_id": fid, "completion_window": body.get("completion_window", "24h"),
                                     "status": "validating", "output_file_id": None, "error_file_id": None,
                                     "created_at": int(time.time()), "metadata": body.get("metadata"),
                                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                                     "_created": time.monotonic(), "_lines": lines}
                self.batches_created += 1
            return 200, self._batch_object(bid)
        if len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
            b = self.batches.get(parts[1])
            if b is None:
                return 404, _error_body("no such batch", "invalid_request_error", "not_found")
            with self._lock:
                if b["status"] in ("validating", "in_progress"):
                    b["status"] = "cancelled"
            return 200, self._batch_object(parts[1])
        return 404, _error_body(f"Unknown path {path}", "invalid_request_error", "not_found")

    def _batch_get(self, path: str) -> tuple:
        parts = [p for p in path.split("/") if p and p != "v1"]
        if parts == ["batches"]:
            return 200, {"object": "list", "data": [self._batch_object(b) for b in self.batches], "has_more": False}
        if len(parts) == 2 and parts[0] == "batches":
            if parts[1] not in self.batches:
                return 404, _error_body("no such batch", "invalid_request_error", "not_found")
            self._advance(parts[1])
            return 200, self._batch_object(parts[1])
        if len(parts) == 2 and parts[0] == "files" and parts[1] in self.files:
            return 200, self._file_object(parts[1])
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and parts[1] in self.files:
            return 200, self.files[parts[1]]["bytes"]
        return 404, _error_body(f"Unknown path {path}", "invalid_request_error", "not_found")

    def _file_object(self, fid: str) -> dict:
        f = self.files[fid]
        return {"id": fid, "object": "file", "bytes": len(f["bytes"]), "created_at": int(time.time()),
                "filename": f["filename"], "purpose": f["purpose"], "status": "processed"}

    def _batch_object(self, bid: str) -> dict:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def _advance(self, bid: str) -> None:
        """Move a batch along: validating -> in_progress on the first look; completed once batch_delay
        has passed (then every request is answered by the responder, or put in the error file)."""
        with self._lock:
            b = self.batches[bid]
            if b["status"] == "validating":
                b["status"] = "in_progress"
                return
            if b["status"] != "in_progress" or time.monotonic() - b["_created"] < self.batch_delay:
                return
            out, err = [], []
            for line in b["_lines"]:
                cid, body = line.get("custom_id"), line.get("body") or {}
                problem = shape_error(body, self.mode, self.allow_text) if self.mode else None
                if (self.batch_errors and self.batch_errors(cid)) or problem:
                    err.append({"id": f"req_{next(self._ids)}", "custom_id": cid, "response": None,
                                "error": {"code": "bad_shape" if problem else "server_error",
                                          "message": problem or "injected per-request error"}})
                    continue
                content = self.responder(body)
                content = json.dumps(content) if isinstance(content, (dict, list)) else str(content)
                out.append({"id": f"req_{next(self._ids)}", "custom_id": cid, "error": None,
                            "response": {"status_code": 200, "request_id": f"r{next(self._ids)}",
                                         "body": self._completion_body(body, content)}})
                self.batch_requests_answered += 1
            for key, rows in (("output_file_id", out), ("error_file_id", err)):
                if rows:
                    fid = f"file-{next(self._ids)}"
                    self.files[fid] = {"bytes": ("\n".join(json.dumps(r) for r in rows) + "\n").encode(),
                                       "purpose": "batch_output", "filename": f"{bid}_{key}.jsonl"}
                    b[key] = fid
            b["request_counts"] = {"total": len(b["_lines"]), "completed": len(out), "failed": len(err)}
            b["status"] = "completed"

    def _logprobs(self, request: dict, content: str) -> Optional[dict]:
        """``logprobs.content`` when the request asks for log-probabilities (``"logprobs": true``), as
        OpenAI returns them: the content cut into word / space / punctuation tokens, each with the log
        of ``token_probability(request, token, index)`` (default 0.9)."""
        if not request.get("logprobs"):
            return None
        tokens = re.findall(r"\w+|\s+|[^\w\s]", content)
        out = []
        for i, tok in enumerate(tokens):
            p = self.token_probability(request, tok, i) if self.token_probability else 0.9
            out.append({"token": tok, "logprob": math.log(p), "bytes": list(tok.encode()), "top_logprobs": []})
        return {"content": out}

    def _completion_body(self, request: dict, content: str) -> dict:
        n = next(self._ids)
        model = request.get("model") if self.model_name_echo else None
        tools = request.get("tools") or []
        if tools:
            name = None
            choice = request.get("tool_choice")
            if isinstance(choice, dict):
                name = (choice.get("function") or {}).get("name")
            if not name:
                first = tools[0] if isinstance(tools[0], dict) else {}
                name = (first.get("function") or {}).get("name") or first.get("name") or "tool"
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": content}}
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": content}
            finish = "stop"
        prompt_tokens = _estimate_tokens(prompt_text(request))
        completion_tokens = _estimate_tokens(content)
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or "test-model",
            "system_fingerprint": self.system_fingerprint,
            "choices": [{"index": 0, "message": message, "logprobs": self._logprobs(request, content) if not tools else None,
                         "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
