#!/usr/bin/env bash
# Step 2 of action.yml: scan, write SARIF and the job summary; never fails the step itself (the upload must
# still run), the exit code goes to $GITHUB_OUTPUT for finish.sh.
#   INPUT_PATHS     paths to scan: one per line, or separated by spaces on a single line (default .)
#   INPUT_FAIL_ON   lowest severity that fails (default high)
#   INPUT_POLICY    policy file (optional)
#   INPUT_SARIF     SARIF file to write (default mlvet.sarif)
#   MLVET_PYTHON    interpreter that has mlvet (default python3)
set -uo pipefail
python="${MLVET_PYTHON:-python3}"
fail_on="${INPUT_FAIL_ON:-high}"
sarif="${INPUT_SARIF:-mlvet.sarif}"
raw="${INPUT_PATHS:-.}"
paths=()
if [[ "$raw" == *$'\n'* ]]; then
    while IFS= read -r line; do
        [ -n "$line" ] && paths+=("$line")
    done <<< "$raw"
else
    read -r -a paths <<< "$raw"
fi
[ "${#paths[@]}" -gt 0 ] || paths=(.)
mkdir -p "$(dirname "$sarif")"
args=(scan --format sarif --output "$sarif" --fail-on "$fail_on" --no-progress --no-color)
if [ -n "${INPUT_POLICY:-}" ]; then
    args+=(--policy "$INPUT_POLICY")
fi
"$python" -m mlvet "${args[@]}" -- "${paths[@]}"
code=$?
{
    echo "exit-code=$code"
    echo "sarif-file=$sarif"
} >> "${GITHUB_OUTPUT:-/dev/null}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
if [ -s "$sarif" ]; then
    "$python" -m mlvet.integrations.ci summary "$sarif" --fail-on "$fail_on" --exit-code "$code" >> "$summary" \
        || printf '## mlvet scan\n\nmlvet exited with code %s; the summary could not be written.\n' "$code" >> "$summary"
else
    printf '## mlvet scan\n\nmlvet exited with code %s and wrote no report.\n' "$code" >> "$summary"
fi
exit 0
