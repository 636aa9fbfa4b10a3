#!/usr/bin/env bash
# Diarization of simulated 2-speaker conversations of Free Spoken Digit Dataset recordings
# (8 kHz): turns of 1-4 digits, ~10 s conversations, ~14 % overlapped speech, noise at
# 10-20 dB SNR. Conversations are made from recording index 10-49 (train), 5-9 (valid) and
# 0-4 (test). Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
#
# Two experiments:
#   diar/fsdd_eend (default)  self-attentive EEND, permutation-invariant BCE (fsdd_eend_eda:
#                             with attractors, for unknown speaker counts)
#   diar/fsdd_vad             pipeline: speech/overlap detector + speaker embeddings (an FSDD
#                             speaker experiment, trained in stage 3 unless --embedding-exp)
#                             + clustering tuned on the valid conversations (stage 5;
#                             EEND tunes its activity threshold there)
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare conversation data dirs with reference rttm (from \$FSDD_ROOT, or download)"
  "global CMVN statistics of the training features"
  "pipeline only: train the speaker-embedding model (recipes/fsdd/sv) unless --embedding-exp"
  "train"
  "tune on the valid conversations: the pipeline's clustering, EEND's activity threshold"
  "diarize the test sets: rttm"
  "score: DER (missed, false alarm, confusion) at collars 0.25 and 0 s, RESULTS.md"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speakers num_speakers embedding_exp"
RECIPE_OPTIONS_USAGE="[--experiment diar/fsdd_eend|diar/fsdd_eend_eda|diar/fsdd_vad] [--data-dir DIR] [--num-speakers 2|1:3] [--embedding-exp DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (data dirs with wav.scp and rttm), stage 1 only
checks them. --num-speakers 1:3 makes conversations of 1 to 3 speakers (use with fsdd_eend_eda).
--embedding-exp DIR uses a trained speaker experiment for the pipeline instead of stage 3's."
experiment=diar/fsdd_eend
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
speakers="" num_speakers=2 embedding_exp=""

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/diar_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
require_distinct_test_names  # outputs go to infer/<name>
embedding_exp="${embedding_exp:-$exp_dir/embedding}"

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd-conversations ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" \
      --download-dir "$recipe_dir/downloads" --num-speakers "$num_speakers" \
      ${speakers:+--speakers "$speakers"}
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

stage_embedding() {
  if ! is_pipeline; then
    echo "$experiment is end to end: no speaker-embedding model needed"; return 0
  fi
  if [ -f "$embedding_exp/model.pt" ]; then
    echo "speaker experiment: $embedding_exp"; return 0
  fi
  "$recipe_dir/../sv/run.sh" --stage 1 --stop-stage 3 --exp-dir "$embedding_exp" \
    --data-dir "$data_dir/single" ${speakers:+--speakers "$speakers"}
}

run_stage 1 stage_prepare
run_stage 2 cmvn_stats
run_stage 3 stage_embedding
run_stage 4 diar_train
run_stage 5 diar_tune
run_stage 6 diar_infer
run_stage 7 diar_score
recipe_summary
