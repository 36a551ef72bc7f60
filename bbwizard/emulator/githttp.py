"""git over HTTP: ``/{ws}/{slug}.git/...`` served by the real ``git http-backend``.

Basic auth as ``credentials.git_principal`` rules: ``x-token-auth`` (or the account's username) +
an OAuth access token, ``x-bitbucket-api-token-auth`` (or the username, never the email) + an API
token with ``read:repository:bitbucket`` (push: ``write:repository:bitbucket``), ``x-token-auth``
+ a repository, project or workspace access token within its reach; wrong, unscoped or expired
credentials and no credentials get the 401 challenge git needs before it asks its credential
helper. Refusals are plain text. The bare
repository is built (``gitrepos``) on its first request.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote

from bbwizard.emulator import gitrepos
from bbwizard.emulator.credentials import git_principal
from bbwizard.emulator.exchange import Exchange, redact

log = logging.getLogger("bbwizard.emulator")

REALM = 'Basic realm="Bitbucket.org HTTP"'

GIT_PATH = re.compile(r"^/(?P<ws>[^/]+)/(?P<slug>[^/]+?)(?:\.git)?(?P<rest>/(?:info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.+|info/.+))$")


def match(path: str) -> re.Match | None:
    """The workspace, slug and rest of a git smart HTTP path, or None."""
    return GIT_PATH.match(path)


def serve(ex: Exchange, method: str, found: re.Match) -> None:
    """Authenticate, authorise (read, or write for a push), then hand the request to git."""
    emu = ex.emu
    ws_ident, slug, rest = unquote(found.group("ws")), unquote(found.group("slug")), found.group("rest")
    service = ex.params.get("service", "")
    push = rest.endswith("git-receive-pack") or service == "git-receive-pack"
    principal = git_principal(emu, ex.headers.get("Authorization", ""))
    if principal is None:
        ex.send(401, b"Unauthorized\n", "text/plain; charset=utf-8", {"WWW-Authenticate": REALM})
        return
    ws = emu.world.workspace(ws_ident)
    repo = emu.world.repo(ws, slug) if ws is not None else None
    if repo is None or (repo.is_private and not principal.sees(ws, repo)):
        ex.send(404, b"Repository not found\n", "text/plain; charset=utf-8")
        return
    missing = principal.missing("repository:write" if push else "repository")
    if missing is not None or (push and not principal.sees(ws, repo)):
        ex.send(403, f"Your credentials lack one or more required privilege scopes ({missing or 'repository:write'}).\n".encode(),
                "text/plain; charset=utf-8")
        return
    path = emu.materialise_repo(repo)
    if rest.endswith("git-upload-pack") or rest.endswith("git-receive-pack"):
        with emu._lock:
            emu.stats.git["receive-pack" if push else "upload-pack"] += 1
    _cgi(ex, path, rest, principal.username, method)


def _cgi(ex: Exchange, repo_dir: Path, rest: str, username: str, method: str) -> None:
    """Run ``git http-backend`` as a CGI and stream its answer (chunked when it gives no length)."""
    emu = ex.emu
    env = gitrepos.git_env(emu.data_dir)
    env.update(
        GIT_PROJECT_ROOT=str(repo_dir.parent),
        GIT_HTTP_EXPORT_ALL="1",
        PATH_INFO=f"/{repo_dir.name}{rest}",
        QUERY_STRING=ex.query,
        REQUEST_METHOD=method,
        CONTENT_TYPE=ex.headers.get("Content-Type", ""),
        CONTENT_LENGTH=str(len(ex.body)),
        REMOTE_USER=username,
        REMOTE_ADDR=ex.client_address[0],
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_PROTOCOL="HTTP/1.1",
        SERVER_SOFTWARE="bitbucket-emulator",
    )
    for header, var in (("Git-Protocol", "HTTP_GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
        if ex.headers.get(header):
            env[var] = ex.headers[header]
    proc = subprocess.Popen([_http_backend()], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr

    def feed() -> None:
        try:
            proc.stdin.write(ex.body)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()

    errors: list[bytes] = []
    feeder = threading.Thread(target=feed, daemon=True)
    drainer = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    feeder.start()
    drainer.start()
    try:
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        ex.status = status
        ex.send_response(status)
        has_length = any(name.lower() == "content-length" for name, _ in headers)
        for name, value in headers:
            ex.send_header(name, value)
        if not has_length:
            ex.send_header("Transfer-Encoding", "chunked")
        ex.end_headers()
        while chunk := proc.stdout.read1(65536):
            if has_length:
                ex.wfile.write(chunk)
            else:
                ex.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if not has_length:
            ex.wfile.write(b"0\r\n\r\n")
    finally:
        proc.stdout.close()
        proc.wait()
        feeder.join()
        drainer.join()
        proc.stderr.close()
        if errors and errors[0].strip():
            log.debug("git http-backend: %s", redact(errors[0].decode(errors="replace").strip()))


_backend: str | None = None


def _http_backend() -> str:
    global _backend
    if _backend is None:
        git = shutil.which("git")
        if git is None:
            raise RuntimeError("git is not installed: the emulator serves git through git http-backend")
        exec_path = subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
        _backend = str(Path(exec_path) / "git-http-backend")
    return _backend
