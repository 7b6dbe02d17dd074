"""``POST /v1/recommend``: two-stage recommendations (retrieve, then rank) over TF Serving's REST API.

One request, in order:

1. **Bucket** (``serving/ab.py``): sha256 of ``experiment:user_id`` puts the user in ``canary``
   (a ``serving.canary_share`` of users) or ``stable``, the same on every call and every replica.
2. **Versions**: per model, the version its TF Serving version label names: ``canary`` for the
   canary bucket (``stable`` when the model has no canary), ``stable`` for the stable bucket; a
   model without the label serves its newest AVAILABLE version (the stable bucket: not the one
   labelled canary). Looked up with TF Serving's status API, cached ~1 s; every later call names
   that exact version (``/versions/V:predict``), so the versions reported are the ones that
   answered. The REST client is ``serving/tf_serving_client.py``.
3. **Retrieval**: ``serving_raw`` of the retriever with the user/context features (their names and
   dtypes read from the version's metadata) and ``exclude`` = history ∪ the request's ``exclude``.
   Answer: ``item_ids``, ``scores`` and one output per raw item feature.
4. **Ranking**: the first ``serving.candidates`` retrieved items, one ``serving_raw`` instance each
   (user/context features + that item's features + ``item_id``, restricted to the ranker's inputs),
   in batches of at most ``serving.max_batch``.
5. **Answer**: the top ``k`` by ranker score (ties keep the retrieval order), each with its retrieval
   score, plus the experiment, the bucket and the name/version/label of both models.

Errors are TF Serving-style ``{"error": "..."}``: a client's mistake is a 4xx naming the field, the
value and what was expected (400, or 413 for a body over ``serving.max_body_bytes``); the model
server unreachable is 503, too slow 504, answering an error or nonsense 502.

    .venv/bin/python -m recsys.serving.recommend --model-server-url http://127.0.0.1:8501
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import math
import sys
import time
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic import WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys.config import ServingConfig, load_config
from recsys.serving import ab, fast_json
from recsys.serving.tf_serving_client import (SIGNATURE, ApiError, ModelServer, Resolved, Signature, Tensor,
                                       VersionGone, show)

log = logging.getLogger(__name__)

EXCLUDE = "exclude"  # the retriever's input of item ids never to return
ITEM_ID = "item_id"  # the ranker's input filled with each candidate's id
RETRIEVER_OUTPUTS = ("item_ids", "scores")  # every other retriever output is an item feature
MAX_LIST = 1000  # entries of `exclude` and of any list feature (history)
MAX_TEXT = 256  # characters of an id, a feature name or a string feature value
MAX_FEATURES = 100
DEFAULT_K = 10

REQUEST_EXAMPLE = {
    "user_id": "u000001",
    "features": {"user_age": 34, "user_gender": "F", "user_region": "r03", "timestamp": 1700000000,
                 "history": ["i00003", "i00007"], "history_category": ["c13", "c19"]},
    "exclude": ["i00042"],
    "k": 10,
}
RESPONSE_EXAMPLE = {
    "user_id": "u000001",
    "items": [{"item_id": "i00120", "score": 0.41, "retrieval_score": 3.2},
              {"item_id": "i00017", "score": 0.37, "retrieval_score": 3.9}],
    "experiment": "ranker-ab",
    "bucket": "stable",
    "models": {"retriever": {"name": "retriever", "version": "1700000000", "label": "stable"},
               "ranker": {"name": "ranker", "version": "1700000000", "label": "stable"}},
}


# ---------------------------------------------------------------------------------------------
# Errors: every failure leaves as {"error": message} (ApiError: status + message).

class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an error message quoting a client's unpaired surrogate
    (valid JSON, not encodable as UTF-8) must not turn into a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def _error(status: int, message: str) -> AsciiJSONResponse:
    return AsciiJSONResponse({"error": message}, status_code=status)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (a key)"
        else:
            out += ("." if out else "") + str(part)
    return out or "request body"


def describe_validation_error(errors: list[dict], fields: tuple[str, ...] = ()) -> str:
    """One sentence for the first of pydantic's errors: the field, the value, what was expected."""
    e = errors[0]
    loc = tuple(p for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    where = _location(loc)
    kind = e.get("type", "")
    if kind == "missing":
        text = f"{where} is required"
    elif kind == "extra_forbidden":
        text = f"unknown field {where!r}; expected only {', '.join(fields)}" if fields else \
            f"unknown field {where!r}"
    elif kind == "json_invalid":
        text = f"request body is not valid JSON ({e.get('ctx', {}).get('error', e.get('msg'))})"
    else:
        msg = e.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ").replace("Input should be ", "expected ", 1)
        text = f"{where}: got {show(e.get('input'))}; {msg}"
    more = len(errors) - 1
    return text + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


# ---------------------------------------------------------------------------------------------
# Request and response documents (they are also the OpenAPI spec at /openapi.json).

def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("expected text without unpaired UTF-16 surrogates") from None
    return text


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_encodable)]
FeatureValue = Annotated[Any, WithJsonSchema({
    "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"},
              {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST}],
    "description": "a string, an integer or a number as the model's input dtype says; a list of "
                   "strings for a multi-valued feature (history)"})]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    user_id: Annotated[Text, Field(min_length=1, description="The user's raw id (unknown ids are "
                                   "fine: the models embed them through OOV buckets); also the "
                                   "A/B bucketing key.")]
    features: dict[Text, FeatureValue] = Field(
        default_factory=dict, max_length=MAX_FEATURES,
        description="The user and context features the served retriever and ranker take (their "
                    "`serving_raw` inputs), by raw name. A missing `timestamp` is the request time; "
                    "a missing multi-valued feature (history) is empty; any other missing one is a "
                    "400. Features neither model takes are ignored; item features are refused "
                    "(the retrieved candidates supply them).")
    exclude: list[Text] = Field(default_factory=list, max_length=MAX_LIST,
                                description="Item ids never to return (the history is excluded too).")
    k: int | None = Field(None, ge=1, description=f"How many items to return (default {DEFAULT_K}, at "
                          "most serving.max_k).")


