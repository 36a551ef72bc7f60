"""Clones with the real git against the emulator over loopback."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from bbwizard import git
from bbwizard.config import ConfigStore
from bbwizard.errors import CloneCancelled, DestinationExists, ScopeError, SignInRequired
from bbwizard.git import setup as git_setup
from bbwizard.secret import Secret


def _helper_lines(repo: Path, run_git, site_url: str) -> list[str]:
    return run_git("config", "--local", "--get-all", f"credential.{site_url}.helper", cwd=repo).stdout.splitlines()


async def test_clone_by_slug_configures_the_helper_and_stores_no_token(emulator, sign_in, run_git, tmp_path):
    store, profile = sign_in(emulator)
    events: list[git.CloneEvent] = []
    result = await git.clone_repository(profile, "acme", "webapp", on_progress=events.append, store=store)

    assert result.ok and result.error is None
    assert result.path == Path.cwd() / "webapp"
    assert result.branch == "main"
    assert result.size_bytes and result.size_bytes > 0
    assert (result.path / "app" / "views.py").read_text() == "def index(request):\n    return 'hello'\n"
    phases = {e.phase for e in events if isinstance(e, git.CloneProgress)}
    assert {"Receiving objects", "Resolving deltas", "Updating files"} <= phases
    assert any(isinstance(e, git.CloneOutput) and e.text.startswith("Cloning into") for e in events)

    helpers = _helper_lines(result.path, run_git, emulator.site_url)
    assert helpers[0] == ""
    assert helpers[1].startswith("!") and git_setup._is_our_helper(helpers[1]) and "credential --profile work" in helpers[1]
    config = (result.path / ".git" / "config").read_text()
    assert profile.access_token.reveal() not in config
    assert profile.refresh_token.reveal() not in config
    assert run_git("remote", "get-url", "origin", cwd=result.path).stdout.strip() == f"{emulator.site_url}/acme/webapp.git"
    # fetch works days later through the helper written into .git/config (no env injection here)
    assert run_git("fetch", "origin", cwd=result.path).returncode == 0


async def test_clone_by_url_of_the_develop_branch(emulator, sign_in, run_git):
    store, profile = sign_in(emulator)
    ref = git.parse_repository_ref(f"http://alice@{emulator.git_host}/acme/webapp.git", site_url=profile.site_url)
    result = await git.clone_repository(profile, *ref, "checkout", branch="develop", store=store)
    assert result.branch == "develop"
    assert (result.path / "notes" / "develop.md").read_text().startswith("# develop")
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=result.path).stdout.strip() == "develop"


async def test_shallow_clone(emulator, sign_in, run_git):
    store, profile = sign_in(emulator)
    result = await git.clone_repository(profile, "acme", "firmware", depth=1, store=store)
    assert run_git("rev-list", "--count", "HEAD", cwd=result.path).stdout.strip() == "1"
    assert (result.path / ".git" / "shallow").exists()


async def test_missing_branch_is_a_sentence_and_leaves_no_folder(emulator, sign_in):
    store, profile = sign_in(emulator)
    with pytest.raises(git.GitError) as caught:
        await git.clone_repository(profile, "acme", "webapp", branch="nope", store=store)
    assert str(caught.value) == "acme/webapp has no branch “nope”. Leave --branch out for its main branch."
    assert not (Path.cwd() / "webapp").exists()


async def test_unknown_repository_is_a_sentence(emulator, sign_in):
    store, profile = sign_in(emulator)
    with pytest.raises(git.GitError) as caught:
        await git.clone_repository(profile, "acme", "no-such-repo", store=store)
    assert str(caught.value) == (
        f"acme/no-such-repo was not found on {emulator.git_host}, or this account can't see it. "
        "Check the workspace and repository names."
    )
    assert not (Path.cwd() / "no-such-repo").exists()


async def test_existing_non_empty_destination_is_refused_before_anything_starts(emulator, sign_in):
    store, profile = sign_in(emulator)
    dest = Path.cwd() / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    before = emulator.stats.count("/acme/webapp.git/info/refs")
    with pytest.raises(DestinationExists) as caught:
        await git.clone_repository(profile, "acme", "webapp", dest, store=store)
    assert str(caught.value) == f"{dest} already exists and is not empty. Choose another destination, or remove it first."
    assert (dest / "notes.txt").read_text() == "mine"
    assert emulator.stats.count("/acme/webapp.git/info/refs") == before


async def test_existing_empty_destination_is_used_and_kept_on_failure(emulator, sign_in):
    store, profile = sign_in(emulator)
    dest = Path.cwd() / "empty"
    dest.mkdir()
    with pytest.raises(git.GitError):
        await git.clone_repository(profile, "acme", "webapp", dest, branch="nope", store=store)
    assert dest.is_dir() and not any(dest.iterdir())
    result = await git.clone_repository(profile, "acme", "webapp", dest, store=store)
    assert result.path == dest and (dest / "README.md").exists()


async def test_token_without_repository_scope_ends_with_the_scope_sentence(emulator, sign_in):
    store, profile = sign_in(emulator, scopes=["account"])
    with pytest.raises(ScopeError) as caught:
        await git.clone_repository(profile, "acme", "webapp", store=store)
    assert caught.value.missing == ["repository"]
    assert str(caught.value) == (
        "The token lacks the repository scope bbwizard needs. In Bitbucket: Workspace settings → Apps and "
        "features → OAuth clients (formerly OAuth consumers) → your client → Scopes (Permissions on the "
        "older form), tick Repositories: Read, save, then sign in "
        "again (bbwizard login)."
    )
    assert profile.access_token.reveal() not in str(caught.value)
    assert not (Path.cwd() / "webapp").exists()


async def test_a_refused_token_is_refreshed_once_and_the_clone_retried(emulator, sign_in):
    store, profile = sign_in(emulator)
    emulator.expire_tokens()  # the server says expired; the profile still thinks it is fresh
    result = await git.clone_repository(profile, "acme", "infrastructure", store=store)
    assert result.ok
    assert emulator.stats.grants["refresh_token"] == 1


async def test_refused_token_that_cannot_be_refreshed_asks_to_sign_in(emulator, sign_in):
    store, profile = sign_in(emulator)
    emulator.expire_tokens()
    emulator.revoke_refresh_tokens()
    with pytest.raises(SignInRequired) as caught:
        await git.clone_repository(profile, "acme", "infrastructure", store=store)
    assert "Sign in again: bbwizard login --profile work" in str(caught.value)
    assert profile.access_token.reveal() not in str(caught.value)
    assert not (Path.cwd() / "infrastructure").exists()


async def test_leading_dash_and_unicode_names(emulator_factory, parallel_seed, sign_in, run_git):
    emu = emulator_factory(parallel_seed)
    store, profile = sign_in(emu)
    dashed = await git.clone_repository(profile, *git.parse_repository_ref("open-tools/-dash-first"), store=store)
    assert dashed.path == Path.cwd() / "-dash-first"
    assert dashed.ok and (dashed.path / ".git").is_dir()
    # nothing became an option of git: no stray files named after the slug anywhere else
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["-dash-first"]

    unicode_dest = await git.clone_repository(profile, "acme", "webapp", Path.cwd() / "dossier à moi ☕", store=store)
    assert (unicode_dest.path / "README.md").exists()


async def test_unicode_slug(emulator_factory, parallel_seed, sign_in):
    emu = emulator_factory(parallel_seed)
    store, profile = sign_in(emu)
    ref = git.parse_repository_ref(f"{emu.site_url}/open-tools/d%C3%A9p%C3%B4t.git", site_url=profile.site_url)
    assert ref == ("open-tools", "dépôt")
    result = await git.clone_repository(profile, *ref, store=store)
    assert result.path == Path.cwd() / "dépôt"
    assert (result.path / "LISEZMOI.md").read_text() == "bonjour\n"


async def test_cancel_mid_clone_stops_git_and_removes_the_folder(emulator, sign_in):
    store, profile = sign_in(emulator)
    started = asyncio.Event()

    def on_progress(event: git.CloneEvent) -> None:
        if isinstance(event, git.CloneOutput) and event.text.startswith("Cloning into"):
            started.set()

    emulator.latency = 3.0  # every request waits: the clone hangs in its first request
    task = asyncio.ensure_future(git.clone_repository(profile, "acme", "webapp", on_progress=on_progress, store=store))
    await asyncio.wait_for(started.wait(), 30)
    dest = Path.cwd() / "webapp"
    assert dest.is_dir()
    task.cancel()
    with pytest.raises(CloneCancelled) as caught:
        await task
    assert str(caught.value) == f"Cancelled the clone of acme/webapp and removed {dest}."
    assert not dest.exists()
    emulator.latency = 0
    # no git process of ours is left behind
    assert not [pid for pid, cmd in _git_processes() if str(dest) in cmd]


def tree_bytes(path: Path):
    """Every file under ``path`` (the .git folder included) as (path, bytes)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            yield file, file.read_bytes()


