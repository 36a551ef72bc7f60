"""``bbwizard repos``: the repositories of a workspace (or of every workspace of the profile).

A table on a terminal, printed as pages arrive; tab-separated rows when stdout is a pipe (as
``gh repo list``); one JSON array with ``--json``. Pages come from the core's concurrent paging,
which hands them over in completion order: they are put back in Bitbucket's order here, so the
rows stream and still end up sorted as asked.
"""

from __future__ import annotations

import argparse
import sys

from bbwizard.cli import positive_number
from bbwizard.errors import EXIT_OK

SORTS = {"updated": "-updated_on", "name": "name"}

# Fixed column widths on a terminal (cells, not characters): rows are printed as they arrive, so
# the widths can't be measured first.
_COLUMNS = (("NAME", 40), ("PRIVACY", 7), ("LANGUAGE", 12), ("SIZE", 10), ("MAIN BRANCH", 18), ("UPDATED", 0))


def register(subparsers: argparse._SubParsersAction) -> None:
    repos = subparsers.add_parser(
        "repos",
        usage="bbwizard repos [WORKSPACE] [--profile P] [--query TEXT] [--sort updated|name] [--limit N] [--json]",
        help="list repositories: a table on a terminal, tab-separated when piped, --json for scripts",
        description=(
            "List the repositories of WORKSPACE, or of every workspace the profile's account belongs "
            "to. On a terminal: a table, printed as pages arrive, and a count on stderr. Piped: one "
            "tab-separated line per repository (name, privacy, language, size in bytes, main branch, "
            "updated). --json: one JSON array."
        ),
    )
    repos.add_argument("workspace", nargs="?", metavar="WORKSPACE", help="the workspace to list (default: all of the profile's)")
    repos.add_argument("--profile", "-p", metavar="NAME", help="the profile to use (default: the default profile)")
    repos.add_argument("--query", "-q", metavar="TEXT", help="only repositories whose name contains TEXT")
    repos.add_argument("--sort", choices=tuple(SORTS), default="updated", help="most recently updated first (default), or by name")
    repos.add_argument("--limit", "-L", type=positive_number, metavar="N", help="at most N repositories in all")
    repos.add_argument("--json", action="store_true", help="one JSON array of objects, for scripts")
    repos.set_defaults(func=run_repos)


