#!/usr/bin/env bash
# Text-to-music on the Bach chorales, the foundation: chorales rendered to captioned 16 kHz
# clips (timbre, tempo, key, mode), judges of timbre and tempo trained on them, and the
# audiokit-score task=t2m rows every generator is measured against (real clips: the ceiling;
# real clips under shuffled captions and pink noise: chance). Then text-to-music with a codec
# LM (MusicGen-style): a codec trained on the clips, their tokens, a delay-pattern LM
# cross-attending to the caption, generation from the held-out test captions at each
# classifier-free guidance scale (and unconditionally), scored like the ceiling rows. Then the
# same by diffusion (Riffusion/MusicLDM-style): a HiFi-GAN on the clips' log-mel, DDPM over
# log-mel with a caption-conditioned U-Net, DDIM generation at each guidance scale, scored.
# Split: by chorale (the chorales recipe's fixed SHA-1 split); test clips carry only the
# (timbre, tempo, mode) triples held out of train/valid (audiokit/music/t2m_facts.py).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare: the chorales to MIDI and train/valid/test lists (music21 corpus)"
  "render: captioned clips with timbre/tempo/key/mode labels (built-in synthesiser or FluidSynth)"
  "global CMVN statistics of each judge's features"
  "train the judges (classifiers of utt2timbre and utt2tempo)"
  "score the ceiling (real test clips) and chance rows (shuffled captions, noise): RESULTS.md"
  "train the codec on the training clips (--codec-experiment)"
  "codec tokens of train/valid/test (codes.scp) and the test clips through the codec"
  "train the codec LM on (caption, codes) pairs (--lm-experiment)"
  "generate from the test captions (a data dir of captions only) at each --cfg-scales, and unconditionally"
  "score the codec round trip and the codec-LM rows like the ceiling: RESULTS.md, t2m_table.md"
  "train the HiFi-GAN vocoder of the diffusion model's log-mel on the training clips (--vocoder-experiment)"
  "train the diffusion model on (caption words, log-mel) pairs (--diffusion-experiment)"
  "generate from the test captions by DDIM at each --cfg-scales, and unconditionally; vocoded"
  "score the diffusion rows like the ceiling: RESULTS.md, t2m_table.md"
)
RECIPE_OPTIONS="data_dir limit clip_seconds clips_per_chorale synth render_seed judges codec_experiment lm_experiment bandwidth cfg_scales top_k gen_seed codec_overrides lm_overrides vocoder_experiment diffusion_experiment ddim_steps vocoder_overrides diffusion_overrides generate_overrides"
RECIPE_OPTIONS_USAGE="[--data-dir DIR] [--limit N] [--clip-seconds 6] [--clips-per-chorale train=2,valid=2,test=3] [--synth builtin|fluidsynth] [--render-seed 0] [--judges 'timbre tempo'] [--codec-experiment codec/chorales_seanet] [--lm-experiment codec_lm/chorales_musicgen] [--bandwidth 2] [--cfg-scales '1 3'] [--top-k 250] [--gen-seed 0] [--codec-overrides 'k=v ...'] [--lm-overrides 'k=v ...'] [--vocoder-experiment voc/chorales_hifigan|none] [--diffusion-experiment diffusion/chorales_unet] [--ddim-steps 50] [--vocoder-overrides 'k=v ...'] [--diffusion-overrides 'k=v ...'] [--generate-overrides 'k=v ...'] "
RECIPE_HELP="--limit N keeps at most N chorales per split (quick tests). Everything after -- goes to both judges' training;
--codec-overrides and --lm-overrides (space-separated Hydra overrides) to the codec's and the LM's;
--vocoder-overrides and --diffusion-overrides to the diffusion stages' trainings
(--vocoder-experiment none: Griffin-Lim instead of a trained vocoder); --generate-overrides to
stage 13's generation (the best setting measured, with Griffin-Lim:
--generate-overrides 'diffusion.clip_x0=2 diffusion.rms=0.1').
--cfg-scales: one generated set and one scored row per classifier-free guidance scale
(1 = the conditional model alone); the unconditional row (scale 0) is always made.
Score any generated folder (wav.scp, one clip per test caption id) like stage 5 does:
  audiokit-score task=t2m ref=DATA/audio/test hyp=GEN exp_dir=E classifier_exp_dirs=[E/timbre,E/tempo] fd_ref=DATA/audio/valid"
