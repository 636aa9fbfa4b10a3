#!/usr/bin/env bash
# LibriSpeech ASR: hybrid CTC/attention conformer on train-clean-100, as ESPnet's
# egs2/librispeech_100 conformer (see conf/experiment/asr/librispeech_conformer.yaml).
# Corpus: --root DIR or $LIBRISPEECH_ROOT, the folder holding LibriSpeech/<subset>/... (no
# download here: fetch the subsets from openslr.org/12 first). Needs GPUs for the full run:
#   run.sh --root /data -- trainer=ddp trainer.devices=4
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/asr_stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the LibriSpeech layout (SPEAKER/CHAPTER/*.flac + *.trans.txt)"
  "${ASR_STAGES[@]}"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets token_type vocab_size decode_modes lm_experiment lm_weight subsets"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment asr/librispeech_conformer] [--subsets 'train-clean-100 dev-clean dev-other test-clean test-other'] [--token-type unigram --vocab-size 5000] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/librispeech/asr/data): train_clean_100, dev_clean, ...
Given --train-set/--valid-set/--test-sets (any data dirs with text), stage 1 only checks them."
root="${LIBRISPEECH_ROOT:-}"
experiment=asr/librispeech_conformer
data_dir="$recipe_dir/data"
subsets="train-clean-100 dev-clean dev-other test-clean test-other"
train_set="" valid_set="" test_sets=""
token_type=unigram vocab_size=5000
decode_modes="joint"
lm_experiment="" lm_weight=0.3

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train_clean_100" "$data_dir/dev_clean" \
  "$data_dir/dev_clean $data_dir/dev_other $data_dir/test_clean $data_dir/test_other"
asr_setup

source "$recipe_dir/../../../scripts/librispeech_prepare.sh"

asr_run_stages
