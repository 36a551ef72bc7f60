"""The emulator's world: consumers, users, workspaces, repositories, API tokens, from a seed.

A seed is TOML or JSON (same shape) or a plain dict. Top-level keys:

- ``browser_user``: username "logged in" in the emulator's browser (the consent page grants as
  this user). Default: the first user.
- ``consumers``: list of ``{key, secret, callback_url (absent/"" = none), private (bool),
  scopes (list), owner (username), name, grants, workspace}``. ``grants`` are the 2026 form's
  per-grant switches (``["authorization_code"]``, ``["authorization_code",
  "client_credentials"]``); absent, ``private`` decides whether client_credentials is allowed.
  ``workspace`` is the workspace that owns the consumer: a client_credentials token is its *app
  user*, who reaches that workspace only (absent: every workspace of the owner).
- ``users``: list of ``{username, display_name, uuid, account_id, nickname, email}``; only
  ``username`` is required, the rest is derived.
- ``workspaces``: list of ``{slug, name, uuid, members (usernames), administrators (usernames,
  members too), is_private, is_personal, repositories: [...]}``.
- repositories (in ``workspaces[].repositories``, or top-level ``repositories`` with a
  ``workspace`` key): ``{slug, name, description, language, is_private, mainbranch, branches
  (names; the first commit is on mainbranch, every other branch is one commit ahead of it),
  files ({path: text}), project ({key, name}), commits (N commits of history, default 3),
  size (extra incompressible bytes spread over the history, int or "5MB"/"300KB"),
  tags (a name, a lightweight tag on mainbranch's tip, or ``{name, target, message}``: ``target``
  is a branch, ``BRANCH~N`` N commits before its tip; a ``message`` makes an annotated tag),
  created_on, updated_on}``.
- ``generators``: list of ``{workspace, count, prefix (default "repo"), name (workspace name),
  members, administrators, commits, languages}``: a workspace with ``count`` generated
  repositories ``{prefix}-00001``…  They cost one small Python object each; their JSON is made
  per page and their git repository on first clone.
- ``api_tokens``: Atlassian API tokens, list of ``{token, email, account (a user's username or
  {uuid}; absent: the user with that email), scopes (granular names such as
  ``read:repository:bitbucket``; ``[]`` is an unscoped token, which Bitbucket refuses; default
  :data:`DEFAULT_API_TOKEN_SCOPES`), expires_on (a date: the token works through that day, UTC;
  or a date-time; absent: never), expires_in_days (instead of expires_on: through the day that
  many days after the seed is loaded)}``. ``username`` is an older spelling of ``account``.
- ``access_tokens``: repository, project and workspace access tokens, list of ``{token, kind
  (repository|project|workspace), workspace, repository (kind repository), project (a project
  key, kind project), scopes (classic names, default ``["repository"]``), name}``. Each acts as
  its own bot account, which reaches only its repository, the repositories of its project, or
  its workspace.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SEEDS_DIR = Path(__file__).with_name("seeds")
DEMO_SEED_PATH = SEEDS_DIR / "demo.toml"

# The demo seed's consumers, for tests and `bbwizard demo`. Read them from the seed file so the
# two can't drift apart.
DEMO_CONSUMER_KEY = "bbwDemoKey7qR2mN4x"
DEMO_CONSUMER_SECRET = "bbwDemoSecret9fK3pL6vT1wY8zC2hJ5nQ"
PRIVATE_CONSUMER_KEY = "bbwPrivKey3hT8wQ1z"
PRIVATE_CONSUMER_SECRET = "bbwPrivSecret4mV7cX2bN9kL5pR8sD3g"
NO_CALLBACK_CONSUMER_KEY = "bbwNoCbKey6pL2kS9d"
NO_CALLBACK_CONSUMER_SECRET = "bbwNoCbSecret7tR4yU1iO8pA3sD6fG2hJ"
ACCOUNT_ONLY_CONSUMER_KEY = "bbwAcctKey5nB8vC3x"
ACCOUNT_ONLY_CONSUMER_SECRET = "bbwAcctSecret2qW9eR6tY3uI8oP5aS1dF"
READ_ONLY_CONSUMER_KEY = "bbwReadKey8dF1gH4j"
READ_ONLY_CONSUMER_SECRET = "bbwReadSecret5zX2cV9bN6mQ3wE8rT1yU"
DEMO_API_TOKEN = "ATATT3xFfGF0bbwDemoApiToken4kL9mN2pQ7rS1tV6wX3yZ8"
DEMO_API_TOKEN_EMAIL = "alice@example.com"
DEMO_ACCESS_TOKEN = "ATCTT3xFfGN0bbwDemoRepoAccessToken8pW2qR5tY7uI1oP4aS6dF"
DEMO_ACCESS_TOKEN_REPOSITORY = "acme/webapp"
#: What an API token gets when the seed names no scopes: what bbwizard needs, and push.
DEFAULT_API_TOKEN_SCOPES = ("read:user:bitbucket", "read:workspace:bitbucket", "read:repository:bitbucket",
                            "write:repository:bitbucket")
ACCESS_TOKEN_KINDS = ("repository", "project", "workspace")
DEMO_CALLBACK_URL = "http://localhost:8976/"

_NAMESPACE = uuidlib.UUID("5f0c3a52-7b1e-4f5e-9a43-0b8f6d7c2e11")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_LANGUAGES = ("python", "javascript", "java", "go", "typescript", "c#", "ruby", "php", "shell", "kotlin")


class SeedError(ValueError):
    """The seed does not have the documented shape."""


def braced_uuid(kind: str, name: str) -> str:
    """A stable ``{uuid}`` (version 5 layout) for a name. Hand-rolled: uuid.uuid5 is 3x slower,
    which shows when 10,000 repositories are generated."""
    h = hashlib.sha1(_NAMESPACE.bytes + f"{kind}:{name}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{{{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}}}"


def iso(moment: datetime) -> str:
    """Bitbucket's timestamp format: ``2019-01-21T15:06:54.618532+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(value: Any, default: datetime) -> datetime:
    if value in (None, ""):
        return default
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_size(value: Any) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*", str(value), re.IGNORECASE)
    if not match:
        raise SeedError(f"size {value!r}: use bytes or a number with KB/MB/GB")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit])


