"""``bbwizard login``, ``token``, ``status`` and ``logout``: sign-in without the wizard, gh style.

Prompts and progress go to stderr (✓ ! X marks); data (the token, ``status``) to stdout. Every
prompt has a flag, and when stdin is not a terminal a missing value is a usage error naming the
flag, never a prompt that hangs. Secrets are never arguments: hidden input or ``--secret-stdin``.

Imports stay light at module level: ``bbwizard token`` with a fresh token must not import httpx.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from bbwizard.errors import EXIT_OK, EXIT_SIGN_IN, CodeError, LoopbackError, UsageError

if TYPE_CHECKING:
    from typing import Any

_LOGIN_HELP = """\
Sign in to Bitbucket Cloud with an OAuth client (formerly OAuth consumer): Workspace settings →
Apps and features → OAuth clients → Create (Atlassian's older pages: OAuth consumers → Add
consumer). On the Authorization tab tick Authorization code and set a Callback URL such as
http://localhost:8976/; on the Scopes tab (Permissions on the older form) tick Account: Read and
Repositories: Read. Keys of 32 characters and secrets of about 76 are normal. bbwizard checks the key and secret, opens the
authorize page, catches the redirect on that loopback port (or takes the code or the
address you paste), and saves the profile.

Unattended:  printf '%s\\n' "$SECRET" | bbwizard login --key KEY --secret-stdin --client-credentials

Or with a token you made (read from the first line of stdin, or asked hidden; never an argument):
  bbwizard login --with-api-token --email EMAIL [--expires-on YYYY-MM-DD]
      an Atlassian API token: id.atlassian.com → Security → Create API token with scopes →
      app Bitbucket; tick read:user:bitbucket, read:workspace:bitbucket, read:repository:bitbucket
  bbwizard login --with-access-token --repository WORKSPACE/REPO   (or --workspace WORKSPACE)
      a repository, project or workspace access token: its settings → Access tokens
"""


def _clone_dir(args: argparse.Namespace) -> str | None:
    """``--clone-dir`` as an absolute path: the profile is read later, from other folders."""
    import os

    text = (getattr(args, "clone_dir", None) or "").strip()
    return os.path.abspath(os.path.expanduser(text)) if text else None


def _seconds(text: str) -> float:
    """``--timeout``: a finite number of seconds above zero. ``nan`` and ``inf`` would wait forever."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds; give a number above zero, for example 300"
        )
    return value


def _ca_bundle(args: argparse.Namespace) -> str | None:
    """``--ca-bundle`` as an absolute path to a file that exists: git and the credential helper
    read it later, from other folders."""
    import os

    text = (getattr(args, "ca_bundle", None) or "").strip()
    if not text:
        return None
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isfile(path):
        raise UsageError(f"--ca-bundle {path}: there is no such file. Give the CA bundle (a PEM file) the site's certificate comes from.")
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    login = subparsers.add_parser(
        "login",
        help="sign in with an OAuth client (formerly OAuth consumer) and save a profile",
        description=_LOGIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # "--secret X" must not pass for --secret-stdin and leave X lying around
    )
    # Caught so the refusal is a sentence that doesn't echo the value (security.md rule 9).
    login.add_argument("--secret", "--client-secret", dest="secret_argument", metavar="SECRET", help=argparse.SUPPRESS)
    login.add_argument("--profile", metavar="NAME", help="the profile to create or sign in again (default: the default profile, else 'default')")
    login.add_argument("--key", metavar="KEY", help="the consumer's key (asked when missing)")
    login.add_argument("--secret-stdin", action="store_true", help="read the consumer's secret from the first line of stdin (never pass it as an argument)")
    login.add_argument("--callback-url", metavar="URL", help="the callback URL set on the consumer (suggested: http://localhost:8976/)")
    login.add_argument("--no-browser", action="store_true", help="don't open a browser; print the address to open")
    login.add_argument("--paste", action="store_true", help="read the code, or the address the browser landed on, from stdin (after the secret) instead of catching the redirect")
    login.add_argument("--client-credentials", action="store_true", help="consumers allowed client credentials: get a token without the browser, as the consumer's app user (no refresh token: bbwizard asks again)")
    login.add_argument("--site-url", metavar="URL", help="the Bitbucket site (default https://bitbucket.org)")
    login.add_argument("--api-url", metavar="URL", help="the REST API base (default https://api.bitbucket.org/2.0, or SITE/2.0 with --site-url)")
    login.add_argument("--ca-bundle", metavar="FILE",
                       help="a CA bundle (PEM) to check the site's and the API's certificates against, saved in the profile "
                       "and given to git (default: SSL_CERT_FILE, else the system's trust)")
    login.add_argument("--token", dest="token_argument", metavar="TOKEN", help=argparse.SUPPRESS)
    login.add_argument("--with-api-token", action="store_true",
                       help="sign in with an Atlassian API token (with scopes, app Bitbucket), read from stdin or asked hidden")
    login.add_argument("--email", metavar="EMAIL", help="with --with-api-token: the email of the Atlassian account that made the token")
    login.add_argument("--expires-on", metavar="YYYY-MM-DD", help="with --with-api-token: the expiry date chosen when making it (status warns 14 days ahead)")
    login.add_argument("--with-access-token", action="store_true",
                       help="sign in with a repository, project or workspace access token, read from stdin or asked hidden")
    login.add_argument("--workspace", metavar="WORKSPACE", help="with --with-access-token: the workspace the token is for")
    login.add_argument("--repository", metavar="WORKSPACE/REPO", help="with --with-access-token: the repository the token is for")
    login.add_argument("--clone-dir", metavar="DIR", help="the folder `bbwizard clone` and the wizard clone into for this profile (default: the current folder)")
    login.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=300.0, help="how long to wait for the browser to come back (default 300)")
    login.set_defaults(func=cmd_login)

    token = subparsers.add_parser(
        "token",
        help="print a valid access token (refreshed first when stale)",
        description=(
            "Print a valid access token on stdout and nothing else, refreshing it first when it is stale. For scripts "
            "and SDKs. An OAuth or access token goes to Bitbucket's REST API as 'Authorization: Bearer TOKEN'. For a "
            "profile signed in with --with-api-token this prints the API token, which REST wants as HTTP Basic with "
            "the account's email (curl -u EMAIL:TOKEN), and git with the username x-bitbucket-api-token-auth."
        ),
    )
    token.add_argument("--profile", metavar="NAME", help="the profile (default: the default profile)")
    token.set_defaults(func=cmd_token)

    status = subparsers.add_parser(
        "status",
        help="show profiles, user, scopes and token expiry",
        description=(
            "Show each profile: the user, the scopes, when the token expires, and where secrets are kept. "
            "Each token is checked with Bitbucket (GET /user, one request per profile, in parallel) unless "
            "--offline. Exit 0 when every profile shown is usable, 3 when one needs a new sign-in, 1 when "
            "one lacks a scope bbwizard needs."
        ),
    )
    status.add_argument("--profile", metavar="NAME", help="only this profile")
    status.add_argument("--json", action="store_true", help="print JSON on stdout (no secrets)")
    status.add_argument("--offline", action="store_true", help="don't ask Bitbucket; judge each token from the config file alone")
    status.set_defaults(func=cmd_status)

    logout = subparsers.add_parser(
        "logout",
        help="forget a profile's tokens",
        description="Forget a profile's tokens. The consumer key and secret stay for the next login unless --forget-consumer.",
    )
    logout.add_argument("--profile", metavar="NAME", help="the profile (default: the default profile)")
    logout.add_argument("--forget-consumer", action="store_true", help="also forget the consumer key and secret (the whole profile)")
    logout.set_defaults(func=cmd_logout)


