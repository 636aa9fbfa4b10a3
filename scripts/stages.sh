# Shared recipe runner: option parsing and numbered stages. Source it from a recipe's run.sh
# after defining RECIPE_STAGES (the stage names) and optional RECIPE_OPTIONS.
#
#   run.sh [--stage N] [--stop-stage N] [--exp-dir DIR] [--publish] [recipe options]
#          [-- hydra overrides]
#
# Each stage prints its name when it starts, fails loudly (set -euo pipefail), and writes a
# done-marker ($exp_dir/.done/stageN) on success; stages re-run when asked (they are
# idempotent: same inputs, same files).

set -euo pipefail

stage=1
stop_stage=100
exp_dir=""
publish=false
overrides=()
AUDIOKIT_RECIPE_CMD="$0 $*"
export AUDIOKIT_RECIPE_CMD

recipe_usage() {
  echo "usage: $0 [--stage N] [--stop-stage N] [--exp-dir DIR] [--publish] ${RECIPE_OPTIONS_USAGE:-}[-- hydra overrides...]"
  echo "  --publish: append the exp dir's RESULTS.md, dated, to the recipe's committed RESULTS.md"
  echo
  echo "stages:"
  local i
  for i in "${!RECIPE_STAGES[@]}"; do
    printf "  %d  %s\n" "$((i + 1))" "${RECIPE_STAGES[$i]}"
  done
  [ -n "${RECIPE_HELP:-}" ] && printf "\n%s\n" "$RECIPE_HELP"
  return 0
}

# parse_options "$@": the common options, --<name> VALUE for each name in RECIPE_OPTIONS
# (sets the variable of the same name, dashes as underscores), and overrides after --.
parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) recipe_usage; exit 0 ;;
      --stage|--stop-stage|--exp-dir)
        [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || {
          echo "$0: option $1 needs a value (see --help)" >&2; exit 2; }
        case "$1" in
          --stage) stage="$2" ;;
          --stop-stage) stop_stage="$2" ;;
          --exp-dir) exp_dir="$2" ;;
        esac
        shift 2 ;;
      --publish) publish=true; shift ;;
      --) shift; overrides=("$@"); break ;;
      --*)
        local name="${1#--}"; name="${name//-/_}"
        if [[ " ${RECIPE_OPTIONS:-} " == *" $name "* ]]; then
          [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 2; }
          printf -v "$name" '%s' "$2"; shift 2
        else
          echo "$0: unknown option $1 (see --help)" >&2; exit 2
        fi ;;
      *) echo "$0: unexpected argument '$1' (Hydra overrides go after --)" >&2; exit 2 ;;
    esac
  done
  check_stages
}

# check_stages: --stage and --stop-stage are whole numbers within the recipe's stages, in order.
check_stages() {
  local n=${#RECIPE_STAGES[@]} name value
  [ "$stop_stage" = 100 ] && stop_stage=$n  # the default: to the last stage
  for name in stage stop_stage; do
    value="${!name}"
    if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "$((10#$value))" -lt 1 ] || [ "$((10#$value))" -gt "$n" ]; then
      echo "$0: --${name//_/-} '$value': must be a whole number from 1 to $n (see --help for the stages)" >&2
      exit 2
    fi
    printf -v "$name" '%d' "$((10#$value))"
  done
  if [ "$stage" -gt "$stop_stage" ]; then
    echo "$0: --stage $stage comes after --stop-stage $stop_stage: nothing to run" >&2
    exit 2
  fi
}

# run_stage N function: run stage N if it lies in [stage, stop_stage].
run_stage() {
  local n="$1" fn="$2"
  if [ "$n" -lt "$stage" ] || [ "$n" -gt "$stop_stage" ]; then
    return 0
  fi
  echo "=== stage $n: ${RECIPE_STAGES[$((n - 1))]} ($(date '+%H:%M:%S')) ==="
  local t0=$SECONDS
  "$fn"
  mkdir -p "$exp_dir/.done"
  echo "$AUDIOKIT_RECIPE_CMD" > "$exp_dir/.done/stage$n"
  echo "=== stage $n done in $((SECONDS - t0)) s ==="
}

# check_seeds: a recipe's --seeds "42 43 44" holds whole numbers, none twice (checked before
# any stage runs).
check_seeds() {
  [ -z "${seeds:-}" ] && return 0
  local s
  for s in $seeds; do
    [[ "$s" =~ ^[0-9]+$ ]] || { echo "$0: --seeds '$seeds': whole numbers separated by spaces, e.g. --seeds \"42 43 44\"" >&2; exit 2; }
  done
  if [ -n "$(printf '%s\n' $seeds | sort | uniq -d)" ]; then
    echo "$0: --seeds '$seeds': a seed is given twice" >&2; exit 2
  fi
}

# for_each_seed FN: run FN (the stages from training on) once, or, with --seeds "42 43 44",
# once per seed in $exp_dir/seed<S> with seed=<S> added to the Hydra overrides (the exp dir's
# cmvn.json is copied in), then write $exp_dir/RESULTS.md: each metric's mean and standard
# deviation over the seeds (audiokit.utils.results).
for_each_seed() {
  if [ -z "${seeds:-}" ]; then "$@"; return; fi
  local base="$exp_dir" s dirs=() base_overrides=("${overrides[@]}")
  for s in $seeds; do
    exp_dir="$base/seed$s"
    mkdir -p "$exp_dir"
    [ -f "$base/cmvn.json" ] && cp "$base/cmvn.json" "$exp_dir/cmvn.json"
    overrides=("${base_overrides[@]}" "seed=$s")
    echo "=== seed $s: $exp_dir ==="
    "$@"
    dirs+=("$exp_dir")
  done
  exp_dir="$base" overrides=("${base_overrides[@]}")
  if compgen -G "$base/seed*/scores/*/report.json" >/dev/null; then
    "$(audiokit_python)" -m audiokit.utils.results seeds "$base" "${dirs[@]}"
  fi
}

