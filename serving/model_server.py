"""A model server that speaks TensorFlow Serving's REST API (v1), for where TF Serving cannot run.

Why it exists: the ``tensorflow_model_server`` binary is on no package registry this project's
machines reach and there is no container engine, yet users serve the pushed models over TF
Serving's REST API and the project's clients and tests must run against that API. Production
runs real TF Serving (``serving/docker-compose.yml``) from the same ``models.config``; this server
reads that config and answers the same requests the same way (paths, JSON formats, status codes,
``{"error": ...}`` bodies), so the same clients and tests run against either
(``tests/serving/test_model_server.py`` runs against a real TF Serving when ``TF_SERVING_URL`` is set).

Implemented (``api_rest.md``): ``GET /v1/models/{m}[/versions/{v}|/labels/{l}]`` (status),
``.../metadata`` (SignatureDefs), ``POST ...:predict`` (row and columnar formats, ``b64``,
``signature_name``), ``:classify`` / ``:regress`` (signatures whose method says so); the model
config's version policies and labels; hot loading of newly pushed versions (``model_manager.py``);
warmup replay at load. It loads SavedModels with TensorFlow and calls their signatures.

Not implemented: gRPC (port 8500), the request batching scheduler, monitoring/Prometheus
endpoints, model-config reload over gRPC (the config file is read at start), and TF Serving's
``--rest_api_timeout_in_ms``. Limits TF Serving does not have: request bodies over
``max_body_bytes`` get 413, batches over ``max_batch`` 400.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from recsys.serving import fast_json, json_tensor
from recsys.serving.model_manager import ModelManager
from recsys.serving.servable import CLASSIFY, REGRESS, Servable
from recsys.serving.status import ServingError, invalid

log = logging.getLogger("recsys.serving")

# TF Serving's own path grammar (model_servers/http_rest_api_util.cc), case-insensitive.
PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None),
                    status_code=status, media_type="application/json")


def error_response(e: ServingError) -> Response:
    return _json({"error": e.message}, e.http_status)


def _version(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise invalid(f"Failed to convert version: {text} to numeric.") from None


async def read_json_body(request: Request, max_bytes: int) -> dict:
    """The request's JSON object; oversize -> 413, not JSON / not an object -> 400."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ServingError("INVALID_ARGUMENT", f"request body of {declared} bytes exceeds the "
                           f"limit of {max_bytes} bytes", http_status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ServingError("INVALID_ARGUMENT", f"request body exceeds the limit of {max_bytes} "
                               f"bytes", http_status=413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise invalid("JSON Parse error: The document is empty.")
    try:
        body = fast_json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise invalid(f"JSON Parse error: {e}") from None
    if not isinstance(body, dict):
        raise invalid(f"JSON Parse error: the request body must be a JSON object, got "
                      f"{type(body).__name__}")
    return body


class ModelServer:
    """The REST handlers over a ``ModelManager``."""

    def __init__(self, manager: ModelManager, *, max_batch: int = 1000,
                 max_body_bytes: int = 4 * 1024 * 1024):
        self.manager = manager
        self.max_batch = max_batch
        self.max_body_bytes = max_body_bytes
        self._metadata_cache: dict[tuple[str, int], dict] = {}

    # ---- status and metadata -------------------------------------------------------------------
    def model_status(self, name, version, label) -> dict:
        if not name:
            raise invalid("Missing model name in request.")
        return {"model_version_status": self.manager.status(name, version, label)}

    def model_metadata(self, name, version, label) -> dict:
        if not name:
            raise invalid("Missing model name in request.")
        servable = self.manager.get(name, version, label)
        key = (servable.name, servable.version)
        if key not in self._metadata_cache:
            self._metadata_cache[key] = metadata_json(servable)
        return self._metadata_cache[key]

    # ---- inference -----------------------------------------------------------------------------
    def predict(self, servable: Servable, body: dict) -> dict:
        signature_name = _signature_name(body)
        info = servable.signature(signature_name)
        inputs, fmt = json_tensor.parse_predict(body, info.inputs, max_batch=self.max_batch)
        outputs = servable.run(signature_name, inputs)
        return json_tensor.format_predict(outputs, fmt)

    def classify(self, servable: Servable, body: dict) -> dict:
        signature_name = _signature_name(body)
        info = servable.signature(signature_name, CLASSIFY)
        outputs = servable.run(signature_name, self._examples_input(info, body))
        scores = outputs.get("scores")
        classes = outputs.get("classes")
        if scores is None and classes is None:
            raise ServingError("INTERNAL", "classification signature has neither 'classes' nor 'scores'")
        rows = len(scores if scores is not None else classes)
        results = []
        for i in range(rows):
            n = (scores if scores is not None else classes).shape[1]
            results.append([[classes[i][j].decode("utf-8", "replace") if classes is not None else "",
                             float(scores[i][j]) if scores is not None else 0.0] for j in range(n)])
        return {"results": results}

    def regress(self, servable: Servable, body: dict) -> dict:
        signature_name = _signature_name(body)
        info = servable.signature(signature_name, REGRESS)
        outputs = servable.run(signature_name, self._examples_input(info, body))
        if "outputs" not in outputs:
            raise ServingError("INTERNAL", "regression signature has no 'outputs' tensor")
        return {"results": [float(v) for v in outputs["outputs"].reshape(-1)]}

    def _examples_input(self, info, body: dict) -> dict:
        import numpy as np

        examples = json_tensor.parse_examples(body, max_batch=self.max_batch)
        (name,) = info.inputs  # classify/regress signatures take one tensor of serialized examples
        arr = np.empty(len(examples), dtype=object)
        arr[:] = examples
        return {name: arr}

    # ---- HTTP ----------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        # TF Serving matches the raw (still percent-encoded) path, then decodes the names: a name
        # with an encoded "/" is just an unknown model, never a path.
        path = request.scope.get("raw_path", b"").decode("latin-1").split("?")[0] or request.url.path
        try:
            if request.method == "POST":
                m = PREDICT_PATH.fullmatch(path)
                if not m:
                    raise invalid(f"Malformed request: POST {path}")
                name, version, label, method = m.groups()
                name, label, version = unquote(name), label and unquote(label), _version(version)
                body = await read_json_body(request, self.max_body_bytes)
                servable = self.manager.get(name, version, label)
                handler = {"predict": self.predict, "classify": self.classify,
                           "regress": self.regress}[method.lower()]
                answer = await run_in_threadpool(handler, servable, body)
                if handler == self.predict:  # format_predict wrote every non-finite float as null
                    return Response(fast_json.dumps(answer), media_type="application/json")
                return _json(answer)
            m = STATUS_PATH.fullmatch(path)
            if not m:
                raise invalid(f"Malformed request: GET {path}")
            name, version, label, metadata = m.groups()
            name, label, version = name and unquote(name), label and unquote(label), _version(version)
            if version is not None and label is not None:
                raise invalid(f"Both model version ({version}) and model version label ({label}) "
                              f"cannot be supplied.")
            if metadata:
                return _json(self.model_metadata(name, version, label))
            return _json(self.model_status(name, version, label))
        except ServingError as e:
            return error_response(e)
        except Exception as e:  # a server fault: logged in full, answered as TF Serving's INTERNAL
            log.exception("internal error on %s %s", request.method, path)
            return error_response(ServingError("INTERNAL", f"{type(e).__name__}: {e}"))


def _signature_name(body: dict) -> str | None:
    name = body.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise invalid(f"'signature_name' key must be a string value, got {json.dumps(name)[:60]}")
    return name or None


def metadata_json(servable: Servable) -> dict:
    """TF Serving's GetModelMetadata JSON: model_spec + the SignatureDefMap, proto field names."""
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

    spec = model_pb2.ModelSpec(name=servable.name)
    spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for k, v in servable.signature_defs.items():
        sig_map.signature_def[k].CopyFrom(v)
    kwargs = dict(preserving_proto_field_name=True)
    try:
        kwargs["including_default_value_fields"] = True
        as_dict = lambda m: json_format.MessageToDict(m, **kwargs)  # noqa: E731
        spec_json, sig_json = as_dict(spec), as_dict(sig_map)
    except TypeError:  # protobuf >= 5 renamed the flag
        kwargs.pop("including_default_value_fields")
        kwargs["always_print_fields_with_no_presence"] = True
        spec_json = json_format.MessageToDict(spec, **kwargs)
        sig_json = json_format.MessageToDict(sig_map, **kwargs)
    spec_json.setdefault("signature_name", "")
    return {"model_spec": spec_json, "metadata": {"signature_def": sig_json}}


async def _not_found(request: Request, exc) -> Response:
    return _json({"error": f"Not found: {request.method} {request.url.path} (this server answers "
                           f"TF Serving's REST API under /v1/models/...)"}, 404)


def create_app(manager: ModelManager, *, max_batch: int = 1000,
               max_body_bytes: int = 4 * 1024 * 1024) -> Starlette:
    server = ModelServer(manager, max_batch=max_batch, max_body_bytes=max_body_bytes)
    app = Starlette(routes=[Route("/v1/{rest:path}", server.handle, methods=["GET", "POST"])],
                    exception_handlers={404: _not_found, 405: _method_not_allowed})
    app.router.redirect_slashes = False  # TF Serving answers paths as given, never with a redirect
    app.state.server = server
    return app


async def _method_not_allowed(request: Request, exc) -> Response:
    return _json({"error": f"Malformed request: {request.method} {request.url.path}"}, 400)
