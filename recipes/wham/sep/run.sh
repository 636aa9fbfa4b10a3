#!/usr/bin/env bash
# WHAM! / WHAMR! separation and enhancement (the standard task names: sep_clean, sep_noisy,
# enh_single, enh_both; --reverb for WHAMR!): Conv-TasNet as Asteroid's egs/wham recipe
# (conf/experiment/sep/wham_convtasnet.yaml). Corpus: --root DIR or $WHAM_ROOT, the folder
# holding wav8k/min/{tr,cv,tt}/... as the WHAM! scripts write it. Needs GPUs for the full run.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/sep_stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the WHAM!/WHAMR! layout (wav8k/min/{tr,cv,tt}/{mix_*,s1,s2,noise})"
  "${SEP_STAGES[@]}"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets task reverb sample_rate mode metrics"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment sep/wham_convtasnet] [--task sep_noisy] [--reverb false] [--sample-rate 8000] [--mode min] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/wham/sep/data): tr, cv, tt.
Given --train-set/--valid-set/--test-sets (mixture data dirs), stage 1 only checks them."
root="${WHAM_ROOT:-}"
experiment=sep/wham_convtasnet
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets="" source_dir=""
task=sep_noisy reverb=false sample_rate=8000 mode=min
metrics="si_snr si_snri sdr sdri"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/tr" "$data_dir/cv" "$data_dir/tt"
sep_setup
num_sources=2
case "$task" in enh_*|enhance_*) num_sources=1 ;; esac
overrides=(data.sample_rate="$sample_rate" data.num_sources="$num_sources" "${overrides[@]}")

stage_prepare() {
  if $own_data; then
    [ -n "$root" ] || { echo "$0: give --root (or set WHAM_ROOT): the folder with wav8k/" >&2; exit 2; }
    local reverb_flag=()
    [ "$reverb" = true ] && reverb_flag=(--reverb)
    audiokit-prep wham --root "$root" --out "$data_dir" --sample-rate "$sample_rate" \
      --mode "$mode" --task "$task" "${reverb_flag[@]}"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

sep_run_stages
