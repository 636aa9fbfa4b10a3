#!/usr/bin/env bash
# Neural audio codec (SEANet + residual VQ, EnCodec-style GAN) on the Free Spoken Digit Dataset
# (8 kHz), scored on strings of digits beside Codec2 and Opus.
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Stage 1 writes: train/valid = single-digit recordings of index 10-49 / 5-9 of the training
# voices (--speakers, default all five); test = strings of 1-6 digits from index 0-4 of the same
# voices (--test-count drawn per voice, those of --min-test-seconds or more kept); with
# --heldout-speakers, test_heldout = --heldout-count strings per voice of those voices (any
# index, >= --min-test-seconds), whom training never hears.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"
source "$recipe_dir/../../../scripts/codec_stages.sh"

RECIPE_STAGES=(
  "prepare data dirs: single-digit recordings for training, digit strings for test (from \$FSDD_ROOT, or download)"
  "${CODEC_STAGES[@]}"
)
RECIPE_OPTIONS="experiment data_dir train_set valid_set test_sets speakers heldout_speakers heldout_count test_count min_test_seconds bandwidths anchors metrics asr_exp_dir seed"
RECIPE_OPTIONS_USAGE="[--experiment codec/fsdd_seanet] [--speakers a,b,c] [--heldout-speakers theo] [--bandwidths '0.5 1 1.5 3 6'] [--asr-exp-dir E] [--train-set DIR --valid-set DIR --test-sets 'DIR...'] "
RECIPE_HELP="Given --train-set/--valid-set/--test-sets (any data dirs with wav.scp), stage 1 only checks them.
--bandwidths (kbps) must be ones the model was trained for (model.bandwidths); empty: all of them.
--anchors lists the classical settings of the baselines stage (default: all six).
Hold a voice out: --speakers george,jackson,nicolas,yweweler --heldout-speakers theo"
experiment=codec/fsdd_seanet
data_dir="$recipe_dir/data"
train_set="" valid_set="" test_sets=""
speakers="" heldout_speakers="" heldout_count=75 test_count=60 min_test_seconds=1.5
bandwidths=""
anchors="codec2-3200 codec2-1600 codec2-700C opus-6 opus-8 opus-12"
metrics="pesq_nb stoi si_snr mel_distance"
asr_exp_dir=""
seed=1

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
own_tests="$data_dir/test"
[ -n "$heldout_speakers" ] && own_tests="$own_tests $data_dir/test_heldout"
use_data_sets "$data_dir/single/train" "$data_dir/single/valid" "$own_tests"
codec_setup

# keep_strings SRC DST N: the strings of SRC lasting >= min_test_seconds, the first N of each
# speaker (0: all), as data dir DST (its wav.scp points into SRC).
keep_strings() {
  py - "$@" "$min_test_seconds" <<'PY'
import shutil, sys
from audiokit.data.datadir import DataDir
src, dst, count, min_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
d = DataDir.load(src)
kept, per_spk = [], {}
for u in d.utt_ids:
    spk = d.utt2spk[u]
    if d.utt2dur[u] >= min_s and (count == 0 or per_spk.get(spk, 0) < count):
        kept.append(u)
        per_spk[spk] = per_spk.get(spk, 0) + 1
short = [s for s in sorted(set(d.utt2spk.values())) if count and per_spk.get(s, 0) < count]
if short:
    sys.exit(f"{src}: fewer than {count} strings of {min_s} s or more for {short}")
for name in ("wav_scp", "text", "utt2spk", "utt2dur"):
    setattr(d, name, {u: getattr(d, name)[u] for u in kept})
shutil.rmtree(dst, ignore_errors=True)
d.write(dst)
print(f"{dst}: {len(kept)} strings of {min_s} s or more")
PY
}

stage_prepare() {
  if $own_data; then
    audiokit-prep fsdd ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/single" \
      --download-dir "$recipe_dir/downloads" --train-index 10:50 --valid-index 5:10 \
      --test-index 0:5 ${speakers:+--speakers "$speakers"}
    # digit strings (fsdd-strings also writes train/valid strings: kept minimal, unused)
    audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/strings" \
      --download-dir "$recipe_dir/downloads" --seed "$seed" --train-count 1 --valid-count 1 \
      --test-count "$test_count" ${speakers:+--speakers "$speakers"}
    keep_strings "$data_dir/strings/test" "$data_dir/test" 0
    if [ -n "$heldout_speakers" ]; then
      audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} \
        --out "$data_dir/strings_heldout" --download-dir "$recipe_dir/downloads" \
        --seed "$seed" --train-count 1 --valid-count 1 --test-index 0:50 \
        --test-count $((3 * heldout_count)) --speakers "$heldout_speakers"
      keep_strings "$data_dir/strings_heldout/test" "$data_dir/test_heldout" "$heldout_count"
    fi
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}

codec_run_stages
