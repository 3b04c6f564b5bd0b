import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own cache directory; nothing touches the user's ~/.cache."""
    monkeypatch.setenv("JUDGE_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _real_model_only_in_slow_tests(request, monkeypatch):
    """The embedded judge (seconds per call) may run only in tests marked ``slow``: a fast test that
    forgot ``--judges`` and fell back to the local judge fails here instead of quietly taking minutes."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import audit.engine.local as local

    def refuse(model_name, *args, **kwargs):
        pytest.fail(f"{request.node.nodeid} started the real local judge {model_name!r} but is not marked "
                    "@pytest.mark.slow (did it forget --judges?)", pytrace=False)

    monkeypatch.setattr(local, "server", refuse)


@pytest.fixture(scope="session", autouse=True)
def _every_results_json_follows_the_schema(tmp_path_factory):
    """After the session: every results.json judge-audit wrote in any test (those with
    ``schema_version``) validates against the shipped JSON Schema (``judge-audit schema``)."""
    yield
    import json

    import jsonschema

    from audit.data.results import results_schema

    validator = jsonschema.Draft202012Validator(results_schema())
    bad, checked = [], 0
    for path in tmp_path_factory.getbasetemp().rglob("results.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or "schema_version" not in doc:
            continue  # a test's deliberately broken or foreign file
        checked += 1
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is not None:
            deepest = max([error, *error.context], key=lambda e: len(e.absolute_path))
            bad.append(f"{path}: at {'.'.join(map(str, deepest.absolute_path)) or '(top)'}: {deepest.message[:300]}")
    assert not bad, f"{len(bad)} of {checked} results.json files do not follow the schema:\n" + "\n".join(bad[:10])


@pytest.fixture(scope="session")
def local_judge_cache(tmp_path_factory):
    """One result cache for the tests that call the real embedded judge, so the same real calls (the
    bundled example, one or both orders) are paid once per session."""
    return tmp_path_factory.mktemp("local-judge-cache")


def require_local_judge(name: str = "smollm2-135m-instruct") -> None:
    """Skip a test that needs the embedded judge when it cannot run here -- except in CI (CI=true),
    where a missing engine or missing weights fail the test: CI must exercise the real judge."""
    from audit.engine.local import check_available
    from audit.errors import JudgeUnavailable

    try:
        check_available(name, load=False)
    except JudgeUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the embedded judge, but it cannot run: {exc}")
        pytest.skip(f"the embedded judge cannot run here: {exc}")
