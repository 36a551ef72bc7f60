"""Bitbucket Cloud REST client: who am I, workspaces, repositories, branches.

One :class:`BitbucketClient` per profile. It asks its ``token_provider`` for the access token on
every request (``token_provider(False)``), and once more with ``force_refresh=True`` after a 401:
one refresh and one retry, never a loop. 429, 502, 503, 504 and connection errors are retried with
capped, jittered exponential backoff that honours ``Retry-After`` (seconds or an HTTP date).

Repositories are listed with ``pagelen=100`` and, unless ``partial_responses=False``, with
``fields=`` naming only what :class:`Repository` reads (Bitbucket's partial responses: a page of
~56 KB instead of ~250 KB). The first page gives ``size``; the remaining pages
are then fetched at once (``?page=N``, at most ``max_concurrency`` requests in flight) and handed
to the caller **as they arrive, not in page order**, so a UI can show the first hundred at once.
When ``size`` is missing or turns out wrong (an empty or short page in the middle, a page longer
than ``pagelen``, a ``next`` link on the last page it predicted) the client falls back to following
``next`` links, and never hands out a repository twice. ``next`` links are followed only on the API
host of the profile (scheme, host and port of ``api_url``).

Every error is a :mod:`bbwizard.errors` class with a sentence for a person, scrubbed by
:func:`bbwizard.secret.redact`. Nothing here prints, and nothing imports Textual or the CLI.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bbwizard import net
from bbwizard.config import UserInfo, utc_now
from bbwizard.errors import (
    BBWizardError,
    NetworkError,
    ProtocolError,
    RateLimited,
    SignInRequired,
    UsageError,
)
from bbwizard.secret import Secret, redact

try:  # five times faster on 250 KB pages; the standard library does the same job without it
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - depends on what is installed
    _json_loads = json.loads

__all__ = [
    "Branch",
    "BitbucketClient",
    "Repository",
    "RepositoryPage",
    "User",
    "Workspace",
    "consumer_permission",
]

TokenProvider = Callable[[bool], Awaitable[Secret]]

DEFAULT_TIMEOUT = httpx.Timeout(net.READ_TIMEOUT, connect=net.CONNECT_TIMEOUT)
PAGELEN = 100
RETRY_STATUSES = net.RETRY_STATUSES

#: Bitbucket's partial response for listings: only what :class:`Repository` reads, plus the
#: envelope. A page shrinks from ~250 KB to ~56 KB (links, owner and avatars dropped), which is
#: most of the client's work for a big workspace. ``next`` must be named, or it isn't returned.
REPOSITORY_FIELDS = ",".join(
    [
        "next", "size", "pagelen", "page",
        *(f"values.{name}" for name in (
            "uuid", "full_name", "slug", "name", "description", "is_private", "language", "size",
            "updated_on", "mainbranch.name", "project.key", "project.name", "workspace.slug", "links.clone",
        )),
    ]
)

def consumer_permission(scope: str) -> str:
    """The consumer permission box that grants ``scope`` (``"repository"`` → ``"Repositories: Read"``),
    from the one table in :mod:`bbwizard.net`."""
    return net.PERMISSION_FOR_SCOPE.get(scope, scope)


# --------------------------------------------------------------------------- typed results


#: Who a token belongs to: the same type the profile stores (``display_name``, ``username``,
#: ``uuid``, ``account_id``), so a fresh ``get_user()`` can go straight into ``Profile.user``.
User = UserInfo


@dataclass(frozen=True)
class Workspace:
    slug: str
    uuid: str = ""
    name: str | None = None  # /user/workspaces has no name; get_workspace (or names=True) fills it
    is_private: bool | None = None
    administrator: bool | None = None  # only known from /user/workspaces


@dataclass(frozen=True)
class Repository:
    uuid: str
    full_name: str
    slug: str
    name: str
    workspace: str
    description: str = ""
    is_private: bool = True
    language: str = ""
    size: int | None = None
    updated_on: datetime | None = None  # timezone-aware UTC
    mainbranch: str | None = None
    project_key: str | None = None
    project_name: str | None = None
    clone_url: str | None = None  # https, with any USER@ stripped


@dataclass(frozen=True)
class Branch:
    name: str
    commit: str | None = None


@dataclass(frozen=True)
class RepositoryPage:
    """One batch of repositories as it arrived. ``size`` is what Bitbucket announced on the first
    page (None when it gave none, or once it proved wrong); ``loaded`` counts distinct repositories
    handed out so far, this page included; ``number`` is the page's place in Bitbucket's order
    (pages arrive in completion order, not in that order)."""

    values: list[Repository] = field(default_factory=list)
    size: int | None = None
    loaded: int = 0
    number: int | None = None  # Bitbucket's page number, to put pages back in order if wanted


# --------------------------------------------------------------------------- parsing


def _need(obj: Any, key: str, what: str, kind: type | tuple[type, ...] = str) -> Any:
    if not isinstance(obj, dict):
        raise ProtocolError(f"Bitbucket's answer for {what} is not a JSON object where one was expected.")
    if key not in obj or obj[key] is None:
        raise ProtocolError(f"Bitbucket's answer for {what} lacks the required field `{key}`.")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"Bitbucket's answer for {what} has `{key}` as {type(value).__name__}, which bbwizard can't read."
        )
    return value


def _opt(obj: dict, key: str, kind: type | tuple[type, ...] = str, default: Any = None) -> Any:
    value = obj.get(key)
    if value is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return default
    return value


def _parse_time(value: Any, full_name: str) -> datetime | None:
    if value is None:
        return None
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        shown = redact(value[:40])
        raise ProtocolError(f"Bitbucket's answer for repository {full_name!r} has an unreadable date: {shown!r}.")
    raise ProtocolError(f"Bitbucket's answer for repository {full_name!r} has a date that is not a string.")


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


parse_user = net.parse_user


def parse_workspace(data: Any, *, administrator: bool | None = None) -> Workspace:
    what = "a workspace"
    slug = _need(data, "slug", what)
    return Workspace(
        slug=slug,
        uuid=_opt(data, "uuid", default=""),
        name=_opt(data, "name"),
        is_private=_opt(data, "is_private", bool),
        administrator=administrator,
    )


def parse_workspace_access(data: Any) -> Workspace:
    what = "a workspace of the signed-in user"
    inner = _need(data, "workspace", what, dict)
    return parse_workspace(inner, administrator=_opt(data, "administrator", bool))


def parse_repository(data: Any) -> Repository:
    # Runs for every repository of a 10,000-repository workspace, so: inline lookups, and the
    # error wording built only when something is wrong.
    get = data.get if type(data) is dict else None
    full_name = get("full_name") if get else None
    uuid = get("uuid") if get else None
    if type(full_name) is not str or type(uuid) is not str:
        full_name = _need(data, "full_name", "a repository")
        uuid = _need(data, "uuid", f"repository {full_name!r}")
    ws_part, _, slug_part = full_name.partition("/")
    slug = get("slug")
    if type(slug) is not str or not slug:
        slug = slug_part
        if not slug:
            raise ProtocolError(f"Bitbucket's answer for repository {full_name!r} lacks the required field `slug`.")
    clone_url = None
    links = get("links")
    clone_links = links.get("clone") if type(links) is dict else None
    if type(clone_links) is list:
        for link in clone_links:
            if type(link) is dict and link.get("name") == "https" and type(link.get("href")) is str:
                clone_url = _strip_userinfo(link["href"])
                break
    name, description, language = get("name"), get("description"), get("language")
    is_private, size = get("is_private"), get("size")
    workspace, project, mainbranch = get("workspace"), get("project"), get("mainbranch")
    ws_slug = workspace.get("slug") if type(workspace) is dict else None
    project_key = project.get("key") if type(project) is dict else None
    project_name = project.get("name") if type(project) is dict else None
    branch = mainbranch.get("name") if type(mainbranch) is dict else None
    return Repository(
        uuid=uuid,
        full_name=full_name,
        slug=slug,
        name=name if type(name) is str and name else slug,
        workspace=ws_slug if type(ws_slug) is str and ws_slug else ws_part,
        description=description if type(description) is str else "",
        is_private=is_private if type(is_private) is bool else True,
        language=language if type(language) is str else "",
        size=size if type(size) is int else None,
        updated_on=_parse_time(get("updated_on"), full_name),
        mainbranch=branch if type(branch) is str else None,
        project_key=project_key if type(project_key) is str else None,
        project_name=project_name if type(project_name) is str else None,
        clone_url=clone_url,
    )


def parse_branch(data: Any) -> Branch:
    name = _need(data, "name", "a branch")
    target = _opt(data, "target", dict, {})
    return Branch(name=name, commit=_opt(target, "hash"))


def _values(page: dict, what: str) -> list:
    return _need(page, "values", what, list)


def _next_link(page: dict, what: str) -> str | None:
    link = page.get("next")
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise ProtocolError(f"Bitbucket's answer for {what} has a `next` link that is not a string.")
    return link


# --------------------------------------------------------------------------- HTTP helpers


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, net.normalise_host(url.host), url.port or default)


def _error_message(response: httpx.Response) -> tuple[str, Any]:
    """Bitbucket's ``error.message`` and ``error.detail`` (or ``data``), when the body has them."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return "", None
    return net.error_detail(body)


