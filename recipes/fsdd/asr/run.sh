#!/usr/bin/env bash
# Connected-digit recognition on strings of 1-6 FSDD digits (8 kHz, word tokens).
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Strings use recordings of index 10-49 (train, 400 per speaker), 5-9 (valid, 40), 0-4 (test, 60).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/asr_stages.sh"

RECIPE_STAGES=(
  "prepare digit-string data dirs (from \$FSDD_ROOT, or download) and check every audio file"
  "${ASR_STAGES[@]}"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets token_type vocab_size decode_modes lm_experiment lm_weight seed train_index valid_index test_index train_count valid_count test_count"
RECIPE_OPTIONS_USAGE="[--experiment asr/fsdd_conformer_aug] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--token-type word] [--decode-modes 'ctc_greedy attention joint'] [--lm-experiment lm/fsdd_transformer --lm-weight 0.3] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (any data dirs with text), stage 1 only checks them.
Own data: --train-index 10:50 --train-count 400 (strings per speaker; likewise valid 5:10/40, test 0:5/60).
A CTC-only experiment (asr/fsdd_ctc) decodes with --decode-modes 'ctc_greedy ctc_beam'."
experiment=asr/fsdd_conformer_aug
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
token_type=word vocab_size=""
decode_modes="ctc_greedy attention joint"
lm_experiment="" lm_weight=0.3
seed=1
train_index="" valid_index="" test_index="" train_count="" valid_count="" test_count=""

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
asr_setup

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" \
      --download-dir "$recipe_dir/downloads" --seed "$seed" \
      ${train_index:+--train-index "$train_index"} ${valid_index:+--valid-index "$valid_index"} \
      ${test_index:+--test-index "$test_index"} ${train_count:+--train-count "$train_count"} \
      ${valid_count:+--valid-count "$valid_count"} ${test_count:+--test-count "$test_count"}
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

asr_run_stages