class ScoredItem(BaseModel):
    item_id: str
    score: float = Field(description="The ranker's output (probability, or rating for a regression "
                         "ranker): the order of `items`.")
    retrieval_score: float = Field(description="The retriever's score for this item.")


class ServedModel(BaseModel):
    name: str
    version: str = Field(description="The TF Serving version that answered this request.")
    label: str | None = Field(description="The version label it was found by (stable/canary); "
                              "null: the model has no such label, its newest AVAILABLE version "
                              "was used (for the stable bucket: not the canary's).")


def served(m: Resolved) -> ServedModel:
    return ServedModel(name=m.name, version=m.version, label=m.label)


class ServedModels(BaseModel):
    retriever: ServedModel
    ranker: ServedModel


class RecommendResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RESPONSE_EXAMPLE]})

    user_id: str
    items: list[ScoredItem] = Field(description="At most k items, best first.")
    experiment: str = Field(description="serving.experiment: the A/B hash salt.")
    bucket: Literal["stable", "canary"]
    models: ServedModels


class ErrorBody(BaseModel):
    error: str = Field(examples=["k: got 500; expected an integer from 1 to 100 (serving.max_k)"])


class ModelHealth(BaseModel):
    name: str
    available_versions: list[str] = Field(description="AVAILABLE versions, newest first.")
    labels: dict[str, str] = Field(description="Version labels found (stable, canary) -> version.")
    buckets: dict[str, ServedModel] = Field(description="The version each A/B bucket is served.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model_server: str
    experiment: str
    canary_share: float
    models: dict[str, ModelHealth] = Field(default_factory=dict)
    error: str | None = None


REQUEST_FIELDS = tuple(RecommendRequest.model_fields)


# ---------------------------------------------------------------------------------------------
# A client's feature values against the served models' input dtypes (from their metadata).

_INT_BITS = {"DT_INT64": 64, "DT_INT32": 32, "DT_INT16": 16, "DT_INT8": 8, "DT_UINT8": 8,
             "DT_UINT16": 16, "DT_UINT32": 32, "DT_UINT64": 64}
_FLOAT_MAX = {"DT_FLOAT": 3.4028234663852886e38, "DT_DOUBLE": sys.float_info.max,
              "DT_HALF": 65504.0, "DT_BFLOAT16": 3.3895313892515355e38}
_EXPECTED = {"DT_STRING": "a string", "DT_BOOL": "true or false"}


def _expected(t: Tensor) -> str:
    one = _EXPECTED.get(t.dtype) or ("an integer" if t.dtype in _INT_BITS else "a number")
    if t.rank >= 2:
        plural = {"a string": "strings", "an integer": "integers", "a number": "numbers"}.get(one, one)
        return f"a list of {plural} ({t.dtype}, at most {MAX_LIST})"
    return f"{one} ({t.dtype})"


def _scalar(field: str, value: Any, t: Tensor) -> Any:
    dtype = t.dtype
    if dtype == "DT_STRING":
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise ApiError(400, f"{field}: got a string of {len(value)} characters; expected at "
                               f"most {MAX_TEXT}")
            try:
                return _encodable(value)
            except ValueError as e:
                raise ApiError(400, f"{field}: got {show(value)}; {e}") from None
    elif dtype in _INT_BITS:
        if isinstance(value, int) and not isinstance(value, bool):
            bits = _INT_BITS[dtype]
            lo, hi = (0, 2 ** bits) if dtype.startswith("DT_UINT") else (-(2 ** (bits - 1)), 2 ** (bits - 1))
            if lo <= value < hi:
                return value
            raise ApiError(400, f"{field}: got {show(value)}; expected an integer in [{lo}, {hi}) "
                           f"({dtype})")
    elif dtype in _FLOAT_MAX:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number) and abs(number) <= _FLOAT_MAX[dtype]:
                return number
            raise ApiError(400, f"{field}: got {show(value)}; expected a finite number ({dtype})")
    elif dtype == "DT_BOOL":
        if isinstance(value, bool):
            return value
    else:
        raise ApiError(502, f"{field}: the model takes {dtype}, which /v1/recommend cannot send")
    raise ApiError(400, f"{field}: got {show(value)} ({_kind(value)}); expected {_expected(t)}")


