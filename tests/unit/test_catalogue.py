"""The format catalogue: one list of format ids, and every grouping of formats derived from it."""

from __future__ import annotations

import json

from mlvet.catalogue import CATALOGUE, REFINED, FormatId, code_formats, family_of, info
from mlvet.formats import handlers, import_all


def test_every_registered_handler_id_is_catalogued() -> None:
    import_all()
    missing = sorted(h.id for h in handlers() if info(h.id) is None)
    assert missing == []


def test_ids_behave_as_their_strings() -> None:
    assert FormatId.PYTORCH_ZIP == "pytorch-zip" and "pytorch-zip" in {FormatId.PYTORCH_ZIP}
    assert f"{FormatId.GGUF}" == str(FormatId.GGUF) == "gguf"
    assert json.dumps([FormatId.SEVEN_Z]) == '["7z"]'
    assert info("python-code") is None and family_of("nope") is None


def test_the_scanner_and_the_report_card_agree_on_formats_that_run_code() -> None:
    from mlvet.scanner import _CODE_FORMATS
    from mlvet.trust.score.checks._formats import PICKLE_FORMATS

    assert _CODE_FORMATS == code_formats()
    # The report card scores every code-running weight format in its pickle family, and nothing else there.
    weights_running_code = {f.value for f in code_formats() if CATALOGUE[f].weights}
    assert set(PICKLE_FORMATS) == weights_running_code
    assert FormatId.PYTORCH_PT2 in _CODE_FORMATS


def test_refined_names_are_specific_formats_not_containers() -> None:
    assert REFINED and all(not CATALOGUE[f].container for f in REFINED)
    # A TorchScript archive is also a torch zip (it holds data.pkl): the more specific name must come first.
    assert REFINED.index(FormatId.TORCHSCRIPT) < REFINED.index(FormatId.PYTORCH_ZIP)
