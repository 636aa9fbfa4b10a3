#!/usr/bin/env bash
# AMI meeting diarization on the standard partition of AMI-diarization-setup (BUT's; pyannote's
# AMI protocol reads the same lists, only_words references and UEMs). Corpus: --audio-root DIR
# or $AMI_ROOT, the amicorpus folder (<meeting>/audio/<meeting>.Mix-Headset.wav, or
# .Array1-01.wav with --mic array1-01), and --setup-root DIR or $AMI_SETUP_ROOT, a clone of
# github.com/BUTSpeechFIT/AMI-diarization-setup. Needs a GPU for the full run.
#
# Experiments: diar/ami_pipeline (default: speech/overlap detector + the speaker embeddings of
# --embedding-exp, e.g. recipes/voxceleb/sv's, + clustering tuned on dev) and diar/ami_eend
# (EEND-EDA). Neither has been trained on AMI here (no GPU, no AMI copy): the prepare stage is
# tested on a fixture tree of the real layout, the other stages on FSDD (recipes/fsdd/diar).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs train, dev, test (wav.scp, utt2dur, rttm, uem, reco2num_spk) from the AMI audio and AMI-diarization-setup"
  "global CMVN statistics of the training features"
  "train the diarization model"
  "tune on dev: the pipeline's clustering, EEND's activity threshold"
  "diarize the test sets: rttm"
  "score: DER per test set (within each meeting's UEM), RESULTS.md"
)
RECIPE_OPTIONS="audio_root setup_root experiment data_dir train_set valid_set test_sets mic reference skip_missing embedding_exp"
RECIPE_OPTIONS_USAGE="[--audio-root DIR] [--setup-root DIR] [--experiment diar/ami_pipeline|diar/ami_eend] [--embedding-exp DIR] [--mic headset-mix|array1-01] [--skip-missing false] "
RECIPE_HELP="Data dirs go to --data-dir (default recipes/ami/diar/data): train, dev, test; the test
sets are dev and test. --skip-missing true leaves out (and lists) meetings without audio.
Given --train-set/--valid-set/--test-sets (data dirs with wav.scp and rttm), stage 1 only checks them."
audio_root="${AMI_ROOT:-}"
setup_root="${AMI_SETUP_ROOT:-}"
experiment=diar/ami_pipeline
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
mic=headset-mix reference=only_words skip_missing=false embedding_exp=""

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/diar_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/dev" "$data_dir/dev $data_dir/test"
require_distinct_test_names  # outputs go to infer/<name>

stage_prepare() {
  if $own_data; then
    [ -n "$audio_root" ] || { echo "$0: give --audio-root (or set AMI_ROOT): the amicorpus folder with <meeting>/audio/" >&2; exit 2; }
    [ -n "$setup_root" ] || { echo "$0: give --setup-root (or set AMI_SETUP_ROOT): a clone of AMI-diarization-setup (lists/, only_words/, uems/)" >&2; exit 2; }
    local skip=()
    [ "$skip_missing" = true ] && skip=(--skip-missing)
    audiokit-prep ami --audio-root "$audio_root" --setup-root "$setup_root" --out "$data_dir" \
      --mic "$mic" --reference "$reference" "${skip[@]}"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

run_stage 1 stage_prepare
run_stage 2 cmvn_stats
run_stage 3 diar_train
run_stage 4 diar_tune
run_stage 5 diar_infer
run_stage 6 diar_score
recipe_summary
