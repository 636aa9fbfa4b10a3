#!/usr/bin/env bash
# BEATs-style iterative self-supervised pretraining on FSDD (labels ignored): iteration 1
# predicts a random-projection tokenizer's labels of masked fbank patches, a tokenizer is then
# distilled from that encoder, iteration 2 predicts its labels; then the digit classifier on
# the pretrained encoder's features with few labels (--labels-per-class N), beside the same
# classifier on iteration 1's encoder and on a randomly initialised encoder trained with it.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs (recipes/fsdd/ssl stage 1): all audio without labels, N labelled per digit"
  "pretrain iteration 1: masked prediction of random-projection labels"
  "distil a tokenizer from the iteration-1 encoder"
  "pretrain iteration 2: masked prediction of the distilled tokenizer's labels"
  "digit classifier on the encoders' features (iteration 1, 2, and a random encoder trained too)"
  "infer on the test sets"
  "score the test sets: RESULTS.md"
)
RECIPE_OPTIONS="data_dir train_set valid_set test_sets labels_per_class freeze classifiers iter1_overrides tokenizer_overrides iter2_overrides seed"
RECIPE_OPTIONS_USAGE="[--data-dir DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--labels-per-class 5|all] [--freeze true|false] [--classifiers 'iter2 iter1 scratch'] [--iter1-overrides 'k=v ...'] [--tokenizer-overrides 'k=v ...'] [--iter2-overrides 'k=v ...'] [--seed 0] "
RECIPE_HELP="Pretraining reads every recording of the train, valid and test sets as audio only; the
classifier uses --labels-per-class N recordings of each digit from the training set and as many
from the valid set (drawn with --seed), or all of them (recipes/fsdd/ssl's stage 1 makes both).
--classifiers: which encoders the classifier runs on: iter2, iter1 (features of that pretrained
encoder; --freeze true keeps it fixed, false fine-tunes it) and scratch (the same encoder,
randomly initialised and trained with the classifier). Hydra overrides after -- go to the
classifiers; --iter1/--tokenizer/--iter2-overrides to those trainings.
Exp dirs: <exp-dir>/iter1, <exp-dir>/tokenizer, <exp-dir>/iter2, <exp-dir>/<classifier>_<N>pc."
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
labels_per_class=5
freeze=true
classifiers="iter2 iter1 scratch"
iter1_overrides="" tokenizer_overrides="" iter2_overrides=""
seed=0

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/multi_run_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/fsdd_beats}"
given_sets=$([ -n "$train_set" ] && echo true || echo false)
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
case "$freeze" in true|false) ;; *) echo "$0: --freeze must be true or false" >&2; exit 2 ;; esac
for c in $classifiers; do
  case "$c" in iter1|iter2|scratch) ;; *)
    echo "$0: --classifiers '$classifiers': each one of iter1, iter2, scratch" >&2; exit 2 ;; esac
done
ssl_data="$exp_dir/data"   # the pretraining set and the few-label subsets (recipes/fsdd/ssl)
runs=()
for c in $classifiers; do runs+=("${c}_${labels_per_class}pc"); done

stage_prepare() {
  local sets=(--data-dir "$data_dir")
  $given_sets && sets=(--train-set "$train_set" --valid-set "$valid_set" --test-sets "$test_sets")
  local ssl_recipe="$recipe_dir/../ssl/run.sh"
  require "$ssl_recipe" "this recipe prepares its data with recipes/fsdd/ssl's stage 1: keep it beside"
  "$ssl_recipe" --stage 1 --stop-stage 1 --exp-dir "$exp_dir" "${sets[@]}" \
    --labels-per-class "$labels_per_class" --seed "$seed"
}

# pretrain NAME EXPERIMENT OVERRIDES...: one pretraining run on all the audio, labels ignored.
pretrain() {
  local name="$1" experiment="$2"; shift 2
  require "$ssl_data/pretrain/wav.scp" "run stage 1"
  # shellcheck disable=SC2068
  audiokit-train experiment="$experiment" exp_dir="$exp_dir/$name" \
    paths.train_dir="$ssl_data/pretrain" paths.valid_dir="$ssl_data/pretrain_valid" \
    seed="$seed" $@
}

stage_iter1() {
  # shellcheck disable=SC2086
  pretrain iter1 ssl/fsdd_beats_iter1 $iter1_overrides
}

stage_tokenizer() {
  require "$exp_dir/iter1/model.pt" "run stage 2"
  # shellcheck disable=SC2086
  pretrain tokenizer ssl/fsdd_beats_tokenizer model.teacher.pretrained="$exp_dir/iter1" \
    $tokenizer_overrides
}

stage_iter2() {
  require "$exp_dir/tokenizer/model.pt" "run stage 3"
  # shellcheck disable=SC2086
  pretrain iter2 ssl/fsdd_beats_iter2 model.tokenizer.pretrained="$exp_dir/tokenizer" \
    $iter2_overrides
}

stage_classify() {
  local run encoder pretrained frozen label_list=null
  if $own_data && [ -f "$data_dir/labels.txt" ]; then label_list="$data_dir/labels.txt"; fi
  for run in "${runs[@]}"; do
    encoder="${run%%_*}"
    if [ "$encoder" = scratch ]; then
      pretrained=null frozen=false
    else
      require "$exp_dir/$encoder/model.pt" "run the pretraining stages"
      pretrained="$exp_dir/$encoder" frozen="$freeze"
    fi
    audiokit-train experiment=ssl/fsdd_beats_features_cls exp_dir="$exp_dir/$run" \
      paths.train_dir="$ssl_data/train_${labels_per_class}pc" \
      paths.valid_dir="$ssl_data/valid_${labels_per_class}pc" paths.label_list="$label_list" \
      frontend.upstream.pretrained="$pretrained" frontend.freeze="$frozen" seed="$seed" \
      "${overrides[@]}"
  done
}

stage_infer() { infer_runs 5; }
stage_score() { score_runs 6 cls utt2label; }

run_stage 1 stage_prepare
run_stage 2 stage_iter1
run_stage 3 stage_tokenizer
run_stage 4 stage_iter2
run_stage 5 stage_classify
run_stage 6 stage_infer
run_stage 7 stage_score
recipe_summary
