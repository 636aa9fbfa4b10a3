#!/usr/bin/env bash
# VALL-E-style TTS on FSDD digit strings: codec tokens of four voices, an autoregressive codec
# LM over codebook 0 (text + a same-speaker prompt as prefix) and a non-autoregressive model for
# the other codebooks; tested on a fifth voice the models never heard, prompted with another
# recording of that voice (first --prompt-seconds).
# Corpus: $FSDD_ROOT (a local mirror, read-only); without it, stage 1 downloads FSDD.
# Needs a trained codec exp dir (recipes/fsdd/codec): --codec-exp-dir.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare digit strings: training voices (train/valid), the held-out voice (test + utt2prompt)"
  "codec tokens of train and valid (audiokit-infer with the codec exp dir at --bandwidth)"
  "train the AR stage (codebook 0; --ar-experiment)"
  "train the NAR stage (codebooks 1..K-1; --nar-experiment)"
  "generate the test set's audio from its text and prompts (exp/infer/test: codes, wav, hit_max)"
)
RECIPE_OPTIONS="codec_exp_dir bandwidth ar_experiment nar_experiment data_dir speakers heldout_speakers train_count valid_count test_count prompt_seconds max_frames temperature top_k seed"
RECIPE_OPTIONS_USAGE="--codec-exp-dir DIR [--bandwidth 1.5] [--speakers a,b,c,d --heldout-speakers e] "
RECIPE_HELP="Every override after -- goes to both training stages (use keys both models have:
model.d_model, model.num_layers, trainer.max_epochs, ...).
Scoring (ASR WER, speaker similarity) is not a stage yet: score O/wav.scp with other exp dirs."
codec_exp_dir="$recipe_dir/../codec/exp/fsdd_seanet"
bandwidth=1.5
ar_experiment=codec_lm/fsdd_valle_ar
nar_experiment=codec_lm/fsdd_valle_nar
data_dir="$recipe_dir/data"
speakers="george,jackson,nicolas,yweweler" heldout_speakers="theo"
train_count=400 valid_count=40 test_count=50
prompt_seconds=3 max_frames=300 temperature=1.0 top_k=0
seed=1

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/valle}"
py() { "$(dirname "$(readlink -f "$(command -v audiokit-train)")")/python" "$@"; }
tokens="$data_dir/tokens/${bandwidth}kbps"

stage_prepare() {
  audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/strings" \
    --download-dir "$recipe_dir/downloads" --seed "$seed" --speakers "$speakers" \
    --train-count "$train_count" --valid-count "$valid_count" --test-count 1
  # the held-out voice: strings of any recording index; each test string is prompted with the
  # next string of its speaker (a different recording)
  audiokit-prep fsdd-strings ${FSDD_ROOT:+--root "$FSDD_ROOT"} --out "$data_dir/heldout" \
    --download-dir "$recipe_dir/downloads" --seed "$seed" --speakers "$heldout_speakers" \
    --train-count 1 --valid-count 1 --test-index 0:50 --test-count "$((test_count + 1))"
  py - "$data_dir/heldout/test" "$data_dir/test" "$test_count" <<'PY'
import shutil, sys
from audiokit.data.datadir import DataDir, write_kaldi_map
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = DataDir.load(src)
by_spk = {}
for u in d.utt_ids:
    by_spk.setdefault(d.utt2spk[u], []).append(u)
kept, prompt = [], {}
for spk, utts in sorted(by_spk.items()):
    for i, u in enumerate(utts[:count]):
        kept.append(u)
        prompt[u] = d.wav_scp[utts[(i + 1) % len(utts)]]
for name in ("wav_scp", "text", "utt2spk", "utt2dur"):
    setattr(d, name, {u: getattr(d, name)[u] for u in kept})
shutil.rmtree(dst, ignore_errors=True)
d.write(dst)
write_kaldi_map(f"{dst}/utt2prompt", prompt)
print(f"{dst}: {len(kept)} strings of {len(by_spk)} held-out voice(s), each with a prompt")
PY
  audiokit-prep validate "$data_dir/strings/train" "$data_dir/strings/valid" "$data_dir/test"
}

stage_tokens() {
  require "$codec_exp_dir/model.pt" "train a codec first: recipes/fsdd/codec/run.sh"
  for set in train valid; do
    audiokit-infer exp_dir="$codec_exp_dir" data_dir="$data_dir/strings/$set" \
      codec.bandwidth="$bandwidth" output_dir="$tokens/$set"
  done
}

codebook_size() {
  py -c "import sys; from omegaconf import OmegaConf; print(OmegaConf.load(sys.argv[1]).model.codebook_size)" \
    "$codec_exp_dir/config.yaml"
}

train_stage() {  # train_stage EXPERIMENT NAME
  require "$tokens/train/codes.scp" "run stage 2"
  audiokit-train experiment="$1" paths.train_dir="$tokens/train" paths.valid_dir="$tokens/valid" \
    data.codebook_size="$(codebook_size)" exp_dir="$exp_dir/$2" seed="$seed" "${overrides[@]}"
}

stage_train_ar() { train_stage "$ar_experiment" ar; }
stage_train_nar() { train_stage "$nar_experiment" nar; }

stage_infer() {
  require "$exp_dir/ar/model.pt" "run stage 3"
  require "$exp_dir/nar/model.pt" "run stage 4"
  audiokit-infer exp_dir="$exp_dir/ar" data_dir="$data_dir/test" output_dir="$exp_dir/infer/test" \
    codec_lm.codec_exp_dir="$codec_exp_dir" codec_lm.nar_exp_dir="$exp_dir/nar" \
    codec_lm.prompt_seconds="$prompt_seconds" codec_lm.max_frames="$max_frames" \
    codec_lm.temperature="$temperature" codec_lm.top_k="$top_k" codec_lm.seed="$seed"
  local cut=0
  [ -f "$exp_dir/infer/test/hit_max" ] && cut=$(wc -l < "$exp_dir/infer/test/hit_max")
  echo "generated $(wc -l < "$exp_dir/infer/test/codes.scp") utterances; $cut cut at" \
    "max_frames=$max_frames (listed in $exp_dir/infer/test/hit_max)"
}

run_stage 1 stage_prepare
run_stage 2 stage_tokens
run_stage 3 stage_train_ar
run_stage 4 stage_train_nar
run_stage 5 stage_infer
echo "exp dir: $exp_dir (generated audio: $exp_dir/infer/test/wav.scp)"
