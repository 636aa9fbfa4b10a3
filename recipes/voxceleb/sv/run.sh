#!/usr/bin/env bash
# VoxCeleb speaker verification: ECAPA-TDNN (C=1024) as published (Desplanques et al. 2020;
# SpeechBrain's and WeSpeaker's recipes), conf/experiment/sv/voxceleb_ecapa.yaml; cosine
# scoring (optionally AS-norm) of VoxCeleb1-O (cleaned list) and, when given, -E/-H.
# Corpus: --root DIR or $VOXCELEB_ROOT, the folder holding voxceleb1/{dev,test}/wav (or any
# layout audiokit/data/corpora/voxceleb.py reads) and veri_test2.txt. Trains on VoxCeleb1 dev,
# or on VoxCeleb2 dev with --subsets 'voxceleb1_test voxceleb2_dev' (converted to wav first).
# One utterance per training speaker is held out as the validation set (speaker ID accuracy).
# Needs GPUs for the full run:  run.sh -- trainer=ddp trainer.devices=4
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs from \$VOXCELEB_ROOT (voxceleb1_dev, voxceleb1_test + trials, voxceleb2_dev if asked), hold out a validation set"
  "train the embedding model"
  "embed the test sets and score their trials (AS-norm with --as-norm true or --cohort-dir)"
  "score: EER, minDCF, DET curve, RESULTS.md"
)
RECIPE_OPTIONS="root experiment data_dir subsets train_set valid_set test_sets as_norm cohort_dir"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment sv/voxceleb_ecapa] [--subsets 'voxceleb1_dev voxceleb1_test'] [--as-norm false] [--cohort-dir DIR] [--test-sets 'DIR...'] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/voxceleb/sv/data): the prepared subsets, and
train/valid cut from voxceleb2_dev (when in --subsets) or voxceleb1_dev. Test sets: voxceleb1_test
(VoxCeleb1-O); add data/voxceleb1_e or data/voxceleb1_h (written when their lists are in the
root) with --test-sets. --as-norm true AS-normalises the scores against the training speakers;
--cohort-dir D against D's. Given --train-set/--valid-set/--test-sets, stage 1 only checks them."
root="${VOXCELEB_ROOT:-}"
experiment=sv/voxceleb_ecapa
data_dir="$recipe_dir/data"
subsets="voxceleb1_dev voxceleb1_test"
train_set="" valid_set="" test_sets=""
as_norm=false cohort_dir=""

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/voxceleb1_test"
require_distinct_test_names  # outputs go to infer/<name>
if [ "$as_norm" = true ]; then cohort_dir="${cohort_dir:-$train_set}"; fi

# holdout_valid SRC TRAIN VALID: the last utterance of each speaker with two or more -> VALID
# (speaker ID accuracy on unseen recordings of the training speakers), the rest -> TRAIN.
holdout_valid() {
  local src="$1" train="$2" valid="$3" f
  mkdir -p "$train" "$valid"
  awk '{n[$2]++; last[$2] = $1} END {for (s in n) if (n[s] > 1) print last[s]}' \
    "$src/utt2spk" > "$valid/.held_out"
  for f in wav.scp utt2spk utt2dur; do
    : > "$train/$f"; : > "$valid/$f"  # awk writes only non-empty outputs: no stale files
    awk -v t="$train/$f" -v v="$valid/$f" 'FILENAME == ARGV[1] {held[$1]; next}
      {print > (($1 in held) ? v : t)}' "$valid/.held_out" "$src/$f"
  done
  rm -f "$valid/.held_out" "$train/spk2utt" "$valid/spk2utt"
  echo "  $train: $(wc -l < "$train/wav.scp") utterances; $valid: $(wc -l < "$valid/wav.scp") held out"
}

stage_prepare() {
  if $own_data; then
    if [ -z "$root" ]; then
      echo "$0: VOXCELEB_ROOT is not set: set it (or give --root) to the folder holding voxceleb1/" >&2
      exit 2
    fi
    [ -d "$root" ] || { echo "$0: VOXCELEB_ROOT=$root: no such folder" >&2; exit 2; }
    audiokit-prep voxceleb --root "$root" --out "$data_dir" --subsets "${subsets// /,}"
    local src=voxceleb1_dev
    [[ " $subsets " == *" voxceleb2_dev "* ]] && src=voxceleb2_dev
    holdout_valid "$data_dir/$src" "$train_set" "$valid_set"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" "${overrides[@]}"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 2"
  local t
  for t in $test_sets; do
    require "$t/trials" "the test sets need a trials file"
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/infer/$(basename "$t")" \
      ${cohort_dir:+cohort_dir="$cohort_dir"}
  done
}

stage_score() {
  local t name
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/infer/$name/scores" "run stage 3"
    audiokit-score task=sv ref="$t/trials" hyp="$exp_dir/infer/$name/scores" \
      exp_dir="$exp_dir" name="$name"
  done
}

run_stage 1 stage_prepare
run_stage 2 stage_train
run_stage 3 stage_infer
run_stage 4 stage_score
recipe_summary
