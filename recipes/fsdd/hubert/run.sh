#!/usr/bin/env bash
# HuBERT on FSDD: masked prediction of k-means frame labels on the raw 8 kHz waveform (labels
# ignored), iteration 1 on MFCC clusters and iteration 2 on clusters of a layer of the
# iteration-1 model, then CTC fine-tuning on few labelled digit strings with the ASR task, and
# (--scratch true) the same CTC model trained from scratch on the same strings, for comparison.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs: single recordings for pretraining (no labels), digit strings for CTC"
  "k-means targets of MFCC frames (iteration 1)"
  "pretrain HuBERT iteration 1"
  "k-means targets of a layer of the iteration-1 model (with --iterations 2)"
  "pretrain HuBERT iteration 2 (with --iterations 2)"
  "token list, then CTC fine-tuning from the last iteration (and from scratch with --scratch true)"
  "decode the test strings (CTC greedy)"
  "score: WER per run, RESULTS.md"
)
RECIPE_OPTIONS="data_dir train_set valid_set test_sets pretrain_sets iterations clusters layer kmeans_seed labelled_count scratch iter1_overrides iter2_overrides seed"
RECIPE_OPTIONS_USAGE="[--data-dir DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...' --pretrain-sets 'TRAIN VALID'] [--iterations 1|2] [--clusters 100] [--layer 3] [--kmeans-seed 0] [--labelled-count 10] [--scratch true|false] [--iter1-overrides 'k=v ...'] [--iter2-overrides 'k=v ...'] [--seed 0] "
RECIPE_HELP="Own data (no --train-set): pretraining reads the single FSDD recordings of index 10-49
(train) and 5-9 (valid) as audio only; fine-tuning uses --labelled-count digit strings per speaker
made of the same training recordings, scored on strings of recordings 0-4, never pretrained on.
Given --train-set/--valid-set/--test-sets (digit-string data dirs with text), --pretrain-sets
'TRAIN VALID' names the pretraining audio (default: the train and valid sets' wav.scp).
Hydra overrides after -- go to fine-tuning; --iter1-overrides / --iter2-overrides to pretraining.
Exp dirs: <exp-dir>/iter1, iter2 (kmeans1, kmeans2 beside them), finetune, scratch."
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets="" pretrain_sets=""
iterations=2
clusters=100
layer=3
kmeans_seed=0
labelled_count=10
scratch=true
iter1_overrides="" iter2_overrides=""
seed=0

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/multi_run_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/fsdd_hubert}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
case "$iterations" in 1|2) ;; *) echo "$0: --iterations must be 1 or 2" >&2; exit 2 ;; esac
case "$scratch" in true|false) ;; *) echo "$0: --scratch must be true or false" >&2; exit 2 ;; esac
$own_data && [ -z "$pretrain_sets" ] && pretrain_sets="$data_dir/words/train $data_dir/words/valid"
[ -z "$pretrain_sets" ] && pretrain_sets="$train_set $valid_set"
read -r pretrain_train pretrain_valid <<< "$pretrain_sets"
ssl_data="$exp_dir/data"
last_iter="$exp_dir/iter$iterations"
token_dir="$exp_dir/tokens"
runs=(finetune)
$scratch && runs+=(scratch)

# unlabelled OUT DIR...: the audio of every DIR in one data dir, nothing else (labels ignored).
unlabelled() {
  local out="$1" d; shift
  mkdir -p "$out"
  for d in "$@"; do cat "$d/wav.scp"; done | sort -u > "$out/wav.scp"
  for d in "$@"; do [ -f "$d/utt2dur" ] && cat "$d/utt2dur"; done | sort -u > "$out/utt2dur.tmp" || true
  if [ -s "$out/utt2dur.tmp" ]; then mv "$out/utt2dur.tmp" "$out/utt2dur"; else rm -f "$out/utt2dur.tmp"; fi
}

