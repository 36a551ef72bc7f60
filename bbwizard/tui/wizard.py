"""What a step asks of the app that shows it (`WizardApp` is the one that does): the injected
pieces, the chosen profile, and the flow's state. A Protocol, so the steps and widgets need not
import the app module, which imports them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx

    from bbwizard.config import ConfigStore, Profile


class Wizard(Protocol):
    transport: httpx.AsyncBaseTransport | None
    oauth_transport: httpx.BaseTransport | None
    git_runner: str | None
    open_browser: Callable[[str], bool] | None
    clone_dir: str | Path | None
    profile: Profile | None
    refreshing: bool
    flow: Any  # app.FlowState: what the steps hand each other

    @property
    def store(self) -> ConfigStore: ...

    def now(self) -> datetime: ...

    def step_heading(self, step: str) -> str: ...

    async def make_usable(self, profile: Profile) -> Profile | Literal[False] | None: ...

    def prefill_from_profile(self, profile: Profile) -> None: ...