@dataclass
class Consumer:
    key: str
    secret: str
    callback_url: str | None
    private: bool
    scopes: list[str]
    owner: str
    name: str
    grants: list[str] | None = None  # None: the legacy form, where `private` allows client_credentials
    workspace: str | None = None  # the owning workspace (what its app user reaches)
    app_user: str | None = None  # the username (internal id) of its app user, set by build_world

    def allows(self, grant: str) -> bool:
        if self.grants is not None:
            return grant in self.grants or (grant == "refresh_token" and "authorization_code" in self.grants)
        return self.private if grant == "client_credentials" else True


@dataclass
class User:
    username: str
    display_name: str
    uuid: str
    account_id: str
    nickname: str
    email: str
    created_on: datetime
    is_app_user: bool = False  # a client_credentials token's identity: no username, no nickname


@dataclass(slots=True)
class Repo:
    workspace: str
    slug: str
    name: str
    description: str
    language: str
    is_private: bool
    mainbranch: str
    branches: list[str]
    files: dict[str, str]
    project_key: str
    project_name: str
    commits: int
    size: int
    created_on: datetime
    updated_on: datetime
    uuid: str
    generated: bool = False
    tags: list[dict] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"

    @property
    def api_size(self) -> int:
        """What ``size`` reports: roughly the bytes on disk once materialised."""
        return 20_000 + self.size + sum(len(text.encode()) for text in self.files.values()) * 2


@dataclass
class Workspace:
    slug: str
    name: str
    uuid: str
    members: list[str]
    administrators: set[str]
    is_private: bool
    is_personal: bool
    created_on: datetime
    repos: dict[str, Repo] = field(default_factory=dict)


@dataclass
class ApiToken:
    """An Atlassian API token with scopes: REST with Basic ``EMAIL:TOKEN``, git with the user
    ``x-bitbucket-api-token-auth`` or the account's username (never the email)."""

    token: str
    username: str  # the account it belongs to
    scopes: list[str]  # granular names; empty = an unscoped token
    email: str = ""
    expires_at: datetime | None = None  # the first moment it no longer works; None = never


