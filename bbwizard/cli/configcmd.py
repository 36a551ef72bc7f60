"""``bbwizard config secrets keyring|file [--profile P]``: where a profile's secrets are kept.

The consumer secret and the tokens move together, never lost midway: the new place is written and
read back before the old one is cleared (:meth:`bbwizard.config.ConfigStore.move_secrets`).
"""

from __future__ import annotations

import argparse

from bbwizard.errors import EXIT_OK

_SECRETS_HELP = """\
Move a profile's consumer secret and tokens to the system keyring (the keyring extra:
pip install 'bbwizard[keyring]'; macOS Keychain, Windows Credential Manager, Secret Service) or
back to the config file (mode 600). The rest of the profile stays in the file. New profiles go to
the keyring when one is usable; `bbwizard status` says where each profile's secrets are.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    config = subparsers.add_parser("config", help="settings of saved profiles (where secrets are kept)",
                                   description="Settings of saved profiles.")
    commands = config.add_subparsers(dest="config_command", metavar="SETTING", required=True)
    secrets = commands.add_parser("secrets", help="keep a profile's secrets in the system keyring or in the config file",
                                  description=_SECRETS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    secrets.add_argument("storage", choices=("keyring", "file"), help="where the secrets go")
    secrets.add_argument("--profile", metavar="NAME", help="the profile (default: the default profile)")
    secrets.set_defaults(func=cmd_config_secrets)


def cmd_config_secrets(args: argparse.Namespace) -> int:
    from bbwizard.cli import output
    from bbwizard.config import ConfigStore
    from bbwizard.errors import SignInRequired

    store = ConfigStore()
    name = args.profile or store.default_name
    if name is None:
        raise SignInRequired(f"There is no default profile in {store.path}: name the profile with --profile NAME.")
    profile = store.move_secrets(name, args.storage)
    for note in store.notes:
        output.warn(note)
    if profile.secret_storage == "keyring":
        from bbwizard import keyring_store

        output.ok(f"The secrets of profile '{name}' are in the system keyring ({keyring_store.backend_name()}); "
                  f"{store.path} keeps the rest.")
    else:
        output.ok(f"The secrets of profile '{name}' are in the config file {store.path} (mode 600), none in the keyring.")
    return EXIT_OK