# --- token --------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    from bbwizard.freshtoken import read_fresh_token

    fresh = read_fresh_token(args.profile)
    if fresh is not None:
        token = fresh.token
    else:
        from bbwizard.config import ConfigStore

        store = ConfigStore()
        profile = store.get(args.profile)
        if profile.token_state() != "fresh":
            from bbwizard.oauth import ensure_fresh

            profile = ensure_fresh(store, profile.name)
        warnings = store.warnings()
        if warnings:
            from bbwizard.cli import output

            for warning in warnings:
                output.warn(warning)
        assert profile.access_token is not None
        token = profile.access_token.reveal()
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    return EXIT_OK


# --- prompts ------------------------------------------------------------------------------------


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _ask(prompt: str, flag: str, what: str, default: str | None = None) -> str:
    if not _stdin_is_tty():
        raise UsageError(f"{what} is needed: pass {flag} (stdin is not a terminal, so bbwizard can't ask).")
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    sys.stderr.write(shown)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise UsageError(f"{what} is needed: pass {flag}.")
    answer = line.strip()
    return answer or (default or "")


def _read_secret(args: argparse.Namespace) -> Any:
    from bbwizard.secret import Secret

    if args.secret_stdin and not _stdin_is_tty():
        line = sys.stdin.readline()
        value = line.rstrip("\r\n").strip()
        if not value:
            raise UsageError("--secret-stdin read an empty line: put the consumer's secret on the first line of stdin.")
        return Secret(value)
    if not _stdin_is_tty():
        raise UsageError("The consumer's secret is needed: pass --secret-stdin and write it on stdin (stdin is not a terminal, so bbwizard can't ask).")
    import getpass

    value = getpass.getpass("Consumer secret (hidden): ", stream=sys.stderr).strip()
    if not value:
        raise UsageError("The consumer's secret is empty. Copy it from Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers).")
    return Secret(value)


def _parse_joined(text: str, expected_state: str, next_line: Any) -> Any:
    """``parse_pasted``, joining the lines that follow while the address is cut off (a terminal
    wraps a long address, and the copy holds a line break): its start is never exchanged alone.
    Nothing more (the end of stdin, or an empty line) leaves the paste incomplete."""
    from bbwizard.oauth import MAX_PASTE, IncompletePaste, parse_pasted

    while True:
        try:
            return parse_pasted(text, expected_state)
        except IncompletePaste:
            more = next_line() if len(text) < MAX_PASTE else ""
            if not more.strip():
                raise
            text += more


def _read_pasted(args: argparse.Namespace, expected_state: str) -> Any:
    from bbwizard.cli import output

    attempts = 3 if _stdin_is_tty() else 1
    for attempt in range(attempts):
        if _stdin_is_tty():
            sys.stderr.write("Paste the code, or the whole address the browser landed on: ")
            sys.stderr.flush()
        elif not args.paste:
            raise UsageError("The code is needed: pass --paste and write the code or the address on stdin (stdin is not a terminal, so bbwizard can't ask).")
        line = sys.stdin.readline()
        try:
            pasted = _parse_joined(line, expected_state, sys.stdin.readline)
        except CodeError as error:
            if attempt == attempts - 1:
                raise
            output.fail(str(error))
            continue
        if pasted.warning:
            output.warn(pasted.warning)
        return pasted
    raise AssertionError("unreachable")  # pragma: no cover


