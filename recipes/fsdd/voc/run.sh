#!/usr/bin/env bash
# Vocoder (copy synthesis) on the Free Spoken Digit Dataset (8 kHz): HiFi-GAN from the
# project's log-mel, with Griffin-Lim from the same features as the non-neural baseline row.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Stage 1 writes single-digit data dirs of the training speakers (train: recording index
# 10-49, valid 5-9) and two test sets of digit strings (fsdd-strings, recording index 0-4):
# test_strings (the training speakers) and heldout_strings (a voice never trained on).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/stages.sh"

RECIPE_STAGES=(
  "prepare data dirs (from \$FSDD_ROOT, or download): training speakers' digits, test strings"
  "train the vocoder"
  "copy-synthesise the test sets (vocoder and Griffin-Lim): wav files + wav.scp + rtf.json"
  "score: PESQ, STOI, mel distance, SI-SNR (+ WER with --asr-exp-dir) per test set, RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speakers heldout test_count asr_exp_dir metrics griffin_lim seed"
RECIPE_OPTIONS_USAGE="[--experiment voc/fsdd_hifigan] [--data-dir DIR] [--speakers a,b,c] [--heldout theo] [--test-count 60] [--asr-exp-dir E] [--metrics 'pesq_nb stoi'] [--griffin-lim true|false] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (any data dirs with wav.scp), stage 1 only checks
them. --asr-exp-dir names an ASR experiment whose WER on the original and the resynthesised
audio measures intelligibility (the test sets then need a text file). Griffin-Lim's rows go
to \$exp_dir/griffin_lim/RESULTS.md."
experiment=voc/fsdd_hifigan
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
speakers="george,jackson,nicolas,yweweler" heldout="theo" test_count=60
asr_exp_dir="" metrics="pesq_nb stoi mel_distance si_snr" griffin_lim=true seed=1

parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test_strings${heldout:+ $data_dir/heldout_strings}"
require_distinct_test_names

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" \
      --download-dir "$recipe_dir/downloads" --speakers "$speakers"
    audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/strings" \
      --download-dir "$recipe_dir/downloads" --speakers "$speakers" --seed "$seed" \
      --train-count 1 --valid-count 1 --test-count "$test_count"
    ln -sfn strings/test "$data_dir/test_strings"
    if [ -n "$heldout" ]; then
      audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/heldout" \
        --download-dir "$recipe_dir/downloads" --speakers "$heldout" --seed "$seed" \
        --train-count 1 --valid-count 1 --test-count "$test_count"
      ln -sfn heldout/test "$data_dir/heldout_strings"
    fi
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

source "$recipe_dir/../../../scripts/voc_stages.sh"
voc_run_stages