def coerce_feature(field: str, value: Any, t: Tensor) -> Any:
    """A client's value checked against (and converted to) a model input; 400 when it does not fit."""
    if t.rank >= 2:
        if not isinstance(value, list):
            raise ApiError(400, f"{field}: got {show(value)} ({_kind(value)}); expected {_expected(t)}")
        if len(value) > MAX_LIST:
            raise ApiError(400, f"{field}: got a list of {len(value)}; expected at most {MAX_LIST} entries")
        return [_scalar(f"{field}[{i}]", v, Tensor(t.dtype, 1)) for i, v in enumerate(value)]
    return _scalar(field, value, t)


def pad_lists(instances: list[dict], inputs: dict[str, Tensor]) -> None:
    """Pads every multi-valued input to one length within the batch (at least 1: TF Serving cannot
    tell the shape of an empty list), with "" (dropped by ``serving_raw``) or 0."""
    for name, t in inputs.items():
        if t.rank < 2 or not instances:
            continue
        width = max(1, max(len(inst[name]) for inst in instances))
        fill = "" if t.dtype == "DT_STRING" else 0
        for inst in instances:
            inst[name] = list(inst[name]) + [fill] * (width - len(inst[name]))


async def _gather(*aws):
    """asyncio.gather that waits for all and then raises the first error (none left unretrieved)."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


# ---------------------------------------------------------------------------------------------
# The two stages.

@dataclasses.dataclass
class Candidate:
    item_id: str
    retrieval_score: float
    features: dict[str, Any]


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    return None


def _finite(value: Any) -> bool:
    """No NaN or infinity in a (list of) value(s): JSON cannot carry them."""
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def parse_candidates(row: Any, item_features: dict[str, Tensor], excluded: set[str], limit: int,
                     where: str) -> list[Candidate]:
    """The retriever's row: non-padding, non-excluded items, best first, at most ``limit``."""
    if not isinstance(row, dict):
        raise ApiError(502, f"{where}: expected a row with item_ids and scores, got {show(row)}")
    ids, scores = row.get("item_ids"), row.get("scores")
    if not isinstance(ids, list) or not isinstance(scores, list) or len(ids) != len(scores):
        raise ApiError(502, f"{where}: expected item_ids and scores lists of one length, got "
                       f"{show(row)}")
    columns = {}
    for name, t in item_features.items():
        col = row.get(name)
        if not isinstance(col, list) or len(col) != len(ids):
            raise ApiError(502, f"{where}: output {name!r} should hold one value per item, got {show(col)}")
        columns[name] = col
    out, seen = [], set()
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise ApiError(502, f"{where}: item_ids[{i}] is {show(item)}; expected a string")
        if item == "" or item in seen:
            continue
        if item in excluded:
            log.warning("%s returned excluded item %r; dropped", where, item)
            continue
        score = _number(scores[i])
        if score is None:
            raise ApiError(502, f"{where}: scores[{i}] is {show(scores[i])}; expected a finite number")
        features = {}
        for name, t in item_features.items():
            value = columns[name][i]
            multi = t.rank >= 3  # [B, K, N]: a list per item; [B, K]: one value per item
            if multi != isinstance(value, list):
                raise ApiError(502, f"{where}: {name}[{i}] is {show(value)}; expected "
                               f"{'a list' if multi else 'one value'}")
            if t.dtype in _FLOAT_MAX and not _finite(value):  # sent on to the ranker as JSON
                raise ApiError(502, f"{where}: {name}[{i}] is {show(value)}; expected finite numbers")
            features[name] = value
        seen.add(item)
        out.append(Candidate(item, score, features))
        if len(out) == limit:
            break
    return out