class _TerminalPaste:
    """What a person pastes on the terminal while the loopback catcher waits: the first of the two
    to bring a code wins, and ends the other (``on_done`` closes the catcher).

    The line is read from fd 0 in a thread that polls with ``select`` (POSIX), so it can be
    stopped: no thread stays blocked in a read of stdin when the command ends, and the terminal's
    mode is never touched (it stays in line mode; a line arrives whole).
    """

    PROMPT = "Paste the code, or the whole address the browser landed on: "
    WAITING_PROMPT = "Or paste the code, or the whole address the browser landed on: "
    REST_PROMPT = "That address looks cut off: paste the rest of it (or press Enter): "
    ATTEMPTS = 3

    def __init__(self, expected_state: str, on_done: Any) -> None:
        import threading

        self.expected_state = expected_state
        self.on_done = on_done
        self.pasted: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()  # a code or a final error
        self.ended = threading.Event()  # the reader stopped, with or without a code (Ctrl+D)
        self._stop = threading.Event()
        self._prompt_open = False
        self._thread = threading.Thread(target=self._run, name="bbwizard-paste", daemon=True)

    def start(self) -> None:
        from bbwizard.loopback import _threads_started_here_ignore_ctrl_c

        self.prompt(self.WAITING_PROMPT)
        with _threads_started_here_ignore_ctrl_c():
            self._thread.start()

    def prompt(self, text: str = PROMPT) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()
        self._prompt_open = True

    def end_prompt_line(self) -> None:
        """Start a fresh line when a prompt was shown and nothing typed after it."""
        if self._prompt_open:
            self._prompt_open = False
            sys.stderr.write("\n")
            sys.stderr.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.end_prompt_line()

    def _lines(self) -> Any:
        import select

        fd = sys.stdin.fileno()
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # Ctrl+D: no paste; the browser may still come back
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                # A terminal hands over a pasted block one line per read: the rest of the
                # block is already waiting when this line comes.
                more = b"\n" in pending or bool(select.select([fd], [], [], 0)[0])
                yield line.decode("utf-8", "replace"), more

    def _run(self) -> None:
        from bbwizard.cli import output
        from bbwizard.errors import BBWizardError
        from bbwizard.oauth import MAX_PASTE, IncompletePaste, parse_pasted

        attempts = self.ATTEMPTS
        joined = ""  # the lines of one pasted block, or of an address cut off so far
        try:
            for line, more in self._lines():
                self._prompt_open = False  # the person's Enter ended the line
                if more and line.strip() and len(joined) < MAX_PASTE:
                    joined += line  # one address over several lines: wait for the block's end
                    continue
                if not line.strip() and not joined:
                    self.prompt()
                    continue
                text, joined = joined + line, ""
                try:
                    self.pasted = parse_pasted(text, self.expected_state)
                except CodeError as error:
                    if isinstance(error, IncompletePaste) and line.strip() and len(text) < MAX_PASTE:
                        joined = text  # the rest of the address may come on the next line
                        self.prompt(self.REST_PROMPT)
                        continue
                    attempts -= 1
                    if attempts == 0:
                        self.error = error
                        break
                    output.fail(str(error))
                    self.prompt()
                    continue
                except BBWizardError as error:  # an address carrying error=access_denied
                    self.error = error
                break
            else:
                return
            self.done.set()
            self.on_done()
        except OSError:
            pass  # stdin went away: the browser may still come back
        finally:
            self.ended.set()


def _catch_or_paste(catcher: Any, expected_state: str, output: Any) -> str:
    """The code from the browser's redirect or from a paste, whichever comes first."""
    paste = _TerminalPaste(expected_state, on_done=catcher.close)
    paste.start()
    try:
        try:
            result = catcher.wait()
        except LoopbackError as error:
            if not paste.done.is_set():  # the catcher timed out; the paste may still come
                if paste.ended.is_set():  # Ctrl+D earlier: nothing will be pasted
                    raise
                paste.end_prompt_line()
                output.warn(error.message)
                catcher.close()
                paste.prompt()
                while not paste.ended.wait(0.2):  # slices: Ctrl+C stays answered
                    pass
                if not paste.done.is_set():
                    paste.end_prompt_line()
                    raise LoopbackError("The browser didn't come back and nothing was pasted. Start the sign-in again.") from None
        else:
            paste.stop()
            output.ok("Bitbucket sent the code.")
            return result.code
    finally:
        paste.stop()
    if paste.error is not None:
        raise paste.error
    if paste.pasted.warning:
        output.warn(paste.pasted.warning)
    return paste.pasted.code


# --- login --------------------------------------------------------------------------------------


def _refuse_while_environment_token(action: str) -> None:
    """``login`` and ``logout`` leave profiles alone while BBWIZARD_TOKEN overrides them."""
    from bbwizard.envtoken import environment_token, refusal

    if environment_token() is not None:
        raise UsageError(refusal(action))


def _say_notes(store: Any) -> None:
    """What the store did instead of what was asked (a keyring that failed: the file kept them)."""
    if store.notes:
        from bbwizard.cli import output

        for note in store.notes:
            output.warn(note)
        store.notes.clear()


