"""A local ModelRed API emulator (real HTTP on loopback), its CLI and an opt-in pytest plugin.

``from modelred_provider.testing import ModelRedEmulator`` imports uvicorn and Starlette; nothing in the
provider's runtime path imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelred_provider.testing.emulator import ModelRedEmulator

__all__ = ["ModelRedEmulator"]


def __getattr__(name: str) -> Any:
    if name == "ModelRedEmulator":
        from modelred_provider.testing.emulator import ModelRedEmulator

        return ModelRedEmulator
    raise AttributeError(name)
