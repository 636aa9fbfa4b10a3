#!/usr/bin/env bash
# 2-speaker separation of Free Spoken Digit Dataset recordings (8 kHz), Conv-TasNet.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Stage 1 writes fixed mixture lists (every speaker against every other, levels -5..5 dB,
# padded to the longer: the SpeechBrain peer's set): train from recording index 10-49,
# valid 5-9, test 0-4; and the single-speaker training recordings that dynamic mixing draws
# fresh mixtures from each epoch.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/sep_stages.sh"

RECIPE_STAGES=(
  "prepare mixture data dirs (from \$FSDD_ROOT, or download) and the single-speaker source dir"
  "${SEP_STAGES[@]}"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets source_dir speakers seed metrics"
RECIPE_OPTIONS_USAGE="[--experiment sep/fsdd_convtasnet] [--data-dir DIR] [--speakers a,b,c] [--seed 1] [--train-set DIR --valid-set DIR --test-sets 'DIR...' [--source-dir DIR]] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (mixture data dirs: wav.scp + spk1.scp, spk2.scp),
stage 1 only checks them; --source-dir names a single-speaker data dir (with utt2spk) for dynamic
mixing, or train on the fixed list with: -- data.dynamic_mixing=null"
experiment=sep/fsdd_convtasnet
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets="" source_dir=""
speakers="" seed=1
metrics="si_snr si_snri sdr sdri pesq_nb stoi"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
$own_data && source_dir="${source_dir:-$data_dir/single/train}"
sep_setup

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd-mix ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" --seed "$seed" \
      --download-dir "$recipe_dir/downloads" \
      ${speakers:+--speakers "$speakers"}
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/single" \
      --download-dir "$recipe_dir/downloads" --train-index 10:50 --valid-index 5:10 \
      --test-index 0:5 ${speakers:+--speakers "$speakers"}
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets ${source_dir:+"$source_dir"}
}

sep_run_stages