def _git_processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "git" in cmd:
                yield int(entry), cmd


async def test_clone_many_eight_at_once(emulator_factory, parallel_seed, sign_in):
    emu = emulator_factory(parallel_seed)
    store, profile = sign_in(emu)
    requests = [git.CloneRequest("fleet", f"svc-{i:05d}") for i in range(1, 9)]
    seen: dict[int, int] = {}
    done: list[int] = []

    def on_progress(index: int, event: git.CloneEvent) -> None:
        seen[index] = seen.get(index, 0) + 1

    results = await git.clone_many(
        profile, requests, into="fleet", jobs=4, on_progress=on_progress, on_done=lambda i, r: done.append(i), store=store
    )
    assert [r.full_name for r in results] == [f"fleet/svc-{i:05d}" for i in range(1, 9)]
    assert all(r.ok for r in results)
    assert all(r.branch == "main" and r.size_bytes > 0 for r in results)
    assert [r.path for r in results] == [Path.cwd() / "fleet" / f"svc-{i:05d}" for i in range(1, 9)]
    assert sorted(seen) == list(range(8)) and sorted(done) == list(range(8))
    assert emu.stats.git["upload-pack"] >= 8


async def test_clone_many_reports_failures_without_stopping_the_rest(emulator, sign_in):
    store, profile = sign_in(emulator)
    requests = [git.CloneRequest("acme", "webapp"), git.CloneRequest("acme", "missing"), git.CloneRequest("acme", "firmware")]
    results = await git.clone_many(profile, requests, into="many", store=store)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == (
        f"acme/missing was not found on {emulator.git_host}, or this account can't see it. "
        "Check the workspace and repository names."
    )
    assert not (Path.cwd() / "many" / "missing").exists()


