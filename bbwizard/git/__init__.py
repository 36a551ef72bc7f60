"""git: clones that never leak the token, and the credential helper that keeps them working.

One module per concern: ``refs`` (what a person types to name a repository), ``env`` (git's
environment and the helper settings), ``progress`` (git's progress as events), ``failures`` (git's
failure as a sentence), ``clone``, ``credential`` (git's credential-helper protocol) and ``setup``
(``bbwizard setup-git``). The core: nothing here prints.

Every public name is reachable here (``git.clone_repository``), imported on first use (PEP 562):
``bbwizard credential get`` runs on every request git authenticates, and must not pay for the
clone machinery.
"""

from __future__ import annotations

import importlib

# The errors a clone raises, where callers have always found them (``git.GitError``).
from bbwizard.errors import (  # noqa: F401 - re-exported: __all__ below lists them, computed where ruff can't read it
    CloneCancelled,
    DestinationExists,
    GitError,
    ScopeError,
    SignInRequired,
    UsageError,
)

_WHERE = {
    "refs": ("RepositoryRef", "parse_repository_ref", "site_base", "clone_url"),
    "env": (
        "LOW_SPEED_LIMIT",
        "LOW_SPEED_TIME",
        "bbwizard_argv",
        "helper_command",
        "helper_key",
        "helper_config",
        "git_env",
        "bypass_proxy_for_loopback",
        "clone_config",
        "ca_bundle_config",
    ),
    "progress": ("CloneProgress", "CloneOutput", "CloneEvent", "parse_progress_line", "ProgressSplitter"),
    "failures": ("has_read_scope", "scope_error", "sign_in_error", "explain_git_failure"),
    "clone": (
        "TERMINATE_GRACE",
        "CloneResult",
        "CloneRequest",
        "ProgressCallback",
        "prepare_destination",
        "destination_problems",
        "folder_size",
        "current_branch",
        "check_clone_arguments",
        "clone_repository",
        "clone_many",
    ),
    "credential": (
        "GIT_USERNAME",
        "parse_credential_request",
        "read_credential_request",
        "format_credential",
        "request_matches",
        "credential_answer",
        "credential_get",
    ),
    "setup": ("SetupResult", "configured_helpers", "helpers_after_ours", "setup_git", "unset_git"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(
    [*_MODULE_OF, "CloneCancelled", "DestinationExists", "GitError", "ScopeError", "SignInRequired", "UsageError"]
)


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
