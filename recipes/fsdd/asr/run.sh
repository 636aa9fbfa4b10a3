#!/usr/bin/env bash
# Connected-digit recognition on strings of 1-6 FSDD digits (8 kHz, word tokens).
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Strings use recordings of index 10-49 (train, 400 per speaker), 5-9 (valid, 40), 0-4 (test, 60).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare digit-string data dirs (from \$FSDD_ROOT, or download) and check every audio file"
  "token list of the training text (--token-type word|char|bpe|unigram)"
  "global CMVN statistics of the training features"
  "train the ASR model"
  "train a Transformer LM on the training text (only with --lm-experiment)"
  "decode the test sets (one output per --decode-modes entry)"
  "score: WER/CER per test set and decoding mode, RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets token_type vocab_size decode_modes lm_experiment lm_weight seed train_index valid_index test_index train_count valid_count test_count"
RECIPE_OPTIONS_USAGE="[--experiment asr/fsdd_conformer] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--token-type word] [--decode-modes 'ctc_greedy attention joint'] [--lm-experiment lm/fsdd_transformer --lm-weight 0.3] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (any data dirs with text), stage 1 only checks them.
Own data: --train-index 10:50 --train-count 400 (strings per speaker; likewise valid 5:10/40, test 0:5/60).
A CTC-only experiment (asr/fsdd_ctc) decodes with --decode-modes 'ctc_greedy ctc_beam'."
experiment=asr/fsdd_conformer
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
own_data=false
if [ -z "$train_set" ]; then
  own_data=true
  train_set="$data_dir/train" valid_set="${valid_set:-$data_dir/valid}" test_sets="${test_sets:-$data_dir/test}"
fi
[ -n "$valid_set" ] && [ -n "$test_sets" ] || { echo "$0: --train-set needs --valid-set and --test-sets" >&2; exit 2; }
token_dir="$exp_dir/tokens"    # per experiment: the token list belongs to the model
lm_dir="$exp_dir/lm"

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

stage_tokens() {
  require "$train_set/text" "run stage 1"
  audiokit-prep tokens --kind "$token_type" ${vocab_size:+--vocab-size "$vocab_size"} \
    --text "$train_set/text" --out "$token_dir"
}

stage_stats() {
  require "$train_set/wav.scp" "run stage 1"
  audiokit-prep stats --out "$exp_dir/cmvn.json" --data-dir "$train_set" -- \
    experiment="$experiment" paths.token_dir="$token_dir" "${overrides[@]}"
}

stage_train() {
  require "$token_dir/tokens.txt" "run stage 2"
  local stats=null
  [ -f "$exp_dir/cmvn.json" ] && stats="$exp_dir/cmvn.json"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.token_dir="$token_dir" paths.cmvn_stats="$stats" \
    "${overrides[@]}"
}

stage_lm() {
  [ -n "$lm_experiment" ] || { echo "no --lm-experiment: skipped"; return 0; }
  audiokit-train experiment="$lm_experiment" exp_dir="$lm_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.token_dir="$token_dir"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 4"
  local t mode lm_args=()
  [ -n "$lm_experiment" ] && lm_args=(lm_exp_dir="$lm_dir" decoding.lm_weight="$lm_weight")
  for t in $test_sets; do
    for mode in $decode_modes; do
      audiokit-infer exp_dir="$exp_dir" data_dir="$t" \
        output_dir="$exp_dir/infer/$(basename "$t")_$mode" decoding.mode="$mode" "${lm_args[@]}"
    done
  done
}

stage_score() {
  local t mode name
  for t in $test_sets; do
    for mode in $decode_modes; do
      name="$(basename "$t")_$mode"
      require "$exp_dir/infer/$name/text" "run stage 6"
      audiokit-score task=asr ref="$t/text" hyp="$exp_dir/infer/$name/text" \
        exp_dir="$exp_dir" name="$name"
    done
  done
}

run_stage 1 stage_prepare
run_stage 2 stage_tokens
run_stage 3 stage_stats
run_stage 4 stage_train
run_stage 5 stage_lm
run_stage 6 stage_infer
run_stage 7 stage_score
echo "exp dir: $exp_dir  results: $exp_dir/RESULTS.md"
