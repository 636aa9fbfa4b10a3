#!/usr/bin/env bash
# Self-supervised FSDD: Audio-MAE pretraining on all FSDD audio with the labels ignored, then the
# AST digit classifier fine-tuned from its encoder with few labels (--labels-per-class N), and
# (--scratch true) the same AST trained from scratch on the same labels, for comparison;
# optionally (--self-train-rounds R) self-training on the rest of the training audio, unlabelled.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare data dirs: all audio without labels (pretrain), N labelled recordings per digit"
  "global CMVN statistics of the pretraining features"
  "pretrain Audio-MAE (labels ignored)"
  "fine-tune the AST from the MAE encoder (and from scratch with --scratch true)"
  "self-training (--self-train-rounds R): pseudo-label the unlabelled training audio, fine-tune again"
  "infer on the test sets"
  "score the test sets: RESULTS.md"
)
RECIPE_OPTIONS="experiment finetune_experiment data_dir train_set valid_set test_sets labels_per_class spread_speakers freeze scratch pretrain_overrides seed self_train_rounds pseudo_share self_train_overrides speakers heldout_speakers"
RECIPE_OPTIONS_USAGE="[--experiment ssl/fsdd_audio_mae] [--finetune-experiment ssl/fsdd_ast_finetune] [--data-dir DIR] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] [--labels-per-class 5|all] [--spread-speakers false|true] [--freeze none|all|N] [--scratch true|false] [--pretrain-overrides 'k=v ...'] [--seed 0] [--self-train-rounds 0] [--pseudo-share 0.8] [--self-train-overrides 'k=v ...'] [--speakers a,b,c] [--heldout-speakers theo] "
RECIPE_HELP="Pretraining reads every recording of the train, valid and test sets as audio only (wav.scp;
utt2label is not copied). Fine-tuning uses --labels-per-class N recordings of each label from the
training set and as many from the valid set (drawn with --seed; all of a digit's valid recordings
when it has fewer), or all of them. --spread-speakers true draws a label's recordings from as many
speakers (utt2spk) as it can, round-robin, instead of at random: 5 per digit from 5 voices is one
from each.
--freeze: none (train all), all (only the head learns) or N (embeddings + first N blocks).
--self-train-rounds R: the fine-tuned AST guesses the labels of the training recordings that are
not in the labelled subset (their labels are not read, except to print how many guesses are
right); round r trains a new AST from the MAE encoder on the labelled subset plus the teacher's
most confident r/R x --pseudo-share of its guesses (the same number per guessed digit), and
becomes the next round's teacher.
Hydra overrides after -- go to fine-tuning (and self-training, then --self-train-overrides);
--pretrain-overrides to pretraining.
Exp dirs: <exp-dir>/mae, <exp-dir>/finetune_<N>pc, <exp-dir>/scratch_<N>pc,
<exp-dir>/selftrain_<N>pc_r<r>.
Hold a voice out: --speakers george,jackson,nicolas,yweweler --heldout-speakers theo. The held-out
voice is neither labelled nor pretrained on; test_heldout (all its recordings) is scored beside
test (the other voices' index 0-4)."
experiment=ssl/fsdd_audio_mae
finetune_experiment=ssl/fsdd_ast_finetune
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
labels_per_class=5
spread_speakers=false
freeze=none
scratch=true
pretrain_overrides=""
seed=0
self_train_rounds=0
pseudo_share=0.8
self_train_overrides=""
speakers="" heldout_speakers=""

source "$recipe_dir/../../../scripts/stages.sh"
source "$recipe_dir/../../../scripts/multi_run_stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/fsdd_ssl}"
check_heldout_speakers
own_tests="$data_dir/test"
[ -n "$heldout_speakers" ] && own_tests="$own_tests $data_dir/test_heldout"
use_data_sets "$data_dir/train" "$data_dir/valid" "$own_tests"
# pretraining hears every test recording but a held-out voice's: that voice stays unheard
pretrain_tests=$test_sets
[ -n "$heldout_speakers" ] && pretrain_tests="$data_dir/test"
if [ "$labels_per_class" != all ] && ! [[ "$labels_per_class" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: --labels-per-class '$labels_per_class': a whole number from 1, or all" >&2; exit 2
fi
case "$scratch" in true|false) ;; *) echo "$0: --scratch must be true or false" >&2; exit 2 ;; esac
case "$spread_speakers" in true|false) ;; *) echo "$0: --spread-speakers must be true or false" >&2; exit 2 ;; esac
[[ "$self_train_rounds" =~ ^[0-9]+$ ]] || {
  echo "$0: --self-train-rounds '$self_train_rounds': a whole number (0: none)" >&2; exit 2; }
if [ "$self_train_rounds" -gt 0 ] && [ "$labels_per_class" = all ]; then
  echo "$0: --self-train-rounds needs unlabelled training audio: not with --labels-per-class all" >&2; exit 2
fi
ssl_data="$exp_dir/data"   # derived data dirs (the pretraining set, the few-label subsets)
mae_dir="$exp_dir/mae"
finetune_runs=("finetune_${labels_per_class}pc")
$scratch && finetune_runs+=("scratch_${labels_per_class}pc")
self_train_runs=()
for ((r = 1; r <= self_train_rounds; r++)); do self_train_runs+=("selftrain_${labels_per_class}pc_r$r"); done
runs=("${finetune_runs[@]}" ${self_train_runs[@]+"${self_train_runs[@]}"})  # infer and score all

