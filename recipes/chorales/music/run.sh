#!/usr/bin/env bash
# Symbolic music generation on the Bach chorales: Music Transformer (relative attention)
# or its vanilla control over note-on/note-off/time-shift events, with an n-gram baseline.
# Corpus: the chorales inside the music21 wheel (no download). Split by chorale, fixed:
# SHA-1 of the corpus name (see audiokit/music/chorales.py), 280 train / 36 valid / 34 test.
recipe_dir="$(cd "$(dirname "$0")" && pwd)"

RECIPE_STAGES=(
  "prepare: the chorales to MIDI and train/valid/test lists (music21 corpus)"
  "tokens: MIDI to event tokens (16th-note grid) and the token dir"
  "train"
  "sample: test-set NLL per token and --num-samples pieces to MIDI"
  "score: NLL per token and sample statistics against the test chorales: RESULTS.md"
  "n-gram baseline: Kneser-Ney, order picked on valid, scored on test (--ngram-dir)"
)
RECIPE_OPTIONS="experiment data_dir limit num_samples temperature top_k sample_seed ngram_dir ngram_orders"
RECIPE_OPTIONS_USAGE="[--experiment music/chorales_relative|music/chorales_vanilla] [--data-dir DIR] [--limit N] [--num-samples 20] [--temperature 1.0] [--top-k 0] [--ngram-dir DIR] "
RECIPE_HELP="--limit N keeps at most N chorales per split (quick tests). --top-k 0 samples from all events.
The n-gram baseline (stage 6) needs only stages 1-2 and writes its own exp dir (--ngram-dir)."
experiment=music/chorales_relative
data_dir="$recipe_dir/data"
limit=""
num_samples=20 temperature=1.0 top_k=0 sample_seed=0
ngram_dir="" ngram_orders="2,3,4,5,6,8,10,12,16"

source "$recipe_dir/../../../scripts/stages.sh"
parse_options "$@"
exp_dir="${exp_dir:-$recipe_dir/exp/${experiment##*/}}"
ngram_dir="${ngram_dir:-$recipe_dir/exp/ngram}"
token_dir="$data_dir/token_list/events"

stage_prepare() {
  audiokit-prep chorales --out "$data_dir" ${limit:+--limit "$limit"}
}

stage_tokens() {
  require "$data_dir/train/midi.scp" "run stage 1"
  audiokit-prep music-tokens "$data_dir/train" "$data_dir/valid" "$data_dir/test" --token-dir "$token_dir"
}

stage_train() {
  require "$data_dir/train/events" "run stage 2"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.data_root="$data_dir" \
    paths.token_dir="$token_dir" "${overrides[@]}"
}

stage_sample() {
  require "$exp_dir/model.pt" "run stage 3"
  audiokit-infer exp_dir="$exp_dir" data_dir="$data_dir/test" output_dir="$exp_dir/infer/test" \
    music.num_samples="$num_samples" music.temperature="$temperature" music.top_k="$top_k" \
    music.seed="$sample_seed"
}

stage_score() {
  require "$exp_dir/infer/test/nll" "run stage 4"
  audiokit-score task=music ref="$data_dir/test" hyp="$exp_dir/infer/test" exp_dir="$exp_dir" name=test
}

stage_ngram() {
  require "$data_dir/train/events" "run stage 2"
  "$(audiokit_python)" -m audiokit.music.ngram --train "$data_dir/train/events" \
    --valid "$data_dir/valid/events" --test "$data_dir/test/events" --out "$ngram_dir" \
    --orders "$ngram_orders" --vocab "$token_dir/tokens.txt"
  audiokit-score task=music ref="$data_dir/test" hyp="$ngram_dir/infer/test" exp_dir="$ngram_dir" name=test
}

run_stage 1 stage_prepare
run_stage 2 stage_tokens
run_stage 3 stage_train
run_stage 4 stage_sample
run_stage 5 stage_score
run_stage 6 stage_ngram
recipe_summary