def cmd_login(args: argparse.Namespace) -> int:
    from bbwizard.config import ConfigStore

    if args.secret_argument is not None:
        raise UsageError(
            "bbwizard never takes the secret as an argument (it would stay in your shell history and the process "
            "list). Pass --secret-stdin and write it on stdin, or leave it out to be asked."
        )
    _refuse_while_environment_token("sign in to")
    store = ConfigStore()
    try:
        return _login(args, store)
    finally:
        _say_notes(store)


def _login(args: argparse.Namespace, store: Any) -> int:
    from bbwizard import oauth
    from bbwizard.cli import output
    from bbwizard.config import DEFAULT_PROFILE_NAME, Profile, default_api_url, validate_profile_name
    from bbwizard.loopback import is_loopback_url, suggest_callback_url

    for warning in store.warnings():
        output.warn(warning)
    existing_profiles = store.load()  # a corrupt file stops us here, before anything is written
    store.ensure_writable()  # a code works once: never spend one on tokens that can't be saved
    name = args.profile or store.default_name or DEFAULT_PROFILE_NAME
    validate_profile_name(name)
    existing = existing_profiles.get(name)
    _check_kind_flags(args)
    if args.with_api_token or args.with_access_token:
        return _login_with_token(args, store, name, existing, output)

    site_url = (args.site_url or (existing.site_url if existing else None) or "https://bitbucket.org").rstrip("/")
    if args.api_url:
        api_url = args.api_url.rstrip("/")
    elif existing and not args.site_url:
        api_url = existing.api_url
    else:
        api_url = default_api_url(site_url)
    for flag, url in (("--site-url", site_url), ("--api-url", api_url)):
        if not url.startswith(("https://", "http://")):
            raise UsageError(f"{flag} must be an http(s) address, like https://bitbucket.org.")
        oauth.require_https(url, f"{flag}")  # before the secret is asked for, not after it was sent

    if args.key:
        client_id = args.key.strip()
    elif existing and existing.client_id:
        client_id = existing.client_id
        output.info(f"Using the consumer key saved in profile '{name}' (--key to use another).")
    else:
        client_id = _ask("Consumer key", "--key KEY", "The consumer's key")
    if not client_id:
        raise UsageError("The consumer's key is empty. Copy it from Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers).")

    # The saved secret goes only to the site it was saved for: `--site-url` naming another one
    # (a command copied from somewhere) must not send it there.
    same_site = bool(existing) and existing.site_url.rstrip("/").lower() == site_url.lower()
    ca_bundle = _ca_bundle(args) or (existing.ca_bundle if existing and same_site else None)
    if args.secret_stdin or not (existing and existing.client_secret and existing.client_id == client_id and same_site):
        client_secret = _read_secret(args)
    else:
        client_secret = existing.client_secret

    output.info(f"Checking the consumer with {oauth.token_endpoint(site_url)} …")
    check = oauth.check_consumer(site_url, client_id, client_secret, ca_bundle=ca_bundle)
    (output.warn if check.kind == "unconfirmed" else output.ok)(check.message)

    base = Profile(
        name=name,
        client_id=client_id,
        client_secret=client_secret,
        callback_url=existing.callback_url if existing else None,
        site_url=site_url,
        api_url=api_url,
        clone_dir=_clone_dir(args),  # None keeps the profile's own (bbwizard.signin)
        ca_bundle=ca_bundle,
    )

    if args.client_credentials:
        if check.kind != "private" or check.token is None:
            from bbwizard.errors import ConsumerError

            refused = oauth.PUBLIC_CONSUMER_MESSAGE if check.kind == "public" else check.message.split(". The browser")[0] + "."
            raise ConsumerError(refused, hint="Leave out --client-credentials to sign in with the browser.")
        if args.callback_url:
            base.callback_url = args.callback_url.strip()
        base.grant = "client_credentials"
        return _finish(store, base, check.token, output)

    if check.kind == "private":
        output.info("  (--client-credentials would get a token without the browser, as the consumer's app user.)")

    callback_url = (args.callback_url or "").strip() or base.callback_url
    if not callback_url and not args.paste:
        output.info(f"The consumer's callback URL must be set in Bitbucket. To have bbwizard catch the redirect, use {suggest_callback_url()}")
        callback_url = _ask("Callback URL set on the consumer", "--callback-url URL", "The consumer's callback URL", default=suggest_callback_url())
    if callback_url and not callback_url.lower().startswith(("http://", "https://")):
        raise UsageError(
            f"The callback URL {callback_url!r} isn't an address: write it as it is on the consumer, like {suggest_callback_url()}"
        )
    base.callback_url = callback_url or None

    authorization = oauth.start_authorization(site_url, client_id)
    catcher = None
    if not args.paste and callback_url:
        from bbwizard.loopback import LoopbackCatcher

        if is_loopback_url(callback_url):
            try:
                catcher = LoopbackCatcher(callback_url, authorization.state, timeout=args.timeout).start()
            except LoopbackError as error:
                catcher = None
                if not _stdin_is_tty():
                    raise LoopbackError(error.message, hint="Or pass --paste and write the address the browser lands on to stdin.") from None
                output.warn(error.message)
        else:
            output.info(f"The callback URL {callback_url} isn't on this machine: after you click Grant access, paste the address the browser lands on.")
    try:
        output.info("Open this address in a browser and click Grant access:")
        output.info(f"  {authorization.url}")
        if not args.no_browser:
            from bbwizard.loopback import open_browser

            if open_browser(authorization.url):
                output.ok("Opened the browser.")
            else:
                output.warn("No browser here: open the address above on any machine.")
        if catcher is not None:
            from bbwizard.loopback import over_ssh, ssh_forward_hint

            if over_ssh():
                output.info("Over SSH, a browser on your own machine can't reach this one: forward the port first, and the redirect comes back here:")
                output.info(f"  {ssh_forward_hint(catcher.port)}")
            output.info(f"Waiting for the browser to come back to {callback_url} (Ctrl+C to stop) …")
            if _stdin_is_tty() and os.name == "posix":
                code = _catch_or_paste(catcher, authorization.state, output)
            else:
                try:
                    code = catcher.wait().code
                    output.ok("Bitbucket sent the code.")
                except LoopbackError as error:  # timed out: in a terminal, the address can still be pasted
                    if not _stdin_is_tty():
                        raise
                    output.warn(error.message)
                    code = _read_pasted(args, authorization.state).code
        else:
            code = _read_pasted(args, authorization.state).code
    finally:
        if catcher is not None:
            catcher.close()

    tokens = oauth.exchange_code(base, code, authorization)
    base.grant = "authorization_code"
    return _finish(store, base, tokens, output)


