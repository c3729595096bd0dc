"""``mlvet sign key|certificate|sigstore PATH``: sign a model in the OpenSSF model-signing format.

The methods, option names and defaults mirror ``model_signing sign`` so that commands (and scripts)
carry over: ``--private-key`` is also accepted as ``--private_key``, git paths are ignored by default, and
``--ignore-paths`` are resolved against the working directory. One difference: unless ``--signature`` says
otherwise the signature goes next to the model it signs (``<folder>/model.sig`` for a folder, ``<file>.sig``
for a file; :func:`mlvet.trust.signature_file.default_signature_path`), not to ``./model.sig``, where a
second model's signature replaced the first's. An existing signature is replaced only with ``--force``, and
atomically. Exit codes: 0 signed, 2 signing failed (unreadable key, no network for Sigstore...), 4 usage
error (an existing signature without ``--force``, the ``signing`` extra not installed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlvet.commands import EXIT_CLEAN

if TYPE_CHECKING:
    from mlvet.trust.signing import Method

F = TypeVar("F", bound=Callable[..., Any])

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def model_path_argument(func: F) -> F:
    """The ``PATH`` argument: a model file or folder."""
    return click.argument("model_path", metavar="PATH", type=click.Path(exists=True, path_type=Path))(func)


def hashing_options(func: F) -> F:
    """``--ignore-paths``, ``--ignore-git-paths/--no-ignore-git-paths``, ``--allow-symlinks`` (as model_signing)."""
    func = click.option("--allow-symlinks", "--allow_symlinks", "allow_symlinks", is_flag=True,
                        help="Follow symbolic links inside the model instead of refusing them.")(func)
    func = click.option("--ignore-git-paths/--no-ignore-git-paths", default=True, show_default=True,
                        help="Leave .git, .gitattributes, .github and .gitignore out of the manifest.")(func)
    return click.option("--ignore-paths", "--ignore_paths", "ignore_paths", multiple=True,
                        type=click.Path(path_type=Path), metavar="PATH",
                        help="A file or folder to leave out of the manifest (repeatable; relative to the "
                             "working directory).")(func)


def sigstore_instance_options(func: F) -> F:
    """``--use-staging`` and ``--trust-config``, shared by signing and verifying with Sigstore."""
    func = click.option("--trust-config", "--trust_config", "trust_config", type=_EXISTING_FILE,
                        help="A Sigstore client trust configuration (JSON) instead of the public instance.")(func)
    return click.option("--use-staging", "--use_staging", "use_staging", is_flag=True,
                        help="Use Sigstore's staging instance (tests only).")(func)


def absolute_paths(paths: tuple[Path, ...]) -> list[Path]:
    """Resolve against the working directory, as ``model_signing``'s CLI does for ``--ignore-paths``."""
    return [p if p.is_absolute() else (Path.cwd() / p) for p in paths]


