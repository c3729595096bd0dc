"""``mlvet verify key|certificate|sigstore PATH``: verify a model against its model-signing signature.

Options mirror ``model_signing verify`` (``--public-key`` is also accepted as ``--public_key`` and so
on); unlike it, ``--signature`` may be left out: the signature is then looked for next to the model
(see :func:`mlvet.trust.signing.signature_candidates`). When verification fails, the changed, missing
and extra files are named.

Exit codes: 0 verified; 1 verification failed (not authentic, or files differ); 2 the signature cannot
be read or verification cannot run (unreadable key, no network for Sigstore, library missing);
4 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS
from mlvet.commands.sign import absolute_paths, hashing_options, model_path_argument, sigstore_instance_options

if TYPE_CHECKING:
    from mlvet.trust.signing import Method, VerifyResult

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def register(group: click.Group) -> None:
    """Add the ``verify`` group (``key``, ``certificate``, ``sigstore``) to the mlvet group."""

    @group.group(name="verify", subcommand_metavar="METHOD")
    def verify_group() -> None:
        """Verify a model file or folder against its signature (exit 0 only when verified).

        METHOD is the one the model was signed with: key (the public key), certificate (the CA
        certificates to trust) or sigstore (the expected signer identity; needs the network).
        """

    def common(func: Any) -> Any:
        func = click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
                            show_default=True, help="Output format.")(func)
        func = click.option("--ignore-unsigned-files/--no-ignore-unsigned-files",
                            "--ignore_unsigned_files/--no-ignore_unsigned_files", "ignore_unsigned_files",
                            default=False, show_default=True,
                            help="Accept files that were not signed (only the signed ones are checked).")(func)
        func = hashing_options(func)
        return click.option("--signature", type=_EXISTING_FILE, metavar="SIGNATURE_PATH",
                            help="The signature to check (default: model.sig inside the folder, PATH.sig, "
                                 "or a model.sig beside PATH or in the working directory that names it).")(func)

    @verify_group.command(name="key")
    @model_path_argument
    @click.option("--public-key", "--public_key", "public_key", type=_EXISTING_FILE, required=True,
                  help="The public key paired with the signing key (PEM).")
    @common
    def verify_key(model_path: Path, public_key: Path, **opts: Any) -> int:
        """Verify PATH with a public key."""
        return _run(model_path, "key", opts, public_key=public_key)

    @verify_group.command(name="certificate")
    @model_path_argument
    @click.option("--certificate-chain", "--certificate_chain", "certificate_chain", type=_EXISTING_FILE,
                  multiple=True, help="CA certificates to trust (PEM; repeatable, or several in one file). "
                                      "Default: the system's root certificates.")
    @common
    def verify_certificate(model_path: Path, certificate_chain: tuple[Path, ...], **opts: Any) -> int:
        """Verify PATH signed with a certificate: the chain must lead to a trusted CA."""
        return _run(model_path, "certificate", opts, certificate_chain=list(certificate_chain))

    @verify_group.command(name="sigstore")
    @model_path_argument
    @click.option("--identity", required=True, help="The expected signer identity (e.g. name@example.com).")
    @click.option("--identity-provider", "--identity_provider", "identity_provider", required=True,
                  help="The expected OIDC issuer (e.g. https://accounts.google.com).")
    @sigstore_instance_options
    @common
    def verify_sigstore(model_path: Path, identity: str, identity_provider: str, use_staging: bool,
                        trust_config: Path | None, **opts: Any) -> int:
        """Verify PATH signed with Sigstore against the expected identity (needs the network)."""
        return _run(model_path, "sigstore", opts, identity=identity, identity_provider=identity_provider,
                    use_staging=use_staging, trust_config=trust_config)


def _run(model_path: Path, method: Method, opts: dict[str, Any], **kwargs: Any) -> int:
    from mlvet.commands import _io
    from mlvet.trust.signing import SigningError, require_library, verify

    require_library()  # a missing extra is exit 4, naming it (see mlvet.cli.missing_extra_message)
    fmt = opts.pop("fmt")
    try:
        result = verify(model_path, method, signature=opts["signature"],
                        ignore_paths=absolute_paths(opts["ignore_paths"]), ignore_git_paths=opts["ignore_git_paths"],
                        allow_symlinks=opts["allow_symlinks"], ignore_unsigned_files=opts["ignore_unsigned_files"],
                        **kwargs)
    except SigningError as exc:
        if fmt == "json":
            _echo_json({"ok": False, "method": method, "error": exc.diagnostics()})
        _io.error(f"cannot verify: {exc.diagnostics()}")
        return exc.exit_code
    if fmt == "json":
        _echo_json(_as_dict(result))
    else:
        _echo_text(result)
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS


def _as_dict(result: VerifyResult) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(result)
    for key in ("changed", "missing", "extra"):
        data[key] = list(data[key])
    return data


def _echo_json(data: dict[str, Any]) -> None:
    import json

    click.echo(json.dumps(data, indent=2))


def _echo_text(result: VerifyResult) -> None:
    """The verdict, then the files that differ; names come from the model folder: escaped for the terminal."""
    from mlvet.report.text import printable

    if result.ok:
        click.echo(f"verified: {printable(result.reason)}")
        return
    click.echo(f"verification FAILED: {printable(result.reason)}")
    for label, names in (("changed", result.changed), ("missing", result.missing), ("extra", result.extra)):
        for name in names:
            click.echo(f"  {label:<8} {printable(name)}")
