# shellcheck shell=bash
# Stages shared by recipes that train several exp dirs side by side under $exp_dir (the
# array `runs`, e.g. a fine-tune from a pretrained encoder and the same model from scratch):
# infer each run on every test set, score each, and join their RESULTS.md into
# $exp_dir/RESULTS.md. Source after scripts/stages.sh (uses `require`, `$test_sets`).

# infer_runs PREV_STAGE [audiokit-infer overrides...]
infer_runs() {
  local prev=$1 run t
  shift
  for run in "${runs[@]}"; do
    require "$exp_dir/$run/model.pt" "run stage $prev"
    for t in $test_sets; do
      audiokit-infer exp_dir="$exp_dir/$run" data_dir="$t" \
        output_dir="$exp_dir/$run/infer/$(basename "$t")" "$@"
    done
  done
}

# score_runs PREV_STAGE TASK FILE: audiokit-score task=TASK of each run's infer/<set>/FILE
# against <set>/FILE (utt2label for classification, text for ASR).
score_runs() {
  local prev=$1 task=$2 file=$3 run t name
  : > "$exp_dir/RESULTS.md.tmp"
  for run in "${runs[@]}"; do
    for t in $test_sets; do
      name=$(basename "$t")
      require "$exp_dir/$run/infer/$name/$file" "run stage $prev"
      audiokit-score task="$task" ref="$t/$file" hyp="$exp_dir/$run/infer/$name/$file" \
        exp_dir="$exp_dir/$run" name="$name"
    done
    { echo "# $run"; echo; sed -E 's/^(#+) /\1# /' "$exp_dir/$run/RESULTS.md"; echo; } >> "$exp_dir/RESULTS.md.tmp"
  done
  mv "$exp_dir/RESULTS.md.tmp" "$exp_dir/RESULTS.md"
}