_OAUTH_ONLY = ("key", "secret_stdin", "callback_url", "no_browser", "paste", "client_credentials")


def _check_kind_flags(args: argparse.Namespace) -> None:
    """The flags of one way to sign in don't mix with another's."""
    if getattr(args, "token_argument", None) is not None:
        raise UsageError(
            "bbwizard never takes a token as an argument (it would stay in your shell history and the process "
            "list). Write it on the first line of stdin, or leave it out to be asked."
        )
    if args.with_api_token and args.with_access_token:
        raise UsageError("Choose one: --with-api-token (an Atlassian API token) or --with-access-token (a repository, project or workspace access token).")
    flags = {"--email": args.email, "--expires-on": args.expires_on}
    if not args.with_api_token:
        for flag, value in flags.items():
            if value is not None:
                raise UsageError(f"{flag} goes with --with-api-token.")
    if not args.with_access_token:
        for flag, value in {"--workspace": args.workspace, "--repository": args.repository}.items():
            if value is not None:
                raise UsageError(f"{flag} goes with --with-access-token.")
    if args.with_api_token or args.with_access_token:
        used = [f"--{n.replace('_', '-')}" for n in _OAUTH_ONLY if getattr(args, n, None)]
        if used:
            way = "--with-api-token" if args.with_api_token else "--with-access-token"
            raise UsageError(f"{', '.join(used)} belong to signing in with an OAuth consumer, not with {way}.")


def _read_token(what: str) -> Any:
    """The token from the first line of stdin, or asked hidden on a terminal; never an argument."""
    from bbwizard.secret import Secret

    if not _stdin_is_tty():
        value = (sys.stdin.readline() if sys.stdin is not None else "").strip()
        if not value:
            raise UsageError(f"The {what} is needed on the first line of stdin (stdin is not a terminal, so bbwizard can't ask).")
        return Secret(value)
    import getpass

    value = getpass.getpass(f"{what[0].upper()}{what[1:]} (hidden): ", stream=sys.stderr).strip()
    if not value:
        raise UsageError(f"The {what} is empty. Paste it where bbwizard asks for it.")
    return Secret(value)


def _expires_on(text: str | None) -> Any:
    if text is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--expires-on {text!r} is not a date: write it as YYYY-MM-DD, as id.atlassian.com showed it.") from None


def _reach(args: argparse.Namespace, existing: Any) -> tuple[str, str | None]:
    """``--workspace`` or ``--repository WS/REPO`` (else the saved profile's reach, else asked)."""
    if args.workspace and args.repository:
        raise UsageError("Give --workspace WORKSPACE or --repository WORKSPACE/REPO, not both.")
    text = args.repository
    if text is None and args.workspace is None and existing is not None and existing.kind == "access_token" and existing.reach:
        reach = existing.reach
        return reach.get("workspace", ""), reach.get("repository")
    if text is None and args.workspace is None:
        text = _ask(
            "What is the token for (WORKSPACE/REPO, or WORKSPACE)",
            "--repository WORKSPACE/REPO or --workspace WORKSPACE",
            "What the access token is for",
        )
        if "/" not in text:
            return text.strip(), None
    if text is None:
        workspace = args.workspace.strip()
        if not workspace or "/" in workspace:
            raise UsageError(f"--workspace {args.workspace!r} is not a workspace; for a repository use --repository WORKSPACE/REPO.")
        return workspace, None
    workspace, _, slug = text.strip().strip("/").partition("/")
    if not workspace or not slug or "/" in slug:
        raise UsageError(f"--repository {text!r} is not WORKSPACE/REPO (like acme/webapp).")
    return workspace, slug.removesuffix(".git")


