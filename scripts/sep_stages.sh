# Separation / enhancement recipe stages shared by every corpus (source after stages.sh and
# parse_options). A recipe defines stage_prepare (its corpus -> mixture data dirs: wav.scp,
# spk1.scp ..) and sets: experiment, exp_dir, train_set, valid_set, test_sets, source_dir
# (single-speaker data dir for dynamic mixing; empty: the experiment trains on train_set),
# metrics. Then: sep_run_stages.

SEP_STAGES=(
  "train"
  "separate the test sets: wav files + spk*.scp (enhancement: wav.scp)"
  "score: SI-SNRi, SDRi, PESQ, STOI per test set, RESULTS.md"
)

sep_setup() {
  require_distinct_test_names  # outputs go to infer/<name>
}

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  local source_args=(paths.source_dir=null)
  [ -n "$source_dir" ] && source_args=(paths.source_dir="$source_dir")
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" "${source_args[@]}" "${overrides[@]}"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 2"
  local t
  for t in $test_sets; do
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/infer/$(basename "$t")"
  done
}

stage_score() {
  local t name
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/infer/$name" "run stage 3"
    audiokit-score task=sep ref="$t" hyp="$exp_dir/infer/$name" exp_dir="$exp_dir" \
      name="$name" metrics="[${metrics// /,}]"
  done
}

sep_run_stages() {
  run_stage 1 stage_prepare
  run_stage 2 stage_train
  run_stage 3 stage_infer
  run_stage 4 stage_score
  recipe_summary
}
