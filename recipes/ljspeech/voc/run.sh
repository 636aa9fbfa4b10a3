#!/usr/bin/env bash
# LJSpeech vocoder (copy synthesis) at 22.05 kHz: HiFi-GAN V1 as published (80 mels, n_fft
# and window 1024, hop 256, 0-8000 Hz; conf/experiment/voc/ljspeech_hifigan_v1.yaml), with
# Griffin-Lim from the same features as the non-neural baseline row.
# Corpus: --root DIR or $LJSPEECH_ROOT, the folder holding LJSpeech-1.1/ (metadata.csv, wavs/;
# no download here: fetch LJSpeech-1.1.tar.bz2 from keithito.com/LJ-Speech-Dataset first).
# Stage 1 splits by sorted id: the last --test-count (250) test, the --valid-count (250)
# before them valid, the rest train (ESPnet's eval1 / dev / tr_no_dev). Sized for a GPU:
#   run.sh --root /data -- trainer=gpu
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the LJSpeech-1.1 layout (metadata.csv + wavs/): train, valid, test"
  "train the vocoder"
  "copy-synthesise the test sets (vocoder and Griffin-Lim): wav files + wav.scp + rtf.json"
  "score: PESQ (wideband), STOI, mel distance, SI-SNR (+ WER with --asr-exp-dir) per test set, RESULTS.md"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets valid_count test_count asr_exp_dir metrics griffin_lim seed"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment voc/ljspeech_hifigan_v1] [--data-dir DIR] [--valid-count 250] [--test-count 250] [--asr-exp-dir E] [--metrics 'pesq_wb stoi'] [--griffin-lim true|false] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/ljspeech/voc/data): train, valid, test.
Given --train-set/--valid-set/--test-sets (any data dirs with wav.scp), stage 1 only checks
them. --asr-exp-dir names an ASR experiment whose WER on the original and the resynthesised
audio measures intelligibility. Griffin-Lim's rows go to \$exp_dir/griffin_lim/RESULTS.md."
root="${LJSPEECH_ROOT:-}"
experiment=voc/ljspeech_hifigan_v1
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
valid_count=250 test_count=250
asr_exp_dir="" metrics="pesq_wb stoi mel_distance si_snr" griffin_lim=true seed=1

parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
require_distinct_test_names

source "$recipe_dir/../../../scripts/ljspeech_prepare.sh"
source "$recipe_dir/../../../scripts/voc_stages.sh"
voc_run_stages
