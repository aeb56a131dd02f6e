"""HTTP routes of the Batch API: ``/v1/files`` and ``/v1/batches``, a few lines each.

Decisions live in ``Simulator`` (key check, file faults), ``FileStore`` and ``BatchService``;
calls that may validate or write a large file run in the thread pool, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.errors import InvalidRequestError, SimulatorError
from simulator.http import body_json, error_response, json_response
from simulator.multipart import parse_form

if TYPE_CHECKING:
    from simulator.service import Simulator

__all__ = ["batch_routes"]

Handler = Callable[[Request, str], Awaitable[Response]]


def batch_routes(sim: Simulator) -> list[Route]:
    """The routes, bound to ``sim``; every one answers errors in the API's shape."""

    def guarded(handler: Handler, *, files: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                owner = sim.owner(request.headers.get("authorization"))
                if files:
                    sim.check_file_fault()
                return await handler(request, owner)
            except SimulatorError as error:
                sim.stats.record_error(error.status)
                return error_response(error, started)

        return endpoint

    async def upload(request: Request, owner: str) -> Response:
        form = parse_form(await request.body(), request.headers.get("content-type", ""))
        file, purpose = form.get("file"), form.get("purpose")
        stored = sim.files.upload(
            owner=owner, filename=file.filename if file else None, content=file.content if file else None,
            purpose=purpose.content.decode("utf-8", "replace") if purpose else None,
        )
        sim.stats.record_upload(stored.purpose)
        return json_response(stored.public())

    async def list_files(request: Request, owner: str) -> Response:
        files = sim.files.list(owner=owner, purpose=request.query_params.get("purpose"))
        data = [f.public() for f in files]
        return json_response({"object": "list", "data": data, "has_more": False,
                              "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})

    async def file_object(request: Request, owner: str) -> Response:
        file_id = request.path_params["file_id"]
        if request.method == "DELETE":
            return json_response(sim.files.delete(file_id, owner=owner))
        return json_response(sim.files.get(file_id, owner=owner).public())

    async def file_content(request: Request, owner: str) -> Response:
        stored = sim.files.get(request.path_params["file_id"], owner=owner)
        return Response(stored.content, media_type="application/octet-stream")

    async def create_batch(request: Request, owner: str) -> Response:
        body, _ = await body_json(request)
        return json_response(await run_in_threadpool(lambda: sim.batches.create(owner=owner, body=body)))

    async def list_batches(request: Request, owner: str) -> Response:
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            raise InvalidRequestError("Invalid 'limit': must be an integer.", param="limit") from None
        after = request.query_params.get("after")
        return json_response(await run_in_threadpool(lambda: sim.batches.list(owner=owner, limit=limit, after=after)))

    async def batch_object(request: Request, owner: str) -> Response:
        batch_id = request.path_params["batch_id"]
        return json_response(await run_in_threadpool(lambda: sim.batches.retrieve(batch_id, owner=owner)))

    async def cancel_batch(request: Request, owner: str) -> Response:
        batch_id = request.path_params["batch_id"]
        return json_response(await run_in_threadpool(lambda: sim.batches.cancel(batch_id, owner=owner)))

    return [
        Route("/v1/files", guarded(upload, files=True), methods=["POST"]),
        Route("/v1/files", guarded(list_files, files=True), methods=["GET"]),
        Route("/v1/files/{file_id}", guarded(file_object, files=True), methods=["GET", "DELETE"]),
        Route("/v1/files/{file_id}/content", guarded(file_content, files=True), methods=["GET"]),
        Route("/v1/batches", guarded(create_batch, files=False), methods=["POST"]),
        Route("/v1/batches", guarded(list_batches, files=False), methods=["GET"]),
        Route("/v1/batches/{batch_id}", guarded(batch_object, files=False), methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", guarded(cancel_batch, files=False), methods=["POST"]),
    ]
