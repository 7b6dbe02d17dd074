"""A scriptable fake of TF Serving's REST API (status, labels, metadata, predict), no TensorFlow.

It answers the way TF Serving does where /v1/recommend depends on it: ``{"model_version_status":
[...]}`` status documents, an unknown label is a 400 ``Unrecognized servable version label``, an
unknown model or version a 404, metadata as ``metadata.signature_def.signature_def.<name>``, and a
row-format ``:predict`` that refuses instances whose keys, dtypes or list lengths do not fit the
signature (TF Serving needs one shape per input across the batch). Every request is recorded.

    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version(CATALOGUE), labels=["stable"])
    transport = httpx.ASGITransport(app=fake.app)
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STRING, INT64, FLOAT = "DT_STRING", "DT_INT64", "DT_FLOAT"

# The synthetic feature config's query side (configs/features/synthetic.toml): user + context.
QUERY = {"user_id": (STRING, 1), "user_age": (INT64, 1), "user_gender": (STRING, 1),
         "user_region": (STRING, 1), "timestamp": (INT64, 1), "history": (STRING, 2)}
ITEM = {"item_category": (STRING, 1), "item_brand": (STRING, 1), "item_price": (FLOAT, 1)}
RANKER_INPUTS = {**QUERY, "item_id": (STRING, 1), **ITEM}

CATALOGUE = [{"item_id": f"i{n:05d}", "item_category": f"c{n % 5:02d}", "item_brand": f"b{n % 7:03d}",
              "item_price": float(n + 1)} for n in range(40)]


@dataclasses.dataclass
class FakeVersion:
    inputs: dict[str, tuple[str, int]]  # name -> (dtype, rank); rank 2: a list per instance
    outputs: dict[str, tuple[str, int]]
    predict: Callable[[list[dict]], list]  # instances -> row-format predictions
    state: str = "AVAILABLE"
    delay: float = 0.0  # seconds before :predict answers
    refuse: str = ""  # :predict answers 400 {"error": refuse}


def retriever_version(catalogue: list[dict] = CATALOGUE, k: int = 10, item=ITEM,
                      query=QUERY) -> FakeVersion:
    """Scores the catalogue in its own order (first item best), never returns an excluded item, pads
    with "" / -1e9 when fewer than k remain, and answers every item feature of ``item``."""

    def predict(instances):
        rows = []
        for inst in instances:
            excluded = set(inst["exclude"])
            kept = [it for it in catalogue if it["item_id"] not in excluded][:k]
            row = {"item_ids": [it["item_id"] for it in kept],
                   "scores": [10.0 - 0.1 * catalogue.index(it) for it in kept]}
            for name, (dtype, rank) in item.items():
                col = [it[name] for it in kept]
                if rank == 2:  # multi-valued: lists padded with "" to one width
                    width = max([len(v) for v in col] + [1])
                    col = [list(v) + [""] * (width - len(v)) for v in col]
                row[name] = col
            missing = k - len(kept)  # fewer than k left: "" ids, -1e9 scores, "" / 0 features
            row["item_ids"] += [""] * missing
            row["scores"] += [-1e9] * missing
            for name, (dtype, rank) in item.items():
                width = len(row[name][0]) if rank == 2 and row[name] else 1
                pad = [""] * width if rank == 2 else ("" if dtype == STRING else 0.0)
                row[name] += [pad] * missing
            rows.append(row)
        return rows

    outputs = {"item_ids": (STRING, 2), "scores": (FLOAT, 2),
               **{n: (d, r + 1) for n, (d, r) in item.items()}}
    return FakeVersion({**query, "exclude": (STRING, 2)}, outputs, predict)


def ranker_version(score: Callable[[dict], float] = lambda inst: inst["item_price"] / 100.0,
                   inputs=RANKER_INPUTS, output: str = "probability", as_dict: bool = False) -> FakeVersion:
    """One score per instance (default: the price, so it reverses the retrieval order); bare values
    as TF Serving answers a single-output model, or ``{output: value}`` rows with ``as_dict``."""

    def predict(instances):
        return [{output: score(i)} if as_dict else score(i) for i in instances]

    return FakeVersion(dict(inputs), {output: (FLOAT, 1)}, predict)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _fits(value: Any, dtype: str) -> bool:
    if dtype == STRING:
        return isinstance(value, str)
    if dtype == INT64:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FakeTFServing:
    def __init__(self):
        self.models: dict[str, dict[str, FakeVersion]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, str, Any]] = []  # (method, path, JSON body or None)
        self.fail: tuple[int, str] | None = None  # answer everything with (status, body text)
        self.app = Starlette(routes=[
            Route("/v1/models/{model}/versions/{version}:predict", self._predict, methods=["POST"]),
            Route("/v1/models/{model}/versions/{version}/metadata", self._metadata, methods=["GET"]),
            Route("/v1/models/{model}/versions/{version}", self._status, methods=["GET"]),
            Route("/v1/models/{model}/labels/{label}", self._status, methods=["GET"]),
            Route("/v1/models/{model}", self._status, methods=["GET"]),
        ])

    # -- scripting -------------------------------------------------------------------------
    def add(self, model: str, version: str, fake: FakeVersion, labels: tuple[str, ...] | list = ()):
        self.models.setdefault(model, {})[str(version)] = fake
        self.labels.setdefault(model, {})
        for label in labels:
            self.labels[model][label] = str(version)
        return fake

    def remove(self, model: str, version: str) -> None:
        del self.models[model][str(version)]
        self.labels[model] = {k: v for k, v in self.labels[model].items() if v != str(version)}

    def predicts(self, model: str) -> list[tuple[str, dict]]:
        """(version, request body) of every :predict call to ``model``."""
        prefix = f"/v1/models/{model}/versions/"
        return [(path[len(prefix):-len(":predict")], body) for method, path, body in self.calls
                if method == "POST" and path.startswith(prefix)]

    # -- TF Serving's REST API ---------------------------------------------------------------
    async def _record(self, request: Request) -> Any:
        body = None
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.calls.append((request.method, request.url.path, body))
        return body

    def _version(self, model: str, version: str) -> FakeVersion | JSONResponse:
        if model not in self.models:
            return _error(404, f"Servable not found for request: Latest({model})")
        if version not in self.models[model]:
            return _error(404, f"Servable not found for request: Specific({model}, {version})")
        return self.models[model][version]

    async def _status(self, request: Request):
        await self._record(request)
        if self.fail:
            return _error(*self.fail)
        model = request.path_params["model"]
        if model not in self.models:
            return _error(404, f"Could not find any versions of model {model}")
        versions = self.models[model]
        if "label" in request.path_params:
            label = request.path_params["label"]
            if label not in self.labels[model]:
                return _error(400, f"Unrecognized servable version label: {label}")
            chosen = [self.labels[model][label]]
        elif "version" in request.path_params:
            chosen = [request.path_params["version"]]
            if chosen[0] not in versions:
                return _error(404, f"Could not find version {chosen[0]} of model {model}")
        else:
            chosen = sorted(versions, key=int)
        return JSONResponse({"model_version_status": [
            {"version": v, "state": versions[v].state, "status": {"error_code": "OK", "error_message": ""}}
            for v in chosen]})

    async def _metadata(self, request: Request):
        await self._record(request)
        if self.fail:
            return _error(*self.fail)
        model, version = request.path_params["model"], request.path_params["version"]
        fake = self._version(model, version)
        if isinstance(fake, JSONResponse):
            return fake

        def tensors(specs):
            return {n: {"dtype": d, "tensor_shape": {"dim": [{"size": "-1", "name": ""}] * r,
                                                      "unknown_rank": False},
                        "name": f"serving_raw_{n}:0"} for n, (d, r) in specs.items()}

        return JSONResponse({
            "model_spec": {"name": model, "signature_name": "", "version": version},
            "metadata": {"signature_def": {"signature_def": {"serving_raw": {
                "inputs": tensors(fake.inputs), "outputs": tensors(fake.outputs),
                "method_name": "tensorflow/serving/predict"}}}}})

    async def _predict(self, request: Request):
        body = await self._record(request)
        if self.fail:
            return _error(*self.fail)
        fake = self._version(request.path_params["model"], request.path_params["version"])
        if isinstance(fake, JSONResponse):
            return fake
        if fake.delay:
            await asyncio.sleep(fake.delay)
        if fake.refuse:
            return _error(400, fake.refuse)
        if not isinstance(body, dict) or body.get("signature_name") != "serving_raw":
            return _error(400, "Serving signature name: \"serving_default\" not found in signature def")
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            return _error(400, "Missing 'inputs' or 'instances' key")
        widths: dict[str, int] = {}
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict) or set(inst) != set(fake.inputs):
                return _error(400, f"instance {i}: keys {sorted(inst) if isinstance(inst, dict) else inst}"
                                   f" do not match the signature's inputs {sorted(fake.inputs)}")
            for name, (dtype, rank) in fake.inputs.items():
                value = inst[name]
                if rank == 2:
                    if not isinstance(value, list) or not value:
                        return _error(400, f"instance {i}: {name} must be a non-empty list")
                    if widths.setdefault(name, len(value)) != len(value):
                        return _error(400, f"Expecting tensors in list to be of the same size: {name}")
                    values = value
                else:
                    values = [value]
                if not all(_fits(v, dtype) for v in values):
                    return _error(400, f"instance {i}: {name}={value!r} is not {dtype}")
        # TF Serving writes NaN/Infinity as bare literals; so does the fake.
        return Response(json.dumps({"predictions": fake.predict(instances)}),
                        media_type="application/json")
