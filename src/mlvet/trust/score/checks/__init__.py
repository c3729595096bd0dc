"""The report card's checks, one module each; importing this package registers them.

The card lists checks by risk, then name. A new check is a new module here that calls
:func:`mlvet.trust.score.base.register`, plus one name in the import below (the list is static on
purpose: mlvet imports nothing by a computed name).
"""

from mlvet.trust.score.checks import (  # noqa: F401  (imported for their registration side effect)
    code_execution,
    dangerous_files,
    data_integrity,
    integrity,
    license,
    model_card,
    pinned_revision,
    provenance,
    remote_code,
    scan_completeness,
    serialization_format,
    signature,
    unsafe_duplicates,
)
