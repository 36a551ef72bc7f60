"""``bbwizard doctor``: what would break a sign-in or a ``git pull``, each with the line that fixes it.

The checks are :mod:`bbwizard.diagnosis`'s; this module only shows them: gh's marks (✓ fine,
! worth fixing, X broken, - a note) or ``--json``. Exit 0 when nothing needs fixing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from bbwizard.errors import EXIT_FAILED, EXIT_OK

_MARKS = {"ok": "✓", "note": "-", "warning": "!", "problem": "X"}
_AREAS = {
    "config": "Config file",
    "profile": "Profiles",
    "git": "git's credential helpers",
    "credentials": "Passwords kept by git",
    "remote": "This repository's remotes",
    "environment": "Environment",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check the set-up: config file, profiles, git's helpers, old passwords, SSH remotes, environment",
        description=(
            "Check what breaks sign-ins in practice and say how to fix each: the config file's mode and owner, "
            "each profile's token (asked of Bitbucket), an unused refresh token about to die, missing scopes, "
            "bbwizard's git helper (still this bbwizard after an upgrade? another helper after it that keeps "
            "tokens?), dead app passwords in ~/.git-credentials or in a remote URL (never shown), SSH remotes "
            "on the old git@bitbucket.org host, and variables such as BBWIZARD_TOKEN, GIT_ASKPASS, proxies and "
            "CA bundles. Exit 0 when nothing needs fixing, 1 otherwise."
        ),
    )
    doctor.add_argument("--profile", "-p", metavar="NAME", help="check only this profile (the other checks still run)")
    doctor.add_argument("--json", action="store_true", help="the findings as JSON on stdout")
    doctor.add_argument("--offline", action="store_true", help="don't ask Bitbucket about the tokens")
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from bbwizard.config import ConfigStore
    from bbwizard.diagnosis import all_well, diagnose

    store = ConfigStore()
    findings = diagnose(store, profile=args.profile, live=not args.offline)
    code = EXIT_OK if all_well(findings) else EXIT_FAILED
    if args.json:
        import json

        document = {"config_path": str(store.path), "ok": code == EXIT_OK, "findings": [f.as_dict() for f in findings]}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")  # every control escaped
        return code

    from bbwizard.cli import output

    lines: list[str] = []
    area = None
    for finding in findings:
        if finding.area != area:
            area = finding.area
            lines.append(("\n" if lines else "") + _AREAS.get(area, area))
        lines.append(f"  {_MARKS[finding.level]} {output.plain(finding.message)}")
        if finding.fix and finding.level != "ok":
            lines.append(f"      {output.plain(finding.fix)}")
    problems = sum(f.level in ("warning", "problem") for f in findings)
    lines.append("")
    lines.append("✓ Nothing to fix." if not problems else f"{problems} thing{'s' if problems != 1 else ''} to fix.")
    sys.stdout.write("\n".join(lines) + "\n")
    return code