async def test_clone_many_refuses_two_repositories_in_one_folder(emulator, sign_in):
    store, profile = sign_in(emulator)
    with pytest.raises(git.UsageError) as caught:
        await git.clone_many(profile, [git.CloneRequest("acme", "x"), git.CloneRequest("other", "x")], into="d", store=store)
    assert str(caught.value) == (
        f"acme/x and other/x would both go to {Path.cwd() / 'd' / 'x'}. Clone them into different folders."
    )


async def test_token_leaks_nowhere(emulator, sign_in, run_git, git_home, own_processes):
    # A person's own `store` helper, globally: it must never see the token.
    run_git("config", "--global", "credential.helper", "store")
    store, profile = sign_in(emulator)
    token = profile.access_token.reveal().encode()
    secrets = (token, profile.refresh_token.reveal().encode(), profile.client_secret.reveal().encode())
    emulator.latency = 0.3  # long enough for the scanner to see git, its helpers and children
    hits: list[str] = []
    seen_git: set[int] = set()
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            # Only this test's processes: another program on the machine may hold the demo secret.
            for entry in own_processes():
                for what in ("cmdline", "environ"):
                    try:
                        data = Path(f"/proc/{entry}/{what}").read_bytes()
                    except OSError:
                        continue
                    if any(secret in data for secret in secrets):
                        hits.append(f"{entry}/{what}: {data[:80]!r}")
                    if what == "cmdline" and data.startswith(b"git"):
                        seen_git.add(int(entry))
            time.sleep(0.01)

    scanner = threading.Thread(target=scan, daemon=True)
    scanner.start()
    try:
        result = await git.clone_repository(profile, "acme", "webapp", store=store)
        pull = await asyncio.to_thread(run_git, "pull", "--ff-only", cwd=result.path)
    finally:
        stop.set()
        scanner.join()
    assert pull.returncode == 0
    assert seen_git, "the scanner never saw git running"
    assert hits == []
    for path, data in tree_bytes(result.path):
        assert not any(secret in data for secret in secrets), path
    credentials = Path(git_home["HOME"]) / ".git-credentials"
    assert not credentials.exists() or token not in credentials.read_bytes()


async def test_expired_token_refreshes_once_through_the_helper(emulator, sign_in, run_git):
    emulator.token_lifetime = 3
    store, profile = sign_in(emulator)
    result = await git.clone_repository(profile, "acme", "webapp", store=store)
    expires_at = store.get("work").expires_at
    await asyncio.sleep(max(0.0, (expires_at.timestamp() - time.time())) + 1.0)
    before = emulator.stats.grants["refresh_token"]
    pull = run_git("pull", "--ff-only", cwd=result.path)
    assert pull.returncode == 0, pull.stderr
    assert emulator.stats.grants["refresh_token"] - before == 1
    fresh = store.get("work")
    assert fresh.access_token != profile.access_token
    info = emulator.token_info(fresh.access_token.reveal())
    assert info is not None and info["username"] == "alice"


async def test_git_credential_fill_through_the_configured_helper(emulator, sign_in, run_git):
    store, profile = sign_in(emulator)
    result = await git.clone_repository(profile, "acme", "webapp", store=store)
    fill = run_git("credential", "fill", cwd=result.path, input=f"protocol=http\nhost={emulator.git_host}\n\n")
    answer = dict(line.split("=", 1) for line in fill.stdout.splitlines())
    assert answer["username"] == "x-token-auth"
    info = emulator.token_info(answer["password"])
    assert info is not None and not info["expired"]
    assert answer["password"] == store.get("work").access_token.reveal()


