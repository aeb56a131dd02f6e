"""``python -m simulator``: serve an OpenAI-compatible embeddings API that enforces a tier.

Prints one line with the base URL (for ``OPENAI_BASE_URL``) once it is listening, so a parent
process can read it from a pipe. Exit codes: 0 after a clean stop, 2 for a bad argument or
when tiktoken's encoding cannot be loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from simulator.app import create_app
from simulator.config import ALGORITHMS, CHAT_MODELS, ESTIMATORS, MODELS, TIERS, VECTOR_KINDS, Knobs, SimulatorConfig
from simulator.errors import ConfigError
from simulator.inputs import encoding_for

__all__ = ["main", "build_parser", "config_from_args"]

_EPILOG = """\
tiers (requests/min, tokens/min, requests/day) for text-embedding-3-*:
  free 100 / 40,000 / 2,000    1 3,000 / 1,000,000    2 5,000 / 1,000,000
  3 5,000 / 5,000,000          4 10,000 / 5,000,000   5 10,000 / 10,000,000

endpoints:
  POST /v1/embeddings      the OpenAI API (set OPENAI_BASE_URL to the printed URL)
  POST /v1/chat/completions  gpt-4o-mini, gpt-4o: plain or stream=true (SSE), with the tier's chat limits;
                           the answer is the prompt's numbered sources' sentences nearest the question
  GET  /stats              ground truth: counts, 429s, max requests/tokens in any window, timeline
  POST /stats/reset        start counting again
  GET|POST /admin/config   read or change knobs and limits at run time, e.g.
                           curl -d '{"error_503_rate": 0.5}' http://127.0.0.1:8765/admin/config
  POST /admin/reset-limits forget every key's usage
  /v1/files, /v1/batches   the Batch API for /v1/embeddings (upload JSONL, create, poll, cancel)
  (/admin/* and POST /stats/reset beyond loopback: only with SIMULATOR_ADMIN_TOKEN set,
   sent as Authorization: Bearer <token>)

examples:
  python -m simulator --tier 1
  python -m simulator --tier free --time-scale 60 --api-key sk-test --port 0
  python -m simulator --rpm 600 --tpm 200000 --latency-ms 80 --latency-jitter-ms 40 --error-503-rate 0.02
"""


def build_parser() -> argparse.ArgumentParser:
    """The CLI; ``tollgate simulate`` shows the same flags."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="An OpenAI-compatible /v1/embeddings server that enforces a usage tier's rate limits "
        "(429 bodies, x-ratelimit-* and retry-after headers) with deterministic unit vectors (texts that share words land near each other). "
        "Rehearse a tier before spending money; prove from the server that a client never exceeds a limit.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = parser.add_argument_group("serving")
    net.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    net.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)")
    net.add_argument("--api-key", action="append", default=[], metavar="KEY",
                     help="accept only this key (repeatable); without any, every key is accepted")
    net.add_argument("--organization", metavar="ORG", default="org-simulator", help="name used in 429 messages")
    net.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])

    limits = parser.add_argument_group("limits (per API key per model)")
    limits.add_argument("--tier", default="1", type=str.lower, choices=list(TIERS), help="preset limits (default: %(default)s)")
    limits.add_argument("--rpm", type=int, metavar="N", help="requests per window, overrides the tier (0: no limit)")
    limits.add_argument("--tpm", type=int, metavar="N", help="tokens per window, overrides the tier (0: no limit)")
    limits.add_argument("--rpd", type=int, metavar="N", help="requests per day, overrides the tier (0: no limit)")
    limits.add_argument("--batch-queue-tokens", type=int, metavar="N",
                        help="enqueued batch tokens per key and model, overrides the tier (0: no limit)")
    limits.add_argument("--chat-rpm", type=int, metavar="N", help="requests per window of every chat model, overrides the tier's (0: no limit)")
    limits.add_argument("--chat-tpm", type=int, metavar="N",
                        help="tokens per window (prompt + max_tokens) of every chat model, overrides the tier's (0: no limit)")
    limits.add_argument("--time-scale", type=float, default=1.0, metavar="K",
                        help="shrink every window K times: a minute lasts 60/K s, a day 86400/K s (default: 1)")
    limits.add_argument("--algorithm", choices=ALGORITHMS, default="sliding",
                        help="sliding: exact sliding window (default); bucket: continuously refilling bucket")
    limits.add_argument("--token-estimator", choices=ESTIMATORS, default="tiktoken",
                        help="how the LIMIT counts tokens: tiktoken (default) or chars (characters / "
                        "--chars-per-token); usage always reports tiktoken's count")
    limits.add_argument("--chars-per-token", metavar="N", type=float, default=4.0, help="for --token-estimator chars (default: 4)")

    knobs = parser.add_argument_group("realism (changeable at run time via POST /admin/config)")
    knobs.add_argument("--latency-ms", metavar="MS", type=float, default=0.0, help="base latency of a success")
    knobs.add_argument("--latency-per-token-ms", metavar="MS", type=float, default=0.0, help="extra latency per input token")
    knobs.add_argument("--latency-jitter-ms", metavar="MS", type=float, default=0.0, help="uniform random extra latency, up to this")
    knobs.add_argument("--error-500-rate", metavar="P", type=float, default=0.0, help="probability of a 500 per request")
    knobs.add_argument("--error-503-rate", metavar="P", type=float, default=0.0, help="probability of a 503 per request")
    knobs.add_argument("--hang-rate", metavar="P", type=float, default=0.0, help="probability of hanging --hang-seconds")
    knobs.add_argument("--hang-seconds", metavar="S", type=float, default=30.0, help="length of a hang (default: 30)")
    knobs.add_argument("--drop-rate", metavar="P", type=float, default=0.0, help="probability of dropping the connection mid-response")
    knobs.add_argument("--insufficient-quota", action="store_true", help="answer every request 429 insufficient_quota")
    knobs.add_argument("--vectors", choices=VECTOR_KINDS, default="semantic",
                       help="semantic: texts sharing words land near each other (default); exact: any two "
                       "different texts are nearly orthogonal")
    knobs.add_argument("--batch-seconds", metavar="S", type=float, default=1800.0,
                       help="how long a batch takes, before --time-scale (default: 1800)")
    knobs.add_argument("--batch-window-seconds", metavar="S", type=float, default=86_400.0,
                       help="a batch's completion window, before --time-scale (default: 86400, the API's 24h)")
    knobs.add_argument("--batch-tokens-per-second", metavar="N", type=float, default=0.0,
                       help="batch processing rate: adds tokens/N seconds to a batch (default: 0, off)")
    knobs.add_argument("--batch-line-error-rate", metavar="P", type=float, default=0.0,
                       help="probability that a batch line fails with a 400 body")
    knobs.add_argument("--batch-expire-rate", metavar="P", type=float, default=0.0,
                       help="probability that a batch stalls part-done and expires at the end of its window")
    knobs.add_argument("--batch-validation-failure-rate", metavar="P", type=float, default=0.0,
                       help="probability that a valid batch fails validation")
    knobs.add_argument("--file-error-rate", metavar="P", type=float, default=0.0,
                       help="probability of a 500 per /v1/files request")
    knobs.add_argument("--chat-piece-ms", metavar="MS", type=float, default=0.0,
                       help="pause between a streamed answer's pieces, a word each (the first comes after the latency)")
    knobs.add_argument("--seed", type=int, help="seed for jitter and faults, for reproducible runs")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Turn parsed flags into a validated ``SimulatorConfig`` (tier first, then overrides)."""
    knobs = Knobs(
        latency_ms=args.latency_ms, latency_per_token_ms=args.latency_per_token_ms,
        latency_jitter_ms=args.latency_jitter_ms, error_500_rate=args.error_500_rate,
        error_503_rate=args.error_503_rate, hang_rate=args.hang_rate, hang_seconds=args.hang_seconds,
        drop_rate=args.drop_rate, insufficient_quota=args.insufficient_quota, vectors=args.vectors,
        batch_seconds=args.batch_seconds, batch_tokens_per_second=args.batch_tokens_per_second,
        batch_window_seconds=args.batch_window_seconds,
        batch_line_error_rate=args.batch_line_error_rate, batch_expire_rate=args.batch_expire_rate,
        batch_validation_failure_rate=args.batch_validation_failure_rate, file_error_rate=args.file_error_rate,
        chat_piece_ms=args.chat_piece_ms,
    )
    limit_names = ("rpm", "tpm", "rpd", "batch_queue_tokens", "chat_rpm", "chat_tpm")
    overrides = {name: getattr(args, name) for name in limit_names if getattr(args, name) is not None}
    return SimulatorConfig.for_tier(
        args.tier, **overrides, time_scale=args.time_scale, algorithm=args.algorithm,
        token_estimator=args.token_estimator, chars_per_token=args.chars_per_token,
        api_keys=frozenset(args.api_key), organization=args.organization, seed=args.seed, knobs=knobs,
    )


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after shutting down; a simulator asked to stop exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _QuietDrops(logging.Filter):
    """Dropped connections are on purpose: keep uvicorn from logging each one as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


async def _serve(server: uvicorn.Server, sock: socket.socket, url: str) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.005)
    if server.started:
        print(f"simulator listening: {url}  (export OPENAI_BASE_URL={url})", flush=True)
    await task


def admin_token(host: str) -> str | None:
    """``SIMULATOR_ADMIN_TOKEN`` (from the environment: a command line is visible in ``ps``).

    Without one, ``/admin/*`` and ``POST /stats/reset`` stay open on loopback and are closed
    (``""``) on any other interface, where anyone who reaches the port could otherwise rewrite
    the limits and the faults, or wipe the counts that are the server's ground truth.
    """
    token = os.environ.get("SIMULATOR_ADMIN_TOKEN", "")
    if token:
        return token
    name = host.strip("[]")
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else ""


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, check tiktoken, serve until interrupted; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"simulator: {error.message}", file=sys.stderr)
        return 2
    try:
        for model in (*MODELS, *CHAT_MODELS):
            encoding_for(model).encode_ordinary("warm up")
    except (OSError, ValueError, KeyError) as error:
        print(
            f"simulator: cannot load tiktoken's encoding for {model} ({type(error).__name__}: {str(error)[:160]}); "
            "it is downloaded on first use, so offline put cl100k_base in TIKTOKEN_CACHE_DIR "
            "(tollgate's project.tokenization.prime_tiktoken_cache() does this)",
            file=sys.stderr,
        )
        return 2
    app = create_app(config, admin_token=admin_token(args.host))
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every small response waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    uv_config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, workers=1, lifespan="off",
        timeout_graceful_shutdown=1, timeout_keep_alive=30,
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    server = _Server(uv_config)
    try:
        asyncio.run(_serve(server, sock, f"http://{host}:{port}/v1"))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
