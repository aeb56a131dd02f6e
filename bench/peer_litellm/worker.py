"""One LiteLLM Router process, run by LiteLLM's own virtualenv: embed its share of the texts through the pool.

    python worker.py CONFIG.json INDEX

The Router routes each request by usage (``usage-based-routing-v2``: the deployment with the
least TPM used this calendar minute, counted in Redis after each response), retries as it is
configured, and shares its counters with the other processes through Redis. Prints one JSON
object: requests sent, answered, failed by error, and when the first and last were sent.
Imports LiteLLM and the standard library only.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    index = int(sys.argv[2])
    import litellm
    from litellm import Router

    litellm.suppress_debug_info = True
    router = Router(
        model_list=config["model_list"],
        routing_strategy="usage-based-routing-v2",
        redis_host=config["redis"]["host"],
        redis_port=config["redis"]["port"],
        redis_password=config["redis"]["password"],
        num_retries=config["retries"],
        timeout=config["timeout"],
    )
    texts = json.loads(open(config["texts"]).read())[index :: config["processes"]]
    size = config["group_inputs"]
    groups = [texts[i : i + size] for i in range(0, len(texts), size)]
    errors: Counter[str] = Counter()
    answered = 0
    started = time.time()

    def send(group: list[str]) -> None:
        router.embedding(model=config["model_name"], input=group)

    with ThreadPoolExecutor(config["concurrency"]) as pool:
        for future in as_completed([pool.submit(send, group) for group in groups]):
            try:
                future.result()
                answered += 1
            except Exception as exc:  # noqa: BLE001  (a peer's failures are counted by kind, whatever they are)
                errors[type(exc).__name__] += 1
    print(json.dumps({"index": index, "groups": len(groups), "answered": answered, "errors": dict(errors),
                      "started": started, "ended": time.time()}))  # fmt: skip


if __name__ == "__main__":
    main()
