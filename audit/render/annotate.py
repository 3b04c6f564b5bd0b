"""The annotation web app of ``judge-audit annotate serve`` (Flask): one page per annotator and the JSON
API the page uses. Every request is authenticated by the annotator's token (``/a/<token>`` for the page,
``Authorization: Bearer <token>`` for the API); a missing or wrong token gets 403 and nothing else. The
page is a static shell that inserts the item's text with ``textContent`` under a strict CSP (no external
asset, no inline code but its own hashed script and style).

API (docs/ANNOTATE.md): ``GET /api/next`` -> 200 ``{item_id, attributes, prompt, response_a, response_b,
nonce, progress}`` or 204 when the queue is empty; ``POST /api/rate`` ``{item_id, rating, nonce,
comment?}`` -> 200, 403 (bad token), 409 (already rated, stale or reused nonce), 422 (bad rating or body).
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from audit.audits import annotate as A
from audit.data import ratings_db as db
from audit.render.html import asset, csp_hash, render_page

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                    "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin"}


def create_app(db_path: Path):
    from flask import Flask, Response, jsonify, request

    app = Flask("judge_audit_annotate")
    css, js = asset("report.css") + ANNOTATE_CSS, asset("annotate.js")
    csp = (f"default-src 'none'; script-src {csp_hash(js)}; style-src {csp_hash(css)}; connect-src 'self'; "
           "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

    def forbidden():
        return Response("forbidden\n", status=403, mimetype="text/plain")

    def bearer() -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    @app.after_request
    def headers(resp):
        resp.headers.update(SECURITY_HEADERS)
        resp.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        return resp

    @app.get("/a/<token>")
    def page(token):
        with db.connect(db_path) as con:
            who = db.annotator_of(con, token)
        if who is None:
            return forbidden()
        html = render_page("annotate.html.j2", annotator=who, css=Markup(css), js=Markup(js), csp=csp)
        return Response(html, mimetype="text/html", headers={"Content-Security-Policy": csp})

    @app.get("/api/next")
    def next_item():
        with db.connect(db_path) as con:
            who = db.annotator_of(con, bearer())
            if who is None:
                return forbidden()
            item = A.next_item(con, who)
        return ("", 204) if item is None else jsonify(item)

    @app.post("/api/rate")
    def rate():
        with db.connect(db_path) as con:
            who = db.annotator_of(con, bearer())
            if who is None:
                return forbidden()
            body = request.get_json(silent=True)
            try:
                return jsonify(A.rate(con, who, body))
            except db.Refused as exc:
                return jsonify({"error": exc.message}), exc.status

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_here(_):
        return forbidden()  # nothing else exists for anyone

    return app


ANNOTATE_CSS = """
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.scale { display: flex; gap: .5rem; flex-wrap: wrap; margin: 1rem 0; }
.scale button { padding: .5rem .8rem; border: 1px solid #c8cdd6; background: #fff; border-radius: 6px; cursor: pointer; }
.scale button:hover { background: #eef3fb; }
textarea { width: 100%; }
pre.conv { white-space: pre-wrap; }
kbd { border: 1px solid #c8cdd6; border-radius: 3px; padding: 0 .3em; }
"""


def serve(db_path: Path, host: str, port: int) -> None:
    """Serve until interrupted (threaded; every rating is committed before its response)."""
    from werkzeug.serving import make_server

    server = make_server(host, port, create_app(db_path), threaded=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
