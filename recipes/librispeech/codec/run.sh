#!/usr/bin/env bash
# LibriSpeech neural audio codec at 16 kHz, EnCodec-like (SEANet + residual VQ, 1.5/3/6 kbps
# in one model by quantizer dropout; conf/experiment/codec/librispeech_seanet.yaml), scored
# beside Codec2 and Opus on the test subsets.
# Corpus: --root DIR or $LIBRISPEECH_ROOT, the folder holding LibriSpeech/<subset>/... (no
# download here: fetch the subsets from openslr.org/12 first). Sized for a GPU:
#   run.sh --root /data -- trainer=gpu_bf16
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/codec_stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the LibriSpeech layout (SPEAKER/CHAPTER/*.flac + *.trans.txt)"
  "${CODEC_STAGES[@]}"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets subsets bandwidths anchors metrics asr_exp_dir"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment codec/librispeech_seanet] [--subsets 'train-clean-100 dev-clean test-clean test-other'] [--bandwidths '1.5 3 6'] [--asr-exp-dir E] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/librispeech/codec/data): train_clean_100, dev_clean, ...
Given --train-set/--valid-set/--test-sets (any data dirs with wav.scp), stage 1 only checks them."
root="${LIBRISPEECH_ROOT:-}"
experiment=codec/librispeech_seanet
data_dir="$recipe_dir/data"
subsets="train-clean-100 dev-clean test-clean test-other"
train_set="" valid_set="" test_sets=""
bandwidths=""
anchors="codec2-3200 codec2-1600 codec2-700C opus-6 opus-8 opus-12"
metrics="pesq_wb stoi si_snr mel_distance"
asr_exp_dir=""

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train_clean_100" "$data_dir/dev_clean" \
  "$data_dir/test_clean $data_dir/test_other"
codec_setup

source "$recipe_dir/../../../scripts/librispeech_prepare.sh"

codec_run_stages
