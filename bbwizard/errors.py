"""The one small hierarchy of errors the core raises.

Every message is a sentence written for a person: what happened and what to do. The CLI and the
TUI only display ``str(error)`` (and ``error.hint`` when set); they never rewrite it. Messages never
contain a secret: anything that came from the network or from git goes through
:func:`bbwizard.secret.redact` before it is put into an error.
"""

from __future__ import annotations

# Exit codes, stable and documented in the README.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGN_IN = 3


class BBWizardError(Exception):
    """Base of every error bbwizard raises on purpose."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(BBWizardError):
    """The command line or a prompt's answer is not usable (a missing flag, a bad value)."""

    exit_code = EXIT_USAGE


class SignInRequired(BBWizardError):
    """No usable token and no way to refresh it: the person must sign in again."""

    exit_code = EXIT_SIGN_IN


class ConfigError(BBWizardError):
    """The config file can't be read or written (corrupt TOML, permissions, read-only folder)."""


class ConsumerError(BBWizardError):
    """The OAuth consumer is misconfigured: wrong key or secret, no callback URL, wrong kind."""


class AuthorizationDenied(BBWizardError):
    """The person clicked Deny on Bitbucket's consent page."""


class CodeError(BBWizardError):
    """A pasted code or redirect URL can't be used (empty, wrong state, used, expired)."""


class LoopbackError(BBWizardError):
    """The loopback listener can't catch the redirect (port in use, port 80, timeout)."""


class NetworkError(BBWizardError):
    """Bitbucket could not be reached or answered with a transient failure (5xx, 429, proxy)."""


class RateLimited(NetworkError):
    """Bitbucket answered 429 and retries ran out."""


class ProtocolError(BBWizardError):
    """Bitbucket answered something bbwizard can't read (HTML, truncated JSON, missing field)."""


class ScopeError(BBWizardError):
    """The token lacks scopes bbwizard needs. ``missing`` names them; the message names the
    consumer permission to tick."""

    def __init__(self, message: str, *, missing: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.missing = list(missing or [])


class GitError(BBWizardError):
    """git failed; the message is redacted and written for a person, not git's raw text."""


class CloneCancelled(GitError):
    """The person cancelled a clone; its destination was removed if the clone created it."""


class DestinationExists(GitError):
    """The clone destination exists and is not empty; nothing was started."""
