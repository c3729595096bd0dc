#!/usr/bin/env bash
# Step 4 of action.yml (after the SARIF upload): fail the job by mlvet's exit code.
#   MLVET_EXIT_CODE           exit code of the scan step (0 clean, 1 findings, 2 incomplete, 4 usage)
#   INPUT_FAIL_ON             the threshold (for the message)
#   INPUT_FAIL_ON_INCOMPLETE  "true" (default): a file mlvet could not fully analyse fails the job
set -euo pipefail
code="${MLVET_EXIT_CODE:-}"
case "$code" in
    0) echo "mlvet: no finding at or above ${INPUT_FAIL_ON:-high}"; exit 0 ;;
    1) echo "::error title=mlvet::findings at or above ${INPUT_FAIL_ON:-high} (see the job summary and code scanning)"
       exit 1 ;;
    2) if [ "${INPUT_FAIL_ON_INCOMPLETE:-true}" = "true" ]; then
           echo "::error title=mlvet::scan incomplete: a file could not be fully analysed (mlvet fails closed)"
           exit 2
       fi
       echo "::warning title=mlvet::scan incomplete: a file could not be fully analysed"
       exit 0 ;;
    *) echo "::error title=mlvet::mlvet did not run correctly (exit code '${code}')"; exit 4 ;;
esac
