"""Built-in plugin `text` (hookimpls only; nothing heavy is imported here)."""

from __future__ import annotations

import art_ext
from art_ext.registry import Register


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    pass


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    pass
