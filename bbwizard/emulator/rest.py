"""api.bitbucket.org/2.0: the REST endpoints bbwizard reads, their pagination and errors.

``/user``, ``/user/workspaces``, ``/workspaces/{ws}``, ``/repositories/{ws}``,
``/repositories/{ws}/{slug}``, ``/repositories/{ws}/{slug}/refs/branches`` (and ``/{name}``),
``/repositories/{ws}/{slug}/refs/tags`` (and ``/{name}``); a ref's name may hold ``/``, sent as
it is or as ``%2F``; 410 CHANGE-2770 for
the retired cross-workspace endpoints; 404 "Resource not found" for everything else. Who may
call what is ``credentials``' (Bearer for OAuth and access tokens, Basic ``EMAIL:TOKEN`` for API
tokens; scopes per endpoint; an access token's reach). Lists take ``pagelen``, ``page``,
``sort``, ``q`` (BBQL subset) and ``fields``.

The documents are built here from the seeded world (``links`` point at the emulator's own
addresses); a repository's JSON is encoded once per viewer and cached on the :class:`State`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode

from bbwizard.emulator import bbql, gitrepos
from bbwizard.emulator.credentials import MSG_NOT_FOR_ACCESS_TOKENS, Principal, rest_principal
from bbwizard.emulator.exchange import Exchange, error_doc
from bbwizard.emulator.seed import Repo, User, Workspace, braced_uuid, iso
from bbwizard.emulator.state import APP_USER_FORBIDDEN, State

MSG_EXPIRED = "Access token expired."
MSG_INVALID_TOKEN = "Token is invalid, expired, or not supported for this endpoint."
MSG_SCOPES = "Your credentials lack one or more required privilege scopes."
MSG_RATE = "Rate limit for this resource has been exceeded."
MSG_GONE = "CHANGE-2770 - Functionality has been deprecated"
GONE_DETAIL = (
    "This API is no longer supported. For more information, see "
    "https://developer.atlassian.com/cloud/bitbucket/changelog/#CHANGE-2770"
)
MSG_NO_API = "Resource not found"
NO_API_DETAIL = (
    "There is no API hosted at this URL.\n\nFor information about our API's, please refer to the "
    "documentation at: https://developer.atlassian.com/bitbucket/api/2/reference/"
)

RETIRED = ("/2.0/workspaces", "/2.0/user/permissions/workspaces", "/2.0/user/permissions/repositories", "/2.0/repositories")


def is_rest_path(path: str) -> bool:
    return path == "/2.0" or path.startswith("/2.0/")


def _rest_error(ex: Exchange, status: int, message: str, detail: Any = None,
                headers: dict[str, str] | None = None) -> None:
    ex.send_json(status, error_doc(message, detail), headers)


def serve(ex: Exchange, method: str) -> None:
    """Budget, retired paths, the Bearer token, the route, its scope; then the endpoint."""
    emu = ex.emu
    path = ex.url_path.rstrip("/") or "/2.0"
    if not emu.spend_budget():
        retry = emu.rate_limit_retry_after
        _rest_error(ex, 429, MSG_RATE, headers={"Retry-After": str(retry)} if retry is not None else None)
        return
    if path in RETIRED:
        _rest_error(ex, 410, MSG_GONE, GONE_DETAIL)
        return
    token = rest_principal(emu, ex.headers.get("Authorization", ""))
    if isinstance(token, str):
        _rest_error(ex, 401, token)
        return
    if method not in ("GET", "HEAD"):
        _rest_error(ex, 405, "Method not allowed")
        return
    segments = [unquote(s) for s in path.split("/")[2:]]
    route = _route(segments)
    if route is None:
        _rest_error(ex, 404, MSG_NO_API, NO_API_DETAIL)
        return
    endpoint, args, scope = route
    if token.is_access_token and endpoint in (_user, _user_workspaces):
        _rest_error(ex, 403, MSG_NOT_FOR_ACCESS_TOKENS)
        return
    missing = token.missing(scope, "user" if endpoint is _user else "workspaces")
    if missing is not None:
        if token.kind == "api_token":  # its scopes have granular names already
            detail = {"granted": list(token.scopes), "required": [missing]}
        else:
            detail = {"granted": emu.scope_names_of(list(token.scopes)), "required": emu.scope_names_of([missing])}
        _rest_error(ex, 403, MSG_SCOPES, detail)
        return
    endpoint(ex, token, *args)


def _route(segments: list[str]) -> tuple[Callable[..., None], tuple, str] | None:
    """(endpoint, args, required scope) for the path segments after /2.0."""
    n = len(segments)
    if segments == ["user"]:
        return _user, (), "account"
    if segments == ["user", "workspaces"]:
        return _user_workspaces, (), "account"
    if n == 2 and segments[0] == "workspaces":
        return _workspace, (segments[1],), "account"
    if n == 2 and segments[0] == "repositories":
        return _repositories, (segments[1],), "repository"
    if n == 3 and segments[0] == "repositories":
        return _repository, (segments[1], segments[2]), "repository"
    if n >= 5 and segments[0] == "repositories" and segments[3] == "refs" and segments[4] in _REFS:
        kind = segments[4]
        if n == 5:
            return _refs, (segments[1], segments[2], kind, None), "repository"
        name = "/".join(segments[5:])
        if name:
            return _refs, (segments[1], segments[2], kind, name), "repository"
    return None


# ---- endpoints ---------------------------------------------------------------------------------


def _user_of(ex: Exchange, token: Principal) -> User:
    return ex.emu.world.users[token.username]


def _visible_ws(ex: Exchange, ident: str, token: Principal) -> Workspace | None:
    ws = ex.emu.world.workspace(ident)
    if ws is None or (ws.is_private and not token.sees(ws)):
        return None
    return ws


def _user(ex: Exchange, token: Principal) -> None:
    user = _user_of(ex, token)
    if user.is_app_user:
        if ex.emu.app_user_profile == "forbidden":
            _rest_error(ex, 403, APP_USER_FORBIDDEN)
        else:
            ex.send_json(200, app_user_json(ex.emu, user))
        return
    ex.send_json(200, user_json(ex.emu, user))


def _user_workspaces(ex: Exchange, token: Principal) -> None:
    emu, user = ex.emu, _user_of(ex, token)
    items = [ws for ws in emu.world.workspaces.values() if user.username in ws.members]
    admin_filter = ex.params.get("administrator")
    if admin_filter is not None:
        wanted = admin_filter.lower() == "true"
        items = [ws for ws in items if (user.username in ws.administrators) == wanted]

    def to_json(ws: Workspace) -> dict:
        return {
            "type": "workspace_access",
            "administrator": user.username in ws.administrators,
            "workspace": {"type": "workspace_base", "uuid": ws.uuid, "slug": ws.slug,
                          "links": _workspace_links(emu, ws, full=False)},
            "links": {"self": {"href": f"{emu.api_url}/user/workspaces/{ws.slug}/permission"}},
        }

    _paginate(ex, [to_json(ws) for ws in items], lambda doc: (lambda p: bbql.dotted(doc, p)),
              {"workspace.slug", "administrator", "workspace.uuid"}, default_sort=None)


def _workspace(ex: Exchange, token: Principal, ident: str) -> None:
    ws = _visible_ws(ex, ident, token)
    if ws is None:
        _rest_error(ex, 404, f"No workspace with identifier '{ident}'.")
        return
    ex.send_json(200, workspace_json(ex.emu, ws))


def _repositories(ex: Exchange, token: Principal, ident: str) -> None:
    emu, user = ex.emu, _user_of(ex, token)
    ws = emu.world.workspace(ident)
    if ws is None:
        _rest_error(ex, 404, f"No workspace with identifier '{ident}'.")
        return
    role = ex.params.get("role")
    if role is not None and role not in ("member", "contributor", "admin", "owner"):
        _rest_error(ex, 400, f"Invalid role: {role}")
        return
    if role == "member" and emu.role_member_gone:
        _rest_error(ex, 410, MSG_GONE, GONE_DETAIL)
        return
    member = user.username in ws.members
    if token.resource is not None:  # an access token: the repositories within its reach
        if role is None:
            repos = [r for r in ws.repos.values() if token.sees(ws, r) or not r.is_private]
        else:  # it is no admin or owner of anything
            repos = [r for r in ws.repos.values() if token.sees(ws, r)] if role in ("member", "contributor") else []
    elif role is None:
        repos = list(ws.repos.values()) if member else [r for r in ws.repos.values() if not r.is_private]
    elif role in ("member", "contributor"):
        repos = list(ws.repos.values()) if member else []
    elif role == "admin":
        repos = list(ws.repos.values()) if user.username in ws.administrators else []
    else:  # owner: the repositories the user owns, i.e. those of their personal workspace
        repos = list(ws.repos.values()) if ws.is_personal and ws.slug == user.username else []
    _paginate(ex, repos, _repo_getter, _REPO_SORT_FIELDS, default_sort=None,
              to_json=lambda repo: repo_json(emu, repo, user.username), sort_key_of=_repo_sort_key,
              cache_key=(ws.slug, role, user.username),
              to_bytes=lambda repo: repo_bytes(emu, repo, user.username))


def _repo_for(ex: Exchange, token: Principal, ident: str, slug: str) -> Repo | None:
    ws = ex.emu.world.workspace(ident)
    repo = ex.emu.world.repo(ws, slug) if ws is not None else None
    if repo is None or (repo.is_private and not token.sees(ws, repo)):
        _rest_error(ex, 404, "You may not have access to this repository or it no longer exists in this "
                    "workspace. If you think this repository exists and you have access, make sure "
                    "you are authenticated.")
        return None
    return repo


def _repository(ex: Exchange, token: Principal, ident: str, slug: str) -> None:
    repo = _repo_for(ex, token, ident, slug)
    if repo is not None:
        ex.send_json(200, repo_json(ex.emu, repo, token.username))


_REFS = {"branches": "branch", "tags": "tag"}


def _refs(ex: Exchange, token: Principal, ident: str, slug: str, kind: str, name: str | None) -> None:
    """``refs/branches`` or ``refs/tags``: the list, or one ref by its name (404 if none)."""
    emu = ex.emu
    repo = _repo_for(ex, token, ident, slug)
    if repo is None:
        return
    path = emu.materialise_repo(repo)
    env = gitrepos.git_env(emu.data_dir)
    refs = gitrepos.list_branches(path, env) if kind == "branches" else gitrepos.list_tags(path, env)
    if name is not None:
        refs = [ref for ref in refs if ref["name"] == name]
        if not refs:
            _rest_error(ex, 404, f"{_REFS[kind].capitalize()} \"{name}\" does not exist.")
            return
    docs = [ref_json(emu, repo, _REFS[kind], ref) for ref in refs]
    if name is not None:
        ex.send_json(200, docs[0])
        return
    _paginate(ex, docs, lambda doc: (lambda p: bbql.dotted(doc, p)), {"name", "target.date"}, default_sort="name")


def ref_json(emu: State, repo: Repo, kind: str, ref: dict) -> dict:
    """A ``branch`` or ``tag`` document; its ``self`` link is where that ref is served by name."""
    api, site = emu.api_url, emu.site_url
    base = f"{api}/repositories/{repo.workspace}/{quote(repo.slug)}"
    html_base = f"{site}/{repo.workspace}/{quote(repo.slug)}"
    repo_min = {
        "type": "repository", "full_name": repo.full_name, "name": repo.name, "uuid": repo.uuid,
        "links": {"self": {"href": base}, "html": {"href": html_base},
                  "avatar": {"href": f"{html_base}/avatar/32/"}},
    }
    commit = {
        "type": "commit",
        "hash": ref["hash"],
        "date": ref["date"],
        "author": {"type": "author", "raw": ref["author"]},
        "message": ref["message"],
        "summary": {"raw": ref["message"], "markup": "markdown",
                    "html": f"<p>{html.escape(ref['message'].strip())}</p>"},
        "links": {"self": {"href": f"{base}/commit/{ref['hash']}"},
                  "html": {"href": f"{html_base}/commits/{ref['hash']}"}},
        "parents": [{"type": "commit", "hash": p, "links": {"self": {"href": f"{base}/commit/{p}"}}}
                    for p in ref["parents"]],
        "repository": repo_min,
    }
    name = quote(ref["name"], safe="/")  # as Bitbucket's own example: refs/branches/issue-9.3/AUI-5343…
    doc: dict[str, Any] = {
        "name": ref["name"],
        "target": commit,
        "links": {
            "self": {"href": f"{base}/refs/{'branches' if kind == 'branch' else 'tags'}/{name}"},
            "commits": {"href": f"{base}/commits/{name}"},
            "html": {"href": f"{html_base}/{'branch' if kind == 'branch' else 'src'}/{name}"},
        },
        "type": kind,
    }
    if kind == "branch":
        doc.update(merge_strategies=["merge_commit", "squash", "fast_forward"],
                   default_merge_strategy="merge_commit")
    elif ref.get("tag_message") is not None:
        doc.update(message=ref["tag_message"], date=ref["tag_date"],
                   tagger={"type": "author", "raw": ref["tagger"]})
    return doc


# ---- pagination --------------------------------------------------------------------------------


def _paginate(ex: Exchange, items: list, getter_of, sort_fields: set[str], *, default_sort: str | None,
              to_json=None, sort_key_of=None, cache_key: tuple | None = None, to_bytes=None) -> None:
    """Sort, filter (q), cut a page, apply fields, answer the Bitbucket envelope.

    ``cache_key`` names ``items`` so their sorted order is computed once per sort, and
    ``to_bytes`` gives an item's encoded JSON (cached by the caller): a page of the 10,000-repo
    workspace then costs a slice and a join, not 100 dicts and a json.dumps.
    """
    emu, params = ex.emu, ex.params
    with emu._lock:
        emu.stats.pages[ex.url_path] += 1
    try:
        pagelen = int(params.get("pagelen", "10"))
    except ValueError:
        pagelen = -1
    if not 1 <= pagelen <= 100:
        _rest_error(ex, 400, "Invalid pagelen", "pagelen must be an integer between 1 and 100")
        return
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        _rest_error(ex, 400, "Invalid page", "page must be a positive integer")
        return
    sort = params.get("sort") or default_sort
    if sort:
        reverse = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in sort_fields:
            _rest_error(ex, 400, f"Invalid sort field: {key}")
            return
    query = params.get("q")
    predicate = None
    if query:
        try:
            predicate = bbql.compile_query(query)
        except bbql.QueryError as exc:
            _rest_error(ex, 400, "Invalid query", f"q: {exc}")
            return
    if sort:
        cache = emu._sort_cache
        ordered = cache.get((cache_key, sort)) if cache_key is not None else None
        if ordered is None:
            if sort_key_of is not None:
                ordered = sorted(items, key=lambda item: sort_key_of(item, key), reverse=reverse)
            else:
                ordered = sorted(items, key=lambda item: _sort_key(getter_of(item)(key)), reverse=reverse)
            if cache_key is not None:
                cache[(cache_key, sort)] = ordered
        items = ordered
    if predicate is not None:
        items = [item for item in items if predicate(getter_of(item))]
    total = len(items)
    chunk = items[(page - 1) * pagelen: page * pagelen]
    after: dict[str, Any] = {"page": page}
    base = emu.api_url + ex.url_path[len("/2.0"):]
    claimed = total if emu.lie_about_size is None else emu.lie_about_size
    if page * pagelen < claimed:
        after["next"] = base + "?" + urlencode({**params, "page": str(page + 1)})
    if page > 1:
        after["previous"] = base + "?" + urlencode({**params, "page": str(page - 1)})
    fields = params.get("fields")
    meta: dict[str, Any] = {"pagelen": pagelen}
    if emu.lie_about_size is not None:
        meta["size"] = emu.lie_about_size
    elif emu.list_size == "exact":
        meta["size"] = total
    elif emu.list_size == "off":
        meta["size"] = max(total - 7, 0)
    if to_bytes is not None and not fields:
        head = json.dumps(meta)[:-1] + ', "values": ['
        tail = "], " + json.dumps(after, ensure_ascii=False)[1:]
        body = head.encode() + b", ".join(to_bytes(item) for item in chunk) + tail.encode()
        ex.send(200, body, "application/json; charset=utf-8")
        return
    if to_bytes is not None and fields:
        body = _partial_page(emu, {**meta, "values": None, **after}, chunk, to_bytes, fields)
        if body is not None:
            ex.send(200, body, "application/json; charset=utf-8")
            return
    values = [to_json(item) for item in chunk] if to_json is not None else chunk
    doc: dict[str, Any] = {**meta, "values": values, **after}
    ex.send_json(200, bbql.apply_fields(doc, fields) if fields else doc)


def _partial_page(emu: State, envelope: dict[str, Any], chunk: list, to_bytes, fields: str) -> bytes | None:
    """The ``fields=`` answer built from cached encoded items, byte for byte what
    ``apply_fields`` + ``json.dumps`` give; None for specs this path doesn't take (+/-, ``*``).

    Clients list the fields they read (``fields=next,size,values.slug,…``); projecting 100
    repositories per page anew cost ~50 ms, ten times a full page from the cache."""
    entries = [entry.strip() for entry in fields.split(",") if entry.strip()]
    if not entries or any(entry[0] in "+-" for entry in entries):
        return None
    tree = bbql.fields_tree(entries)
    values_tree = tree.get("values")
    if "*" in tree or values_tree is None:
        return None
    items: list[bytes] = []
    cache = emu._fields_cache
    for item in chunk:
        full = to_bytes(item)
        if values_tree is True:
            items.append(full)
            continue
        key = (fields, full)  # the full encoding is cached too, so its hash is computed once
        encoded = cache.get(key)
        if encoded is None:
            projected = bbql.project(json.loads(full), values_tree)
            encoded = json.dumps(projected, ensure_ascii=False).encode()
            cache[key] = encoded
        items.append(encoded)
    parts: list[bytes] = []
    for name, value in envelope.items():
        if name == "values":
            parts.append(b'"values": [' + b", ".join(items) + b"]")
        elif name in tree:
            parts.append(json.dumps({name: value}, ensure_ascii=False)[1:-1].encode())
    return b"{" + b", ".join(parts) + b"}"


_REPO_SORT_FIELDS = {"name", "slug", "updated_on", "created_on", "size", "full_name", "language"}

_REPO_FIELDS = {
    "name": lambda r: r.name,
    "slug": lambda r: r.slug,
    "full_name": lambda r: r.full_name,
    "description": lambda r: r.description,
    "language": lambda r: r.language,
    "is_private": lambda r: r.is_private,
    "uuid": lambda r: r.uuid,
    "scm": lambda r: "git",
    "size": lambda r: r.api_size,
    "created_on": lambda r: iso(r.created_on),
    "updated_on": lambda r: iso(r.updated_on),
    "mainbranch.name": lambda r: r.mainbranch,
    "project.key": lambda r: r.project_key,
    "project.name": lambda r: r.project_name,
    "workspace.slug": lambda r: r.workspace,
}
# Sorting 10,000 repositories per page request must stay cheap: datetimes sort like their ISO text.
_REPO_SORT = {**_REPO_FIELDS, "created_on": lambda r: r.created_on, "updated_on": lambda r: r.updated_on}


def _repo_getter(repo: Repo):
    return lambda path: _REPO_FIELDS[path](repo) if path in _REPO_FIELDS else None


def _repo_sort_key(repo: Repo, key: str) -> Any:
    return _REPO_SORT[key](repo)


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).lower(), str(value))


# ---- documents ---------------------------------------------------------------------------------


def app_user_json(emu: State, user: User) -> dict:
    """``GET /user`` for a client_credentials token's app user: an account (the spec's
    ``account`` schema) with a display name and ids, but no username and no nickname."""
    return {
        "type": "app_user",
        "display_name": user.display_name,
        "uuid": user.uuid,
        "account_id": user.account_id,
        "created_on": iso(user.created_on),
        "links": {"self": {"href": f"{emu.api_url}/users/{quote(user.uuid)}"},
                  "avatar": {"href": f"{emu.site_url}/account/{quote(user.uuid)}/avatar/"}},
    }


def user_json(emu: State, user: User) -> dict:
    api = emu.api_url
    return {
        "display_name": user.display_name,
        "links": {
            "self": {"href": f"{api}/users/{quote(user.uuid)}"},
            "avatar": {"href": f"{emu.site_url}/account/{user.username}/avatar/"},
            "repositories": {"href": f"{api}/repositories/{quote(user.uuid)}"},
            "html": {"href": f"{emu.site_url}/{quote(user.uuid)}/"},
        },
        "created_on": iso(user.created_on),
        "type": "user",
        "uuid": user.uuid,
        "username": user.username,
        "is_staff": False,
        "account_id": user.account_id,
        "nickname": user.nickname,
        "account_status": "active",
        "location": None,
    }


def _workspace_links(emu: State, ws: Workspace, full: bool) -> dict:
    api, site = emu.api_url, emu.site_url
    links = {
        "avatar": {"href": f"{site}/workspaces/{ws.slug}/avatar/?ts=1700000000"},
        "self": {"href": f"{api}/workspaces/{ws.slug}"},
    }
    if full:
        links.update(
            html={"href": f"{site}/{ws.slug}/"},
            members={"href": f"{api}/workspaces/{ws.slug}/members"},
            owners={"href": f"{api}/workspaces/{ws.slug}/members?q=permission%3D%22owner%22"},
            projects={"href": f"{api}/workspaces/{ws.slug}/projects"},
            repositories={"href": f"{api}/repositories/{ws.slug}"},
            snippets={"href": f"{api}/snippets/{ws.slug}"},
        )
    return links


def workspace_json(emu: State, ws: Workspace) -> dict:
    return {
        "type": "workspace",
        "uuid": ws.uuid,
        "name": ws.name,
        "slug": ws.slug,
        "is_private": ws.is_private,
        "is_privacy_enforced": False,
        "forking_mode": "allow_forks",
        "created_on": iso(ws.created_on),
        "updated_on": iso(ws.created_on),
        "links": _workspace_links(emu, ws, full=True),
    }


def repo_bytes(emu: State, repo: Repo, viewer: str | None) -> bytes:
    """A repository's JSON, encoded once per viewer (the https clone link names the viewer)."""
    key = (repo.workspace, repo.slug, viewer or "")
    encoded = emu._json_cache.get(key)
    if encoded is None:
        encoded = _encode_repo(emu, repo, viewer)
        emu._json_cache[key] = encoded
    return encoded


