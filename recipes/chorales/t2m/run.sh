#!/usr/bin/env bash
# Text-to-music on the Bach chorales, the foundation: chorales rendered to captioned 16 kHz
# clips (timbre, tempo, key, mode), judges of timbre and tempo trained on them, and the
# audiokit-score task=t2m rows every generator is measured against (real clips: the ceiling;
# real clips under shuffled captions and pink noise: chance). The codec-LM and diffusion
# stages come later (README.md).
# Split: by chorale (the chorales recipe's fixed SHA-1 split); test clips carry only the
# (timbre, tempo, mode) triples held out of train/valid (audiokit/music/t2m_facts.py).
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare: the chorales to MIDI and train/valid/test lists (music21 corpus)"
  "render: captioned clips with timbre/tempo/key/mode labels (built-in synthesiser or FluidSynth)"
  "global CMVN statistics of each judge's features"
  "train the judges (classifiers of utt2timbre and utt2tempo)"
  "score the ceiling (real test clips) and chance rows (shuffled captions, noise): RESULTS.md"
)
RECIPE_OPTIONS="data_dir limit clip_seconds clips_per_chorale synth render_seed judges"
RECIPE_OPTIONS_USAGE="[--data-dir DIR] [--limit N] [--clip-seconds 6] [--clips-per-chorale train=2,valid=2,test=3] [--synth builtin|fluidsynth] [--render-seed 0] [--judges 'timbre tempo'] "
RECIPE_HELP="--limit N keeps at most N chorales per split (quick tests). Everything after -- goes to both judges' training.
Score any generated folder (wav.scp, one clip per test caption id) like stage 5 does:
  audiokit-score task=t2m ref=DATA/audio/test hyp=GEN exp_dir=E classifier_exp_dirs=[E/timbre,E/tempo] fd_ref=DATA/audio/valid"
data_dir="$recipe_dir/data"
limit=""
clip_seconds=6 clips_per_chorale="train=2,valid=2,test=3" synth=builtin render_seed=0
judges="timbre tempo"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/judges}"
audio_dir="$data_dir/audio"

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

stage_score() {
  local j dirs=() kind
  for j in $judges; do
    require "$exp_dir/$j/model.pt" "run stage 4"
    dirs+=("$exp_dir/$j")
  done
  local judge_list
  judge_list="[$(IFS=,; echo "${dirs[*]}")]"
  for kind in shuffled noise; do
    audiokit-prep t2m-chance "$audio_dir/test" --out "$exp_dir/chance/$kind" --kind "$kind"
  done
  audiokit-score task=t2m ref="$audio_dir/test" hyp="$audio_dir/test" name=real_test \
    exp_dir="$exp_dir" classifier_exp_dirs="$judge_list" fd_ref="$audio_dir/valid"
  for kind in shuffled noise; do
    audiokit-score task=t2m ref="$audio_dir/test" hyp="$exp_dir/chance/$kind" name="chance_$kind" \
      exp_dir="$exp_dir" classifier_exp_dirs="$judge_list" fd_ref="$audio_dir/valid"
  done
}

run_stage 1 stage_prepare
run_stage 2 stage_render
run_stage 3 stage_stats
run_stage 4 stage_train
run_stage 5 stage_score
recipe_summary
