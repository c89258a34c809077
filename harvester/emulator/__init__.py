"""An emulated ESM site: the data API, IAM, gateway limits and faults.

The emulator serves every operation of the catalog from deterministic,
seeded data, so the harvester and its tests have a site to talk to. Start
one with `running_emulator(EmulatorSettings())`; ask `/_emulator/truth`
for the records a harvest should have produced.
"""

from __future__ import annotations

from harvester.emulator.server import (
    RunningEmulator,
    build_app,
    running_emulator,
    start_emulator,
)
from harvester.emulator.settings import EmulatorSettings

__all__ = [
    "EmulatorSettings",
    "RunningEmulator",
    "build_app",
    "running_emulator",
    "start_emulator",
]