# subset_labels SRC OUT [cap]: N recordings of each label of SRC (seeded), or all with N = all;
# with "cap", a label with fewer than N recordings keeps all of them (the validation set: FSDD's
# has 25 per digit) instead of stopping. With --spread-speakers true, a label's N come from as
# many speakers as possible: a seeded shuffle within each speaker, then one per speaker in turn.
subset_labels() {
  "$(audiokit_python)" - "$1" "$2" "$labels_per_class" "$seed" "$spread_speakers" "${3:-}" <<'PY'
import random, sys
from collections import defaultdict
from itertools import chain, zip_longest
from pathlib import Path
from audiokit.data.datadir import read_kaldi_map, write_kaldi_map

src, out, per_class, seed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
spread, cap = sys.argv[5] == "true", sys.argv[6] == "cap"
labels = read_kaldi_map(src / "utt2label")
if spread and not (src / "utt2spk").is_file():
    sys.exit(f"{src}: --spread-speakers true needs utt2spk")
speaker = read_kaldi_map(src / "utt2spk") if spread else {}


def spread_order(utts):
    """utts shuffled within each speaker, then one from each speaker in turn (speakers in a
    shuffled order, so that N below the number of speakers does not favour the same ones)."""
    by_speaker = defaultdict(list)
    for utt in utts:
        by_speaker[speaker[utt]].append(utt)
    speakers = sorted(by_speaker)
    rng.shuffle(speakers)
    for spk in speakers:
        rng.shuffle(by_speaker[spk])
    turns = zip_longest(*(by_speaker[spk] for spk in speakers))
    return [u for u in chain.from_iterable(turns) if u is not None]


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
    if per_class == "all":
        chosen.update(utts)
    else:
        chosen.update(spread_order(utts)[: int(per_class)] if spread else rng.sample(utts, int(per_class)))
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
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir" --download-dir "$recipe_dir/downloads" \
      ${speakers:+--speakers "$speakers"}
    prepare_heldout_test "$recipe_dir"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
  # shellcheck disable=SC2086
  unlabelled "$ssl_data/pretrain" "$train_set" "$valid_set" $pretrain_tests
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

# train_classifier RUN TRAIN_DIR [overrides...]: the AST into $exp_dir/RUN, from the MAE encoder
# (from scratch for scratch_* runs), checkpoint chosen on the labelled validation subset.
train_classifier() {
  local run=$1 train_dir=$2 pretrained="$mae_dir/model.pt" run_freeze=$freeze label_list=null
  shift 2
  if $own_data && [ -f "$data_dir/labels.txt" ]; then label_list="$data_dir/labels.txt"; fi
  if [[ "$run" == scratch_* ]]; then pretrained=null run_freeze=none; fi
  audiokit-train experiment="$finetune_experiment" exp_dir="$exp_dir/$run" \
    paths.train_dir="$train_dir" paths.valid_dir="$ssl_data/valid_${labels_per_class}pc" \
    paths.label_list="$label_list" paths.cmvn_stats="$exp_dir/cmvn.json" \
    model.pretrained="$pretrained" model.freeze="$run_freeze" seed="$seed" "${overrides[@]}" "$@"
}

stage_finetune() {
  require "$mae_dir/model.pt" "run stage 3"
  local run
  for run in "${finetune_runs[@]}"; do
    train_classifier "$run" "$ssl_data/train_${labels_per_class}pc"
  done
}

stage_self_train() {
  [ "$self_train_rounds" -gt 0 ] || { echo "no --self-train-rounds: nothing to do"; return 0; }
  local labelled="$ssl_data/train_${labels_per_class}pc" pool="$ssl_data/unlabelled_${labels_per_class}pc"
  local teacher="finetune_${labels_per_class}pc" r run share
  require "$exp_dir/$teacher/model.pt" "run stage 4"
  # the pool: the training audio outside the labelled subset, without its labels
  mkdir -p "$pool"
  awk 'NR == FNR { labelled[$1] = 1; next } !($1 in labelled)' "$labelled/wav.scp" "$train_set/wav.scp" > "$pool/wav.scp"
  if [ -f "$train_set/utt2dur" ]; then
    awk 'NR == FNR { pool[$1] = 1; next } $1 in pool' "$pool/wav.scp" "$train_set/utt2dur" > "$pool/utt2dur"
  fi
  for ((r = 1; r <= self_train_rounds; r++)); do
    run="selftrain_${labels_per_class}pc_r$r"
    share=$(awk -v s="$pseudo_share" -v r="$r" -v n="$self_train_rounds" 'BEGIN { print s * r / n }')
    audiokit-infer exp_dir="$exp_dir/$teacher" data_dir="$pool" output_dir="$exp_dir/$teacher/infer/unlabelled"
    audiokit-prep pseudo-labels --labelled "$labelled" --unlabelled "$pool" \
      --hyp "$exp_dir/$teacher/infer/unlabelled" --share "$share" --out "$ssl_data/train_$run"
    if [ -f "$train_set/utt2label" ]; then  # reporting only: how good the guesses were
      awk 'NR == FNR { truth[$1] = $2; next } { n++; ok += truth[$1] == $2 }
           END { printf "round %d: %d of %d pseudo-labels right (%.1f %%)\n", r, ok, n, n ? 100 * ok / n : 0 }' \
        r="$r" "$train_set/utt2label" "$ssl_data/train_$run/pseudo_labels" | tee "$exp_dir/$run.pseudo_labels.txt"
    fi
    # shellcheck disable=SC2086
    train_classifier "$run" "$ssl_data/train_$run" $self_train_overrides
    teacher=$run
  done
}

stage_infer() { infer_runs 5; }
stage_score() { score_runs 6 cls utt2label; }

run_stage 1 stage_prepare
run_stage 2 stage_stats
run_stage 3 stage_pretrain
run_stage 4 stage_finetune
run_stage 5 stage_self_train
run_stage 6 stage_infer
run_stage 7 stage_score
recipe_summary