def name_query(text: str) -> str:
    """BBQL for "the name contains ``text``": backslashes and quotes escaped inside the string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'name ~ "{escaped}"'


def run_repos(args: argparse.Namespace) -> int:
    import asyncio

    from bbwizard.config import ConfigStore

    store = ConfigStore()
    profile = store.get(args.profile)
    if args.json:
        writer: _Writer = _JsonWriter(profile)
    elif sys.stdout.isatty():
        writer = _TableWriter(profile)
    else:
        writer = _TabWriter(profile)
    return asyncio.run(_list(args, store, profile, writer))


async def _list(args: argparse.Namespace, store, profile, writer: _Writer) -> int:
    from contextlib import aclosing

    from bbwizard.api import BitbucketClient
    from bbwizard.cli import output

    query = name_query(args.query) if args.query else None
    left = args.limit
    async with BitbucketClient.for_profile(store, profile.name) as client:
        if args.workspace:
            workspaces = [args.workspace]
        elif profile.kind == "access_token" and (profile.reach or {}).get("workspace"):
            # Bitbucket doesn't list workspaces for an access token: it reaches its own only.
            workspaces = [profile.reach["workspace"]]
        else:
            workspaces = [ws.slug for ws in await client.list_workspaces()]
            if not workspaces:
                output.info("The account of this profile belongs to no workspace.")
                return EXIT_OK
        for workspace in workspaces:
            if left == 0:
                break
            shown = 0
            total = None
            in_order = _PagesInOrder()
            pages = client.iter_repositories(workspace, sort=SORTS[args.sort], query=query, limit=left)
            async with aclosing(pages):
                async for page in pages:
                    total = page.size if page.size is not None else total
                    for repository in in_order.add(page.number, page.values):
                        if left is not None and shown >= left:
                            break
                        writer.row(repository)
                        shown += 1
                    if left is not None and shown >= left:
                        break
            for repository in in_order.rest():
                if left is not None and shown >= left:
                    break
                writer.row(repository)
                shown += 1
            if left is not None:
                left -= shown
            writer.counted(workspace, shown, total)
    writer.close()
    return EXIT_OK


class _PagesInOrder:
    """Pages arrive in completion order; hand out their repositories in page order, holding a page
    until the ones before it have come. A page without a number, or one from before (the core
    started over by following ``next`` links), lets everything held go first."""

    def __init__(self) -> None:
        self.expected = 1
        self.held: dict[int, list] = {}

    def add(self, number: int | None, values: list) -> list:
        if number is None or number < self.expected:
            return [*self.rest(), *values]
        self.held[number] = values
        ready: list = []
        while self.expected in self.held:
            ready += self.held.pop(self.expected)
            self.expected += 1
        return ready

    def rest(self) -> list:
        """Whatever is still held (pages after a gap, such as a page Bitbucket left empty)."""
        ready = [repo for number in sorted(self.held) for repo in self.held[number]]
        if self.held:
            self.expected = max(self.held) + 1
        self.held.clear()
        return ready


# --- writers -----------------------------------------------------------------------------------


class _Writer:
    def __init__(self, profile) -> None:
        self.profile = profile

    def row(self, repository) -> None:  # an api.Repository
        raise NotImplementedError

    def counted(self, workspace: str, shown: int, total: int | None) -> None:
        return None

    def close(self) -> None:
        return None


def _clean(text: str | None) -> str:
    """Server text through the one cleaner, on one line (a tab or newline would break a row)."""
    from bbwizard.secret import printable

    return printable(text or "", one_line=True)


def _iso(when) -> str:  # datetime | None
    return when.isoformat().replace("+00:00", "Z") if when is not None else ""


class _TabWriter(_Writer):
    """stdout is a pipe: one line per repository, fields split by tabs, as ``gh repo list``.
    Every server string is cleaned (a tab or newline in a name becomes a space), so a line is a
    repository and a tab is a column."""

    def row(self, repository) -> None:
        fields = (
            _clean(repository.full_name),
            "private" if repository.is_private else "public",
            _clean(repository.language),
            "" if repository.size is None else str(repository.size),
            _clean(repository.mainbranch),
            _iso(repository.updated_on),
        )
        sys.stdout.write("\t".join(fields) + "\n")


class _TableWriter(_Writer):
    """stdout is a terminal: aligned columns of fixed widths, a row as soon as its page is in order,
    and a count per workspace on stderr."""

    def __init__(self, profile) -> None:
        from datetime import UTC, datetime

        super().__init__(profile)
        self.now = datetime.now(UTC)
        self.started = False

    def _line(self, cells: list[str]) -> str:
        from rich.cells import cell_len, set_cell_size

        parts = []
        for (header, width), cell in zip(_COLUMNS, cells):
            if not width:
                parts.append(cell)
                continue
            if cell_len(cell) > width:
                cell = set_cell_size(cell, width - 1) + "…"
            parts.append(cell.rjust(width) if header == "SIZE" else set_cell_size(cell, width))
        return "  ".join(parts).rstrip()

    def row(self, repository) -> None:
        from bbwizard.humanize import human_age, human_size

        if not self.started:
            self.started = True
            print(self._line([header for header, _ in _COLUMNS]), flush=True)
        print(
            self._line(
                [
                    _clean(repository.full_name),
                    "private" if repository.is_private else "public",
                    _clean(repository.language),
                    human_size(repository.size),
                    _clean(repository.mainbranch),
                    human_age(repository.updated_on, self.now),
                ]
            ),
            flush=True,
        )

    def counted(self, workspace: str, shown: int, total: int | None) -> None:
        from bbwizard.cli import output

        noun = "repository" if (total if total is not None else shown) == 1 else "repositories"
        if total is not None and total > shown:
            output.info(f"{shown} of {total} {noun} in {workspace}")
        else:
            output.info(f"{shown} {noun} in {workspace}")


class _JsonWriter(_Writer):
    """One JSON array, printed at the end (a half array is no use to a script). ``ensure_ascii``
    escapes every control character, so server text can't reach a terminal raw."""

    def __init__(self, profile) -> None:
        super().__init__(profile)
        self.items: list[dict] = []

    def row(self, repository) -> None:
        from bbwizard.git import clone_url, site_base

        self.items.append(
            {
                "full_name": repository.full_name,
                "workspace": repository.workspace,
                "slug": repository.slug,
                "name": repository.name,
                "description": repository.description,
                "is_private": repository.is_private,
                "language": repository.language,
                "size": repository.size,
                "mainbranch": repository.mainbranch,
                "updated_on": _iso(repository.updated_on) or None,
                "project_key": repository.project_key,
                "clone_https": repository.clone_url
                or clone_url(site_base(self.profile.site_url), repository.workspace, repository.slug),
                "uuid": repository.uuid,
            }
        )

    def close(self) -> None:
        import json

        sys.stdout.write(json.dumps(self.items, ensure_ascii=True, indent=2) + "\n")