# audiokit_python: the Python that runs audiokit-train (its script's interpreter).
audiokit_python() {
  local first
  first=$(head -n 1 "$(command -v audiokit-train)")
  if [[ "$first" == "#!"* ]] && [ -x "${first#\#!}" ]; then echo "${first#\#!}"; else echo python3; fi
}

# recipe_summary: the exp dir, and RESULTS.md only once a score stage has written it; with
# --publish, that RESULTS.md is first appended to the recipe's own (committed) RESULTS.md.
recipe_summary() {
  if [ -f "$exp_dir/RESULTS.md" ]; then
    if $publish; then publish_results; fi
    echo "exp dir: $exp_dir  results: $exp_dir/RESULTS.md"
  else
    $publish && echo "$0: --publish: no RESULTS.md in $exp_dir to publish (run the score stage)" >&2
    echo "exp dir: $exp_dir  (no RESULTS.md yet: the score stage writes it)"
  fi
}

# publish_results: append $exp_dir/RESULTS.md to the RESULTS.md beside the recipe's run.sh,
# under a dated heading, its own headings two levels down (the recipe file keeps its history).
publish_results() {
  local target
  target="$(cd "$(dirname "$0")" && pwd)/RESULTS.md"
  {
    printf '\n## %s: %s (run.sh --publish)\n\n' "$(date +%F)" "$exp_dir"
    sed -E 's/^(#+) /\1## /' "$exp_dir/RESULTS.md"
  } >> "$target"
  echo "published $exp_dir/RESULTS.md to $target"
}

# cmvn_stats [OVERRIDE...]: the training set's global CMVN statistics for the experiment's
# frontend, in $exp_dir/cmvn.json (a stage of every recipe with a CMVN frontend).
cmvn_stats() {
  require "$train_set/wav.scp" "run the prepare stage"
  audiokit-prep stats --out "$exp_dir/cmvn.json" --data-dir "$train_set" -- \
    experiment="$experiment" "$@" "${overrides[@]}"
}

# use_data_sets TRAIN VALID "TESTS": the recipe's own data dirs unless --train-set was given
# (then --valid-set and --test-sets are required too). Sets own_data=true|false.
use_data_sets() {
  own_data=false
  if [ -z "$train_set" ]; then
    own_data=true
    train_set="$1" valid_set="${valid_set:-$2}" test_sets="${test_sets:-$3}"
  fi
  [ -n "$valid_set" ] && [ -n "$test_sets" ] || { echo "$0: --train-set needs --valid-set and --test-sets" >&2; exit 2; }
}

# check_heldout_speakers: --heldout-speakers needs the recipe's own data (it prepares the
# held-out test set) and --speakers (the training voices), and no voice may be in both.
check_heldout_speakers() {
  [ -n "$heldout_speakers" ] || return 0
  if [ -n "$train_set" ]; then
    echo "$0: --heldout-speakers prepares the recipe's own data dirs; with --train-set, name the held-out set in --test-sets" >&2
    exit 2
  fi
  if [ -z "$speakers" ]; then
    echo "$0: --heldout-speakers needs --speakers (the training voices, without the held-out ones)" >&2
    exit 2
  fi
  local both
  both=$(comm -12 <(tr , '\n' <<<"$speakers" | sort) <(tr , '\n' <<<"$heldout_speakers" | sort) | paste -sd, -)
  if [ -n "$both" ]; then
    echo "$0: speaker(s) $both in both --speakers and --heldout-speakers" >&2
    exit 2
  fi
}

# prepare_heldout_test RECIPE_DIR: $data_dir/test_heldout holds every recording (index 0-49) of
# the --heldout-speakers voices: a new voice has no split (its train/valid are dropped).
prepare_heldout_test() {
  [ -n "$heldout_speakers" ] || return 0
  rm -rf "$data_dir/.heldout" "$data_dir/test_heldout"
  audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/.heldout" \
    --download-dir "$1/downloads" --speakers "$heldout_speakers" \
    --train-index 0:1 --valid-index 1:2 --test-index 0:50
  mv "$data_dir/.heldout/test" "$data_dir/test_heldout"
  rm -rf "$data_dir/.heldout"
}

# require_distinct_test_names: outputs are named after each test set's folder, so two test
# sets with the same folder name would overwrite each other's outputs.
require_distinct_test_names() {
  local t dup
  dup=$(for t in $test_sets; do basename "$t"; done | sort | uniq -d | head -1)
  if [ -n "$dup" ]; then
    echo "$0: two test sets are both named '$dup'; give them distinct folder names (e.g. symlinks)" >&2
    exit 2
  fi
}

# require FILE HINT: fail loudly when a stage's input is missing.
require() {
  [ -e "$1" ] || { echo "$0: missing $1 ($2)" >&2; exit 1; }
}

# Use the project's virtualenv when audiokit is not already on PATH.
if ! command -v audiokit-train >/dev/null 2>&1; then
  _audiokit_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -x "$_audiokit_root/.venv/bin/audiokit-train" ]; then
    PATH="$_audiokit_root/.venv/bin:$PATH"
  else
    echo "audiokit is not installed: run 'make install' in $_audiokit_root" >&2; exit 1
  fi
fi
