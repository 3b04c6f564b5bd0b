"""Which personalized answers name an attribute: the user's own ``mention`` field, the offline rules of
:mod:`audit.text.mention` (remembered in the cache's derived store), or an LLM flagger called through
the engine."""

from __future__ import annotations

from audit.data.items import MentionFlag
from audit.engine.cache import cache_key
from audit.engine.judge import run_structured
from audit.engine.prompts import render_messages
from audit.engine.schemas import MentionVerdict
from audit.text.mention import RULES_VERSION, flag_offline, locate_quote




OFFLINE_FLAG_STORE = "offline-flags"


def flag_offline_cached(items, cache=None) -> dict[str, MentionFlag]:
    """:func:`flag_offline` of every item's personalized answer, remembered in the cache's derived
    store ``offline-flags`` (key: :data:`audit.text.mention.RULES_VERSION`, the answer and the attributes), so a re-run
    does not redo ~0.5 ms of rules per answer. Without a usable cache it simply computes."""
    if cache is None or not getattr(cache, "enabled", False) or not items:
        return {it.id: flag_offline(it.personalized, it.attributes) for it in items}
    store = cache.derived(OFFLINE_FLAG_STORE)
    keys = {it.id: cache_key(kind="offline-flag", rules=RULES_VERSION, text=it.personalized, attributes=it.attributes)
            for it in items}
    out: dict[str, MentionFlag] = {}
    with store.transact():
        for it in items:
            got = store.get(keys[it.id])
            if got is not None:
                out[it.id] = MentionFlag(bool(got[0]), tuple(tuple(span) for span in got[1]), "offline")
    missing = [it for it in items if it.id not in out]
    if missing:
        with store.transact():
            for it in missing:
                flag = out[it.id] = flag_offline(it.personalized, it.attributes)
                store.set(keys[it.id], (flag.flagged, flag.spans))
    return {it.id: out[it.id] for it in items}


def flag_items(items, flagger=None, cache=None, *, seed: int = 0) -> dict[str, MentionFlag]:
    """One :class:`MentionFlag` per item id.

    An item's own ``mention`` field (supplied by the user) wins. Otherwise ``flagger=None``
    uses :func:`flag_offline` (remembered in ``cache``: :func:`flag_offline_cached`); a
    :class:`~audit.engine.config.JudgeSpec` asks that model through the judge engine (prompt
    ``prompts/flagger_mention``), cached like every call. Keys are in the items' order.
    """
    items = list(items)
    flags: dict[str, MentionFlag] = {}
    todo, offline = [], []
    for item in items:
        if item.mention is not None:
            flags[item.id] = MentionFlag(item.mention, (), "user")
        elif flagger is None:
            offline.append(item)
        else:
            todo.append(item)
    flags.update(flag_offline_cached(offline, cache))
    if todo:
        msgs = [render_messages("flagger_mention", attributes=it.attributes, answer=it.personalized) for it in todo]
        results = run_structured(flagger, msgs, MentionVerdict, cache, seed=seed)
        for item, res in zip(todo, results):
            if res.value is None:  # the LLM failed on this item: fall back, and say so
                flag = flag_offline(item.personalized, item.attributes)
                flags[item.id] = MentionFlag(flag.flagged, flag.spans, "offline (llm failed)")
            else:
                flags[item.id] = MentionFlag(bool(res.value["mention"]), locate_quote(item.personalized, res.value.get("span")),
                                             f"llm:{flagger.name}")
    return {item.id: flags[item.id] for item in items}