def repo_json(emu: State, repo: Repo, viewer: str | None) -> dict:
    return json.loads(repo_bytes(emu, repo, viewer))


def _fragment(emu: State, key: tuple, build) -> str:
    """JSON text of a part many repositories share (owner, workspace, project), built once."""
    text = emu._fragment_cache.get(key)
    if text is None:
        text = json.dumps(build(), ensure_ascii=False)
        emu._fragment_cache[key] = text
    return text


def _owner_doc(emu: State, ws: Workspace) -> dict:
    api, site = emu.api_url, emu.site_url
    owner_user = emu.world.users.get(ws.slug) if ws.is_personal else None
    owner = {
        "display_name": ws.name,
        "links": {
            "self": {"href": f"{api}/{'users' if owner_user else 'workspaces'}/{quote(ws.uuid)}"},
            "avatar": {"href": f"{site}/account/{ws.slug}/avatar/"},
            "html": {"href": f"{site}/{quote(ws.uuid)}/"},
        },
        "type": "user" if owner_user else "team",
        "uuid": ws.uuid,
        "username": ws.slug,
    }
    if owner_user:
        owner.update(nickname=owner_user.nickname, account_id=owner_user.account_id)
    return owner


def _workspace_min_doc(emu: State, ws: Workspace) -> dict:
    return {
        "type": "workspace",
        "uuid": ws.uuid,
        "name": ws.name,
        "slug": ws.slug,
        "links": {
            "avatar": {"href": f"{emu.site_url}/workspaces/{ws.slug}/avatar/?ts=1700000000"},
            "html": {"href": f"{emu.site_url}/{ws.slug}/"},
            "self": {"href": f"{emu.api_url}/workspaces/{ws.slug}"},
        },
    }