def _login_with_token(args: argparse.Namespace, store: Any, name: str, existing: Any, output: Any) -> int:
    """``login --with-api-token`` and ``--with-access-token``: the token is checked at once."""
    from bbwizard import oauth
    from bbwizard.config import default_api_url
    from bbwizard.signin import check_email, sign_in_with_access_token, sign_in_with_api_token

    site_url = (args.site_url or (existing.site_url if existing else None) or "https://bitbucket.org").rstrip("/")
    api_url = args.api_url.rstrip("/") if args.api_url else existing.api_url if existing and not args.site_url else default_api_url(site_url)
    for flag, url in (("--site-url", site_url), ("--api-url", api_url)):
        if not url.startswith(("https://", "http://")):
            raise UsageError(f"{flag} must be an http(s) address, like https://bitbucket.org.")
        oauth.require_https(url, flag)  # before the token is read, not after it was sent
    same_site = bool(existing) and existing.site_url.rstrip("/").lower() == site_url.lower()
    ca_bundle = _ca_bundle(args) or (existing.ca_bundle if existing and same_site else None)
    if args.with_api_token:
        email = args.email
        if email is None and existing is not None and existing.kind == "api_token" and existing.email:
            email = existing.email
        if email is None:
            email = _ask("Email of your Atlassian account", "--email EMAIL", "The Atlassian account's email")
        email = check_email(email)  # before the token is read
        expires_on = _expires_on(args.expires_on)
        token = _read_token("API token")
        output.info(f"Checking the API token with {api_url}/user …")
        done = sign_in_with_api_token(store, name, email, token, site_url=site_url, api_url=api_url, expires_on=expires_on,
                                      clone_dir=_clone_dir(args), ca_bundle=ca_bundle)
        profile = done.profile
        output.ok(f"Signed in to {profile.site_host} as {profile.user.label if profile.user else email} with an API token of {email}")
        if expires_on is not None:
            output.ok(f"The token expires on {expires_on:%Y-%m-%d}; `bbwizard status` warns 14 days before.")
        else:
            output.info("  The API has no way to say when the token expires: give --expires-on YYYY-MM-DD to be warned 14 days before.")
        output.info("  git signs in as x-bitbucket-api-token-auth with it (never with the email).")
    else:
        workspace, repository = _reach(args, existing)
        token = _read_token("access token")
        target = f"{workspace}/{repository}" if repository else f"workspace {workspace}"
        output.info(f"Checking the access token with {target} …")
        done = sign_in_with_access_token(store, name, token, workspace=workspace, repository=repository, site_url=site_url,
                                         api_url=api_url, clone_dir=_clone_dir(args), ca_bundle=ca_bundle)
        output.ok(f"Signed in to {done.profile.site_host} with an access token for {target}")
        for sentence in done.can:
            output.ok(sentence)
        for sentence in done.cannot:
            output.info(f"  {sentence}")
    output.ok(f"Saved profile '{name}' in {store.path}")
    return EXIT_OK


def _finish(store: Any, base: Any, tokens: Any, output: Any) -> int:
    """Save the new tokens at once (they rotate), then say who is signed in; scopes last."""
    from bbwizard import oauth
    from bbwizard.signin import finish_sign_in

    done = finish_sign_in(store, base, tokens)
    profile = done.profile
    if profile.user is not None:
        output.ok(f"Signed in to {profile.site_host} as {output.plain(profile.user.label)}")
    elif done.user_note:
        output.warn(done.user_note)
    if done.granted is not None:
        output.ok(f"Scopes: {' '.join(done.granted) or '(none)'}")
    output.ok(f"The token expires {oauth.describe_expiry(profile.expires_at)}; bbwizard refreshes it on its own.")
    output.ok(f"Saved profile '{profile.name}' in {store.path}")
    done.raise_problems()
    return EXIT_OK


# --- status -------------------------------------------------------------------------------------


def _named_profile(store: Any, name: str | None) -> Any:
    """The profile ``--profile`` names (or the default one); a name that isn't there is an error
    that lists the names that are (exit 1: nothing to sign in to)."""
    if name is not None:
        profiles = store.load()
        if name not in profiles:
            from bbwizard.errors import BBWizardError

            known = ", ".join(sorted(profiles))
            there = f"The profiles in {store.path} are: {known}." if known else f"There are no profiles in {store.path}."
            raise BBWizardError(f"There is no profile named '{name}'. {there}", hint="See them with: bbwizard status --offline")
        return profiles[name]
    return store.get(None)


