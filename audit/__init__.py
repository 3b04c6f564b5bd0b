"""judge-audit: audit LLM judges against human ratings, built first for personalization.

The data flows one way, one module per stage:

    load (items)  ->  flag (explicit mentions)  ->  judge (model calls, cached)
                  ->  measure (statistics)      ->  results / report / gate

`audit.cli` only parses options and calls these stages.
"""

__version__ = "0.1.0"