def _project_doc(emu: State, ws: Workspace, repo: Repo) -> dict:
    site, key = emu.site_url, repo.project_key
    return {
        "type": "project",
        "key": key,
        "uuid": braced_uuid("project", f"{ws.slug}/{key}"),
        "name": repo.project_name,
        "links": {
            "html": {"href": f"{site}/{ws.slug}/workspace/projects/{quote(key)}"},
            "avatar": {"href": f"{site}/{ws.slug}/workspace/projects/{quote(key)}/avatar/32"},
        },
    }


def _encode_repo(emu: State, repo: Repo, viewer: str | None) -> bytes:
    api, site = emu.api_url, emu.site_url
    ws = emu.world.workspaces[repo.workspace]
    slug = quote(repo.slug)
    base = f"{api}/repositories/{repo.workspace}/{slug}"
    html_base = f"{site}/{repo.workspace}/{slug}"
    own = {
        "type": "repository",
        "full_name": repo.full_name,
        "links": {
            "self": {"href": base},
            "html": {"href": html_base},
            "avatar": {"href": f"{html_base}/avatar/32/?ts=1700000000"},
            "pullrequests": {"href": f"{base}/pullrequests"},
            "commits": {"href": f"{base}/commits"},
            "forks": {"href": f"{base}/forks"},
            "watchers": {"href": f"{base}/watchers"},
            "downloads": {"href": f"{base}/downloads"},
            "clone": [
                {"name": "https", "href": emu.clone_url(repo.workspace, repo.slug, viewer)},
                {"name": "ssh", "href": f"git@{emu.host}:{repo.workspace}/{repo.slug}.git"},
            ],
            "hooks": {"href": f"{base}/hooks"},
        },
        "name": repo.name,
        "slug": repo.slug,
        "description": repo.description,
        "scm": "git",
        "website": None,
        "is_private": repo.is_private,
        "fork_policy": "no_public_forks" if repo.is_private else "allow_forks",
        "created_on": iso(repo.created_on),
        "updated_on": iso(repo.updated_on),
        "size": repo.api_size,
        "language": repo.language,
        "uuid": repo.uuid,
        "mainbranch": {"name": repo.mainbranch, "type": "branch"},
        "override_settings": {"default_merge_strategy": True, "branching_model": True},
        "enforced_signed_commits": None,
        "has_issues": False,
        "has_wiki": False,
    }
    owner = _fragment(emu, ("owner", ws.slug), lambda: _owner_doc(emu, ws))
    workspace = _fragment(emu, ("workspace", ws.slug), lambda: _workspace_min_doc(emu, ws))
    project = _fragment(emu, ("project", ws.slug, repo.project_key, repo.project_name),
                        lambda: _project_doc(emu, ws, repo))
    text = json.dumps(own, ensure_ascii=False)[:-1]
    return f'{text}, "owner": {owner}, "workspace": {workspace}, "project": {project}}}'.encode()