def parse_score(prediction: Any, where: str) -> float:
    """A ranker row: a bare value (single-output model), a one-element list, or {output: value}."""
    value = prediction
    if isinstance(value, dict):
        if len(value) == 1:
            (value,) = value.values()
        else:
            value = next((value[k] for k in ("probability", "rating") if k in value), None)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    number = _number(value)
    if number is None:
        raise ApiError(502, f"{where}: expected one finite score per candidate, got {show(prediction)}")
    return number


class Recommender:
    """The flow of one request, given the model server; ``create_app`` puts HTTP around it."""

    def __init__(self, config: ServingConfig, server: ModelServer, *, retriever: str = "retriever",
                 ranker: str = "ranker", history_feature: str = "history",
                 timestamp_feature: str = "timestamp", clock=time.time):
        self.config = config
        self.server = server
        self.retriever = retriever
        self.ranker = ranker
        self.history_feature = history_feature
        self.timestamp_feature = timestamp_feature
        self.clock = clock

    def bucket(self, user_id: str) -> str:
        return ab.assign(self.config.experiment, user_id, self.config.canary_share)

    async def recommend(self, req: RecommendRequest) -> RecommendResponse:
        k = req.k if req.k is not None else min(DEFAULT_K, self.config.max_k)
        if k > self.config.max_k:
            raise ApiError(400, f"k: got {k}; expected an integer from 1 to {self.config.max_k} "
                           f"(serving.max_k)")
        bucket = self.bucket(req.user_id)
        now = self.clock()
        try:
            return await self._recommend(req, k, bucket, now)
        except VersionGone as e:
            # A relabel/unload within the cache time: resolve afresh once.
            log.info("%s; resolving versions again", e.message)
            self.server.forget(self.retriever)
            self.server.forget(self.ranker)
            return await self._recommend(req, k, bucket, now)

    def _query(self, req: RecommendRequest, needs: list[tuple[Resolved, dict[str, Tensor]]],
               refused: set[str], now: float) -> dict[str, Any]:
        """The user/context features both models take, checked against each model's dtypes."""
        for name in req.features:
            if name in refused:
                what = ("the top-level exclude list" if name == EXCLUDE else
                        "the top-level user_id" if name == "user_id" else
                        "nothing: it is an item feature, the retrieved candidates supply it")
                if name == "user_id" and req.features[name] == req.user_id:
                    continue
                raise ApiError(400, f"features.{name}: got {show(req.features[name])}; expected "
                               f"{what}")
        values: dict[str, Any] = {}
        first: dict[str, tuple[Resolved, Tensor]] = {}
        for m, inputs in needs:
            for name, t in inputs.items():
                field = "user_id" if name == "user_id" else f"features.{name}"
                if name in first and first[name][1] != t:
                    # The value fits the first model; if it cannot fit this one too, the two
                    # models disagree (a deployment mistake), not the client.
                    other, t0 = first[name]
                    try:
                        coerce_feature(field, values[name], t)
                    except ApiError:
                        raise ApiError(502, f"models disagree on input {name!r}: {other.name!r} "
                                       f"version {other.version} takes {_expected(t0)}, {m.name!r} "
                                       f"version {m.version} {_expected(t)}") from None
                    continue
                if name == "user_id":
                    raw = req.user_id
                elif name in req.features:
                    raw = req.features[name]
                elif name == self.timestamp_feature and t.rank == 1:
                    raw = int(now)
                elif t.rank >= 2:
                    raw = []
                else:
                    raise ApiError(400, f"{field} is missing; model {m.name!r} version {m.version} "
                                   f"needs it: expected {_expected(t)}")
                values[name] = coerce_feature(field, raw, t)
                first[name] = (m, t)
        return values

    async def _recommend(self, req: RecommendRequest, k: int, bucket: str, now: float
                         ) -> RecommendResponse:
        retriever, ranker = await _gather(self.server.resolve(self.retriever, bucket),
                                          self.server.resolve(self.ranker, bucket))
        r_sig, k_sig = await _gather(self.server.signature(retriever), self.server.signature(ranker))
        where_r = f"model {retriever.name!r} version {retriever.version}"
        if EXCLUDE not in r_sig.inputs:
            raise ApiError(502, f"{where_r}: its {SIGNATURE!r} signature has no {EXCLUDE!r} input")
        item_outputs = {n: t for n, t in r_sig.outputs.items() if n not in RETRIEVER_OUTPUTS}
        query_inputs = {n: t for n, t in r_sig.inputs.items() if n != EXCLUDE}
        from_candidates = {ITEM_ID, *item_outputs}
        ranker_query = {n: t for n, t in k_sig.inputs.items() if n not in from_candidates}
        query = self._query(req, [(retriever, query_inputs), (ranker, ranker_query)],
                            {EXCLUDE, "user_id", *from_candidates}, now)

        history = query.get(self.history_feature, [])
        excluded = dict.fromkeys(x for x in [*history, *req.exclude] if x != "")
        instance = {n: query[n] for n in query_inputs}
        instance[EXCLUDE] = list(excluded)
        pad_lists([instance], r_sig.inputs)
        (row,) = await self.server.predict(retriever, [instance])
        candidates = parse_candidates(row, item_outputs, set(excluded),
                                      self.config.candidates, where_r)

        scores = await self._rank(ranker, k_sig, query, candidates)
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])[:k]  # stable: ties keep
        items = [ScoredItem(item_id=candidates[i].item_id, score=scores[i],  # the retrieval order
                            retrieval_score=candidates[i].retrieval_score) for i in order]
        return RecommendResponse(user_id=req.user_id, items=items, experiment=self.config.experiment,
                                 bucket=bucket, models=ServedModels(retriever=served(retriever),
                                                                    ranker=served(ranker)))

    async def _rank(self, ranker: Resolved, sig: Signature, query: dict[str, Any],
                    candidates: list[Candidate]) -> list[float]:
        where = f"model {ranker.name!r} version {ranker.version}"
        instances = []
        for c in candidates:
            inst = {}
            for name, t in sig.inputs.items():
                if name == ITEM_ID:
                    inst[name] = c.item_id
                elif name in c.features:
                    value = c.features[name]
                    if (t.rank >= 2) != isinstance(value, list):
                        raise ApiError(502, f"{where} takes {name} as {_expected(t)}; the retriever "
                                       f"gave {show(value)}")
                    inst[name] = value
                else:
                    inst[name] = query[name]
            instances.append(inst)
        size = max(1, self.config.max_batch)
        batches = [instances[i:i + size] for i in range(0, len(instances), size)]
        for batch in batches:
            pad_lists(batch, sig.inputs)
        answers = await _gather(*(self.server.predict(ranker, b) for b in batches))
        return [parse_score(p, where) for answer in answers for p in answer]

    async def health(self) -> tuple[int, Health]:
        doc = Health(status="ok", model_server=self.server.url, experiment=self.config.experiment,
                     canary_share=self.config.canary_share)
        try:
            for name in (self.retriever, self.ranker):
                versions = await self.server.available_versions(name)
                labels = {}
                for label in (ab.STABLE, ab.CANARY):
                    v = await self.server.label_version(name, label)
                    if v is not None:
                        labels[label] = v
                buckets = {b: served(await self.server.resolve_uncached(name, b))
                           for b in (ab.STABLE, ab.CANARY)}
                doc.models[name] = ModelHealth(name=name, available_versions=versions, labels=labels,
                                               buckets=buckets)
        except ApiError as e:
            doc.status, doc.error = "unavailable", e.message
            return 503, doc
        return 200, doc


