"""``mlvet score``: the model report card (text, JSON or a self-contained HTML page).

Exit codes: 0 the card was produced (and the score is at least ``--fail-under``), 1 the score is below
``--fail-under``, 4 usage error (missing path, bad option, invalid policy).
"""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``score`` to the group."""

    @group.command()
    @click.argument("path", type=click.Path(path_type=str, readable=False))
    @click.option("--format", "-f", "fmt", default="text", show_default=True,
                  type=click.Choice(["text", "json", "html"], case_sensitive=False), help="Output format.")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=str),
                  help="Write the report card to this file instead of standard output.")
    @click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=str),
                  help="Verify the model's signature with this public key (key method) instead of only "
                       "checking the files against the signed manifest.")
    @click.option("--signature", type=click.Path(dir_okay=False, path_type=str),
                  help="Signature file (default: model.sig in the model folder, beside the model, or here).")
    @click.option("--fail-under", type=click.FloatRange(0, 10), default=None,
                  help="Exit 1 when the overall score is below this value (0–10).")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
                  help="Policy file (TOML); its [score] table sets weights, per-check risks and caps.")
    @click.option("--jobs", "-j", default=0, show_default="0: auto", type=click.IntRange(0, 256),
                  help="Files scanned in parallel (worker processes); 0 chooses from the machine and the input: "
                  "one per available CPU (at most 8), one for small inputs.")
    @click.option("--db", metavar="URL", help="Inventory database whose training-data links (mlvet data link, "
                  "inventory runs) the data_integrity check reads too (opened read-only).")
    @click.option("--color/--no-color", default=None, help="Force or disable colour (default: on a terminal).")
    @click.option("--verbose", "-v", is_flag=True, help="Show every check's details in the text output.")
    def score(path: str, fmt: str, output: str | None, public_key: str | None, signature: str | None,
              fail_under: float | None, policy_file: str | None, jobs: int, db: str | None, color: bool | None,
              verbose: bool) -> int:
        """Score how far to trust the model at PATH (a file, folder or Hugging Face cache snapshot), 0–10."""
        import os
        import sys
        from pathlib import Path

        from mlvet.commands import _io
        from mlvet.scanner import resolve_policy
        from mlvet.trust.score import score_model
        from mlvet.trust.score.render import get_renderer

        if signature is not None and public_key is None and not os.path.exists(signature):
            raise click.BadParameter(f"no such file: {signature}", param_hint="--signature")
        renderer = get_renderer(fmt)
        _io.check_output(output, what="report card")
        policy = resolve_policy(policy_file, Path.cwd())
        if "://" in path:  # a remote URL (hf://...): scored from what a ranged scan reads
            from mlvet.remote.base import is_remote

            if not is_remote(path):
                raise click.UsageError(f"{path}: not a remote source mlvet knows")
            from mlvet.trust.score.remote import score_remote

            card = score_remote(path, policy=policy, public_key=public_key, signature=signature, jobs=jobs)
        else:
            card = score_model(path, policy=policy, public_key=public_key, signature=signature, jobs=jobs,
                               db=db)
        if output:
            with _io.output_file(output, what="report card") as fh:
                renderer(card, fh, color=False, verbose=verbose)
        else:
            use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
            renderer(card, _io.text_stdout(), color=use_color, verbose=verbose)
        if fail_under is not None and card.score < fail_under:
            _io.note(f"score {card.score:.1f} is below --fail-under {fail_under:g}")
            return EXIT_FINDINGS
        errors = int(card.scan.get("errors", 0) or 0)  # type: ignore[call-overload]
        if errors:
            files = int(card.scan.get("files", 0) or 0)  # type: ignore[call-overload]
            _io.note(f"{errors} of {_io.plural(files, 'file')} could not be fully analysed: "
                     "the card is incomplete (exit 2)")
            return EXIT_INCOMPLETE
        return EXIT_CLEAN
