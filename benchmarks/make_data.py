"""Write a synthetic judged-pairs JSONL file for the benchmarks.

SYNTHETIC BENCHMARK DATA: generated text and ratings, not from people and not from any model.
Annotator labels (annotator-A..) and generator labels (style-*) are labels only.

    python benchmarks/make_data.py --items 1000 --out /tmp/bench.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

TOPICS = ["cooking", "travel", "coding", "fitness", "finance", "writing", "gardening", "music", "career", "health"]
ATTRS = ["vegetarian", "software developer", "parent of two", "lives in Oslo", "beginner runner", "retired teacher",
         "plays the cello", "on a tight budget", "loves hiking", "learning Spanish"]


def make_items(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        attrs = rng.sample(ATTRS, 3)
        mention = rng.random() < 0.5
        generic = (f"Here is a practical answer about {topic} (item {i}). " + "It covers the basics step by step. " * 8).strip()
        personalized = ((f"As a {attrs[0]}, you may prefer this. " if mention else "")
                        + f"Here is a tailored answer about {topic} (item {i}). " + "It adapts the advice to you. " * 8).strip()
        items.append({
            "id": f"bench-{i:06d}", "user_id": f"user-{i // 5:05d}",
            "prompt": f"Give me advice about {topic}, question {i}.", "attributes": attrs,
            "generic": generic, "personalized": personalized, "generator": f"style-{'explicit' if mention else 'implicit'}",
            "human_ratings": [{"annotator": f"annotator-{chr(65 + k)}", "rating": rng.randint(1, 5)} for k in range(3)],
        })
    return items


def write(path: Path, n: int, seed: int = 0) -> Path:
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("# SYNTHETIC BENCHMARK DATA for judge-audit: generated, not from people and not from any model.\n")
        for item in make_items(n, seed):
            fh.write(json.dumps(item) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    print(write(args.out, args.items, args.seed))


if __name__ == "__main__":
    main()