# ---------------------------------------------------------------------------------------------
# HTTP.

async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body: {int(declared)} bytes; expected at most {limit} "
                       f"(serving.max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body: over {limit} bytes; expected at most {limit} "
                           f"(serving.max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes) -> RecommendRequest:
    """JSON -> RecommendRequest, any Content-Type (as TF Serving: ``curl -d`` works); 400 otherwise."""
    if not body.strip():
        raise ApiError(400, f"request body is empty; expected a JSON object like {json.dumps(REQUEST_EXAMPLE)}")
    try:
        doc = fast_json.loads(body)
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply; expected a JSON object") from None
    except ValueError as e:
        raise ApiError(400, f"request body is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"request body: got {show(doc)} ({_kind(doc)}); expected a JSON object "
                       f"with {', '.join(REQUEST_FIELDS)}")
    try:
        return RecommendRequest.model_validate(doc)
    except ValidationError as e:
        raise ApiError(400, describe_validation_error(e.errors(), REQUEST_FIELDS)) from None


def _check_config(config: ServingConfig) -> None:
    problems = []
    if not 0.0 <= config.canary_share <= 1.0:
        problems.append(f"serving.canary_share: {config.canary_share!r}; expected a share in [0, 1]")
    for key in ("candidates", "max_k", "max_batch", "max_body_bytes"):
        if getattr(config, key) < 1:
            problems.append(f"serving.{key}: {getattr(config, key)!r}; expected an integer >= 1")
    if problems:
        raise ValueError("; ".join(problems))


