"""Faults at set rates from the loopback server (429 with Retry-After, 500, hangs, malformed JSON,
out-of-range ratings): every item ends judged or explicitly failed, no valid answer is paid twice,
and resuming pays only for what failed. Proved by counting at the server.

The items are SYNTHETIC TEST DATA (test_engine_server.make_items), not from people or any model.
"""

from __future__ import annotations

from collections import Counter

import pytest

from audit.engine.cache import ResultCache
from audit.audits.judging import run_judges
from openai_server import OpenAIServer
from test_engine_server import MODE_PARAMS, Recorder, _key, make_items, spec_for  # noqa: F401 (_key is a fixture)

FAULTS = {"429": 0.08, "500": 0.08, "hang": 0.03, "malformed": 0.08, "out_of_range": 0.08}


@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow, id="2")])
def test_faults_at_rates_every_item_accounted_for_and_resume_pays_only_failures(tmp_path, workers, mode):
    """In each structured-output mode (the server rejects a request of the wrong shape)."""
    items = make_items(80)
    rec = Recorder(rating=2)
    cache = ResultCache(tmp_path / "cache")
    with OpenAIServer(rec, faults=FAULTS, seed=7, retry_after=0.05, hang_seconds=60, mode=mode) as srv:
        spec = spec_for(srv, concurrency=8, max_retries=3, timeout=1.0)
        rows = run_judges(items, [spec], cache, both_orders=True, workers=workers)
        outcomes = Counter(srv.outcomes)
        # every planned judgment is a row: judged, or failed with its reason
        assert len(rows) == 160 and {(r.item_id, r.order) for r in rows} == {(it.id, o) for it in items
                                                                              for o in ("generic_first", "personalized_first")}
        ok = [r for r in rows if r.status == "ok"]
        failed = [r for r in rows if r.status == "failed"]
        assert len(ok) + len(failed) == 160 and all(r.error for r in failed) and not any(r.error for r in ok)
        assert all(r.raw_rating == 2 for r in ok)  # only valid answers became ratings
        # every fault kind really happened, and every request is accounted for
        assert all(outcomes[k] > 0 for k in FAULTS), outcomes
        assert sum(outcomes.values()) == srv.count and not srv.shape_errors
        # no valid answer paid twice: each (item, order) got at most one normal answer, and exactly
        # the judged ones got one
        answered = Counter(rec.answered)
        assert answered == Counter((r.item_id, r.order) for r in ok) and set(answered.values()) == {1}
        # failures name their cause
        kinds = Counter(r.error.split(":")[0] for r in failed)
        assert set(kinds) <= {"gave up after 4 attempts", "invalid output after 3 requests"}, kinds
        paid_before = srv.count
        n_failed = len(failed)
        # resume with the faults switched off: exactly one request per failed judgment, none for the rest
        srv.faults = {}
        again = run_judges(items, [spec], cache, both_orders=True, workers=workers)
        assert srv.count - paid_before == n_failed
        assert all(r.status == "ok" for r in again)
        assert sum(not r.cached for r in again) == n_failed
        # and a third run pays nothing
        run_judges(items, [spec], cache, both_orders=True, workers=workers)
        assert srv.count - paid_before == n_failed