data_dir="$recipe_dir/data"
limit=""
clip_seconds=6 clips_per_chorale="train=2,valid=2,test=3" synth=builtin render_seed=0
judges="timbre tempo"
codec_experiment=codec/chorales_seanet lm_experiment=codec_lm/chorales_musicgen bandwidth=2
cfg_scales="1 3" top_k=250 gen_seed=0 codec_overrides="" lm_overrides=""
vocoder_experiment=voc/chorales_hifigan diffusion_experiment=diffusion/chorales_unet ddim_steps=50
vocoder_overrides="" diffusion_overrides="" generate_overrides=""

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/judges}"
audio_dir="$data_dir/audio"
codec_dir="$exp_dir/codec" lm_dir="$exp_dir/${lm_experiment##*/}"
tokens_dir="$data_dir/tokens/${bandwidth}kbps"
for s in $cfg_scales; do
  [[ "$s" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "$0: --cfg-scales '$cfg_scales': numbers separated by spaces, e.g. --cfg-scales \"1 3\"" >&2; exit 2; }
done
# the unconditional row (scale 0) first, then each --cfg-scales value once
gen_scales=$(printf '%s\n' 0 $cfg_scales | awk '!seen[$1 + 0]++')
read -ra codec_args <<< "$codec_overrides"
read -ra lm_args <<< "$lm_overrides"
voc_dir="$exp_dir/vocoder" diff_dir="$exp_dir/${diffusion_experiment##*/}"
read -ra vocoder_args <<< "$vocoder_overrides"
read -ra diffusion_args <<< "$diffusion_overrides"
read -ra generate_args <<< "$generate_overrides"
py() { "$(dirname "$(readlink -f "$(command -v audiokit-train)")")/python" "$@"; }

stage_prepare() {
  audiokit-prep chorales --out "$data_dir/chorales" ${limit:+--limit "$limit"}
}

stage_render() {
  require "$data_dir/chorales/train/midi.scp" "run stage 1"
  audiokit-prep render-chorales --chorales "$data_dir/chorales" --out "$audio_dir" \
    --clip-seconds "$clip_seconds" --clips-per-chorale "$clips_per_chorale" --synth "$synth" \
    --seed "$render_seed" ${limit:+--limit "$limit"}
  audiokit-prep validate "$audio_dir/train" "$audio_dir/valid" "$audio_dir/test"
}

stage_stats() {
  require "$audio_dir/train/wav.scp" "run stage 2"
  local j
  for j in $judges; do  # each judge's own frontend (log-mel, tempogram)
    audiokit-prep stats --out "$exp_dir/cmvn_$j.json" --data-dir "$audio_dir/train" -- \
      experiment="cls/chorales_$j" "${overrides[@]}"
  done
}

stage_train() {
  local j
  for j in $judges; do
    require "$exp_dir/cmvn_$j.json" "run stage 3"
    audiokit-train experiment="cls/chorales_$j" exp_dir="$exp_dir/$j" \
      paths.train_dir="$audio_dir/train" paths.valid_dir="$audio_dir/valid" \
      paths.label_list="$audio_dir/labels/$j.txt" paths.cmvn_stats="$exp_dir/cmvn_$j.json" \
      "${overrides[@]}"
  done
}

judge_list() {  # [E/timbre,E/tempo]: the judges' exp dirs for classifier_exp_dirs=
  local j dirs=()
  for j in $judges; do
    require "$exp_dir/$j/model.pt" "run stage 4"
    dirs+=("$exp_dir/$j")
  done
  echo "[$(IFS=,; echo "${dirs[*]}")]"
}

# score_row NAME HYP: one t2m row, clips of HYP against the test captions, judged as the ceiling
score_row() {
  local judges_arg
  judges_arg=$(judge_list)  # its own line: set -e stops the recipe when a judge is missing
  audiokit-score task=t2m ref="$audio_dir/test" hyp="$2" name="$1" exp_dir="$exp_dir" \
    classifier_exp_dirs="$judges_arg" fd_ref="$audio_dir/valid"
}

# row_name PREFIX SCALE: a generated set's (and scored row's) name, PREFIX_uncond at scale 0
row_name() { awk -v p="$1" -v s="$2" 'BEGIN { print (s + 0 == 0) ? p "_uncond" : p "_cfg" s }'; }

stage_score() {
  judge_list > /dev/null  # the judges exist
  local kind
  for kind in shuffled noise; do
    audiokit-prep t2m-chance "$audio_dir/test" --out "$exp_dir/chance/$kind" --kind "$kind"
  done
  score_row real_test "$audio_dir/test"
  for kind in shuffled noise; do
    score_row "chance_$kind" "$exp_dir/chance/$kind"
  done
}

# ---- text-to-music with the codec LM (stages 6-10) ------------------------------------------

stage_codec() {
  require "$audio_dir/train/wav.scp" "run stage 2"
  audiokit-train experiment="$codec_experiment" exp_dir="$codec_dir" \
    paths.train_dir="$audio_dir/train" paths.valid_dir="$audio_dir/valid" "${codec_args[@]}"
}

stage_tokens() {
  require "$codec_dir/model.pt" "run stage 6"
  local set
  for set in train valid test; do  # test: the codec round trip, scored in stage 10
    audiokit-infer exp_dir="$codec_dir" data_dir="$audio_dir/$set" codec.bandwidth="$bandwidth" \
      output_dir="$tokens_dir/$set"
  done
}

stage_codec_lm() {
  require "$tokens_dir/train/codes.scp" "run stage 7"
  local card
  card=$(py -c "import sys; from omegaconf import OmegaConf; print(OmegaConf.load(sys.argv[1]).model.codebook_size)" \
    "$codec_dir/config.yaml")
  audiokit-train experiment="$lm_experiment" exp_dir="$lm_dir" \
    paths.train_dir="$tokens_dir/train" paths.valid_dir="$tokens_dir/valid" \
    data.codebook_size="$card" "${lm_args[@]}"
}

gen_name() { row_name codec_lm "$1"; }

stage_generate() {
  require "$lm_dir/model.pt" "run stage 8"
  # the held-out captions alone: generation needs no audio
  local captions="$data_dir/captions/test" s
  mkdir -p "$captions"
  cp "$audio_dir/test/text" "$captions/text"
  for s in $gen_scales; do
    audiokit-infer exp_dir="$lm_dir" data_dir="$captions" output_dir="$lm_dir/gen/$(gen_name "$s")" \
      codec_lm.codec_exp_dir="$codec_dir" codec_lm.guidance="$s" codec_lm.seconds="$clip_seconds" \
      codec_lm.top_k="$top_k" codec_lm.seed="$gen_seed"
    echo "$(gen_name "$s"): $(wc -l < "$lm_dir/gen/$(gen_name "$s")/wav.scp") clips for" \
      "$(wc -l < "$captions/text") captions (guidance $s)"
  done
}

stage_score_lm() {
  local s
  require "$tokens_dir/test/wav.scp" "run stage 7"
  score_row codec_resynthesis "$tokens_dir/test"
  for s in $gen_scales; do
    require "$lm_dir/gen/$(gen_name "$s")/wav.scp" "run stage 9"
    score_row "$(gen_name "$s")" "$lm_dir/gen/$(gen_name "$s")"
  done
  py -m audiokit.music.t2m_table "$exp_dir"
}

# ---- text-to-music by diffusion over log-mel (stages 11-14) ------------------------------------

stage_vocoder() {
  require "$audio_dir/train/wav.scp" "run stage 2"
  if [ "$vocoder_experiment" = none ]; then
    echo "--vocoder-experiment none: stage 13 vocodes with Griffin-Lim"
    return
  fi
  audiokit-train experiment="$vocoder_experiment" exp_dir="$voc_dir" \
    paths.train_dir="$audio_dir/train" paths.valid_dir="$audio_dir/valid" "${vocoder_args[@]}"
}

stage_diffusion() {
  require "$audio_dir/train/wav.scp" "run stage 2"
  # the captions' words (others become <unk>) and the log-mel's per-bin statistics
  audiokit-prep tokens --kind word --text "$audio_dir/train/text" --out "$data_dir/words"
  audiokit-prep stats --out "$diff_dir/cmvn.json" --data-dir "$audio_dir/train" -- \
    experiment="$diffusion_experiment" "${diffusion_args[@]}"
  audiokit-train experiment="$diffusion_experiment" exp_dir="$diff_dir" \
    paths.train_dir="$audio_dir/train" paths.valid_dir="$audio_dir/valid" \
    paths.token_dir="$data_dir/words" paths.cmvn_stats="$diff_dir/cmvn.json" "${diffusion_args[@]}"
}

diff_name() { row_name diffusion "$1"; }

stage_generate_diffusion() {
  require "$diff_dir/model.pt" "run stage 12"
  local captions="$data_dir/captions/test" s vocoder=()
  mkdir -p "$captions"
  cp "$audio_dir/test/text" "$captions/text"
  if [ "$vocoder_experiment" != none ]; then
    require "$voc_dir/model.pt" "run stage 11"
    vocoder=(vocoder_exp_dir="$voc_dir")
  fi
  for s in $gen_scales; do
    audiokit-infer exp_dir="$diff_dir" data_dir="$captions" output_dir="$diff_dir/gen/$(diff_name "$s")" \
      "${vocoder[@]}" diffusion.guidance="$s" diffusion.seconds="$clip_seconds" \
      diffusion.steps="$ddim_steps" diffusion.seed="$gen_seed" "${generate_args[@]}"
  done
}

stage_score_diffusion() {
  local s
  for s in $gen_scales; do
    require "$diff_dir/gen/$(diff_name "$s")/wav.scp" "run stage 13"
    score_row "$(diff_name "$s")" "$diff_dir/gen/$(diff_name "$s")"
  done
  py -m audiokit.music.t2m_table "$exp_dir"
}

run_stage 1 stage_prepare
run_stage 2 stage_render
run_stage 3 stage_stats
run_stage 4 stage_train
run_stage 5 stage_score
run_stage 6 stage_codec
run_stage 7 stage_tokens
run_stage 8 stage_codec_lm
run_stage 9 stage_generate
run_stage 10 stage_score_lm
run_stage 11 stage_vocoder
run_stage 12 stage_diffusion
run_stage 13 stage_generate_diffusion
run_stage 14 stage_score_diffusion
recipe_summary