def cmd_status(args: argparse.Namespace) -> int:
    from bbwizard import oauth
    from bbwizard.config import ConfigStore, utc_now
    from bbwizard.errors import EXIT_FAILED
    from bbwizard.oauth import describe_expiry, missing_scopes

    store = ConfigStore()
    profiles = store.load()
    default = store.default_name if profiles else None
    if args.profile:
        profiles = {args.profile: _named_profile(store, args.profile)}
    now = utc_now()
    warnings = store.warnings()
    from_environment = _environment_row(store, args.profile)
    from bbwizard import keyring_store

    keyring_problem = keyring_store.problem()
    checked: dict[str, str] = {}
    if not args.offline:
        from bbwizard.signin import check_live

        checked = {name: verdict for name, (verdict, _) in check_live(list(profiles.values()), now=now).items()}
    rows = []
    needs_sign_in = not profiles and from_environment is None
    lacks_scope = False
    for name, profile in sorted(profiles.items()):
        state = profile.token_state(now)
        verdict = checked.get(name, "skipped")  # "ok", "refused" (401), "unreachable", or "skipped": not asked
        usable = state in ("fresh", "expiring") or (state == "expired" and profile.can_refresh)
        usable = usable and verdict != "refused"
        needs_sign_in = needs_sign_in or not usable
        # A token the person made reports no scopes; a missing one shows as a refusal instead.
        missing = missing_scopes(profile.scopes) if profile.access_token and state != "signed_out" and not profile.is_token_kind else []
        lacks_scope = lacks_scope or bool(missing)
        left = profile.expires_in(now)
        rows.append(
            {
                "name": name,
                "default": name == default,
                "site_url": profile.site_url,
                "api_url": profile.api_url,
                "git_host": profile.git_host,
                "kind": profile.kind,
                "grant": profile.grant,
                "client_id": profile.client_id or None,
                "email": profile.email,
                "token_expires_on": profile.token_expires_on.isoformat() if profile.token_expires_on else None,
                "reach": dict(profile.reach) if profile.reach else None,
                "callback_url": profile.callback_url,
                "user": None if profile.user is None else profile.user._asdict(),
                "scopes": list(profile.scopes),
                "missing_scopes": missing,
                "token_state": state,
                "can_refresh": profile.can_refresh,
                "checked": verdict,
                "usable": usable,
                "refresh_refused_at": _iso(profile.refresh_refused_at),
                "expires_at": _iso(profile.expires_at),
                "expires_in_seconds": int(left.total_seconds()) if left is not None else None,
                "secret_storage": profile.secret_storage,
            }
        )
    exit_code = EXIT_SIGN_IN if needs_sign_in else EXIT_FAILED if lacks_scope else EXIT_OK
    if args.json:
        import json

        document = {"config_path": str(store.path), "default": default, "warnings": warnings,
                    "environment_token": from_environment,
                    "keyring": {"usable": keyring_problem is None, "problem": keyring_problem,
                                "backend": keyring_store.backend_name() if keyring_problem is None else None},
                    "profiles": rows}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")  # every control escaped
        return exit_code

    from bbwizard.cli import output

    for warning in warnings:
        output.warn(warning)
    lines: list[str] = []
    if from_environment is not None:
        what = "API token of " + from_environment["email"] if from_environment["email"] else from_environment["kind"].replace("_", " ")
        lines.append(f"{output.plain(from_environment['site_url'])} — token from the environment (BBWIZARD_TOKEN)")
        lines.append(f"  ✓ {what}: token, credential, clone and repos use it instead of any stored profile")
        lines.append("  - login and logout leave the stored profiles alone while BBWIZARD_TOKEN is set")
        if not rows:
            sys.stdout.write("\n".join(map(output.plain, lines)) + "\n")
            return exit_code
    if not rows:
        output.fail(f"Not signed in (no profiles in {store.path}). Run: bbwizard login")
        return EXIT_SIGN_IN
    for row in rows:
        profile = profiles[row["name"]]
        login = oauth.login_command(profile)
        mark = " (default)" if row["default"] else ""
        lines.append(f"{profile.site_host} — profile '{row['name']}'{mark}")
        who = profile.user.label if profile.user else "an unknown user"
        state = row["token_state"]
        if profile.refresh_refused_at is not None:
            when = describe_expiry(profile.refresh_refused_at, now).removeprefix("in ")
            lines.append(f"  X The sign-in has ended: Bitbucket refused the refresh token {when}. Sign in again: {login}")
        elif state == "signed_out":
            lines.append(f"  X Signed out. Sign in: {login}")
        elif profile.is_token_kind:
            lines.extend(_token_kind_lines(profile, row, now))
        elif row["checked"] == "refused":
            lines.append(
                f"  X Bitbucket refused the token of {who} (the grant may be revoked under Personal settings → "
                f"App authorizations): run {login}"
            )
        else:
            lines.append(f"  ✓ Signed in as {who}" + (" (client credentials: the consumer's app user)" if profile.grant == "client_credentials" else ""))
            expiry = describe_expiry(profile.expires_at, now)
            if state == "fresh":
                lines.append(f"  - Token: expires {expiry}")
            elif state == "expiring":
                lines.append(f"  ! Token: expires {expiry}; bbwizard refreshes it on next use")
            elif profile.can_refresh:
                lines.append(f"  - Token: expired {expiry.removeprefix('in ')}; bbwizard refreshes it on next use")
            else:
                lines.append(f"  X Token: expired {expiry}; sign in again: {login}")
            if row["checked"] == "ok":
                lines.append("  ✓ Bitbucket accepts the token (checked just now)")
            elif row["checked"] == "unreachable":
                lines.append(f"  ! Could not reach Bitbucket at {profile.api_url}; judged from the file")
            lines.append(f"  - Scopes: {' '.join(profile.scopes) or '(none reported)'}")
            if row["missing_scopes"]:
                from bbwizard.oauth import PERMISSION_FOR_SCOPE

                ticks = " and ".join(PERMISSION_FOR_SCOPE[s] for s in row["missing_scopes"])
                lines.append(f"  X Missing {' and '.join(row['missing_scopes'])}: tick {ticks} on the consumer, then sign in again")
        if profile.is_token_kind:
            lines.append(f"  - Kind: {profile.describe_kind()}; site {profile.site_url}, API {profile.api_url}")
        else:
            lines.append(f"  - Consumer key: {profile.client_id}; site {profile.site_url}, API {profile.api_url}")
        if profile.secret_storage == "keyring":
            lines.append(f"  - Secrets kept in: the system keyring ({keyring_store.backend_name()}); the rest in {store.path}")
        elif keyring_problem is not None:
            lines.append(f"  - Secrets kept in: the config file {store.path} (mode 600): {keyring_problem}")
        else:
            lines.append(f"  - Secrets kept in: the config file {store.path} (mode 600); "
                         f"to move them to the system keyring: bbwizard config secrets keyring --profile {profile.name}")
    sys.stdout.write("\n".join(map(output.plain, lines)) + "\n")  # a display name comes from the server
    return exit_code


