"""TF Serving's REST API as /v1/recommend uses it: status and version labels (which version answers),
metadata (a version's ``serving_raw`` inputs and outputs) and row-format ``:predict``.

The HTTP client is aiohttp: httpx (with httpcore, h11 and anyio under it) took ~60% of the
recommendation process's CPU at 50 requests/s, which showed in /v1/recommend's p99. Tests reach
fakes without sockets through an injected ``httpx`` transport (``httpx.ASGITransport``); that path
(``_HttpxExchange``) exists for them only.

Every failure is an ``ApiError`` carrying the HTTP status the recommendation service answers with:
the model server unreachable is 503, too slow 504, answering a 5xx, a refusal or a document of the
wrong shape 502; a version unloaded since it was resolved is ``VersionGone`` (503 unless resolving
again helps). TF Serving's own statuses follow ``api_rest.md``: an unknown model or version is a
404, an unknown version label a 400 ("Unrecognized servable version label").
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time
import urllib.parse
from typing import Any

import aiohttp
import yarl

from recsys.serving import ab, fast_json

SIGNATURE = "serving_raw"
METADATA_CACHE = 32  # (model, version) signatures kept


class ApiError(Exception):
    """Answered as ``{"error": message}`` with HTTP ``status`` by the recommendation service."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class VersionGone(ApiError):
    """The model server no longer serves a version we resolved (unloaded within the cache time)."""

    def __init__(self, message: str):
        super().__init__(503, message)


def show(value: Any, limit: int = 60) -> str:
    """A value as the client sent it (JSON), shortened."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclasses.dataclass(frozen=True)
class Tensor:
    dtype: str  # "DT_STRING", "DT_INT64", "DT_FLOAT", ...
    rank: int  # of the batched tensor: an input [B] is 1, [B, N] ("" padded lists) 2; the
    #            retriever's outputs are one rank up ([B, K] per item, [B, K, N] lists per item)


@dataclasses.dataclass(frozen=True)
class Signature:
    inputs: dict[str, Tensor]
    outputs: dict[str, Tensor]


def parse_signature(metadata: Any, where: str, name: str = SIGNATURE) -> Signature:
    """``metadata.signature_def.signature_def[name]`` of a TF Serving ``/metadata`` answer."""
    try:
        sig = metadata["metadata"]["signature_def"]["signature_def"][name]
        inputs, outputs = sig["inputs"], sig.get("outputs", {})
        if not isinstance(inputs, dict) or not isinstance(outputs, dict):
            raise TypeError
    except (KeyError, TypeError):
        raise ApiError(502, f"{where} has no {name!r} signature in its metadata") from None

    def tensors(d: dict) -> dict[str, Tensor]:
        out = {}
        for n, t in d.items():
            t = t if isinstance(t, dict) else {}
            shape = t.get("tensor_shape") or {}
            dims = shape.get("dim") or []
            rank = 1 if shape.get("unknown_rank") else max(1, len(dims) if isinstance(dims, list) else 1)
            out[str(n)] = Tensor(str(t.get("dtype", "DT_INVALID")), rank)
        return out

    return Signature(tensors(inputs), tensors(outputs))


@dataclasses.dataclass(frozen=True)
class Resolved:
    name: str
    version: str
    label: str | None


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the model server answered: status, body bytes and reason phrase."""
    status: int
    body: bytes
    reason: str


def _upstream_error(payload: Any, answer: Answer) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return payload["error"][:300]
    return answer.body[:300].decode("utf-8", "replace") or answer.reason


class Unreachable(Exception):
    """The exchange failed before an answer (refused, reset, closed): 503."""


class _AiohttpExchange:
    """One keep-alive ``aiohttp.ClientSession`` (created in the serving event loop)."""

    def __init__(self, url: str, timeout: float):
        # trust_env=False (aiohttp's default): a proxy from the environment must not sit between
        # us and the model server (usually on loopback). keepalive_timeout under uvicorn's 5 s, so
        # we drop an idle connection before the server does (a reuse racing its close is a 503).
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=4.0),
            timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False,
            skip_auto_headers=("User-Agent",))
        self.url = url

    async def __call__(self, method: str, path: str, content: bytes | None,
                      headers: dict | None) -> Answer:
        try:
            # encoded=True: ``path`` is quoted already (_path); aiohttp must not quote it again.
            async with self.session.request(method, yarl.URL(self.url + path, encoded=True),
                                            data=content, headers=headers) as r:
                return Answer(r.status, await r.read(), r.reason or "")
        except aiohttp.ClientError as e:
            if isinstance(e, asyncio.TimeoutError):  # ServerTimeoutError is both
                raise
            raise Unreachable(f"{type(e).__name__}: {e}") from None

    async def aclose(self) -> None:
        await self.session.close()