@dataclass
class ResourceToken:
    """A repository, project or workspace access token: REST Bearer, git ``x-token-auth``. It is
    its own bot account (``bot``, a key of ``World.users`` that is no workspace's member)."""

    token: str
    kind: str  # repository | project | workspace
    workspace: str
    repository: str | None
    project: str | None
    scopes: list[str]  # classic names
    bot: str

    def reaches(self, repo: Repo) -> bool:
        """Whether this token reaches ``repo`` (read or write as its scopes say)."""
        if repo.workspace != self.workspace:
            return False
        if self.kind == "repository":
            return repo.slug == self.repository
        if self.kind == "project":
            return repo.project_key == self.project
        return True


@dataclass
class World:
    consumers: dict[str, Consumer]
    users: dict[str, User]
    workspaces: dict[str, Workspace]
    api_tokens: dict[str, ApiToken]
    browser_user: str | None
    access_tokens: dict[str, ResourceToken] = field(default_factory=dict)

    def access_token_of(self, username: str) -> ResourceToken | None:
        """The access token whose bot account is ``username`` (None for a person)."""
        return next((token for token in self.access_tokens.values() if token.bot == username), None)

    def workspace(self, ident: str) -> Workspace | None:
        """A workspace by slug or by ``{uuid}``."""
        found = self.workspaces.get(ident)
        if found is None and ident.startswith("{"):
            found = next((ws for ws in self.workspaces.values() if ws.uuid == ident), None)
        return found

    def repo(self, ws: Workspace, ident: str) -> Repo | None:
        found = ws.repos.get(ident)
        if found is None and ident.startswith("{"):
            found = next((repo for repo in ws.repos.values() if repo.uuid == ident), None)
        return found


def load_seed_source(source: dict | str | Path | None) -> dict:
    """A seed as a dict: ``None`` = the demo seed, a dict as is, a path to .toml or .json."""
    if source is None:
        return demo_seed()
    if isinstance(source, dict):
        return copy.deepcopy(source)
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    if path.suffix.lower() == ".toml":
        return tomllib.loads(text)
    raise SeedError(f"{path}: a seed is a .toml or a .json file")


def demo_seed(callback_url: str | None = None) -> dict:
    """The built-in demo seed as a dict (a fresh copy; change it freely).

    ``callback_url`` replaces the demo consumer's callback URL (and the other consumers' that
    share it), so ``bbwizard demo`` can use a free port.
    """
    seed = tomllib.loads(DEMO_SEED_PATH.read_text(encoding="utf-8"))
    if callback_url is not None:
        for consumer in seed["consumers"]:
            if consumer.get("callback_url") == DEMO_CALLBACK_URL:
                consumer["callback_url"] = callback_url
    return seed


def demo_consumer(seed: dict) -> dict:
    """The demo consumer's entry (``key``, ``secret``, ``callback_url``, …) of a seed dict."""
    for consumer in seed.get("consumers", []):
        if consumer.get("key") == DEMO_CONSUMER_KEY:
            return consumer
    return seed["consumers"][0]


def _user(entry: dict) -> User:
    username = entry["username"]
    uid = entry.get("uuid") or braced_uuid("user", username)
    return User(
        username=username,
        display_name=entry.get("display_name") or username.capitalize(),
        uuid=uid,
        account_id=entry.get("account_id") or "557058:" + uid.strip("{}"),
        nickname=entry.get("nickname") or username,
        email=entry.get("email") or f"{username}@example.com",
        created_on=_parse_time(entry.get("created_on"), _EPOCH - timedelta(days=900)),
    )