def _environment_row(store: Any, name: str | None) -> dict[str, Any] | None:
    """What ``status`` says of BBWIZARD_TOKEN (never the token): None when it is not set."""
    from bbwizard.envtoken import environment_kind, environment_token

    if environment_token() is None:
        return None
    from bbwizard.config import environment_profile

    profile = environment_profile(store, name)  # a bad kind or a missing email: its sentence
    return {"profile": profile.name, "kind": environment_kind(), "email": profile.email,
            "site_url": profile.site_url, "api_url": profile.api_url}


#: How long before an API token's expiry date `status` starts warning.
API_TOKEN_WARNING_DAYS = 14


def _token_kind_lines(profile: Any, row: dict[str, Any], now: Any) -> list[str]:
    """What `status` says of an API token or an access token (never refreshed)."""
    from bbwizard import oauth

    login = oauth.login_command(profile)
    where = oauth.WHERE_TOKENS_ARE_MADE[profile.kind]
    lines: list[str] = []
    if row["checked"] == "refused":
        what = "API token" if profile.kind == "api_token" else "access token"
        lines.append(f"  X Bitbucket refuses the {what} (expired or revoked): make a new one ({where}), then run {login}")
        return lines
    if profile.kind == "api_token":
        who = profile.user.label if profile.user else profile.email
        lines.append(f"  ✓ Signed in as {who} with an API token of {profile.email}")
        ends = profile.token_expires_on
        if ends is None:
            lines.append("  - Token: expiry date not known (sign in again with --expires-on YYYY-MM-DD to be warned before it ends)")
        else:
            days = (ends - now.date()).days
            if row["token_state"] == "expired":
                lines.append(f"  X Token: expired on {ends:%Y-%m-%d}; make a new one ({where}), then run {login}")
            elif days <= API_TOKEN_WARNING_DAYS:
                left = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
                lines.append(f"  ! Token: expires on {ends:%Y-%m-%d} ({left}); make a new one ({where}), then run {login}")
            else:
                lines.append(f"  - Token: expires on {ends:%Y-%m-%d} (in {days} days)")
        lines.append("  - git signs in as x-bitbucket-api-token-auth; REST takes Basic with the email")
    else:
        lines.append(f"  ✓ Access token for {profile.reach_label or 'what it was made for'}")
        lines.append("  - Token: works until it expires or is revoked (Bitbucket doesn't say when); git signs in as x-token-auth")
    if row["checked"] == "ok":
        lines.append("  ✓ Bitbucket accepts the token (checked just now)")
    elif row["checked"] == "unreachable":
        lines.append(f"  ! Could not reach Bitbucket at {profile.api_url}; judged from the file")
    return lines


def _iso(when: Any) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


# --- logout -------------------------------------------------------------------------------------


#: Where each kind of credential is revoked on Bitbucket's side: forgetting a token here revokes nothing.
REVOKE_WHERE = {
    "oauth": "Forgetting tokens here revokes nothing on Bitbucket: the grant itself is revoked under Personal "
             "settings → App authorizations (https://bitbucket.org/account/settings/app-authorizations/).",
    "api_token": "The API token itself is revoked at id.atlassian.com → Security → API tokens.",
    "access_token": "The access token itself is revoked in Bitbucket where it was made "
                    "(Repository, Project or Workspace settings → Access tokens).",
}


def cmd_logout(args: argparse.Namespace) -> int:
    from bbwizard.cli import output
    from bbwizard.config import ConfigStore

    _refuse_while_environment_token("sign out of")
    store = ConfigStore()
    try:
        return _logout(args, store, output)
    finally:
        _say_notes(store)


def _logout(args: argparse.Namespace, store: Any, output: Any) -> int:
    profile = _named_profile(store, args.profile)
    if profile.is_token_kind:
        # The token is the whole sign-in: nothing is left worth keeping, and Bitbucket can't be
        # told from here (only where the token was made).
        from bbwizard.oauth import WHERE_TOKENS_ARE_MADE

        store.delete(profile.name)
        what = "API token" if profile.kind == "api_token" else "access token"
        output.ok(f"Forgot profile '{profile.name}' and its {what} ({store.path}).")
        output.info(f"  The token itself still works until it expires: revoke it where it was made ({WHERE_TOKENS_ARE_MADE[profile.kind]}).")
        return EXIT_OK
    if args.forget_consumer:
        store.delete(profile.name)
        if profile.name in store.load():  # said only once the file, read again, shows it
            from bbwizard.errors import ConfigError

            raise ConfigError(f"Profile '{profile.name}' is still in {store.target}: it could not be removed.")
        output.ok(f"Forgot profile '{profile.name}': its tokens, consumer key and secret are gone from {store.path}")
        output.info(f"  {REVOKE_WHERE.get(getattr(profile, 'kind', 'oauth'), REVOKE_WHERE['oauth'])}")
        return EXIT_OK
    if not profile.access_token and not profile.refresh_token:
        output.ok(f"Profile '{profile.name}' was already signed out.")
        return EXIT_OK
    store.save(profile.signed_out(), make_default=False)
    output.ok(f"Signed out of profile '{profile.name}': its tokens are forgotten.")
    output.info(
        f"  The consumer key and secret are kept for the next `bbwizard login --profile {profile.name}`; "
        "--forget-consumer forgets them too."
    )
    output.info(f"  {REVOKE_WHERE.get(getattr(profile, 'kind', 'oauth'), REVOKE_WHERE['oauth'])}")
    return EXIT_OK