class _HttpxExchange:
    """For tests: an injected ``httpx`` transport, e.g. ``httpx.ASGITransport`` of a fake."""

    def __init__(self, url: str, timeout: float, transport):
        import httpx

        self.httpx = httpx
        self.timeout = timeout
        self.client = httpx.AsyncClient(base_url=url, transport=transport,
                                        timeout=httpx.Timeout(timeout), trust_env=False)

    async def __call__(self, method: str, path: str, content: bytes | None,
                      headers: dict | None) -> Answer:
        try:
            # An ASGI transport ignores httpx's timeouts: wait_for bounds the whole exchange.
            r = await asyncio.wait_for(
                self.client.request(method, path, content=content, headers=headers), self.timeout)
        except self.httpx.TimeoutException:
            raise asyncio.TimeoutError from None
        except self.httpx.HTTPError as e:
            raise Unreachable(f"{type(e).__name__}: {e}") from None
        return Answer(r.status_code, r.content, r.reason_phrase)

    async def aclose(self) -> None:
        await self.client.aclose()


class ModelServer:
    """TF Serving's REST API (status, metadata, predict) over one keep-alive HTTP/1.1 client.

    Label -> version resolutions are cached ``cache_seconds`` (a relabel takes effect within that);
    signatures per (model, version) until evicted (a version's signature never changes).
    """

    def __init__(self, url: str, *, transport=None,
                 timeout: float = 5.0, cache_seconds: float = 1.0, clock=time.monotonic):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._transport = transport
        self._clock = clock
        self._client: _AiohttpExchange | _HttpxExchange | None = None
        self._resolved: dict[tuple[str, str], tuple[float, Resolved]] = {}
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._signatures: collections.OrderedDict[tuple[str, str], Signature] = collections.OrderedDict()

    def client(self) -> _AiohttpExchange | _HttpxExchange:
        """The keep-alive client, created on first use (call it in the serving event loop)."""
        if self._client is None:
            self._client = (_AiohttpExchange(self.url, self.timeout) if self._transport is None
                            else _HttpxExchange(self.url, self.timeout, self._transport))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Answer]:
        """(status, JSON payload or None, answer); 503/504 when the server does not answer, 502 for
        a 5xx answer. 4xx answers are returned: what they mean depends on the call."""
        what = f"{method} {self.url}{path}"
        content, headers = None, None
        if body is not None:
            try:  # finite floats only: clients' values are checked, the retriever's too
                content = fast_json.dumps(body)
            except ValueError as e:
                raise ApiError(502, f"cannot encode {what}: {e}") from None
            headers = {"content-type": "application/json"}
        try:
            answer = await self.client()(method, path, content, headers)
        except asyncio.TimeoutError:
            raise ApiError(504, f"model server did not answer {what} within {self.timeout:g} s") from None
        except Unreachable as e:
            raise ApiError(503, f"model server unreachable: {what}: {e}") from None
        try:
            payload = fast_json.loads(answer.body)
        except (ValueError, RecursionError):
            payload = None
        if answer.status >= 500:
            raise ApiError(502, f"model server answered {answer.status} to {what}: "
                           f"{_upstream_error(payload, answer)}")
        return answer.status, payload, answer

    @staticmethod
    def _path(model: str, *rest: str) -> str:
        return "/v1/models/" + "/".join(urllib.parse.quote(p, safe="") for p in (model, *rest))

    @staticmethod
    def _statuses(payload: Any, where: str) -> list[dict]:
        rows = payload.get("model_version_status") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiError(502, f"{where}: expected {{\"model_version_status\": [...]}}, got "
                           f"{show(payload)}")
        return rows

    async def available_versions(self, model: str) -> list[str]:
        """AVAILABLE versions of ``model``, newest first (503 when the server does not serve it)."""
        path = self._path(model)
        status, payload, answer = await self.call("GET", path)
        if status == 404:
            raise ApiError(503, f"model server {self.url} does not serve model {model!r}: "
                           f"{_upstream_error(payload, answer)}")
        if status != 200:
            raise ApiError(502, f"GET {path} answered {status}: {_upstream_error(payload, answer)}")
        versions = [str(r.get("version")) for r in self._statuses(payload, f"GET {path}")
                    if r.get("state") == "AVAILABLE" and str(r.get("version")).isdigit()]
        return sorted(versions, key=int, reverse=True)

    async def label_version(self, model: str, label: str) -> str | None:
        """The AVAILABLE version ``label`` points to, None when the model has no such label."""
        path = self._path(model, "labels", label)
        status, payload, answer = await self.call("GET", path)
        if status in (400, 404):  # "Unrecognized servable version label" is an INVALID_ARGUMENT
            return None
        if status != 200:
            raise ApiError(502, f"GET {path} answered {status}: {_upstream_error(payload, answer)}")
        for r in self._statuses(payload, f"GET {path}"):
            if r.get("state") == "AVAILABLE" and str(r.get("version")).isdigit():
                return str(r["version"])
        return None

    async def resolve_uncached(self, model: str, bucket: str) -> Resolved:
        for label in ab.LABELS[bucket]:
            version = await self.label_version(model, label)
            if version is not None:
                return Resolved(model, version, label)
        versions = await self.available_versions(model)
        if not versions:
            raise ApiError(503, f"model {model!r} has no AVAILABLE version on {self.url}")
        if bucket == ab.STABLE and len(versions) > 1:
            # No stable label: the newest version, but not the canary's (a canary-only label must not
            # send everybody to the canary).
            canary = await self.label_version(model, ab.CANARY)
            versions = [v for v in versions if v != canary] or versions
        return Resolved(model, versions[0], None)

    async def _shared(self, key: tuple, make) -> Any:
        """``await make()``, but concurrent callers with the same key share one call (so a cold or
        expired cache under load costs the model server one request, not one per client request).
        Shielded: a client hanging up cancels its own wait, not the call others share."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._inflight[key] = task

            def done(t: asyncio.Future) -> None:
                if self._inflight.get(key) is t:
                    del self._inflight[key]
                if not t.cancelled():
                    t.exception()  # retrieved, even when every waiter has gone

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def resolve(self, model: str, bucket: str) -> Resolved:
        """``resolve_uncached``, cached ``cache_seconds``."""
        key = (model, bucket)
        hit = self._resolved.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        resolved = await self._shared(("resolve", *key), lambda: self.resolve_uncached(model, bucket))
        self._resolved[key] = (self._clock() + self.cache_seconds, resolved)
        return resolved

    def forget(self, model: str) -> None:
        """Drops what is cached about ``model``'s labels (a version they named is gone)."""
        for key in [k for k in self._resolved if k[0] == model]:
            del self._resolved[key]
        for key in [k for k in self._inflight if k[:2] == ("resolve", model)]:
            del self._inflight[key]

    async def signature(self, m: Resolved) -> Signature:
        """The version's ``serving_raw`` signature from its metadata (cached: it never changes)."""
        key = (m.name, m.version)
        if key in self._signatures:
            self._signatures.move_to_end(key)
            return self._signatures[key]
        sig = await self._shared(("metadata", *key), lambda: self._fetch_signature(m))
        self._signatures[key] = sig
        while len(self._signatures) > METADATA_CACHE:
            self._signatures.popitem(last=False)
        return sig

    async def _fetch_signature(self, m: Resolved) -> Signature:
        path = self._path(m.name, "versions", m.version, "metadata")
        status, payload, answer = await self.call("GET", path)
        if status == 404:
            raise VersionGone(f"model {m.name!r} version {m.version} is no longer served: "
                              f"{_upstream_error(payload, answer)}")
        if status != 200:
            raise ApiError(502, f"GET {path} answered {status}: {_upstream_error(payload, answer)}")
        return parse_signature(payload, f"model {m.name!r} version {m.version}")

    async def predict(self, m: Resolved, instances: list[dict]) -> list:
        """``serving_raw`` predictions in TF Serving's row format, one per instance."""
        path = self._path(m.name, "versions", m.version) + ":predict"
        status, payload, answer = await self.call(
            "POST", path, {"signature_name": SIGNATURE, "instances": instances})
        if status == 404:
            raise VersionGone(f"model {m.name!r} version {m.version} is no longer served: "
                              f"{_upstream_error(payload, answer)}")
        if status != 200:
            # Every client value was checked against the signature first: a refusal is a contract
            # mismatch between this service and the model, not the client's fault.
            raise ApiError(502, f"model {m.name!r} version {m.version} refused the request "
                           f"({status}): {_upstream_error(payload, answer)}")
        predictions = payload.get("predictions") if isinstance(payload, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(instances):
            raise ApiError(502, f"model {m.name!r} version {m.version}: expected \"predictions\" with "
                           f"{len(instances)} rows, got {show(payload)}")
        return predictions
