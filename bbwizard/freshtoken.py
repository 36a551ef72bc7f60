"""The stored access token when it is plainly fresh, read with tomllib alone.

This is the one fast path of ``bbwizard token`` and ``bbwizard credential get``: git runs the
helper on every fetch, pull and push, and scripts run ``bbwizard token`` before each SDK call.
Going through :mod:`bbwizard.config` (its records, :class:`~bbwizard.secret.Secret`, ``pathlib``)
costs more than the rest of those commands (``benchmarks/bench_credential.py`` and
``benchmarks/bench_token.py``). Anything unusual (no file, no default, a stale token, a sign-in
that has ended, a file others can read or someone else owns, a value of the wrong type, a newer
format) gives None, and the caller takes the full road through ``ConfigStore``, which handles it
and says what is wrong. Nothing here decides more than "this token may be handed out as it is".

A token the person made (``kind = "api_token"`` or ``"access_token"``) is never refreshed: it is
handed out as long as the file gives no expiry date in the past (an API token's
``token_expires_on``, good to the end of that day, UTC), with git's username for its kind.

``BBWIZARD_TOKEN`` (:mod:`bbwizard.envtoken`) comes first, as it does on the full road. A profile
whose secrets are in the system keyring (``secret_storage = "keyring"``) has no token in the file:
it takes the full road, which reads the keyring with a timeout.
"""

from __future__ import annotations

import os

#: Refresh this long before the expiry (security.md rule 7: "refresh a few minutes early").
#: ``bbwizard.config.DEFAULT_MIN_VALID`` is this number, so both roads agree on "fresh".
MIN_VALID_SECONDS = 300

_GRANTS = ("authorization_code", "client_credentials")


def refresh_window_seconds(expires_at: object, issued_at: object = None) -> float:
    """How long before ``expires_at`` a token stops counting as fresh: :data:`MIN_VALID_SECONDS`,
    or half the token's lifetime (``expires_at - issued_at``) when that is shorter. A server that
    issues 60-second tokens would otherwise have every call refresh. The one rule for
    ``ensure_fresh``, this fast path and ``Profile.token_state``; an unknown lifetime (no
    ``issued_at``, or nonsense) keeps the full window."""
    try:
        lifetime = (expires_at - issued_at).total_seconds()  # type: ignore[operator]
    except (TypeError, AttributeError):
        return float(MIN_VALID_SECONDS)
    if not lifetime > 0:
        return float(MIN_VALID_SECONDS)
    return min(float(MIN_VALID_SECONDS), lifetime / 2)
#: git's username per kind (``bbwizard.config.GIT_USERNAMES``, which this module can't import).
_GIT_USERNAMES = {"oauth": "x-token-auth", "api_token": "x-bitbucket-api-token-auth", "access_token": "x-token-auth"}


class FreshToken:
    """A fresh access token and what the credential answer needs about its profile.

    ``usernames`` holds the account's username when the file names one (empty otherwise);
    ``site_url`` is None when the file gives none; ``git_username`` is git's username for the
    profile's kind; ``expires_at`` is None for a token whose expiry isn't known. The repr leaves the
    token out: a traceback that prints locals must not show it.
    """

    __slots__ = ("profile", "token", "expires_at", "site_url", "usernames", "git_username")

    def __init__(
        self,
        profile: str,
        token: str,
        expires_at: object,
        site_url: str | None,
        usernames: frozenset[str],
        git_username: str = "x-token-auth",
    ) -> None:
        self.profile = profile
        self.token = token
        self.expires_at = expires_at
        self.site_url = site_url
        self.usernames = usernames
        self.git_username = git_username

    def __repr__(self) -> str:
        return f"FreshToken(profile={self.profile!r}, expires_at={self.expires_at!r}, site_url={self.site_url!r})"


