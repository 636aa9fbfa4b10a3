#!/usr/bin/env bash
# LJSpeech text-to-speech at 22.05 kHz, one voice: VITS (default, no vocoder;
# conf/experiment/tts/ljspeech_vits.yaml) or Tacotron 2 (--experiment tts/ljspeech_tacotron2)
# vocoded by an exp dir of recipes/ljspeech/voc (--vocoder-exp; without one, Griffin-Lim).
# Texts: the normalized column of metadata.csv, as characters. Scored against the real
# recordings of the test texts by audiokit-score task=tts (MCD, F0 RMSE, DNSMOS, attention
# failures, RTF), judged by an ASR exp dir (--asr-exp: WER/CER) and a speaker-verification exp
# dir (--sv-exp: speaker similarity) when given.
# Corpus: --root DIR or $LJSPEECH_ROOT, the folder holding LJSpeech-1.1/ (metadata.csv, wavs/;
# no download here: fetch LJSpeech-1.1.tar.bz2 from keithito.com/LJ-Speech-Dataset first).
# Stage 1 splits by sorted id: the last --test-count (250) test, the --valid-count (250)
# before them valid, the rest train (ESPnet's eval1 / dev / tr_no_dev). Sized for a GPU:
#   run.sh --root /data -- trainer=gpu
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/stages.sh"

RECIPE_STAGES=(
  "prepare data dirs from the LJSpeech-1.1 layout (metadata.csv + wavs/): train, valid, test"
  "train the TTS model (VITS, or Tacotron 2 with --experiment tts/ljspeech_tacotron2)"
  "synthesise the test texts: wav files + wav.scp, attention_failures (Tacotron 2), rtf.json"
  "score (audiokit-score task=tts): MCD, F0 RMSE, DNSMOS, attention failures, RTF; --asr-exp: WER; --sv-exp: speaker similarity; RESULTS.md"
)
RECIPE_OPTIONS="root experiment data_dir train_set valid_set test_sets valid_count test_count vocoder_exp asr_exp sv_exp seed"
RECIPE_OPTIONS_USAGE="[--root DIR] [--experiment tts/ljspeech_vits|tts/ljspeech_tacotron2] [--data-dir DIR] [--valid-count 250] [--test-count 250] [--vocoder-exp E] [--asr-exp E] [--sv-exp E] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/ljspeech/tts/data): train, valid, test.
--vocoder-exp names a vocoder exp dir with the same log-mel (recipes/ljspeech/voc) for
Tacotron 2; without it, Griffin-Lim. --asr-exp names an ASR exp dir; without it, no WER.
--sv-exp names a speaker-verification exp dir; without it, no speaker similarity. Given
--train-set/--valid-set/--test-sets (data dirs with text + wav.scp; a test set of text only
is synthesised, not scored), stage 1 only checks them."
root="${LJSPEECH_ROOT:-}"
experiment=tts/ljspeech_vits
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
valid_count=250 test_count=250
vocoder_exp="" asr_exp="" sv_exp="" seed=1

parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
require_distinct_test_names

source "$recipe_dir/../../../scripts/ljspeech_prepare.sh"
source "$recipe_dir/../../../scripts/tts_stages.sh"
tts_run_stages