async def test_git_asks_bbwizards_helper_process_which_reads_the_saved_token(emulator, sign_in):
    # During the clone git runs `bbwizard credential --profile work`, the helper of .git/config:
    # the token comes from the config file, not from this process's copy of the profile.
    store, profile = sign_in(emulator)
    stale = profile.replace(access_token=Secret("not-a-token-bitbucket-knows"))
    result = await git.clone_repository(stale, "acme", "legacy-billing")
    assert result.ok and result.branch == "master"


async def test_the_helper_during_the_clone_reads_the_stores_own_config_file(emulator, sign_in, tmp_path):
    # A store that is not the file BBWIZARD_CONFIG names: the helper git starts is told which one.
    _, profile = sign_in(emulator)
    elsewhere = ConfigStore(tmp_path / "elsewhere" / "config.toml")
    elsewhere.save(profile.replace(name="other"), make_default=True)
    result = await git.clone_repository(elsewhere.get("other"), "acme", "webapp", store=elsewhere)
    assert result.ok and (result.path / ".git").is_dir()


async def test_cancel_clone_many_removes_every_unfinished_folder(emulator, sign_in):
    store, profile = sign_in(emulator)
    await git.clone_repository(profile, "acme", "webapp", Path.cwd() / "warm", store=store)  # build the repos first
    emulator.latency = 3.0
    started: set[int] = set()

    def on_progress(index: int, event: git.CloneEvent) -> None:
        if isinstance(event, git.CloneOutput) and event.text.startswith("Cloning into"):
            started.add(index)

    requests = [git.CloneRequest("acme", s) for s in ("webapp", "firmware", "infrastructure")]
    task = asyncio.ensure_future(git.clone_many(profile, requests, into="batch", jobs=2, on_progress=on_progress, store=store))
    for _ in range(300):
        if len(started) == 2:
            break
        await asyncio.sleep(0.05)
    assert started == {0, 1}
    task.cancel()
    with pytest.raises(CloneCancelled) as caught:
        await task
    emulator.latency = 0
    assert str(caught.value) == "Cancelled 3 clones and removed what they had created; 0 had finished and were kept."
    assert not (Path.cwd() / "batch").exists() or not any((Path.cwd() / "batch").iterdir())


async def test_a_stalled_transfer_is_stopped_with_a_sentence(emulator, sign_in):
    store, profile = sign_in(emulator)
    emulator.latency = 4.0  # no byte flows while the server "thinks"
    with pytest.raises(git.GitError) as caught:
        await git.clone_repository(profile, "acme", "webapp", store=store, low_speed_limit=1000, low_speed_time=1)
    emulator.latency = 0
    assert str(caught.value) == (
        "The clone of acme/webapp stalled (under 1000 bytes/s for 1 s) and was stopped. "
        "Check the connection and try again."
    )
    assert not (Path.cwd() / "webapp").exists()


async def test_push_works_through_the_helper(emulator, sign_in, run_git):
    store, profile = sign_in(emulator)
    result = await git.clone_repository(profile, "acme", "webapp", branch="develop", store=store)
    (result.path / "hello.txt").write_text("hello\n")
    run_git("add", "hello.txt", cwd=result.path)
    run_git("commit", "-q", "-m", "Say hello", cwd=result.path)
    pushed = run_git("push", "origin", "develop", cwd=result.path, check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert emulator.stats.git["receive-pack"] == 1
    assert profile.access_token.reveal() not in pushed.stderr


async def test_403_with_the_scope_granted_means_no_access(emulator, sign_in):
    # The profile says `repository`, but the token Bitbucket holds lacks it: git gets 403.
    store, profile = sign_in(emulator, scopes=["account"])
    store.save(store.get("work").with_tokens(profile.access_token, profile.refresh_token, profile.expires_at, ["account", "repository"]))
    with pytest.raises(git.GitError) as caught:
        await git.clone_repository(store.get("work"), "acme", "webapp", store=store)
    assert str(caught.value) == (
        "Bitbucket refused access to acme/webapp: this account can't read it. Ask a workspace admin for access, "
        "or check the workspace and repository names."
    )


async def test_the_clone_measures_the_tree_only_when_asked(emulator, sign_in, run_git):
    # `bbwizard clone` of one repository names no size: it skips the walk, which costs a large
    # repository seconds. The same clone otherwise: helper, branch, files.
    store, profile = sign_in(emulator)
    quiet = await git.clone_repository(profile, "acme", "webapp", "quiet", store=store, measure_size=False)
    assert quiet.ok and quiet.size_bytes is None and quiet.branch == "main"
    assert git_setup._is_our_helper(_helper_lines(quiet.path, run_git, emulator.site_url)[1])
    measured = await git.clone_repository(profile, "acme", "webapp", "measured", branch="develop", store=store)
    assert measured.branch == "develop" and measured.size_bytes and measured.size_bytes > 0
