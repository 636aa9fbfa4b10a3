#!/usr/bin/env bash
# Libri2Mix / Libri3Mix separation (JorisCos/LibriMix generation scripts): Conv-TasNet, DPRNN
# or SepFormer as their published recipes (conf/experiment/sep/librimix_*.yaml).
# Corpus: --root DIR or $LIBRIMIX_ROOT, the folder holding Libri2Mix/wav8k/min/... (generate
# it first with LibriMix's generate_librimix.sh). Needs GPUs for the full run:
#   run.sh --root /data -- trainer=ddp trainer.devices=4
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/sep_stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the LibriMix layout (wav8k/min/<split>/{mix_clean,s1,s2,noise}, metadata CSVs)"
  "${SEP_STAGES[@]}"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets num_speakers sample_rate mode mix_type metrics"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment sep/librimix_convtasnet] [--num-speakers 2] [--sample-rate 8000] [--mode min] [--mix-type clean] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/librimix/sep/data): train_100, dev, test.
Given --train-set/--valid-set/--test-sets (mixture data dirs), stage 1 only checks them."
root="${LIBRIMIX_ROOT:-}"
experiment=sep/librimix_convtasnet
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets="" source_dir=""
num_speakers=2 sample_rate=8000 mode=min mix_type=clean
metrics="si_snr si_snri sdr sdri"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train_100" "$data_dir/dev" "$data_dir/test"
sep_setup
overrides=(data.sample_rate="$sample_rate" data.num_sources="$num_speakers" "${overrides[@]}")

stage_prepare() {
  if $own_data; then
    [ -n "$root" ] || { echo "$0: give --root (or set LIBRIMIX_ROOT): the folder with Libri${num_speakers}Mix/" >&2; exit 2; }
    audiokit-prep librimix --root "$root" --out "$data_dir" --num-speakers "$num_speakers" \
      --sample-rate "$sample_rate" --mode "$mode" --mix-type "$mix_type"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

sep_run_stages
