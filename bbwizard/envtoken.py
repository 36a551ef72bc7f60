"""A token from the environment, for CI: ``BBWIZARD_TOKEN``, as ``GH_TOKEN`` is for gh.

When ``BBWIZARD_TOKEN`` is set, ``token``, ``credential``, ``clone`` and ``repos`` use it instead
of the stored profile's token, through an in-memory profile that is never written to disk
(:func:`bbwizard.config.environment_profile`); ``login`` and ``logout`` refuse to change a profile
meanwhile, and ``status`` says where the token comes from.

- ``BBWIZARD_TOKEN_KIND``: ``access_token`` (the default: a repository, project or workspace
  access token; REST Bearer, git ``x-token-auth``), ``api_token`` (an Atlassian API token; REST
  Basic with ``BBWIZARD_EMAIL``, git ``x-bitbucket-api-token-auth``) or ``oauth`` (an OAuth access
  token got elsewhere: used as it is, like an access token, since nothing here can refresh it).
- ``BBWIZARD_EMAIL``: the Atlassian account's email, needed with ``api_token``.
- ``BBWIZARD_SITE_URL`` and ``BBWIZARD_API_URL``: where the token is for, when there is no profile
  to take them from (a CI runner has no config file); they win over the named profile's.

This module reads the environment only (no imports beyond ``os``): the fast path of
``credential get`` checks it first.
"""

from __future__ import annotations

import os

TOKEN_VARIABLE = "BBWIZARD_TOKEN"
KIND_VARIABLE = "BBWIZARD_TOKEN_KIND"
EMAIL_VARIABLE = "BBWIZARD_EMAIL"
SITE_VARIABLE = "BBWIZARD_SITE_URL"
API_VARIABLE = "BBWIZARD_API_URL"
#: The kinds ``BBWIZARD_TOKEN_KIND`` may name.
ENVIRONMENT_KINDS = ("access_token", "api_token", "oauth")
DEFAULT_KIND = "access_token"


def environment_token() -> str | None:
    """``BBWIZARD_TOKEN`` without surrounding whitespace, or None when unset or empty."""
    value = os.environ.get(TOKEN_VARIABLE, "").strip()
    return value or None


def environment_kind() -> str | None:
    """``BBWIZARD_TOKEN_KIND`` (default ``access_token``), or None when it names no kind."""
    kind = os.environ.get(KIND_VARIABLE, "").strip().lower() or DEFAULT_KIND
    return kind if kind in ENVIRONMENT_KINDS else None


def environment_email() -> str | None:
    value = os.environ.get(EMAIL_VARIABLE, "").strip()
    return value or None


def environment_urls() -> tuple[str | None, str | None]:
    """``BBWIZARD_SITE_URL`` and ``BBWIZARD_API_URL`` (trailing ``/`` removed), None when unset."""
    site = os.environ.get(SITE_VARIABLE, "").strip().rstrip("/") or None
    api = os.environ.get(API_VARIABLE, "").strip().rstrip("/") or None
    return site, api


def refusal(action: str) -> str:
    """The sentence ``login`` and ``logout`` say while ``BBWIZARD_TOKEN`` is set."""
    return (
        f"BBWIZARD_TOKEN is set, so bbwizard uses that token and won't {action} a stored profile meanwhile. "
        f"Unset it first (unset BBWIZARD_TOKEN), then run the command again."
    )
