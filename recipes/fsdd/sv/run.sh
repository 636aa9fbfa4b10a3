#!/usr/bin/env bash
# Speaker verification on the Free Spoken Digit Dataset (8 kHz, 5 speakers): ECAPA-TDNN
# embeddings trained as a speaker classifier with AAM-softmax; cosine scoring of trials among
# the test recordings. Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1
# downloads FSDD. Split: recording index 10-49 train, 5-9 valid, 0-4 test (600 trials).
# --heldout-speakers adds test_heldout: those voices' index 0-4 recordings beside the training
# speakers' test recordings, with trials that each involve a held-out voice.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs (from \$FSDD_ROOT, or download), check every audio file, write test trials"
  "global CMVN statistics of the training features"
  "train the embedding model"
  "embed the test sets and score their trials"
  "score: EER, minDCF, DET curve, RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speakers heldout_speakers num_trials cohort_dir"
RECIPE_OPTIONS_USAGE="[--experiment sv/fsdd_ecapa] [--data-dir DIR] [--speakers a,b,c] [--heldout-speakers theo] [--num-trials 600] [--cohort-dir DIR|none] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (data dirs with utt2spk; test sets with a trials
file), stage 1 only checks them. --cohort-dir D AS-normalises the scores against D's speakers
(default: the training set; --cohort-dir none: plain cosine scores).
Hold a voice out: --speakers george,jackson,nicolas,yweweler --heldout-speakers theo"
experiment=sv/fsdd_ecapa
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
speakers="" heldout_speakers="" num_trials=600 cohort_dir="train"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
check_heldout_speakers
own_tests="$data_dir/test"
[ -n "$heldout_speakers" ] && own_tests="$own_tests $data_dir/test_heldout"
use_data_sets "$data_dir/train" "$data_dir/valid" "$own_tests"
case "$cohort_dir" in
  none) cohort_dir="" ;;
  train) cohort_dir="$train_set" ;;
esac

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" \
      --download-dir "$recipe_dir/downloads" ${speakers:+--speakers "$speakers"}
    audiokit-prep trials "$data_dir/test" -n "$num_trials"
    if [ -n "$heldout_speakers" ]; then
      # every voice's index 0-4 recordings (the training voices' are their test set); the
      # held-out voices' other recordings are deleted with the rest of this scratch dir
      rm -rf "$data_dir/.heldout" "$data_dir/test_heldout"
      audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/.heldout" \
        --download-dir "$recipe_dir/downloads" --speakers "$speakers,$heldout_speakers"
      mv "$data_dir/.heldout/test" "$data_dir/test_heldout"
      rm -rf "$data_dir/.heldout"
      audiokit-prep trials "$data_dir/test_heldout" -n "$num_trials" --involving "$heldout_speakers"
    fi
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  local stats=null  # frontends without CMVN (SSL features) have no cmvn.json from stage 2
  [ -f "$exp_dir/cmvn.json" ] && stats="$exp_dir/cmvn.json"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.cmvn_stats="$stats" "${overrides[@]}"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 3"
  local t
  for t in $test_sets; do
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/infer/$(basename "$t")" \
      ${cohort_dir:+cohort_dir="$cohort_dir"}
  done
}

stage_score() {
  local t name
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/infer/$name/scores" "run stage 4 (and give $t a trials file)"
    audiokit-score task=sv ref="$t/trials" hyp="$exp_dir/infer/$name/scores" \
      exp_dir="$exp_dir" name="$name"
  done
}

run_stage 1 stage_prepare
run_stage 2 cmvn_stats
run_stage 3 stage_train
run_stage 4 stage_infer
run_stage 5 stage_score
recipe_summary