_GONE = object()
_MISSING = object()


class BitbucketClient:
    """An async client for one profile's API URL. Use as ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        api_url: str,
        token_provider: TokenProvider,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 16,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        partial_responses: bool = True,
        ca_bundle: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        email: str | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.api_url = api_url.rstrip("/")
        try:
            self._base = httpx.URL(self.api_url + "/")
        except (httpx.InvalidURL, ValueError, TypeError):
            self._base = None
        if self._base is None or self._base.scheme not in ("http", "https") or not self._base.host:
            raise UsageError(
                f"The API URL {redact(str(api_url))!r} is not an http(s) address, "
                "like https://api.bitbucket.org/2.0."
            )
        net.require_https(self.api_url, "The API URL")
        self._origin = _origin(self._base)
        self._token_provider = token_provider
        # An Atlassian API token goes as Basic EMAIL:TOKEN; every other token as Bearer.
        self._email = email
        self._max_concurrency = max_concurrency
        self._retries = max(0, retries)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._refresh_lock = asyncio.Lock()
        self._refreshed: Secret | None = None
        self._role_gone = False
        self._partial = partial_responses
        self._custom_transport = transport is not None
        # The emulator and any loopback API are never proxied.
        mounts = net.direct_mounts(self.api_url) if transport is None else None
        self._transport = transport
        self._mounts = mounts
        self._timeout = timeout
        # The TLS trust (net.ssl_context: the profile's CA bundle, SSL_CERT_FILE, the OS store),
        # made once per process and shared by every lane: loading a bundle costs ~40 ms.
        self._ca_bundle = ca_bundle
        self._ssl: Any = None
        # Lanes: one small httpx client per request in flight, each with its own one-connection
        # pool. httpcore re-checks every pooled connection on every request; with sixteen
        # connections in one pool that bookkeeping cost more CPU than parsing the answers.
        self._lanes: list[httpx.AsyncClient] = []
        self._idle: list[httpx.AsyncClient] = []

    def _new_lane(self) -> httpx.AsyncClient:
        if self._transport is None and self._ssl is None:
            self._ssl = net.ssl_context(self._ca_bundle)
        lane = httpx.AsyncClient(
            transport=self._transport,
            mounts=self._mounts,
            verify=self._ssl if self._transport is None else True,
            timeout=self._timeout,
            trust_env=True,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"Accept": "application/json", "User-Agent": net.USER_AGENT},
        )
        self._lanes.append(lane)
        return lane

    @classmethod
    def for_profile(
        cls, store: Any, name: str | None = None, *, clock: Callable[[], datetime] = utc_now, **kwargs: Any
    ) -> BitbucketClient:
        """A client for a saved profile; tokens come from ``bbwizard.oauth.ensure_fresh`` (in a
        thread, since it locks and reads files). The profile is kept while its token is fresh, so
        sixteen concurrent requests don't read the config sixteen times. ``clock`` (the wizard's,
        a test's; by default the real one) judges the token's freshness, and is the client's."""
        from bbwizard import oauth  # the auth core; imported here so api stays importable alone

        profile = store.get(name)
        state: dict[str, Any] = {"profile": profile}
        lock = asyncio.Lock()

        def usable(p: Any) -> bool:
            return p.access_token is not None and p.token_state(clock()) == "fresh"

        async def provider(force_refresh: bool) -> Secret:
            async with lock:
                current = state["profile"]
                if force_refresh and current.is_token_kind:
                    # A token the person made can't be refreshed: a 401 means it has ended.
                    raise oauth.token_refused(current)
                if force_refresh:
                    # Another process (`bbwizard token`, git's credential helper) may have refreshed
                    # already: a rotated refresh token must not be spent twice for nothing.
                    saved = await asyncio.to_thread(store.get, profile.name)
                    if saved.access_token != current.access_token and usable(saved):
                        state["profile"] = saved
                        return saved.access_token
                if force_refresh or not usable(current):
                    refused = current.access_token if force_refresh else None
                    current = await asyncio.to_thread(
                        lambda: oauth.ensure_fresh(
                            store, profile.name, force=force_refresh, refused=refused, clock=clock
                        )
                    )
                    state["profile"] = current
                if current.access_token is None:
                    raise SignInRequired(f"The profile {profile.name!r} has no access token. Sign in again.")
                return current.access_token

        kwargs.setdefault("ca_bundle", getattr(profile, "ca_bundle", None))
        kwargs["clock"] = clock
        if profile.kind == "api_token":
            kwargs.setdefault("email", profile.email)
        return cls(profile.api_url, provider, **kwargs)

    async def aclose(self) -> None:
        lanes, self._lanes, self._idle = self._lanes, [], []
        for lane in lanes:
            await lane.aclose()

    async def __aenter__(self) -> BitbucketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public calls

    async def get_user(self) -> User:
        return parse_user(await self._get_json("user", None, "the signed-in user"))

    async def list_workspaces(self, *, names: bool = False) -> list[Workspace]:
        """The workspaces the user can see (``GET /user/workspaces``, every page). That endpoint
        gives no names; ``names=True`` fetches each workspace concurrently to fill them in."""
        what = "the workspaces of the signed-in user"
        found: list[Workspace] = []
        async for page in self._follow("user/workspaces", {"pagelen": str(PAGELEN)}, what):
            found.extend(parse_workspace_access(item) for item in _values(page, what))
        if names and found:
            detailed = await asyncio.gather(*(self.get_workspace(ws.slug) for ws in found))
            found = [
                Workspace(d.slug, d.uuid or w.uuid, d.name, d.is_private, w.administrator)
                for w, d in zip(found, detailed)
            ]
        return found

    async def get_workspace(self, slug: str) -> Workspace:
        what = f"workspace {slug!r}"
        return parse_workspace(await self._get_json(f"workspaces/{quote(slug, safe='')}", None, what))

    async def get_repository(self, workspace: str, slug: str) -> Repository:
        what = f"repository '{workspace}/{slug}'"
        path = f"repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}"
        return parse_repository(await self._get_json(path, None, what))

    async def list_branches(self, workspace: str, slug: str) -> list[Branch]:
        what = f"the branches of '{workspace}/{slug}'"
        path = f"repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}/refs/branches"
        branches: list[Branch] = []
        async for page in self._follow(path, {"pagelen": str(PAGELEN)}, what):
            branches.extend(parse_branch(item) for item in _values(page, what))
        return branches

    async def list_repositories(self, workspace: str, **kwargs: Any) -> list[Repository]:
        """Every repository of ``workspace`` (see :meth:`iter_repositories`), in arrival order."""
        result: list[Repository] = []
        async with aclosing(self.iter_repositories(workspace, **kwargs)) as pages:
            async for page in pages:
                result.extend(page.values)
        return result

    async def iter_repositories(
        self,
        workspace: str,
        *,
        sort: str | None = "-updated_on",
        query: str | None = None,
        role: str | None = "member",
        paging: str = "concurrent",
        limit: int | None = None,
    ) -> AsyncIterator[RepositoryPage]:
        """Yield the repositories of ``workspace`` page by page, as pages arrive (not in page
        order when ``paging="concurrent"``). ``paging="next"`` follows ``next`` links one page at
        a time (the slow, always-correct way; kept for comparison). Close the iterator (for
        example with ``contextlib.aclosing``) when leaving early: that cancels pages in flight.

        ``limit``: the caller wants only the first ``limit`` repositories, so no page past them is
        asked for (the last page may still hold more; the caller cuts). A workspace that doesn't
        exist, or that the token can't see, is a sentence saying so (Bitbucket answers 404)."""
        if paging not in ("concurrent", "next"):
            raise ValueError("paging is 'concurrent' or 'next'")
        what = f"the repositories of workspace {workspace!r}"
        path = f"repositories/{quote(workspace, safe='')}"
        params = {"pagelen": str(PAGELEN)}
        if sort:
            params["sort"] = sort
        if query:
            params["q"] = query
        if self._partial:
            params["fields"] = REPOSITORY_FIELDS
        if role and not self._role_gone:
            params["role"] = role
        first = await self._get_json(path, params, what, gone_ok="role" in params, missing_ok=True)
        if first is _GONE:
            # Some accounts get 410 for role=member since 2026; the unfiltered list still works.
            self._role_gone = True
            del params["role"]
            first = await self._get_json(path, params, what, missing_ok=True)
        if first is _MISSING:
            raise BBWizardError(f"No workspace {redact(workspace)!r} (or your token can't see it).")

        seen: set[str] = set()
        loaded = 0

        def fresh(page: dict) -> list[Repository]:
            nonlocal loaded
            new = []
            for item in _values(page, what):
                repo = parse_repository(item)
                if repo.uuid not in seen:
                    seen.add(repo.uuid)
                    new.append(repo)
            loaded += len(new)
            return new

        size = _opt(first, "size", int)
        first_count = len(_values(first, what))
        yield RepositoryPage(fresh(first), size, loaded, _opt(first, "page", int) or 1)
        first_next = _next_link(first, what)
        if first_next is None or (limit is not None and loaded >= limit):
            return

        next_url: str | None = first_next
        pagelen = _opt(first, "pagelen", int) or first_count
        if (
            paging == "concurrent"
            and size is not None
            and pagelen > 0
            and first_count == pagelen
            and size > pagelen
        ):
            # `size` is a claim: pages are asked for only as far as the answers bear it out. The
            # first short, empty, missing or last (no `next`) page ends the list; at most
            # max_concurrency pages are asked for beyond what has been read; page numbers are
            # made as they are needed, so a claimed 10**12 costs what the real list costs.
            last = -(-size // pagelen)
            if limit is not None:
                last = max(2, min(last, -(-limit // pagelen)))
            counts: dict[int, tuple[int, str | None]] = {1: (first_count, first_next)}
            ends: list[int] = []  # the lowest page known to end the list, once one is

            def stop_after() -> int | None:
                return ends[0] if ends else None

            def ended(number: int) -> None:
                if not ends or number < ends[0]:
                    ends[:] = [number]

            # aclosing: when our caller leaves early, the pages in flight are cancelled now, not
            # whenever the garbage collector gets to the inner generator.
            async with aclosing(
                self._fetch_pages(path, params, range(2, last + 1), what, stop_after=stop_after)
            ) as arriving:
                async for number, page in arriving:
                    if page is None:  # 404 past the real end: size was too large
                        counts[number] = (0, None)
                        ended(number)
                        continue
                    count, link = len(_values(page, what)), _next_link(page, what)
                    counts[number] = (count, link)
                    if count < pagelen or link is None:
                        ended(number)
                    new = fresh(page)
                    if new:
                        yield RepositoryPage(new, size, loaded, number)
            if limit is not None and loaded >= limit:
                return
            next_url = self._resume_after(counts, last, pagelen, first_next)
            if next_url is None:
                if stop_after() is not None and stop_after() < last:
                    # The list ended before `size` said: the count is what was found.
                    yield RepositoryPage([], loaded, loaded, stop_after())
                return
            size = None  # it proved wrong; say "unknown" rather than a false total

        visited: set[str] = set()
        while next_url is not None:
            if next_url in visited:
                raise ProtocolError(f"Bitbucket's pages for {what} lead in a circle; the list can't be completed.")
            visited.add(next_url)
            page = await self._get_json(next_url, None, what)
            new = fresh(page)
            next_url = _next_link(page, what)
            if not _values(page, what):
                next_url = None  # an empty page with a `next` link leads nowhere
            if new or next_url is None:
                yield RepositoryPage(new, size, loaded, _opt(page, "page", int))
            if limit is not None and loaded >= limit:
                return

    @staticmethod
    def _resume_after(
        counts: dict[int, tuple[int, str | None]], last: int, pagelen: int, first_next: str
    ) -> str | None:
        """Where to go on after the concurrent pages: None when they were the whole list, the
        last page's ``next`` when ``size`` was too small, else page 1's ``next`` (start over,
        with repositories already handed out skipped). ``counts`` holds only pages that were
        asked for: up to the first one that ended the list, and the few in flight after it."""
        top = max(counts)
        for number in range(1, top + 1):
            if number not in counts:
                return first_next  # a gap below a page that arrived: read it the slow way
            count, link = counts[number]
            if count > pagelen:
                return first_next
            if count == pagelen and link is not None:
                if number in (last, top):
                    return link  # more than size promised: carry on from here
                continue
            # A short or empty page, or a full one without `next`: the list should end here,
            # and does when nothing after it holds anything (empty pages of a server that
            # claims more than it has may still offer a `next` link).
            if all(counts[n][0] == 0 for n in range(number + 1, top + 1) if n in counts):
                return None
            return first_next
        return None

    # ------------------------------------------------------------------ paging machinery

    async def _fetch_pages(
        self,
        path: str,
        params: dict[str, str],
        numbers: Iterable[int],
        what: str,
        *,
        stop_after: Callable[[], int | None] = lambda: None,
    ) -> AsyncIterator[tuple[int, dict | None]]:
        """Pages ``numbers`` (taken one at a time, never listed), yielded as they arrive. At most
        ``max_concurrency`` pages are asked for and not yet handed back: a page's room is given
        back only when the caller asks for the next one, after it has read this one, so
        ``stop_after()`` (no page past this number; None: no limit yet) is up to date when the
        next page number is taken. A page that fails raises its error here, at once."""
        todo = iter(numbers)
        arrived: asyncio.Queue = asyncio.Queue()
        room = asyncio.Semaphore(self._max_concurrency)
        # The query is encoded once; each page's address is then parsed once, not three times.
        listing = f"{self._base.join(path)}?{urlencode(params)}&page="

        async def worker() -> None:
            # A worker asks for its next page as soon as there is room; decoding waits for the
            # consumer, so when sixteen pages land together the next requests leave first.
            try:
                while True:
                    await room.acquire()
                    end = stop_after()
                    number = next(todo, None)  # one shared iterator: each page taken by one worker
                    if number is None or (end is not None and number > end):
                        room.release()
                        return
                    try:
                        response = await self._get_json(f"{listing}{number}", None, what, missing_ok=True, decode=False)
                    except Exception as error:  # handed to the consumer, which raises it
                        arrived.put_nowait((number, None, error))
                        return
                    arrived.put_nowait((number, response, None))
            finally:
                arrived.put_nowait(None)  # this worker is done

        workers = [asyncio.create_task(worker()) for _ in range(self._max_concurrency)]
        running = len(workers)
        try:
            while running:
                item = await arrived.get()
                if item is None:
                    running -= 1
                    continue
                number, response, error = item
                if error is not None:
                    raise error
                try:
                    yield number, None if response is _MISSING else self._decode(response, what)
                finally:
                    room.release()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _follow(self, path: str, params: dict[str, str] | None, what: str) -> AsyncIterator[dict]:
        page = await self._get_json(path, params, what)
        visited: set[str] = set()
        while True:
            yield page
            link = _next_link(page, what)
            if link is None:
                return
            if link in visited:
                raise ProtocolError(f"Bitbucket's pages for {what} lead in a circle; the list can't be completed.")
            visited.add(link)
            page = await self._get_json(link, None, what)

    # ------------------------------------------------------------------ one request

    def _url(self, path_or_url: str, what: str) -> httpx.URL:
        if "://" not in path_or_url:
            return self._base.join(path_or_url.lstrip("/"))
        url = httpx.URL(path_or_url)
        if _origin(url) != self._origin or url.userinfo:  # user:password@ would replace the Bearer header
            raise ProtocolError(
                f"Bitbucket's answer for {what} points to another host ({redact(url.scheme)}://"
                f"{redact(url.netloc.decode('ascii', 'replace'))}); bbwizard only follows links on "
                f"{self._origin[0]}://{self._base.netloc.decode('ascii')}, the API URL of this profile."
            )
        return url

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + self._rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        capped = min(self._max_backoff, self._backoff * (2**attempt))
        return self._rng.uniform(capped / 2, capped)

    async def _token(self, after_401: bool, rejected: Secret | None) -> Secret:
        if not after_401:
            return await self._token_provider(False)
        # Sixteen pages may get 401 at once: one refresh serves them all (refresh tokens rotate,
        # so a second refresh would be harmful, not just wasteful).
        async with self._refresh_lock:
            if self._refreshed is not None and self._refreshed != rejected:
                return self._refreshed
            token = await self._token_provider(True)
            self._refreshed = token
            return token

    async def _send(self, url: httpx.URL, params: dict[str, str] | None, what: str) -> httpx.Response:
        attempt = 0
        refreshed = False
        rejected: Secret | None = None
        while True:
            token = await self._token(refreshed, rejected)
            headers = {"Authorization": net.authorization(token, self._email)}
            try:
                async with self._slots:
                    # Holding a slot means a lane is idle or may be made: never more than
                    # max_concurrency of either.
                    lane = self._idle.pop() if self._idle else self._new_lane()
                    try:
                        response = await lane.get(url, params=params, headers=headers)
                    finally:
                        self._idle.append(lane)
            except httpx.TransportError as error:
                if attempt >= self._retries:
                    raise net.network_error(error, str(url), address="the API URL", proxied=not self._custom_transport) from None
                await self._sleep(self._delay(attempt, None))
                attempt += 1
                continue
            except httpx.DecodingError as error:
                reason = net.clean(str(error), 120) or type(error).__name__
                raise ProtocolError(
                    f"Bitbucket's answer for {what} can't be read: it says it is compressed, but it "
                    f"isn't ({reason}). A proxy between here and Bitbucket may have changed it; try again, "
                    "or check HTTPS_PROXY."
                ) from None
            except httpx.HTTPError as error:  # any other way httpx fails is still a sentence
                raise net.network_error(error, str(url), address="the API URL", proxied=not self._custom_transport) from None
            finally:
                del headers

            status = response.status_code
            if status == 401:
                message, _ = _error_message(response)
                if refreshed:
                    raise SignInRequired(
                        "Bitbucket still refuses the access token after refreshing it"
                        + (f" ({redact(message)})" if message else "")
                        + ". Sign in again."
                    )
                refreshed, rejected = True, token
                continue
            if status in RETRY_STATUSES:
                wait = net.retry_after_seconds(response.headers.get("Retry-After"), self._clock())
                if wait is not None and wait > self._max_retry_after:
                    raise self._status_error(response, what, waited_out=False, wait=wait)
                if attempt >= self._retries:
                    raise self._status_error(response, what, waited_out=True, wait=wait)
                await self._sleep(self._delay(attempt, wait))
                attempt += 1
                continue
            return response

    def _status_error(self, response: httpx.Response, what: str, *, waited_out: bool, wait: float | None) -> BBWizardError:
        status = response.status_code
        host = response.request.url.netloc.decode("ascii", "replace")
        message, _ = _error_message(response)
        said = f" ({redact(message)})" if message else ""
        if status == 429:
            if not waited_out and wait is not None:
                return RateLimited(
                    f"Bitbucket's rate limit is used up{said}; it asks to wait {math.ceil(wait)} seconds "
                    f"before asking again for {what}. Try again later.",
                    hint="Bitbucket allows about 1,000 repository requests an hour per OAuth consumer.",
                )
            return RateLimited(
                f"Bitbucket's rate limit is used up{said}, and it still was after {self._retries} retries "
                f"while asking for {what}. Wait a few minutes and try again.",
                hint="Bitbucket allows about 1,000 repository requests an hour per OAuth consumer.",
            )
        reason = response.reason_phrase or "error"
        if message.rstrip(".") == reason:
            said = ""
        tail = (
            f"after {self._retries} retries" if waited_out else f"and asks to wait {math.ceil(wait or 0)} seconds"
        )
        return NetworkError(
            f"{host} answered HTTP {status} ({reason}){said} for {what} {tail}. "
            "Bitbucket or a proxy on the way is having trouble; try again in a while."
        )

    async def _get_json(
        self,
        path_or_url: str,
        params: dict[str, str] | None,
        what: str,
        *,
        gone_ok: bool = False,
        missing_ok: bool = False,
        decode: bool = True,
    ) -> Any:
        """The JSON answer (the response itself with ``decode=False``), ``_GONE``/``_MISSING``
        when asked for, else the refusal raised as a sentence."""
        url = self._url(path_or_url, what)
        response = await self._send(url, params, what)
        status = response.status_code
        if status == 410 and gone_ok:
            return _GONE
        if status == 404 and missing_ok:
            return _MISSING
        if not 200 <= status < 300:
            raise self._refusal(response, what)
        return self._decode(response, what) if decode else response

    def _refusal(self, response: httpx.Response, what: str) -> BBWizardError:
        status = response.status_code
        message, detail = _error_message(response)
        said = f": {redact(message).rstrip('.')}" if message else ""
        if status == 403:
            missing = net.refused_scopes(detail)
            if missing:
                return net.scope_error(missing, what)
            return BBWizardError(f"Bitbucket refused access to {what}{said}.")
        if status == 404:
            return BBWizardError(f"Bitbucket has no {what}, or this account can't see it{said}.")
        if status == 410:
            return BBWizardError(f"Bitbucket no longer offers {what}{said}.")
        if 300 <= status < 400:
            where = redact(response.headers.get("Location", "elsewhere"))
            return ProtocolError(
                f"Bitbucket answered {what} with a redirect to {where} instead of JSON. A captive portal, "
                f"a proxy or a wrong API URL ({self.api_url}) can cause this."
            )
        if status >= 500:
            return NetworkError(
                f"Bitbucket had an internal error (HTTP {status}) answering {what}{said}. Try again in a while."
            )
        return BBWizardError(f"Bitbucket refused the request for {what} (HTTP {status}){said}.")

    def _decode(self, response: httpx.Response, what: str) -> Any:
        body = response.content
        try:
            return _json_loads(body)
        except ValueError as error:  # json.JSONDecodeError, orjson's subclass of it, UnicodeDecodeError
            raise self._not_json(response, what, error) from None

    def _not_json(self, response: httpx.Response, what: str, error: ValueError) -> ProtocolError:
        host = response.request.url.netloc.decode("ascii", "replace")
        return net.not_json(
            response.content,
            status=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            speaker=f"{host}, asked for {what},",
            check=f"the API URL ({self.api_url})",
        )
