"""The SQLite store of ``judge-audit annotate``: the items being rated, the annotators (their tokens
stored only as SHA-256), the page nonces and every rating. WAL journal with ``synchronous=FULL``: a
rating is committed (and on disk) before the next item is shown, so a killed server loses nothing
that was submitted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, position INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, annotator TEXT NOT NULL, item_id TEXT NOT NULL,
                                   repeat INTEGER NOT NULL, issued REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS ratings (
    annotator TEXT NOT NULL, item_id TEXT NOT NULL, repeat INTEGER NOT NULL, shown_order TEXT NOT NULL,
    raw_rating INTEGER NOT NULL, rating INTEGER NOT NULL, comment TEXT, at REAL NOT NULL,
    PRIMARY KEY (annotator, item_id, repeat));
"""

TOKEN_BYTES = 24  # 192 bits


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@contextlib.contextmanager
def connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection in WAL mode with full durability; committed on success, rolled back on error."""
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA busy_timeout=30000")
        con.executescript(SCHEMA)
        yield con
    finally:
        con.close()


def get_meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def set_meta(con: sqlite3.Connection, values: dict[str, str]) -> None:
    con.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))


def store_items(con: sqlite3.Connection, items: list[dict]) -> None:
    con.executemany("INSERT OR IGNORE INTO items (id, position, payload) VALUES (?, ?, ?)",
                    [(it["id"], k, json.dumps(it)) for k, it in enumerate(items)])


def load_items(con: sqlite3.Connection) -> list[dict]:
    return [json.loads(p) for (p,) in con.execute("SELECT payload FROM items ORDER BY position")]


def load_item(con: sqlite3.Connection, item_id: str) -> dict | None:
    row = con.execute("SELECT payload FROM items WHERE id = ?", (item_id,)).fetchone()
    return json.loads(row[0]) if row else None


def add_annotator(con: sqlite3.Connection, name: str, *, reissue: bool = False) -> str | None:
    """A new token for ``name`` (returned once, stored hashed); None when the annotator exists and
    ``reissue`` is false (its earlier link keeps working)."""
    exists = con.execute("SELECT 1 FROM annotators WHERE name = ?", (name,)).fetchone()
    if exists and not reissue:
        return None
    token = new_token()
    con.execute("INSERT OR REPLACE INTO annotators (name, token_sha256, created) VALUES (?, ?, ?)",
                (name, token_hash(token), time.time()))
    return token


def annotator_of(con: sqlite3.Connection, token: str | None) -> str | None:
    if not token:
        return None
    row = con.execute("SELECT name FROM annotators WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
    return row[0] if row else None


def annotators(con: sqlite3.Connection) -> list[str]:
    return [n for (n,) in con.execute("SELECT name FROM annotators ORDER BY name")]


def issue_nonce(con: sqlite3.Connection, annotator: str, item_id: str, repeat: int) -> str:
    nonce = secrets.token_urlsafe(16)
    con.execute("INSERT INTO nonces (nonce, annotator, item_id, repeat, issued) VALUES (?, ?, ?, ?, ?)",
                (nonce, annotator, item_id, repeat, time.time()))
    return nonce


class Refused(Exception):
    """A rating that cannot be stored: ``status`` is the HTTP status (409 or 422), ``message`` why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def record_rating(con: sqlite3.Connection, annotator: str, item_id: str, nonce: str, raw_rating: int, rating: int,
                  shown_order: str, comment: str | None) -> int:
    """Store one rating in one transaction: the nonce must have been issued to this annotator for this
    item and be unused; the (annotator, item, repeat) must not be rated yet. Returns the repeat index."""
    con.execute("BEGIN IMMEDIATE")
    try:
        row = con.execute("SELECT annotator, item_id, repeat, used FROM nonces WHERE nonce = ?", (nonce,)).fetchone()
        if row is None or row[0] != annotator or row[1] != item_id:
            raise Refused(409, "stale or unknown form (nonce): reload the page")
        if row[3]:
            raise Refused(409, "this form was already submitted")
        repeat = int(row[2])
        done = con.execute("SELECT 1 FROM ratings WHERE annotator = ? AND item_id = ? AND repeat = ?",
                           (annotator, item_id, repeat)).fetchone()
        if done:
            raise Refused(409, "already rated")
        con.execute("INSERT INTO ratings (annotator, item_id, repeat, shown_order, raw_rating, rating, comment, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (annotator, item_id, repeat, shown_order, raw_rating, rating, comment, time.time()))
        con.execute("UPDATE nonces SET used = 1 WHERE nonce = ?", (nonce,))
        con.execute("COMMIT")
        return repeat
    except BaseException:
        con.execute("ROLLBACK")
        raise


def ratings(con: sqlite3.Connection) -> list[dict]:
    cols = ("annotator", "item_id", "repeat", "shown_order", "raw_rating", "rating", "comment", "at")
    return [dict(zip(cols, r)) for r in con.execute(f"SELECT {', '.join(cols)} FROM ratings ORDER BY at")]
