#!/usr/bin/env bash
# Text-to-speech on FSDD digit strings of one speaker (8 kHz): Tacotron 2 (default) vocoded by
# a vocoder exp dir of recipes/fsdd/voc (--vocoder-exp) or Griffin-Lim, or VITS
# (--experiment tts/fsdd_vits: no vocoder; --speakers a,b,c for a multi-speaker model), scored against the real
# recordings of the same strings by audiokit-score task=tts (MCD, F0 RMSE, DNSMOS, attention
# failures, RTF), judged by an ASR exp dir (--asr-exp: WER/CER of synthesised and real audio)
# and a speaker-verification exp dir (--sv-exp: speaker similarity with ceiling and floor).
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Stage 1: train strings from the speaker's recordings of index 10-49, valid 5-9, test strings
# of index 0-4 whose digit sequences never occur in training (audiokit.data.corpora.fsdd_tts).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/stages.sh"

RECIPE_STAGES=(
  "prepare one speaker's digit-string data dirs (from \$FSDD_ROOT, or download); NEW test sequences"
  "train the TTS model (Tacotron 2, or VITS with --experiment tts/fsdd_vits)"
  "synthesise the test texts: wav files + wav.scp, attention_failures, rtf.json"
  "score (audiokit-score task=tts): MCD, F0 RMSE, DNSMOS, attention failures, RTF; --asr-exp: WER; --sv-exp: speaker similarity; RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speaker speakers train_count valid_count test_count vocoder_exp asr_exp sv_exp seed"
RECIPE_OPTIONS_USAGE="[--experiment tts/fsdd_tacotron2|tts/fsdd_vits] [--speaker jackson | --speakers a,b,c] [--train-count 1000] [--test-count 300] [--vocoder-exp E] [--asr-exp E] [--sv-exp E] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="--speakers a,b,c prepares every speaker's strings (counts per speaker) for a
multi-speaker VITS; synthesis then speaks each test string in its speaker's voice (utt2spk).
--vocoder-exp names a vocoder exp dir (recipes/fsdd/voc) with the same log-mel; without it,
Griffin-Lim. --asr-exp names an ASR exp dir (recipes/fsdd/asr); without it, no WER. --sv-exp
names a speaker-verification exp dir (recipes/fsdd/sv); without it, no speaker similarity. Given
--train-set/--valid-set/--test-sets (data dirs with text + wav.scp; test sets need only text),
stage 1 only checks them."
experiment=tts/fsdd_tacotron2
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
speaker=jackson speakers="" train_count=1000 valid_count=40 test_count=300
vocoder_exp="" asr_exp="" sv_exp="" seed=1

parse_options "$@"
if [ -n "$speakers" ]; then speaker="${speakers//,/_}"; fi  # names the exp dir
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}_${speaker}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
require_distinct_test_names

stage_prepare() {
  if $own_data; then
    local who=(--speaker "$speaker")
    if [ -n "$speakers" ]; then who=(--speakers "$speakers"); fi
    "$(audiokit_python)" -m audiokit.data.corpora.fsdd_tts ${FSDD_ROOT:+--root "$FSDD_ROOT"} \
      --out "$data_dir" --download-dir "$recipe_dir/downloads" "${who[@]}" \
      --train-count "$train_count" --valid-count "$valid_count" --test-count "$test_count" --seed "$seed"
  fi
  audiokit-prep validate "$train_set" "$valid_set"
}

source "$recipe_dir/../../../scripts/tts_stages.sh"
tts_run_stages
