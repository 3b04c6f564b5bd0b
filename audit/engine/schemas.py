"""The structured outputs judges return (pydantic models; instructor validates every answer against
them). Their JSON schemas are part of every cache key: change a field, a description or a limit and
every cached answer of that kind is asked again."""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field


# A model's free-text field as stored: surrounding whitespace dropped, at most 2,000 characters
# (the schema asks for less; a chatty model is cut rather than failed). Not part of the JSON schema.
TrimmedText = Annotated[str, AfterValidator(lambda v: v.strip()[:2000])]


class StructuredOutput(BaseModel):
    """Base of the models judges return: the JSON schema is generated once per class.

    pydantic regenerates a schema on every ``model_json_schema()`` (~0.5-1 ms) and instructor
    asks for it on every call; a deep copy of the cached schema costs ~0.01 ms.
    """

    @classmethod
    def model_json_schema(cls, *args, **kwargs):
        key = (cls, args, tuple(sorted(kwargs.items(), key=lambda kv: kv[0])))
        cached = _SCHEMAS.get(key)
        if cached is None:
            cached = _SCHEMAS[key] = super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(cached)


_SCHEMAS: dict = {}


class Verdict(StructuredOutput):
    """What a judge must return: a 1-5 rating of Response A vs B and a short rationale."""

    rating: int = Field(ge=1, le=5, description="1 = Response A much better, 3 = no difference, 5 = Response B much better")
    rationale: TrimmedText = Field(description="one or two sentences", json_schema_extra={"maxLength": 300})


class ConfidentVerdict(Verdict):
    """A :class:`Verdict` with the judge's stated confidence (asked by a prompt that declares
    ``{# output: confidence #}``, e.g. the shipped ``confidence`` variant)."""

    confidence: float = Field(ge=0, le=1, description="how sure you are that the response you rated higher is "
                                                      "really better for this user: 0 = a guess, 1 = certain "
                                                      "(with rating 3: that there is no meaningful difference)")


@functools.lru_cache(maxsize=None)
def schema_of(response_model: type[BaseModel] | None) -> dict | None:
    return response_model.model_json_schema() if response_model is not None else None


class MentionVerdict(StructuredOutput):
    mention: bool
    span: str | None = Field(default=None, json_schema_extra={"maxLength": 200})


REASON_MAX = 200


class RelevanceVerdict(BaseModel):
    """What a relevance judge must return."""

    relevant: bool = Field(description="true if the attribute should change the response in any way, explicitly or implicitly")
    reason: TrimmedText = Field(description="one short sentence", json_schema_extra={"maxLength": REASON_MAX})


class ExtractionVerdict(StructuredOutput):
    """What an attribute-extraction verifier returns (``judge-audit extraction``)."""

    label: Literal["accept", "uncertain", "reject"] = Field(description="accept, uncertain or reject")
    rationale: TrimmedText = Field(description="one sentence", json_schema_extra={"maxLength": 200})


class PairwiseVerdict(StructuredOutput):
    """What a judge returns on a pairwise study item: which response is better, and why."""

    winner: Literal["A", "B"] = Field(description="the better response")
    rationale: TrimmedText = Field(description="one sentence", json_schema_extra={"maxLength": 200})


class ConfidentPairwiseVerdict(PairwiseVerdict):
    """A :class:`PairwiseVerdict` with the judge's stated confidence (``judge_pairwise@confidence``)."""

    confidence: float = Field(ge=0, le=1, description="how sure you are that the winner is really the better "
                                                      "response: 0 = a guess, 1 = certain")
