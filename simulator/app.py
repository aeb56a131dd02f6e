"""The HTTP face: a Starlette app serving ``/v1/embeddings``, ``/v1/chat/completions``, ``/v1/models``, ``/stats``, ``/admin``
(and ``/v1/files``, ``/v1/batches`` from batch_routes.py).

Routes stay thin: the decisions live in ``Simulator`` (service.py). This module owns only
what needs the wire: JSON in and out, simulated latency, hangs and dropped connections.
Run it with ONE uvicorn worker: limits and stats are in-process state.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from simulator.batch_routes import batch_routes
from simulator.chat import answer, chunks, completion
from simulator.config import CHAT_MODELS, MODELS, SimulatorConfig
from simulator.errors import InjectedFaultError, InvalidRequestError, SimulatorError
from simulator.http import JSON, azure_error_response, body_json, error_response, json_response
from simulator.realism import choose_fault, latency_seconds
from simulator.service import Simulator

__all__ = ["create_app"]

THREADPOOL_BODY_BYTES = 256 * 1024
AZURE_MODEL = "text-embedding-3-small"  # what an Azure deployment not named after a model serves  # parse and embed bigger bodies off the event loop
ADMIN_NEEDS_TOKEN = "send Authorization: Bearer <SIMULATOR_ADMIN_TOKEN>"
ADMIN_CLOSED = "the admin endpoints are closed beyond loopback: start the simulator with SIMULATOR_ADMIN_TOKEN set"


class _DroppedResponse(Response):
    """Starts a response and stops mid-body: uvicorn closes the socket, the client sees the drop."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", JSON.encode()), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"object":"list","data":[', "more_body": True})


def create_app(config: SimulatorConfig, *, admin_token: str | None = None) -> Starlette:
    """Build the ASGI app for ``config``; ``app.state.simulator`` holds the live state.

    ``admin_token``: None leaves ``/admin/*`` and ``POST /stats/reset`` open (on loopback); a
    string makes them answer only ``Authorization: Bearer <admin_token>``, and an empty string
    closes them to everyone.

    Example::

        app = create_app(SimulatorConfig.for_tier("1", time_scale=10))
        uvicorn.run(app, port=8765, workers=1)
    """
    sim = Simulator(config)

    async def embeddings(request: Request) -> Response:
        return await serve(request, request.headers.get("authorization"))

    async def azure_embeddings(request: Request) -> Response:
        """Azure OpenAI's route: the key in ``api-key``, the deployment in the path, Azure's error bodies."""
        key = request.headers.get("api-key")
        return await serve(request, f"Bearer {key}" if key else None, azure=request.path_params["deployment"])

    async def serve(request: Request, authorization: str | None, *, azure: str = "") -> Response:
        started = time.perf_counter()
        sim.stats.record_request()
        try:
            sim.authenticate(authorization)  # a bad key is a 401 even when the body is garbage
            body, size = await body_json(request)
            if azure and isinstance(body, dict) and body.get("model") not in MODELS:
                # a deployment serves one model, whatever the body names (the SDK sends the model, LiteLLM the
                # deployment): its name when it is a model's, else text-embedding-3-small
                body["model"] = azure if azure in MODELS else AZURE_MODEL
            if size > THREADPOOL_BODY_BYTES:
                admitted = await run_in_threadpool(sim.admit, authorization=authorization, body=body)
            else:
                admitted = sim.admit(authorization=authorization, body=body)
            counted = time.perf_counter()  # the rate limits counted it now, as a gateway does on arrival
            fault = choose_fault(sim.config.knobs, sim.rng)
            if fault in ("500", "503"):
                raise InjectedFaultError(int(fault))  # type: ignore[arg-type]
            if fault == "drop":
                sim.stats.record_fault("drop")
                return _DroppedResponse()
            if size > THREADPOOL_BODY_BYTES:
                payload = await run_in_threadpool(lambda: json.dumps(sim.render(admitted.request)).encode())
            else:
                payload = json.dumps(sim.render(admitted.request), separators=(",", ":")).encode()
        except SimulatorError as error:
            sim.stats.record_error(error.status, error.type if error.status == 429 else None)
            return azure_error_response(error, started, request) if azure else error_response(error, started)
        overhead_ms = (time.perf_counter() - started) * 1000
        delay = latency_seconds(sim.config.knobs, admitted.request.usage_tokens, sim.rng)
        if fault == "hang":
            sim.stats.record_fault("hang")
            delay += sim.config.knobs.hang_seconds
        if delay > 0:
            await asyncio.sleep(delay)
        sim.stats.record_success(admitted.request.usage_tokens, overhead_ms)
        sim.stats.record_inputs(admitted.request.contents)
        headers = {
            **admitted.headers,
            "openai-model": admitted.request.model.name,
            "openai-organization": sim.config.organization,
            # From the count to the response: the part a client may take off the response time to
            # learn when the request was counted (workers do, see ratelimit's reconcile).
            "openai-processing-ms": str(int((time.perf_counter() - counted) * 1000)),
            "openai-version": "2020-10-01",
            "x-request-id": f"req_{secrets.token_hex(16)}",
        }
        return Response(payload, headers=headers, media_type=JSON)

    async def chat_completions(request: Request) -> Response:
        started = time.perf_counter()
        sim.stats.record_request()
        try:
            authorization = request.headers.get("authorization")
            sim.authenticate(authorization)
            body, _ = await body_json(request)
            admitted = sim.admit_chat(authorization=authorization, body=body)
            counted = time.perf_counter()
            fault = choose_fault(sim.config.knobs, sim.rng)
            if fault in ("500", "503"):
                raise InjectedFaultError(int(fault))  # type: ignore[arg-type]
        except SimulatorError as error:
            sim.stats.record_error(error.status, error.type if error.status == 429 else None)
            return error_response(error, started)
        knobs, chat = sim.config.knobs, admitted.request
        reply = answer(chat, refusal=knobs.chat_refusal, content_filter=knobs.chat_content_filter)
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        first = latency_seconds(knobs, 0, sim.rng)  # the provider's latency: until the first piece
        piece = knobs.chat_piece_ms / 1000
        sim.stats.record_success(chat.prompt_tokens + reply.completion_tokens, (counted - started) * 1000)
        headers = {
            **admitted.headers,
            "openai-model": chat.model.name,
            "openai-organization": sim.config.organization,
            "openai-processing-ms": str(int((time.perf_counter() - counted) * 1000)),
            "openai-version": "2020-10-01",
            "x-request-id": f"req_{secrets.token_hex(16)}",
        }
        if not chat.stream:
            await asyncio.sleep(first + piece * reply.completion_tokens)
            return json_response(completion(chat, reply, ident=ident), headers=headers)

        async def events():
            await asyncio.sleep(first)
            for index, data in enumerate(chunks(chat, reply, ident=ident)):
                if piece and index > 1 and data["choices"] and data["choices"][0]["delta"].get("content"):
                    await asyncio.sleep(piece)
                yield f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), headers=headers, media_type="text/event-stream")

    async def models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "system"} for name in (*MODELS, *CHAT_MODELS)]
        return json_response({"object": "list", "data": data})

    async def stats(request: Request) -> Response:
        described = sim.describe()
        if request.query_params.get("per_input") == "0":  # a frequent poller: leave the per-input counts out
            described["inputs"].pop("per_input", None)
            described["batch"]["inputs_served"].pop("per_input", None)
        if request.query_params.get("admissions") == "1":  # a bench's exact window fill over time
            described["admissions"] = sim.stats.admissions(request.query_params.get("model") or None)
        return json_response(described)

    async def stats_reset(request: Request) -> Response:
        if refusal := admin_refusal(request):  # it wipes the server's ground truth: an admin's act
            return refusal
        sim.stats.reset()
        return json_response(sim.describe())

    def admin_refusal(request: Request) -> Response | None:
        if admin_token is None:
            return None
        given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        if admin_token and secrets.compare_digest(given, admin_token.encode()):
            return None
        message = ADMIN_NEEDS_TOKEN if admin_token else ADMIN_CLOSED
        body = {"error": {"message": message, "type": "invalid_request_error"}}
        return json_response(body, status=401, headers={"www-authenticate": "Bearer"})

    async def admin_config(request: Request) -> Response:
        started = time.perf_counter()
        if refusal := admin_refusal(request):
            return refusal
        if request.method == "GET":
            return json_response(sim.config.public())
        try:
            changes, _ = await body_json(request)
            if not isinstance(changes, dict):
                raise InvalidRequestError("the admin config update must be a JSON object")
            return json_response(sim.update(changes))
        except SimulatorError as error:
            return error_response(error, started)

    async def admin_reset(request: Request) -> Response:
        if refusal := admin_refusal(request):
            return refusal
        sim.reset_limits()
        return json_response({"reset": True})

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/openai/deployments/{deployment}/embeddings", azure_embeddings, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/stats/reset", stats_reset, methods=["POST"]),
            Route("/admin/config", admin_config, methods=["GET", "POST"]),
            Route("/admin/reset-limits", admin_reset, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            *batch_routes(sim),
        ]
    )
    app.state.simulator = sim
    return app
