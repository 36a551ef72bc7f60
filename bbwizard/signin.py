"""Finishing a sign-in, once for the CLI (``bbwizard login``) and the wizard's Token step.

After a token exchange or a ``client_credentials`` grant: the tokens are saved at once (a code
works once, and a refresh token rotates: tokens lost to a failing ``GET /user`` would mean the
browser again), then Bitbucket is asked who the token belongs to and the profile is saved again
with the user. A failing ``GET /user`` keeps the saved profile and is reported, not raised, so the
caller can say what was saved and then what went wrong. Scopes are checked last
(:meth:`SignIn.raise_problems`).

Signing in again keeps the profile's own settings (its clone folder, its listed workspaces, whether
it is the default) and replaces only what a sign-in gives: the consumer, the tokens, the user, the
scopes, and the "refresh refused" marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bbwizard import net
from bbwizard.errors import BBWizardError

if TYPE_CHECKING:
    import httpx

    from bbwizard.config import ConfigStore, Profile
    from bbwizard.oauth import TokenSet


@dataclass
class SignIn:
    """A finished sign-in. ``granted``: the scopes the token endpoint reported (None when it
    didn't say); ``user_error``: why ``GET /user`` failed (the profile is saved without a user)."""

    profile: Profile
    granted: list[str] | None
    user_error: BBWizardError | None = None

    @property
    def missing_scopes(self) -> list[str]:
        return net.missing_scopes(self.granted) if self.granted is not None else []

    def raise_problems(self) -> None:
        """A missing scope first (it says which box to tick), then the trouble with ``GET /user``."""
        net.check_scopes(self.granted)
        if self.user_error is not None:
            raise self.user_error


def signed_in_profile(saved: Profile | None, consumer: Profile) -> Profile:
    """What a sign-in with ``consumer`` starts from: the saved profile of that name with its own
    settings, the consumer's fields and grant in place of its own, and none of the old sign-in.
    A clone folder the consumer names (``login --clone-dir``) replaces the saved one."""
    if saved is None:
        return consumer.signed_out()
    return saved.signed_out().replace(
        client_id=consumer.client_id,
        client_secret=consumer.client_secret,
        callback_url=consumer.callback_url,
        site_url=consumer.site_url,
        api_url=consumer.api_url,
        grant=consumer.grant,
        clone_dir=consumer.clone_dir or saved.clone_dir,
    )


def finish_sign_in(
    store: ConfigStore,
    consumer: Profile,
    tokens: TokenSet,
    *,
    transport: httpx.BaseTransport | None = None,
) -> SignIn:
    """Save ``tokens`` under ``consumer.name`` (keeping that profile's own settings), ask Bitbucket
    who they belong to, and save the user too. Raises only when the profile can't be saved."""
    saved = store.load().get(consumer.name)
    profile = signed_in_profile(saved, consumer).with_tokens(
        tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes or []
    )
    store.save(profile)
    try:
        user = net.fetch_user(profile.api_url, tokens.access_token, transport=transport)
    except BBWizardError as error:
        return SignIn(profile, tokens.scopes, error)
    profile = profile.replace(user=user)
    store.save(profile)
    return SignIn(profile, tokens.scopes)


__all__ = ["SignIn", "finish_sign_in", "signed_in_profile"]