# pretrain N EXPERIMENT TARGETS OVERRIDES: one HuBERT iteration.
pretrain() {
  require "$3" "run the k-means stage first"
  # shellcheck disable=SC2086
  audiokit-train experiment="$2" exp_dir="$exp_dir/iter$1" paths.train_dir="$ssl_data/pretrain" \
    paths.valid_dir="$ssl_data/pretrain_valid" task.targets="$3" model.num_classes="$clusters" \
    seed="$seed" $4
}

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/words" \
      --download-dir "$recipe_dir/downloads"
    audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" \
      --download-dir "$recipe_dir/downloads" --seed "$seed" --train-count "$labelled_count"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets "$pretrain_train" "$pretrain_valid"
  unlabelled "$ssl_data/pretrain" "$pretrain_train"
  unlabelled "$ssl_data/pretrain_valid" "$pretrain_valid"
  unlabelled "$ssl_data/pretrain_all" "$pretrain_train" "$pretrain_valid"   # what k-means labels
  echo "pretraining: $(wc -l < "$ssl_data/pretrain/wav.scp") recordings (no labels);" \
    "fine-tuning: $(wc -l < "$train_set/text") labelled strings"
}

stage_kmeans_mfcc() {
  require "$ssl_data/pretrain_all/wav.scp" "run stage 1"
  "$(audiokit_python)" -m audiokit.models.ssl.kmeans_targets "$ssl_data/pretrain_all" "$exp_dir/kmeans1" \
    --clusters "$clusters" --seed "$kmeans_seed" --sample-rate 8000
}

stage_pretrain1() {
  pretrain 1 ssl/fsdd_hubert_iter1 "$exp_dir/kmeans1/targets" "$iter1_overrides"
}

stage_kmeans_layer() {
  [ "$iterations" = 2 ] || { echo "--iterations 1: skipped"; return 0; }
  require "$exp_dir/iter1/model.pt" "run stage 3"
  "$(audiokit_python)" -m audiokit.models.ssl.kmeans_targets "$ssl_data/pretrain_all" "$exp_dir/kmeans2" \
    --clusters "$clusters" --seed "$kmeans_seed" --sample-rate 8000 \
    --ssl-frontend "$recipe_dir/conf/ssl_hubert_fsdd.yaml" --pretrained "$exp_dir/iter1" --layer "$layer"
}

stage_pretrain2() {
  [ "$iterations" = 2 ] || { echo "--iterations 1: skipped"; return 0; }
  pretrain 2 ssl/fsdd_hubert_iter2 "$exp_dir/kmeans2/targets" "$iter2_overrides"
}

stage_finetune() {
  require "$last_iter/model.pt" "run the pretraining stages"
  require "$train_set/text" "run stage 1"
  audiokit-prep tokens --kind word --text "$train_set/text" --out "$token_dir"
  local run pretrained freeze
  for run in "${runs[@]}"; do
    pretrained="$last_iter" freeze=true
    [ "$run" = scratch ] && pretrained=null freeze=false   # from scratch the conv layers must learn
    audiokit-train experiment=asr/fsdd_hubert_ctc exp_dir="$exp_dir/$run" \
      paths.train_dir="$train_set" paths.valid_dir="$valid_set" paths.token_dir="$token_dir" \
      model.encoder.pretrained="$pretrained" model.encoder.freeze_feature_encoder="$freeze" \
      seed="$seed" "${overrides[@]}"
  done
}

stage_infer() { infer_runs 6 decoding.mode=ctc_greedy; }
stage_score() { score_runs 7 asr text; }

run_stage 1 stage_prepare
run_stage 2 stage_kmeans_mfcc
run_stage 3 stage_pretrain1
run_stage 4 stage_kmeans_layer
run_stage 5 stage_pretrain2
run_stage 6 stage_finetune
run_stage 7 stage_infer
run_stage 8 stage_score
recipe_summary
