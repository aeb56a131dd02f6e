"""One exception tree per room: every exception class a room defines descends from its root.

The faces map the roots (ARCHITECTURE.md, "Errors: one tree per room"); an error outside its
room's tree would reach them as a traceback. Each module is imported and the real class
hierarchy read, so an alias or a base imported from another module cannot hide a stray root.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from rest_framework.exceptions import APIException

from project.errors import TollgateError
from providers.errors import ProviderError
from ratelimit.errors import RateLimitError
from simulator.errors import SimulatorError

ROOTS: dict[str, tuple[type[Exception], ...]] = {
    "ratelimit": (RateLimitError,),
    "providers": (ProviderError,),
    "project": (TollgateError,),
    "workers": (TollgateError, ProviderError, RateLimitError),  # no tree of its own: the rooms it runs
    "simulator": (SimulatorError,),
}
# Not errors of a room but a face's answers: DRF turns these into responses (project/api/errors.py).
ANSWERS = (APIException,)


def exception_classes(room: str) -> dict[str, type[BaseException]]:
    """Every exception class defined in ``room``'s modules (migrations aside), by qualified name."""
    package = importlib.import_module(room)
    names = [room, *(info.name for info in pkgutil.walk_packages(package.__path__, f"{room}."))]
    found = {}
    for name in names:
        if ".migrations" in name:
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


@pytest.mark.parametrize("room", ROOTS)
def test_every_exception_of_a_room_descends_from_its_root(room: str):
    classes = exception_classes(room)
    strays = [name for name, cls in classes.items() if not issubclass(cls, ROOTS[room] + ANSWERS)]
    assert not strays, f"exceptions outside {room}'s tree: {strays}"


def test_the_check_finds_the_roots_themselves():
    assert "project.errors.TollgateError" in exception_classes("project")
    assert "simulator.batch_input.BatchInputError" in exception_classes("simulator")
