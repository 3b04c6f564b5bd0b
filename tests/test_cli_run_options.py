"""Options of `run`, `check` and `judges` that no other test exercises, each against a real loopback
provider (tests/openai_server.py) whose request shapes are checked: the LLM mention flagger (prompt,
located spans, fallback when it fails), --measure-habits (the only free-text provider path, feeding
habit_bias), --workers, the gate's --flagger/--seed/--cache-dir, `judges`, --version, a bad judge
config, and Ctrl-C.

The items are SYNTHETIC TEST DATA written here, not from people or any model.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
from click.testing import CliRunner

from audit import __version__
from audit.cli import cli
from audit.data.judgments import presentation_order
from audit.engine import provider
from audit.engine.prompts import judge_prompt
from cli_coverage import covers
from openai_server import OpenAIServer, prompt_text

KEY = "JA_OPTS_KEY"
N = 12


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY, "sk-opts")


def write_data(path, *, mention_field: bool = True):
    """N items; even ones name the attribute ("As a vegetarian, ..."), odd ones do not. Two
    annotators rate every pair 3 ("no difference")."""
    with path.open("w") as fh:
        fh.write("# SYNTHETIC TEST DATA written by tests/test_cli_run_options.py: not real answers or people\n")
        for i in range(N):
            named = i % 2 == 0
            row = {"id": f"o{i:02d}", "user_id": f"u{i // 3}", "prompt": f"Question {i}: what should I cook tonight?",
                   "attributes": ["vegetarian"], "generator": "style-test",
                   "generic": f"GENERIC answer {i}: pasta with tomato sauce.",
                   "personalized": (f"As a vegetarian, PERSONAL answer {i}: lentil curry." if named
                                    else f"PERSONAL answer {i}: a lentil curry suits someone who avoids meat."),
                   "human_ratings": [{"annotator": "annotator-A", "rating": 3}, {"annotator": "annotator-B", "rating": 3}]}
            if mention_field:
                row["mention"] = named
            fh.write(json.dumps(row) + "\n")
    return path


def config(tmp_path, srv, *names, mode="json_schema"):
    path = tmp_path / "judges.toml"
    path.write_text("".join(
        f'[judges.{n}]\nmodel = "openai/{n}"\napi_base = "{srv.base_url}"\napi_key_env = "{KEY}"\n'
        f'mode = "{mode}"\nconcurrency = 4\nmax_retries = 1\ntimeout = 10\n\n' for n in names))
    return path


def invoke(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def slots(request: dict) -> tuple[str, str]:
    text = prompt_text(request, ("user",))
    return (re.search(r"<response_a>(.*?)</response_a>", text, re.S).group(1),
            re.search(r"<response_b>(.*?)</response_b>", text, re.S).group(1))


def preference(request: dict, wanted: int) -> str:
    """Answer ``wanted`` on the generic(1)..personalized(5) scale, whichever slot the personalized answer is in."""
    a, _ = slots(request)
    raw = 6 - wanted if "PERSONAL" in a else wanted
    return json.dumps({"rating": raw, "rationale": "planted"})


# --- run --flagger J ---------------------------------------------------------------------------

def flagger_responder(request: dict) -> str:
    """A planted LLM flagger: an answer naming 'vegetarian' or 'avoids meat' mentions the attribute
    (quoting the words); the answer of item o05 gets invalid output every time. Judge requests (no
    <answer> block) get a plain "personalized better"."""
    text = prompt_text(request, ("user",))
    if "<answer>" not in text:
        return preference(request, 4)
    answer = re.search(r"<answer>(.*?)</answer>", text, re.S).group(1)
    if "answer 5:" in answer:
        return '{"mention": "perhaps", "span": '  # invalid JSON, every attempt
    for words in ("vegetarian", "avoids meat"):
        if words in answer:
            return json.dumps({"mention": True, "span": words})
    return json.dumps({"mention": False, "span": None})


@covers("run --flagger")
def test_run_llm_flagger_prompt_spans_and_fallback(tmp_path):
    data = write_data(tmp_path / "d.jsonl", mention_field=False)  # the flagger decides
    with OpenAIServer(flagger_responder, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "j", "flagger")
        r = invoke("run", "--data", data, "--judges", "j", "--config", cfg, "--flagger", "flagger",
                   "--out", tmp_path / "out")
        assert r.exit_code == 0, r.output
        flag_requests = [q for q in srv.requests if q["model"] == "flagger"]
    # one request per item (and re-asks for the broken one); the prompt fences attribute and answer
    assert {re.search(r"answer (\d+):", prompt_text(q)).group(1) for q in flag_requests} == {str(i) for i in range(N)}
    first = prompt_text(flag_requests[0], ("user",))
    assert "- vegetarian" in first and "<answer>" in first and "quote the exact words" in first
    flags = {}
    for line in (tmp_path / "out" / "items.jsonl").read_text().splitlines()[1:]:
        row = json.loads(line)
        flags[row["item"]["id"]] = (row["item"]["personalized"], row["mention_flag"])
    for i in range(N):
        text, flag = flags[f"o{i:02d}"]
        if i == 5:  # the flagger failed on it: the offline rules decide, and the source says so
            assert flag["source"] == "offline (llm failed)" and flag["flagged"] is False
            continue
        assert flag["source"] == "llm:flagger" and flag["flagged"] is True
        (start, end), = flag["spans"]  # the quoted words, located in the answer
        assert text[start:end] == ("vegetarian" if i % 2 == 0 else "avoids meat")
    # the offline rules alone do not see "avoids meat" as naming "vegetarian": the flagger changed the flags
    from audit.text.mention import flag_offline

    assert sum(flag_offline(text, ["vegetarian"]).flagged for text, _ in flags.values()) == N // 2
    assert json.loads((tmp_path / "out" / "results.json").read_text())["n_mention"] == N - 1


# --- run --measure-habits ----------------------------------------------------------------------

HABIT = {"namer": lambda i: True, "half": lambda i: i % 4 == 0, "plain": lambda i: False}
BONUS = {"namer": 2, "half": 1, "plain": 0}


def habits_responder(request: dict) -> str:
    name = request["model"]
    if "response_format" not in request:  # answer generation: free text
        i = int(re.search(r"Question (\d+)", prompt_text(request, ("user",))).group(1))
        return (f"As a vegetarian, try a lentil curry ({i})." if HABIT[name](i) else f"Try a lentil curry ({i}).")
    a, b = slots(request)
    named = "As a vegetarian" in a + b
    return preference(request, 3 + (BONUS[name] if named else 0))


@covers("run --measure-habits")
def test_run_measure_habits_writes_answers_and_feeds_habit_bias(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(habits_responder, mode="json_schema", allow_text=True) as srv:
        cfg = config(tmp_path, srv, *HABIT)
        r = invoke("run", "--data", data, "--judges", ",".join(HABIT), "--config", cfg, "--measure-habits",
                   "--out", tmp_path / "out")
        assert r.exit_code == 0, r.output
        text_requests = [q for q in srv.requests if "response_format" not in q]
        assert not srv.shape_errors
    assert len(text_requests) == N * len(HABIT)  # every judge wrote an answer to every prompt
    assert "- vegetarian" in prompt_text(text_requests[0], ("system",))
    assert "what should I cook tonight?" in prompt_text(text_requests[0], ("user",))
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    for name, wrote in HABIT.items():
        habit = res["judges"][name]["habit"]
        k = sum(wrote(i) for i in range(N))
        assert habit["source"] == "measured" and habit["n"] == N and habit["mention_rate"] == k / N
        # hand-worked: the judge adds BONUS to named answers (6 of 12) and humans rate all 3
        assert res["judges"][name]["mention_delta"]["estimate"] == pytest.approx(BONUS[name])
    hb = res["habit_bias"]
    assert hb["n_models"] == 3 and hb["models"] == sorted(HABIT)
    assert hb["estimate"] == pytest.approx(1.0)  # habits 1, 1/4, 0 rank like the deltas 2, 1, 0
    # without the option: no generation call, the habit comes from nowhere (the judges wrote no rows)
    with OpenAIServer(habits_responder, mode="json_schema") as srv:
        r = invoke("run", "--data", data, "--judges", ",".join(HABIT), "--config", config(tmp_path, srv, *HABIT),
                   "--out", tmp_path / "plain", "--cache-dir", tmp_path / "other-cache")
        assert r.exit_code == 0 and srv.count == N * len(HABIT) and not srv.shape_errors
    assert json.loads((tmp_path / "plain" / "results.json").read_text())["judges"]["namer"]["habit"] is None


# --- run --workers -----------------------------------------------------------------------------

@pytest.mark.slow  # worker processes / a big simulation
@covers("run --workers")
def test_run_workers_starts_that_many_processes_and_changes_no_number(tmp_path, monkeypatch):
    import audit.engine.pool as pool

    started = []
    real = pool.WorkerPool

    def spy(workers, *args, **kw):
        started.append(workers)
        return real(workers, *args, **kw)

    monkeypatch.setattr(pool, "WorkerPool", spy)
    data = write_data(tmp_path / "d.jsonl")
    outs = {}
    for workers in (0, 2):
        with OpenAIServer(lambda q: preference(q, 4), mode="json_schema") as srv:
            r = invoke("run", "--data", data, "--judges", "j", "--config", config(tmp_path, srv, "j"),
                       "--workers", workers, "--out", tmp_path / f"w{workers}", "--cache-dir", tmp_path / f"c{workers}")
            assert r.exit_code == 0, r.output
            assert srv.count == N
        outs[workers] = json.loads((tmp_path / f"w{workers}" / "results.json").read_text())
    assert started == [2]  # --workers 0 stays in-process; --workers 2 starts a pool of two
    for res in outs.values():  # measured wall-clock latencies differ from run to run; nothing else may
        res.pop("audit_card")
        res["judges"]["j"].pop("fingerprint")  # each run had its own server: api_base differs
        for key in ("latency_p50", "latency_p95"):
            res["judges"]["j"]["cost"].pop(key)
    assert outs[0] == outs[2]


# --- check --flagger / --seed / --cache-dir ----------------------------------------------------

@covers("check --flagger", "check --seed", "check --cache-dir")
def test_check_flagger_seed_and_cache_dir(tmp_path):
    data = write_data(tmp_path / "d.jsonl", mention_field=False)

    with OpenAIServer(flagger_responder, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "j", "flagger")
        args = ["check", "--judge", "j", "--data", data, "--config", cfg, "--max-inflation", "2",
                "--flagger", "flagger", "--seed", "7", "--cache-dir", tmp_path / "gate-cache"]
        r = invoke(*args, "--out", tmp_path / "o1")
        assert r.exit_code == 0, r.output
        paid = srv.count
        assert paid >= 2 * N  # N judge calls, N flagger calls (plus re-asks of the broken one)
        again = invoke(*args, "--out", tmp_path / "o2")
        # only the flagger's failed item is asked again (with its bounded re-asks)
        assert again.exit_code == 0 and srv.count == paid + provider.VALIDATION_RETRIES + 1
        assert (tmp_path / "gate-cache").is_dir() and any((tmp_path / "gate-cache").iterdir())
    rows = list(csv.DictReader((tmp_path / "o1" / "judgments.csv").open()))
    # --seed 7 decides the presentation orders
    assert {r["item_id"]: r["order"] for r in rows} == {f"o{i:02d}": presentation_order(f"o{i:02d}", 0, 7) for i in range(N)}
    sources = {json.loads(line)["mention_flag"]["source"]
               for line in (tmp_path / "o1" / "items.jsonl").read_text().splitlines()[1:]}
    assert sources == {"llm:flagger", "offline (llm failed)"}


# --- judges, --version -------------------------------------------------------------------------

@covers("judges", "judges --config")
def test_judges_lists_shipped_and_configured_judges_and_key_state(tmp_path, monkeypatch):
    shipped = invoke("judges")
    assert shipped.exit_code == 0
    lines = shipped.output.splitlines()
    local = next(line for line in lines if line.startswith("local "))
    assert "local-gguf/smollm2-135m-instruct" in local and "in-process (xllamacpp)" in local
    assert lines[-1].startswith("Any litellm model id") and "NAME@PROMPT" in lines[-1]
    cfg = tmp_path / "j.toml"
    cfg.write_text(f'[judges.house]\nmodel = "openai/house-model"\napi_key_env = "{KEY}"\nmode = "tools"\n\n'
                   '[judges.nokey]\nmodel = "openai/other"\napi_key_env = "JA_UNSET_KEY"\n')
    monkeypatch.delenv("JA_UNSET_KEY", raising=False)
    mine = invoke("judges", "--config", cfg)
    assert mine.exit_code == 0
    house = next(line for line in mine.output.splitlines() if line.startswith("house "))
    default = judge_prompt().label
    assert "openai/house-model" in house and f"[tools; {KEY} set; prompt {default}]" in house
    assert f"[json_schema; JA_UNSET_KEY NOT set; prompt {default}]" in mine.output
    assert set(lines[:-1]) <= set(mine.output.splitlines())  # the shipped judges are still listed


@covers("--version")
def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output == f"judge-audit, version {__version__}\n"


# --- a bad judge config: one line naming file, line and key, exit 2 ------------------------------

@pytest.mark.parametrize("text, where, words", [
    ('[judges.a]\nmodel = "openai/x"\nmode = "xml"\n', "line 3, judges.a.mode", "must be one of json_schema, json, tools"),
    ('[judges.a]\nmodel = "openai/x"\ncolour = "red"\n', "line 3, judges.a", "unknown key 'colour'"),
    ('[judges.a]\nmodel = 5\n', "line 2, judges.a.model", "required, a litellm model id"),
    ('[judges.a]\nmode = "json"\n', "line 1, judges.a.model", "required"),
    ('# team judges\n[judges."a"]\nmodel = "openai/x"\nmax_retries = -1\n', "line 4, judges.a.max_retries", "whole number"),
    ('[judges.a]\nmodel = "openai/x"\nconcurrency = "8"\n', "line 3, judges.a.concurrency", "whole number"),
    ('[judges.a]\nmodel = "openai/x"\nconcurrency = 0\n', "line 3, judges.a.concurrency", "whole number"),
    ('[judges.a]\nmodel = "openai/x"\ntimeout = "soon"\n', "line 3, judges.a.timeout", "a number of seconds"),
    ('[judges.a]\nmodel = "openai/x"\ntimeout = -1\n', "line 3, judges.a.timeout", "a number of seconds"),
    ('[judges.a]\nmodel = "openai/x"\nrpm = "fast"\n', "line 3, judges.a.rpm", "requests per minute"),
    ('[judges.a]\nmodel = "openai/x"\napi_base = 8080\n', "line 3, judges.a.api_base", "a URL"),
    ('[judges.a]\nmodel = "openai/x"\napi_key_env = ["K"]\n', "line 3, judges.a.api_key_env", "the name of an environment"),
    ('[judges.a]\nmodel = "openai/x"\nparams = 3\n', "line 3, judges.a.params", "must be a table"),
    ('[judges.a]\nmodel = "openai/x"\n\n[judges.a]\nmodel = "openai/y"\n', "line 4", "invalid TOML"),
    ('[judges]\na = "openai/x"\n', "line 2, judges.a", "must be a table"),
    ('judges = 3\n', "line 1", "[judges] must be a table"),
])
@covers("run --config", "judges --config")
def test_bad_judge_config_is_one_line_exit_2(tmp_path, text, where, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    for args in (["judges", "--config", cfg], ["run", "--config", cfg, "--out", tmp_path / "o"]):
        r = invoke(*args)
        assert r.exit_code == 2, r.output
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"Error: {cfg}") and where in line and words in line, line
    assert not (tmp_path / "o").exists()


# --- Ctrl-C -------------------------------------------------------------------------------------

@covers("run")
# litellm's success-logging coroutine of the call in flight is dropped by the interrupt (harmless)
@pytest.mark.filterwarnings("ignore:coroutine 'ServiceLogging.async_service_success_hook' was never awaited")
def test_ctrl_c_exits_130_and_keeps_what_was_paid(tmp_path):
    """A KeyboardInterrupt raised while answers are arriving: exit 130, one line saying how to
    resume, and every judgment completed before it is in the cache (the re-run pays only the rest)."""
    data = write_data(tmp_path / "d.jsonl")
    seen = []

    def on_result(name, res):  # the CLI's progress callback; interrupt after 5 answers
        seen.append(name)
        if len(seen) == 5:
            raise KeyboardInterrupt

    import audit.cli.audits as commands

    with OpenAIServer(lambda q: preference(q, 4), mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "j")
        args = ["run", "--data", data, "--judges", "j", "--config", cfg, "--workers", "0", "--out", tmp_path / "out"]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(commands, "progress", lambda *a, **k: on_result)
            r = invoke(*args)
        assert r.exit_code == 130, r.output
        assert r.stderr.strip().splitlines()[-1] == ("Interrupted: every completed judgment is in the cache; "
                                                     "run the same command to resume.")
        assert not (tmp_path / "out" / "results.json").exists()
        paid = srv.count
        again = invoke(*args)
        assert again.exit_code == 0, again.output
        assert srv.count - paid == N - 5  # the five answered before Ctrl-C were kept