def register(group: click.Group) -> None:
    """Add the ``sign`` group (``key``, ``certificate``, ``sigstore``) to the mlvet group."""

    @group.group(name="sign", subcommand_metavar="METHOD")
    def sign_group() -> None:
        """Sign a model file or folder (OpenSSF model-signing format, interoperable with model_signing).

        METHOD is key (an EC key pair), certificate (a key and its X.509 certificate chain) or sigstore
        (keyless, needs the network). The signature is a Sigstore bundle listing every file's digest.
        """

    def signature_option(func: F) -> F:
        func = click.option("--force", is_flag=True, help="Replace an existing signature.")(func)
        return click.option(
            "--signature", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="SIGNATURE_PATH",
            help="Where to write the signature (default: next to the model: <folder>/model.sig, <file>.sig).",
        )(func)
    private_key_option = click.option(
        "--private-key", "--private_key", "private_key", type=_EXISTING_FILE, required=True,
        help="The signing key (PEM; elliptic curve P-256, P-384 or P-521).")

    @sign_group.command(name="key")
    @model_path_argument
    @private_key_option
    @click.option("--password", help="Password of an encrypted private key.")
    @signature_option
    @hashing_options
    def sign_key(model_path: Path, private_key: Path, password: str | None, signature: Path | None, force: bool,
                 ignore_paths: tuple[Path, ...], ignore_git_paths: bool, allow_symlinks: bool) -> int:
        """Sign PATH with a private key (verify with the paired public key)."""
        return _run(model_path, "key", signature=signature, overwrite=force, private_key=private_key,
                    password=password.encode("utf-8") if password is not None else None,
                    ignore_paths=absolute_paths(ignore_paths), ignore_git_paths=ignore_git_paths,
                    allow_symlinks=allow_symlinks)

    @sign_group.command(name="certificate")
    @model_path_argument
    @private_key_option
    @click.option("--signing-certificate", "--signing_certificate", "signing_certificate", type=_EXISTING_FILE,
                  required=True, help="The certificate of the signing key (PEM).")
    @click.option("--certificate-chain", "--certificate_chain", "certificate_chain", type=_EXISTING_FILE,
                  multiple=True, help="Intermediate/root certificates (PEM) to include in the signature "
                                      "(repeatable, or several in one file).")
    @signature_option
    @hashing_options
    def sign_certificate(model_path: Path, private_key: Path, signing_certificate: Path,
                         certificate_chain: tuple[Path, ...], signature: Path | None, force: bool,
                         ignore_paths: tuple[Path, ...],
                         ignore_git_paths: bool, allow_symlinks: bool) -> int:
        """Sign PATH with a private key and its certificate (verify with the CA certificate)."""
        return _run(model_path, "certificate", signature=signature, overwrite=force, private_key=private_key,
                    signing_certificate=signing_certificate, certificate_chain=list(certificate_chain),
                    ignore_paths=absolute_paths(ignore_paths), ignore_git_paths=ignore_git_paths,
                    allow_symlinks=allow_symlinks)

    @sign_group.command(name="sigstore")
    @model_path_argument
    @signature_option
    @hashing_options
    @sigstore_instance_options
    @click.option("--use-ambient-credentials", "--use_ambient_credentials", "use_ambient_credentials",
                  is_flag=True, help="Use the OIDC credentials of the environment (e.g. GitHub Actions).")
    @click.option("--identity-token", "--identity_token", "identity_token", metavar="TOKEN",
                  help="A fixed OIDC identity token instead of the browser flow.")
    @click.option("--oauth-force-oob", "--oauth_force_oob", "oauth_force_oob", is_flag=True,
                  help="Out-of-band OAuth flow: print a URL instead of opening a browser.")
    @click.option("--client-id", "--client_id", "client_id", metavar="ID", help="Custom OpenID Connect client id.")
    @click.option("--client-secret", "--client_secret", "client_secret", metavar="SECRET",
                  help="Custom OpenID Connect client secret.")
    def sign_sigstore(model_path: Path, signature: Path | None, force: bool, ignore_paths: tuple[Path, ...],
                      ignore_git_paths: bool,
                      allow_symlinks: bool, use_staging: bool, trust_config: Path | None,
                      use_ambient_credentials: bool, identity_token: str | None, oauth_force_oob: bool,
                      client_id: str | None, client_secret: str | None) -> int:
        """Sign PATH with Sigstore (keyless: an OIDC identity, a short-lived certificate, a public log)."""
        return _run(model_path, "sigstore", signature=signature, overwrite=force,
                    ignore_paths=absolute_paths(ignore_paths),
                    ignore_git_paths=ignore_git_paths, allow_symlinks=allow_symlinks, use_staging=use_staging,
                    trust_config=trust_config, use_ambient_credentials=use_ambient_credentials,
                    identity_token=identity_token, oauth_force_oob=oauth_force_oob, client_id=client_id,
                    client_secret=client_secret)


def _run(model_path: Path, method: Method, *, signature: Path | None, overwrite: bool, **kwargs: Any) -> int:
    from mlvet.commands import _io
    from mlvet.trust.signing import (
        SigningError,
        check_signature_target,
        default_signature_path,
        require_library,
        sign,
    )

    require_library()  # a missing extra is exit 4, naming it (see mlvet.cli.missing_extra_message)
    target = signature if signature is not None else default_signature_path(model_path)
    check_signature_target(target, overwrite=overwrite)  # before the (possibly long) hashing
    try:
        written = sign(model_path, method, signature=target, overwrite=overwrite, **kwargs)
    except SigningError as exc:
        _io.error(f"signing failed: {exc.diagnostics()}")
        return exc.exit_code
    from mlvet.report.text import printable

    click.echo(f"signed {printable(str(model_path))} with the {method} method: {printable(str(written))}")
    return EXIT_CLEAN