def _repo(ws_slug: str, entry: dict, index: int) -> Repo:
    slug = entry["slug"]
    mainbranch = entry.get("mainbranch") or "main"
    branches = list(entry.get("branches") or [mainbranch])
    if mainbranch not in branches:
        branches.insert(0, mainbranch)
    project = entry.get("project") or {}
    created = _parse_time(entry.get("created_on"), _EPOCH + timedelta(days=index))
    name = entry.get("name") or slug
    files = dict(entry.get("files") or {})
    files.setdefault("README.md", f"# {name}\n")
    return Repo(
        workspace=ws_slug,
        slug=slug,
        name=name,
        description=entry.get("description", ""),
        language=entry.get("language", ""),
        is_private=bool(entry.get("is_private", True)),
        mainbranch=mainbranch,
        branches=branches,
        files=files,
        project_key=project.get("key", "PROJ"),
        project_name=project.get("name", "Untitled project"),
        commits=int(entry.get("commits", 3)),
        size=_parse_size(entry.get("size")),
        created_on=created,
        updated_on=_parse_time(entry.get("updated_on"), created + timedelta(days=30)),
        uuid=entry.get("uuid") or braced_uuid("repo", f"{ws_slug}/{slug}"),
        tags=_tags(f"{ws_slug}/{slug}", entry.get("tags") or [], mainbranch, branches),
    )


def _tags(full_name: str, entries: list, mainbranch: str, branches: list[str]) -> list[dict]:
    """A repository's tags as ``{name, branch, back, message}``; a bad entry is a SeedError."""
    tags = []
    for entry in entries:
        tag = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"]:
            raise SeedError(f"{full_name}: a tag is a name or a table with a name, not {entry!r}")
        target = str(tag.get("target") or mainbranch)
        branch, _, back = target.partition("~")
        if branch not in branches or (back and not back.isdigit()):
            raise SeedError(f"{full_name}: tag {tag['name']!r} points at {target!r}, not a branch (or BRANCH~N)")
        tags.append({"name": tag["name"], "branch": branch, "back": int(back or 0),
                     "message": tag.get("message")})
    return tags


def _workspace(entry: dict, users: dict[str, User]) -> Workspace:
    slug = entry["slug"]
    members = list(entry.get("members") or [])
    admins = set(entry.get("administrators") or [])
    for name in admins:
        if name not in members:
            members.append(name)
    for name in members:
        if name not in users:
            raise SeedError(f"workspace {slug}: member {name!r} is not in users")
    return Workspace(
        slug=slug,
        name=entry.get("name") or slug,
        uuid=entry.get("uuid") or braced_uuid("workspace", slug),
        members=members,
        administrators=admins,
        is_private=bool(entry.get("is_private", True)),
        is_personal=bool(entry.get("is_personal", False)),
        created_on=_parse_time(entry.get("created_on"), _EPOCH - timedelta(days=400)),
    )


def generated_repos(ws_slug: str, count: int, prefix: str = "repo", commits: int = 2,
                    languages: tuple[str, ...] = _LANGUAGES) -> dict[str, Repo]:
    """``count`` repositories ``{prefix}-00001``… with distinct, shuffled ``updated_on``.

    Deterministic: the same arguments give the same names, uuids and dates.
    """
    width = max(5, len(str(count)))
    repos: dict[str, Repo] = {}
    # A multiplier coprime with count shuffles updated_on, so sort=-updated_on is not index order.
    step = 7919 if count % 7919 else 104729
    for i in range(1, count + 1):
        slug = f"{prefix}-{i:0{width}d}"
        created = _EPOCH + timedelta(minutes=37 * i)
        updated = _EPOCH + timedelta(days=400, seconds=600 * ((i * step) % count))
        repos[slug] = Repo(
            workspace=ws_slug,
            slug=slug,
            name=f"{prefix.capitalize()} {i:0{width}d}",
            description=f"Generated repository number {i}.",
            language=languages[i % len(languages)] if languages else "",
            is_private=True,
            mainbranch="main",
            branches=["main"],
            files={"README.md": f"# {prefix}-{i}\n"},
            project_key="GEN",
            project_name="Generated",
            commits=commits,
            size=0,
            created_on=created,
            updated_on=updated,
            uuid=braced_uuid("repo", f"{ws_slug}/{slug}"),
            generated=True,
        )
    return repos