def read_fresh_token(name: str | None = None, path: str | None = None) -> FreshToken | None:
    """The profile's access token (``name``, else the default profile) from the config file at
    ``path`` (else the usual place) when it is valid for longer than its refresh window
    (:func:`refresh_window_seconds`);
    None when anything calls for the full road."""
    import tomllib
    from datetime import date, datetime, timedelta, timezone

    from bbwizard.envtoken import environment_token

    env_token = environment_token()
    if env_token is not None:
        return _from_environment(env_token, name, path)
    if path is None:
        from bbwizard.paths import config_file

        path = config_file()
    else:
        path = os.path.expanduser(path)
    try:
        with open(path, "rb") as handle:
            if os.name == "posix":
                info = os.fstat(handle.fileno())
                if info.st_mode & 0o077 or info.st_uid != os.geteuid():
                    return None  # the full road warns about it
            data = tomllib.load(handle)
    except (OSError, ValueError):
        return None
    version = data.get("version", 1)
    profiles = data.get("profiles")
    if not isinstance(version, int) or isinstance(version, bool) or version > 1 or not isinstance(profiles, dict):
        return None
    if name is None:
        default = data.get("default")
        if isinstance(default, str) and default in profiles:
            name = default
        elif default is None and len(profiles) == 1:
            name = next(iter(profiles))
        else:
            return None
    table = profiles.get(name)
    if not isinstance(table, dict) or "refresh_refused_at" in table:  # the sign-in has ended
        return None
    if table.get("secret_storage", "file") != "file":  # the token is in the keyring
        return None
    kind = table.get("kind", "oauth")
    if kind not in _GIT_USERNAMES:
        return None
    token, expires_at = table.get("access_token"), table.get("expires_at")
    if not isinstance(token, str) or not token:
        return None
    if kind == "oauth":
        client_id, grant = table.get("client_id"), table.get("grant", "authorization_code")
        if not isinstance(client_id, str) or not client_id or grant not in _GRANTS:
            return None
        if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
            return None
        issued_at = table.get("issued_at")
        if not isinstance(issued_at, datetime) or issued_at.tzinfo is None:
            issued_at = None
        if (expires_at - datetime.now(timezone.utc)).total_seconds() <= refresh_window_seconds(expires_at, issued_at):
            return None
    else:
        # Never refreshed: usable until the end of the day the person gave (API tokens).
        expires_on = table.get("token_expires_on")
        if kind == "access_token" or expires_on is None:
            expires_at = None
        elif isinstance(expires_on, date) and not isinstance(expires_on, datetime):
            expires_at = datetime(expires_on.year, expires_on.month, expires_on.day, tzinfo=timezone.utc) + timedelta(days=1)
            if expires_at <= datetime.now(timezone.utc):
                return None  # expired: the full road says to make a new one
        else:
            return None
    site_url = table.get("site_url") or None  # empty: the full road gives the default site
    if site_url is not None and not isinstance(site_url, str):
        return None
    user = table.get("user", {})
    if not isinstance(user, dict):
        return None
    username = user.get("username")
    if username is not None and not isinstance(username, str):
        return None
    email = table.get("email") if kind == "api_token" else None
    usernames = {username} if username else set()
    if isinstance(email, str) and email:
        usernames.add(email)  # the email in a clone URL gets git's username for API tokens instead
    return FreshToken(
        name,
        token,
        expires_at.astimezone(timezone.utc) if expires_at is not None else None,
        site_url,
        frozenset(usernames),
        _GIT_USERNAMES[kind],
    )


def _from_environment(token: str, name: str | None, path: str | None) -> FreshToken | None:
    """``BBWIZARD_TOKEN`` for the site of ``BBWIZARD_SITE_URL``, else of the profile named (or the
    default one) when the file has one, else bitbucket.org. None (the full road, which says what is
    wrong) for an unknown kind, an API token without ``BBWIZARD_EMAIL`` or an odd site address."""
    import tomllib

    from bbwizard.envtoken import environment_email, environment_kind, environment_urls

    kind, email = environment_kind(), environment_email()
    if kind is None or (kind == "api_token" and not email):
        return None
    site_url, _ = environment_urls()
    if site_url is None:
        if path is None:
            from bbwizard.paths import config_file

            path = config_file()
        try:
            with open(os.path.expanduser(path), "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, ValueError):
            data = {}
        profiles = data.get("profiles")
        chosen = name if name is not None else data.get("default")
        if chosen is None and isinstance(profiles, dict) and len(profiles) == 1:
            chosen = next(iter(profiles))
        table = profiles.get(chosen) if isinstance(profiles, dict) and isinstance(chosen, str) else None
        site_url = table.get("site_url") if isinstance(table, dict) else None
        if not isinstance(site_url, str) or not site_url:
            site_url = "https://bitbucket.org"
    scheme, _, rest = site_url.partition("://")
    host = rest.split("/", 1)[0].lower()
    if scheme not in ("https", "http") or "@" in host or (scheme == "http" and "bitbucket.org" in host):
        return None  # the full road refuses it with a sentence
    git_kind = "api_token" if kind == "api_token" else "access_token"
    return FreshToken(name or "environment", token, None, site_url, frozenset({email} if email else ()), _GIT_USERNAMES[git_kind])
