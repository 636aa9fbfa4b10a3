#!/usr/bin/env bash
# Speech enhancement of Free Spoken Digit Dataset recordings (8 kHz): white, pink, brown and
# babble noise at 0-10 dB SNR, a quarter of the recordings reverberated first (pyroomacoustics
# rooms, RT60 0.2-0.6 s); the target is the dry speech. Conv-TasNet with one output.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Split: recording index 10-49 train, 5-9 valid, 0-4 test.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/sep_stages.sh"

RECIPE_STAGES=(
  "prepare noisy data dirs (from \$FSDD_ROOT, or download): wav.scp noisy, spk1.scp clean"
  "${SEP_STAGES[@]}"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speakers seed snr reverb_prob copies metrics"
RECIPE_OPTIONS_USAGE="[--experiment enh/fsdd_convtasnet] [--data-dir DIR] [--snr 0:10] [--reverb-prob 0.25] [--copies 4] [--seed 1] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (data dirs: wav.scp noisy + spk1.scp clean), stage 1 only checks them."
experiment=enh/fsdd_convtasnet
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets="" source_dir=""
speakers="" seed=1 snr=0:10 reverb_prob=0.25
copies=4  # noisy versions of each training recording
metrics="si_snr si_snri pesq_nb stoi"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
sep_setup

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd-noisy ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" --seed "$seed" \
      --download-dir "$recipe_dir/downloads" --snr="$snr" --reverb-prob "$reverb_prob" --copies "$copies" \
      ${speakers:+--speakers "$speakers"}
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

sep_run_stages