_ERRORS = {status: {"model": ErrorBody, "description": text} for status, text in {
    400: "The request is malformed: the error names the field, the value and what was expected.",
    413: "The body is larger than serving.max_body_bytes.",
    502: "The model server answered with an error or an unexpected document.",
    503: "The model server is unreachable or does not serve the model (version).",
    504: "The model server did not answer in time.",
}.items()}


def create_app(config: ServingConfig, model_server_url: str, *,
               transport=None, retriever: str = "retriever",
               ranker: str = "ranker", timeout: float = 5.0, cache_seconds: float = 1.0,
               history_feature: str = "history", timestamp_feature: str = "timestamp") -> FastAPI:
    """The /v1/recommend app, calling TF Serving at ``model_server_url`` (or through ``transport``,
    e.g. ``httpx.ASGITransport`` of a fake, in tests)."""
    _check_config(config)
    server = ModelServer(model_server_url, transport=transport, timeout=timeout,
                         cache_seconds=cache_seconds)
    service = Recommender(config, server, retriever=retriever, ranker=ranker,
                          history_feature=history_feature, timestamp_feature=timestamp_feature)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        server.client()  # created in the serving event loop, kept alive between requests
        # What exists now (FastAPI, pydantic's validators, aiohttp) lives as long as the process;
        # left in the cyclic GC's view, every full collection walked it and stalled requests for
        # 40-55 ms (13 full collections a minute at 50 req/s); frozen, they take 1-4 ms.
        gc.collect()
        gc.freeze()
        yield
        await server.aclose()

    app = FastAPI(title="tfx-recsys recommendations", version="1",
                  description=__doc__.split("\n\n")[0], lifespan=lifespan)
    app.state.recommender = service

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, e: ApiError):
        if e.status >= 500:
            log.warning("%d: %s", e.status, e.message)
        return _error(e.status, e.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, e: RequestValidationError):
        return _error(400, describe_validation_error(list(e.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return _error(e.status_code, f"{e.detail}: {request.method} {request.url.path}")

    @app.exception_handler(Exception)
    async def _crash(_request: Request, e: Exception):
        log.exception("unhandled error")
        return _error(500, f"internal error: {type(e).__name__}")

    # The body is read by hand (any Content-Type, size-limited), so FastAPI does not see the model:
    # documented by reference, with this deployment's max_k.
    request_schema = RecommendRequest.model_json_schema()
    request_schema["properties"]["k"]["anyOf"][0]["maximum"] = config.max_k
    request_doc = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/RecommendRequest"}, "example": REQUEST_EXAMPLE}}}}

    @app.post("/v1/recommend", response_model=RecommendResponse, responses=_ERRORS,
              openapi_extra=request_doc, summary="Top-k items for a user: retrieve, then rank")
    async def recommend(request: Request) -> Response:
        answer = await service.recommend(parse_request(await read_body(request, config.max_body_bytes)))
        # pydantic's own serializer: returned as a model, FastAPI would validate it again, walk it
        # with jsonable_encoder and json.dumps the result, on every request.
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.get("/v1/recommend/healthz", response_model=Health, responses={503: {"model": Health}},
             summary="Does the model server answer, and which versions does each bucket get")
    async def healthz():
        status, doc = await service.health()
        body = doc.model_dump()
        if body["error"] is None:
            del body["error"]
        return AsciiJSONResponse(body, status_code=status)

    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)

    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            generate()["components"]["schemas"]["RecommendRequest"] = request_schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-server-url", help="TF Serving's REST address (default: "
                    "serving.model_server_url, else http://<serving.host>:<serving.port>)")
    ap.add_argument("--host", help="bind address (default serving.host: 127.0.0.1)")
    ap.add_argument("--port", type=int, help="default serving.recommend_port (8502)")
    ap.add_argument("--config", help="run config TOML (configs/default.toml)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        s = cfg.serving
        _check_config(s)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model_host = "127.0.0.1" if s.host in ("", "0.0.0.0", "::") else s.host
    url = args.model_server_url or s.model_server_url or f"http://{model_host}:{s.port}"
    port = args.port if args.port is not None else s.recommend_port
    if port <= 0:
        print("error: serving.recommend_port is 0 (not started); pass --port", file=sys.stderr)
        return 2
    import uvicorn

    app = create_app(s, url, retriever=cfg.retrieval.model_name, ranker=cfg.pipeline.model_name)
    print(f"/v1/recommend on http://{args.host or s.host}:{port} -> model server {url} "
          f"(experiment {s.experiment!r}, canary_share {s.canary_share:g})", file=sys.stderr)
    uvicorn.run(app, host=args.host or s.host, port=port, log_level="info", access_log=False,
                limit_concurrency=s.max_concurrency)  # beyond it: 503 at once, not a queue
    return 0


if __name__ == "__main__":
    sys.exit(main())