def _add_app_user(consumer: Consumer, users: dict[str, User], workspaces: dict[str, Workspace]) -> None:
    """The app user a client_credentials token of ``consumer`` authenticates as (2026): a member
    of the consumer's own workspace only, or, when the seed names none, of its owner's."""
    ident = f"app-user:{consumer.key}"
    uid = braced_uuid("app_user", consumer.key)
    users[ident] = User(
        username=ident,
        display_name=f"{consumer.name} (app user)",
        uuid=uid,
        account_id="712020:" + uid.strip("{}"),
        nickname="",
        email="",
        created_on=_EPOCH,
        is_app_user=True,
    )
    consumer.app_user = ident
    if consumer.workspace is not None:
        reach = [workspaces[consumer.workspace]]
    else:
        reach = [ws for ws in workspaces.values() if consumer.owner in ws.members]
    for ws in reach:
        ws.members.append(ident)


def _expiry(entry: dict, what: str) -> datetime | None:
    """``expires_on`` (a date: through that day, UTC; or a date-time) or ``expires_in_days``."""
    value, days = entry.get("expires_on"), entry.get("expires_in_days")
    if days is not None:
        if not isinstance(days, int | float) or isinstance(days, bool):
            raise SeedError(f"{what}: expires_in_days is a number of days, not {days!r}")
        return _expiry({"expires_on": datetime.now(UTC).date() + timedelta(days=days)}, what)
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return _expiry({"expires_on": date.fromisoformat(text)}, what)
        return _parse_time(text, None)
    except ValueError:
        raise SeedError(f"{what}: expires_on {value!r} is neither a date (2027-03-01) nor a date-time") from None


def parse_api_token(entry: dict, users: dict[str, User]) -> ApiToken:
    """One ``[[api_tokens]]`` entry (see the module docstring); a bad one is a SeedError."""
    token = entry.get("token")
    if not isinstance(token, str) or not token:
        raise SeedError("every api token needs a token")
    account = entry.get("account") or entry.get("username")
    email = entry.get("email")
    if account:
        user = users.get(account) or next((u for u in users.values() if u.uuid == account), None)
        if user is None:
            raise SeedError(f"api token: account {account!r} is not a seeded user (a username or {{uuid}})")
        if email and email.lower() != user.email.lower():
            raise SeedError(f"api token: {email!r} is not the email of {user.username!r} ({user.email})")
    elif email:
        user = next((u for u in users.values() if u.email.lower() == str(email).lower()), None)
        if user is None:
            raise SeedError(f"api token: no seeded user has the email {email!r}")
    else:
        raise SeedError("every api token needs an email or an account")
    scopes = entry.get("scopes", list(DEFAULT_API_TOKEN_SCOPES))
    if not isinstance(scopes, list | tuple) or not all(isinstance(name, str) for name in scopes):
        raise SeedError(f"api token of {user.username!r}: scopes is a list of names")
    return ApiToken(token=token, username=user.username, scopes=list(scopes), email=user.email,
                    expires_at=_expiry(entry, f"api token of {user.username!r}"))


def parse_access_token(entry: dict, users: dict[str, User], workspaces: dict[str, Workspace]) -> ResourceToken:
    """One ``[[access_tokens]]`` entry; its bot account is added to ``users``. SeedError if bad."""
    token, kind, slug = entry.get("token"), entry.get("kind", "repository"), entry.get("workspace")
    if not isinstance(token, str) or not token:
        raise SeedError("every access token needs a token")
    if kind not in ACCESS_TOKEN_KINDS:
        raise SeedError(f"access token: kind is one of {', '.join(ACCESS_TOKEN_KINDS)}, not {kind!r}")
    ws = workspaces.get(slug or "")
    if ws is None:
        raise SeedError(f"access token: workspace {slug!r} is not in workspaces")
    repository, project = entry.get("repository"), entry.get("project")
    if kind == "repository" and repository not in ws.repos:
        raise SeedError(f"access token: repository {repository!r} is not in workspace {slug!r}")
    if kind == "project" and not any(repo.project_key == project for repo in ws.repos.values()):
        raise SeedError(f"access token: no repository of workspace {slug!r} is in project {project!r}")
    scopes = entry.get("scopes", ["repository"])
    if not isinstance(scopes, list | tuple) or not all(isinstance(name, str) for name in scopes):
        raise SeedError("access token: scopes is a list of names")
    reach = {"repository": repository, "project": project, "workspace": slug}[kind]
    name = entry.get("name") or f"{reach} {kind} access token"
    uid = braced_uuid("access_token", token)
    bot = f"access-token:{uid}"
    users[bot] = User(username=bot, display_name=name, uuid=uid, account_id="712020:" + uid.strip("{}"),
                      nickname="", email="", created_on=_EPOCH)
    return ResourceToken(token=token, kind=kind, workspace=ws.slug,
                         repository=repository if kind == "repository" else None,
                         project=project if kind == "project" else None, scopes=list(scopes), bot=bot)


