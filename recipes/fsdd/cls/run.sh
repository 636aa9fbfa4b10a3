#!/usr/bin/env bash
# Spoken-digit classification on the Free Spoken Digit Dataset (8 kHz, 10 classes).
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Split: recording index 0-4 test, 5-9 validation, 10-49 training. --heldout-speakers adds
# test_heldout: every recording (index 0-49) of voices left out of training.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs (from \$FSDD_ROOT, or download) and check every audio file"
  "global CMVN statistics of the training features"
  "train"
  "infer on the test sets"
  "score the test sets: RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets train_index valid_index test_index seeds speakers heldout_speakers"
RECIPE_OPTIONS_USAGE="[--experiment cls/fsdd_cnn] [--data-dir DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--train-index 10:50 --valid-index 5:10 --test-index 0:5] [--seeds '42 43 44'] [--speakers a,b,c] [--heldout-speakers theo] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (any data dirs with utt2label), stage 1 only checks them.
--seeds '42 43 44' runs stages 3-5 once per seed (exp dir seed<S>/ each); RESULTS.md in the exp dir then gives mean +- std over the seeds.
Hold a voice out: --speakers george,jackson,nicolas,yweweler --heldout-speakers theo"
experiment=cls/fsdd_cnn
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
train_index="" valid_index="" test_index=""
seeds=""
speakers="" heldout_speakers=""

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
check_seeds
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
check_heldout_speakers
own_tests="$data_dir/test"
[ -n "$heldout_speakers" ] && own_tests="$own_tests $data_dir/test_heldout"
use_data_sets "$data_dir/train" "$data_dir/valid" "$own_tests"

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" --download-dir "$recipe_dir/downloads" \
      ${train_index:+--train-index "$train_index"} ${valid_index:+--valid-index "$valid_index"} \
      ${test_index:+--test-index "$test_index"} ${speakers:+--speakers "$speakers"}
    prepare_heldout_test "$recipe_dir"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  local stats=null label_list=null  # label_list null: the labels found in the training set
  [ -f "$exp_dir/cmvn.json" ] && stats="$exp_dir/cmvn.json"
  if $own_data && [ -f "$data_dir/labels.txt" ]; then label_list="$data_dir/labels.txt"; fi
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.label_list="$label_list" paths.cmvn_stats="$stats" \
    "${overrides[@]}"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 3"
  local t
  for t in $test_sets; do
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/infer/$(basename "$t")"
  done
}

stage_score() {
  local t name
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/infer/$name/utt2label" "run stage 4"
    audiokit-score task=cls ref="$t/utt2label" hyp="$exp_dir/infer/$name/utt2label" \
      exp_dir="$exp_dir" name="$name"
  done
}

train_infer_score() {
  run_stage 3 stage_train
  run_stage 4 stage_infer
  run_stage 5 stage_score
}

run_stage 1 stage_prepare
run_stage 2 cmvn_stats
for_each_seed train_infer_score
recipe_summary
