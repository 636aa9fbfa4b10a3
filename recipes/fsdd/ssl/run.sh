#!/usr/bin/env bash
# Self-supervised FSDD: Audio-MAE pretraining on all FSDD audio with the labels ignored, then the
# AST digit classifier fine-tuned from its encoder with few labels (--labels-per-class N), and
# (--scratch true) the same AST trained from scratch on the same labels, for comparison.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs: all audio without labels (pretrain), N labelled recordings per digit"
  "global CMVN statistics of the pretraining features"
  "pretrain Audio-MAE (labels ignored)"
  "fine-tune the AST from the MAE encoder (and from scratch with --scratch true)"
  "infer on the test sets"
  "score the test sets: RESULTS.md"
)
RECIPE_OPTIONS="experiment finetune_experiment data_dir train_set valid_set test_sets labels_per_class freeze scratch pretrain_overrides seed"
RECIPE_OPTIONS_USAGE="[--experiment ssl/fsdd_audio_mae] [--finetune-experiment ssl/fsdd_ast_finetune] [--data-dir DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--labels-per-class 5|all] [--freeze none|all|N] [--scratch true|false] [--pretrain-overrides 'k=v ...'] [--seed 0] "
RECIPE_HELP="Pretraining reads every recording of the train, valid and test sets as audio only (wav.scp;
utt2label is not copied). Fine-tuning uses --labels-per-class N recordings of each label from the
training set and as many from the valid set (drawn with --seed; all of a digit's valid recordings
when it has fewer), or all of them.
--freeze: none (train all), all (only the head learns) or N (embeddings + first N blocks).
Hydra overrides after -- go to fine-tuning; --pretrain-overrides to pretraining.
Exp dirs: <exp-dir>/mae, <exp-dir>/finetune_<N>pc, <exp-dir>/scratch_<N>pc."
experiment=ssl/fsdd_audio_mae
finetune_experiment=ssl/fsdd_ast_finetune
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
labels_per_class=5
freeze=none
scratch=true
pretrain_overrides=""
seed=0

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/multi_run_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/fsdd_ssl}"
use_data_sets "$data_dir/train" "$data_dir/valid" "$data_dir/test"
if [ "$labels_per_class" != all ] && ! [[ "$labels_per_class" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: --labels-per-class '$labels_per_class': a whole number from 1, or all" >&2; exit 2
fi
case "$scratch" in true|false) ;; *) echo "$0: --scratch must be true or false" >&2; exit 2 ;; esac
ssl_data="$exp_dir/data"   # derived data dirs (the pretraining set, the few-label subsets)
mae_dir="$exp_dir/mae"
runs=("finetune_${labels_per_class}pc")
$scratch && runs+=("scratch_${labels_per_class}pc")

# subset_labels SRC OUT [cap]: N recordings of each label of SRC (seeded), or all with N = all;
# with "cap", a label with fewer than N recordings keeps all of them (the validation set: FSDD's
# has 25 per digit) instead of stopping.
subset_labels() {
  "$(audiokit_python)" - "$1" "$2" "$labels_per_class" "$seed" "${3:-}" <<'PY'
import random, shutil, sys
from collections import defaultdict
from pathlib import Path
from audiokit.data.datadir import read_kaldi_map, write_kaldi_map

src, out, per_class, seed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cap = sys.argv[5] == "cap"
labels = read_kaldi_map(src / "utt2label")
by_label = defaultdict(list)
for utt in sorted(labels):
    by_label[labels[utt]].append(utt)
rng = random.Random(seed)
chosen = set()
for label in sorted(by_label):
    utts = by_label[label]
    if per_class != "all" and len(utts) < int(per_class):
        if not cap:
            sys.exit(f"{src}/utt2label: label '{label}' has {len(utts)} recordings, fewer than {per_class}")
        chosen.update(utts)
        continue
    chosen.update(utts if per_class == "all" else rng.sample(utts, int(per_class)))
out.mkdir(parents=True, exist_ok=True)
for name in ("wav.scp", "utt2label", "utt2spk", "utt2dur"):
    if (src / name).is_file():
        entries = read_kaldi_map(src / name)
        write_kaldi_map(out / name, {u: v for u, v in entries.items() if u in chosen})
PY
}

# unlabelled OUT DIR...: the audio of every DIR in one data dir, nothing else (labels ignored).
unlabelled() {
  local out="$1"; shift
  mkdir -p "$out"
  local d
  for d in "$@"; do cat "$d/wav.scp"; done | sort -u > "$out/wav.scp"
  for d in "$@"; do [ -f "$d/utt2dur" ] && cat "$d/utt2dur"; done | sort -u > "$out/utt2dur.tmp" || true
  if [ -s "$out/utt2dur.tmp" ]; then mv "$out/utt2dur.tmp" "$out/utt2dur"; else rm -f "$out/utt2dur.tmp"; fi
}

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" --download-dir "$recipe_dir/downloads"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
  # shellcheck disable=SC2086
  unlabelled "$ssl_data/pretrain" "$train_set" "$valid_set" $test_sets
  unlabelled "$ssl_data/pretrain_valid" "$valid_set"
  subset_labels "$train_set" "$ssl_data/train_${labels_per_class}pc"
  subset_labels "$valid_set" "$ssl_data/valid_${labels_per_class}pc" cap
  echo "pretraining: $(wc -l < "$ssl_data/pretrain/wav.scp") recordings (no labels);" \
    "fine-tuning: $(wc -l < "$ssl_data/train_${labels_per_class}pc/wav.scp") labelled"
}

stage_stats() {
  require "$ssl_data/pretrain/wav.scp" "run stage 1"
  # shellcheck disable=SC2086
  audiokit-prep stats --out "$exp_dir/cmvn.json" --data-dir "$ssl_data/pretrain" -- \
    experiment="$experiment" $pretrain_overrides
}

stage_pretrain() {
  require "$exp_dir/cmvn.json" "run stage 2"
  # shellcheck disable=SC2086
  audiokit-train experiment="$experiment" exp_dir="$mae_dir" paths.train_dir="$ssl_data/pretrain" \
    paths.valid_dir="$ssl_data/pretrain_valid" paths.cmvn_stats="$exp_dir/cmvn.json" \
    seed="$seed" $pretrain_overrides
}

stage_finetune() {
  require "$mae_dir/model.pt" "run stage 3"
  local run pretrained label_list=null
  if $own_data && [ -f "$data_dir/labels.txt" ]; then label_list="$data_dir/labels.txt"; fi
  for run in "${runs[@]}"; do
    pretrained="$mae_dir/model.pt"
    [[ "$run" == scratch_* ]] && pretrained=null
    audiokit-train experiment="$finetune_experiment" exp_dir="$exp_dir/$run" \
      paths.train_dir="$ssl_data/train_${labels_per_class}pc" \
      paths.valid_dir="$ssl_data/valid_${labels_per_class}pc" paths.label_list="$label_list" \
      paths.cmvn_stats="$exp_dir/cmvn.json" model.pretrained="$pretrained" \
      model.freeze="$([[ "$run" == scratch_* ]] && echo none || echo "$freeze")" seed="$seed" \
      "${overrides[@]}"
  done
}

stage_infer() { infer_runs 4; }
stage_score() { score_runs 5 cls utt2label; }

run_stage 1 stage_prepare
run_stage 2 stage_stats
run_stage 3 stage_pretrain
run_stage 4 stage_finetune
run_stage 5 stage_infer
run_stage 6 stage_score
recipe_summary