def build_world(raw: dict) -> World:
    """Validate a seed dict and build the emulator's world from it."""
    if not isinstance(raw, dict):
        raise SeedError("a seed is a table (TOML) or an object (JSON)")
    users = {u.username: u for u in (_user(entry) for entry in raw.get("users", []))}
    consumers: dict[str, Consumer] = {}
    for entry in raw.get("consumers", []):
        if "key" not in entry or "secret" not in entry:
            raise SeedError("every consumer needs a key and a secret")
        owner = entry.get("owner") or next(iter(users), "")
        consumers[entry["key"]] = Consumer(
            key=entry["key"],
            secret=entry["secret"],
            callback_url=entry.get("callback_url") or None,
            private=bool(entry.get("private", False)),
            scopes=list(entry.get("scopes", ["account", "repository"])),
            owner=owner,
            name=entry.get("name") or entry["key"],
            grants=None if entry.get("grants") is None else [str(g) for g in entry["grants"]],
            workspace=entry.get("workspace") or None,
        )
    workspaces: dict[str, Workspace] = {}
    for entry in raw.get("workspaces", []):
        ws = _workspace(entry, users)
        workspaces[ws.slug] = ws
        for index, repo_entry in enumerate(entry.get("repositories", [])):
            repo = _repo(ws.slug, repo_entry, index)
            ws.repos[repo.slug] = repo
    for index, repo_entry in enumerate(raw.get("repositories", [])):
        ws = workspaces.get(repo_entry.get("workspace", ""))
        if ws is None:
            raise SeedError(f"repository {repo_entry.get('slug')!r}: unknown workspace")
        repo = _repo(ws.slug, repo_entry, index)
        ws.repos[repo.slug] = repo
    for entry in raw.get("generators", []):
        slug = entry["workspace"]
        ws = workspaces.get(slug)
        if ws is None:
            ws = _workspace(
                {
                    "slug": slug,
                    "name": entry.get("name") or slug,
                    "members": entry.get("members") or list(users)[:1],
                    "administrators": entry.get("administrators") or [],
                    "is_private": entry.get("is_private", True),
                },
                users,
            )
            workspaces[slug] = ws
        ws.repos.update(
            generated_repos(
                slug,
                int(entry["count"]),
                prefix=entry.get("prefix", "repo"),
                commits=int(entry.get("commits", 2)),
                languages=tuple(entry.get("languages", _LANGUAGES)),
            )
        )
    api_tokens = {}
    for entry in raw.get("api_tokens", []):
        token = parse_api_token(entry, users)
        api_tokens[token.token] = token
    access_tokens = {}
    for entry in raw.get("access_tokens", []):
        token = parse_access_token(entry, users, workspaces)
        access_tokens[token.token] = token
    browser_user = raw.get("browser_user") or next(iter(users), None)
    if browser_user is not None and browser_user not in users:
        raise SeedError(f"browser_user {browser_user!r} is not in users")
    for consumer in consumers.values():
        if consumer.owner and consumer.owner not in users:
            raise SeedError(f"consumer {consumer.name!r}: owner {consumer.owner!r} is not in users")
        if consumer.grants is not None:
            unknown = set(consumer.grants) - {"authorization_code", "client_credentials", "refresh_token"}
            if unknown:
                raise SeedError(f"consumer {consumer.name!r}: unknown grants {sorted(unknown)}")
        if consumer.workspace is not None and consumer.workspace not in workspaces:
            raise SeedError(f"consumer {consumer.name!r}: workspace {consumer.workspace!r} is not in workspaces")
        if consumer.allows("client_credentials"):
            _add_app_user(consumer, users, workspaces)
    return World(consumers, users, workspaces, api_tokens, browser_user, access_tokens=access_tokens)
