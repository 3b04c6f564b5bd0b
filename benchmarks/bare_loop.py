"""The reference: a bare ``litellm.acompletion`` loop with an asyncio.Semaphore, nothing else.

Sends the same rendered judge prompts ``judge-audit run`` would send (one order per item), with
litellm's defaults. One warm-up call is made first and not counted. Prints JSON (last line):
``{"n", "elapsed_s", "rate", "cpu_ms_per_call"}``.

    python benchmarks/bare_loop.py --base-url URL --data items.jsonl --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--handshake", action="store_true", help="print 'warm' after the warm-up, wait for a line")
    args = ap.parse_args()

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from audit.audits.judging import judge_messages
    from audit.data.judgments import presentation_order
    from audit.data.items import load_items

    items = load_items(args.data).items
    prompts = [judge_messages(it, presentation_order(it.id, 0, 0)) for it in items]
    import litellm

    litellm.suppress_debug_info = True

    async def run() -> tuple[float, float]:
        sem = asyncio.Semaphore(args.concurrency)

        async def one(messages):
            async with sem:
                return await litellm.acompletion(model="openai/bare-model", api_base=args.base_url, api_key="sk-bench",
                                                 messages=messages)

        await one([{"role": "user", "content": "warm-up"}])
        if args.handshake:  # let the caller reset the server's counters after the warm-up
            print("warm", flush=True)
            sys.stdin.readline()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(m) for m in prompts))
        return time.perf_counter() - t0, time.process_time() - c0

    elapsed, cpu = asyncio.run(run())
    print(json.dumps({"n": len(prompts), "elapsed_s": elapsed, "rate": len(prompts) / elapsed,
                      "cpu_ms_per_call": 1000 * cpu / len(prompts)}))


if __name__ == "__main__":
    main()
