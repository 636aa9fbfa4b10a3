# Neural-codec recipe stages shared by every corpus (source after stages.sh and parse_options).
# A recipe defines stage_prepare (its corpus -> data dirs) and sets: experiment, exp_dir,
# train_set, valid_set, test_sets, bandwidths (empty: every one the model was trained for),
# anchors (classical settings for the baselines stage), metrics, asr_exp_dir (an ASR exp dir:
# WER of the original and the decoded audio; empty: none). Then: codec_run_stages.

CODEC_STAGES=(
  "train"
  "code the test sets at each bandwidth: tokens (codes.scp) and decoded audio (wav.scp)"
  "score the decoded audio per test set and bandwidth (+ WER with --asr-exp-dir), RESULTS.md"
  "baselines: Codec2 (3200, 1600, 700C) and Opus (6, 8, 12 kbps) on the same test sets, same scorer (needs c2enc/opusenc; skipped with a hint otherwise)"
)

# the Python of the audiokit install (stages.sh put it on PATH when it was not)
py() { "$(dirname "$(readlink -f "$(command -v audiokit-train)")")/python" "$@"; }

codec_setup() {
  require_distinct_test_names  # outputs go to infer/<name>/<bandwidth>kbps
}

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" "${overrides[@]}"
}

# The bandwidths to code at: $bandwidths, else every one the model was trained for.
model_bandwidths() {
  if [ -n "$bandwidths" ]; then echo "$bandwidths"; return; fi
  py - "$exp_dir/config.yaml" <<'PY'
import sys
from omegaconf import OmegaConf
print(" ".join(f"{float(b):g}" for b in OmegaConf.load(sys.argv[1]).model.bandwidths))
PY
}

stage_infer() {
  require "$exp_dir/model.pt" "run the train stage"
  local t b
  for t in $test_sets; do
    for b in $(model_bandwidths); do
      audiokit-infer exp_dir="$exp_dir" data_dir="$t" codec.bandwidth="$b" \
        output_dir="$exp_dir/infer/$(basename "$t")/${b}kbps"
    done
  done
}

stage_score() {
  local t b name
  for t in $test_sets; do
    name=$(basename "$t")
    for b in $(model_bandwidths); do
      require "$exp_dir/infer/$name/${b}kbps/wav.scp" "run the infer stage"
      audiokit-score task=codec ref="$t" hyp="$exp_dir/infer/$name/${b}kbps" \
        exp_dir="$exp_dir" name="${name}_${b}kbps" metrics="[${metrics// /,}]" \
        ${asr_exp_dir:+asr_exp_dir="$asr_exp_dir"}
    done
  done
}

stage_baselines() {
  local t a name rc=0
  py -m audiokit.inference.codec_anchors --check || rc=$?
  if [ "$rc" -eq 3 ]; then   # 3: tools missing (the check printed how to install them)
    echo "baselines: skipped (the classical anchors need c2enc/c2dec and opusenc/opusdec)"
    return 0
  fi
  [ "$rc" -eq 0 ] || exit "$rc"
  for t in $test_sets; do
    name=$(basename "$t")
    for a in $anchors; do
      py -m audiokit.inference.codec_anchors --data-dir "$t" --setting "$a" \
        --out "$exp_dir/anchors/$name/$a"
      audiokit-score task=codec ref="$t" hyp="$exp_dir/anchors/$name/$a" \
        exp_dir="$exp_dir" name="${name}_$a" metrics="[${metrics// /,}]" \
        ${asr_exp_dir:+asr_exp_dir="$asr_exp_dir"}
    done
  done
}

codec_run_stages() {
  run_stage 1 stage_prepare
  run_stage 2 stage_train
  run_stage 3 stage_infer
  run_stage 4 stage_score
  run_stage 5 stage_baselines
  recipe_summary
}
