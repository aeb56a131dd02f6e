"""An OpenAI-compatible ``/v1/embeddings`` server that enforces a usage tier's rate limits.

Stands alone (tiktoken, Starlette, uvicorn, stdlib): run ``python -m simulator --tier 1``,
or build the app yourself with ``create_app(SimulatorConfig.for_tier("1"))``.
"""

from simulator.app import create_app
from simulator.config import Knobs, SimulatorConfig

__all__ = ["create_app", "Knobs", "SimulatorConfig"]
