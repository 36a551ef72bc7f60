"""Git over HTTP through the emulator: the real git client against the real git http-backend."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from bbwizard.emulator import (
    ACCOUNT_ONLY_CONSUMER_KEY,
    DEMO_API_TOKEN,
    DEMO_CONSUMER_KEY,
    READ_ONLY_CONSUMER_KEY,
    demo_seed,
)

# A credential helper that answers from the environment, so no secret is in argv.
HELPER = '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" "$BBW_TEST_USER" "$BBW_TEST_PASS"; }; f'


def git(env, *args, cwd=None, user=None, password=None, check=False):
    env = dict(env)
    if password is not None:
        env.update(BBW_TEST_USER=user or "x-token-auth", BBW_TEST_PASS=password,
                   GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="credential.helper", GIT_CONFIG_VALUE_0="",
                   GIT_CONFIG_KEY_1="credential.helper", GIT_CONFIG_VALUE_1=HELPER)
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_clone_with_an_access_token(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    result = git(git_env, "clone", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "w"), password=token)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "w" / "README.md").read_text().startswith("# webapp")
    branches = git(git_env, "branch", "-r", cwd=tmp_path / "w", check=True).stdout
    assert "origin/develop" in branches and "origin/feature/login-page" in branches
    log = git(git_env, "rev-list", "--count", "HEAD", cwd=tmp_path / "w", check=True).stdout
    assert int(log) == 12
    assert emulator.stats.git["upload-pack"] >= 1


def test_clone_a_branch_and_a_non_main_default(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    git(git_env, "clone", "-b", "develop", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "d"), password=token, check=True)
    assert (tmp_path / "d" / "notes" / "develop.md").exists()
    git(git_env, "clone", "--", emulator.clone_url("open-tools", "data-pipeline"), str(tmp_path / "p"), password=token, check=True)
    head = git(git_env, "rev-parse", "--abbrev-ref", "HEAD", cwd=tmp_path / "p", check=True).stdout.strip()
    assert head == "develop"


def test_url_without_dot_git_works_too(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    url = f"http://{emulator.git_host}/acme/infrastructure"
    git(git_env, "clone", "--", url, str(tmp_path / "i"), password=token, check=True)


def test_the_repository_hash_matches_the_branches_endpoint(emulator, git_env, tmp_path, api):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    branches = api(emulator, "/repositories/acme/firmware/refs/branches", token).json()["values"]
    remote = git(git_env, "ls-remote", "--heads", emulator.clone_url("acme", "firmware"), password=token, check=True).stdout
    assert {line.split()[1][len("refs/heads/"):]: line.split()[0] for line in remote.splitlines()} == {
        b["name"]: b["target"]["hash"] for b in branches}


def test_expired_token_fails_with_401(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    emulator.expire_tokens()
    result = git(git_env, "clone", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "x"), password=token)
    assert result.returncode != 0 and "Authentication failed" in result.stderr
    assert emulator.stats.count("/acme/webapp.git/info/refs", status=401) >= 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("user", "password"), [
    ("x-token-auth", "not-a-token"),
    ("x-token-auth", DEMO_API_TOKEN),             # an API token needs its own username
    ("x-bitbucket-api-token-auth", "not-a-token"),
    ("bob", "USE-ALICES-TOKEN"),                  # another account's username with alice's token
    ("bbwDemoKey7qR2mN4x", "bbwDemoSecret9fK3pL6vT1wY8zC2hJ5nQ"),  # the consumer key and secret are no git credentials
])
def test_wrong_credentials_fail_with_401(emulator, git_env, tmp_path, user, password):
    if password == "USE-ALICES-TOKEN":
        password = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "webapp"), user=user, password=password)
    assert result.returncode != 0 and "Authentication failed" in result.stderr


def test_no_credentials_get_a_basic_challenge(emulator, http):
    response = http.get(emulator.site_url + "/acme/webapp.git/info/refs", params={"service": "git-upload-pack"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Bitbucket.org HTTP"'


@pytest.mark.parametrize(("user", "secret"), [
    ("alice", "ACCESS"),                          # GCM: the account's username + access token
    ("x-bitbucket-api-token-auth", DEMO_API_TOKEN),
    ("alice", DEMO_API_TOKEN),
])
def test_other_accepted_credentials(emulator, git_env, user, secret):
    if secret == "ACCESS":
        secret = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "webapp"), user=user, password=secret)
    assert result.returncode == 0, result.stderr
    assert "refs/heads/main" in result.stdout


def test_a_token_without_repository_scope_is_refused(emulator, git_env):
    token = emulator.mint_token(ACCOUNT_ONLY_CONSUMER_KEY)["access_token"]
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "webapp"), password=token)
    assert result.returncode != 0 and "403" in result.stderr


def test_unknown_or_foreign_repository_is_not_found(emulator, git_env):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "nope"), password=token)
    assert result.returncode != 0 and "not found" in result.stderr
    bob = emulator.mint_token(DEMO_CONSUMER_KEY, username="bob")["access_token"]
    result = git(git_env, "ls-remote", emulator.clone_url("alice", "dotfiles"), password=bob)
    assert result.returncode != 0 and "not found" in result.stderr


def _commit(env, repo):
    (repo / "NEW.md").write_text("new\n")
    git(env, "add", "NEW.md", cwd=repo, check=True)
    git(env, "commit", "-q", "-m", "Add NEW.md", cwd=repo, check=True)


def test_push_needs_repository_write(emulator, git_env, tmp_path):
    reader = emulator.mint_token(READ_ONLY_CONSUMER_KEY)["access_token"]
    writer = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    work = tmp_path / "w"
    git(git_env, "clone", "-q", "--", emulator.clone_url("acme", "infrastructure"), str(work), password=reader, check=True)
    _commit(git_env, work)
    refused = git(git_env, "push", "origin", "main", cwd=work, password=reader)
    assert refused.returncode != 0 and "403" in refused.stderr
    pushed = git(git_env, "push", "origin", "main", cwd=work, password=writer)
    assert pushed.returncode == 0, pushed.stderr
    assert emulator.stats.git["receive-pack"] == 1
    again = tmp_path / "again"
    git(git_env, "clone", "-q", "--", emulator.clone_url("acme", "infrastructure"), str(again), password=reader, check=True)
    assert (again / "NEW.md").exists()


def test_a_large_push_through_chunked_encoding(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    work = tmp_path / "w"
    git(git_env, "clone", "-q", "--", emulator.clone_url("acme", "legacy-billing"), str(work), password=token, check=True)
    (work / "big.bin").write_bytes(__import__("os").urandom(3 * 1024 * 1024))
    git(git_env, "add", "big.bin", cwd=work, check=True)
    git(git_env, "commit", "-q", "-m", "big", cwd=work, check=True)
    pushed = git(git_env, "-c", "http.postBuffer=65536", "push", "origin", "master", cwd=work, password=token)
    assert pushed.returncode == 0, pushed.stderr


def test_a_slug_with_a_leading_dash(emulator, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    git(git_env, "clone", "-q", "--", emulator.clone_url("open-tools", "-dash-first"), str(tmp_path / "-dash-first"),
        password=token, check=True)
    assert (tmp_path / "-dash-first" / "main.go").exists()


def test_generated_repository_is_materialised_on_first_clone(emulator_factory, big_seed, git_env, tmp_path):
    emu = emulator_factory(big_seed)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    assert not (emu.repos_dir / "big").exists()

    def clone(i):
        return git(git_env, "clone", "-q", "--", emu.clone_url("big", "repo-04242"), str(tmp_path / f"c{i}"), password=token)

    with ThreadPoolExecutor(3) as pool:  # three clones race for the first materialisation
        results = list(pool.map(clone, range(3)))
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert emu.stats.materialised == 1
    assert [p.name for p in (emu.repos_dir / "big").iterdir()] == ["repo-04242.git"]


def test_a_repository_of_a_few_megabytes_and_hundreds_of_commits(emulator_factory, git_env, tmp_path):
    seed = demo_seed()
    seed["workspaces"][0]["repositories"].append(
        {"slug": "heavy", "name": "heavy", "commits": 300, "size": "4MB", "branches": ["main", "develop"]})
    emu = emulator_factory(seed)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    git(git_env, "clone", "-q", "--", emu.clone_url("acme", "heavy"), str(tmp_path / "h"), password=token, check=True)
    count = git(git_env, "rev-list", "--count", "HEAD", cwd=tmp_path / "h", check=True).stdout
    assert int(count) == 300
    blobs = sum(p.stat().st_size for p in (tmp_path / "h" / "assets").iterdir())
    assert blobs >= 4 * 1024 * 1024 - 300


def test_history_is_deterministic(emulator_factory):
    one = emulator_factory().materialise("acme", "webapp")
    two = emulator_factory().materialise("acme", "webapp")
    def heads(path):
        return subprocess.run(["git", "for-each-ref"], cwd=path, capture_output=True, text=True, check=True).stdout
    assert heads(one) == heads(two)


@pytest.mark.parametrize("version", ["0", "1", "2"])
def test_every_wire_protocol_version_and_a_shallow_clone(emulator, git_env, tmp_path, version):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    dest = tmp_path / f"v{version}"
    git(git_env, "-c", f"protocol.version={version}", "clone", "-q", "--depth", "1", "--",
        emulator.clone_url("acme", "firmware"), str(dest), password=token, check=True)
    assert git(git_env, "rev-list", "--count", "HEAD", cwd=dest, check=True).stdout.strip() == "1"
    git(git_env, "-c", f"protocol.version={version}", "fetch", "-q", "--unshallow", cwd=dest, password=token, check=True)
    assert git(git_env, "rev-list", "--count", "HEAD", cwd=dest, check=True).stdout.strip() == "30"
