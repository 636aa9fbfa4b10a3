# Stages 2-4 of the vocoder recipes (fsdd/voc, ljspeech/voc): train, copy-synthesise, score.
# Source after scripts/stages.sh and parse_options; the recipe defines stage_prepare and sets
# $experiment, $exp_dir, $train_set, $valid_set, $test_sets, $seed, $metrics, $griffin_lim and
# $asr_exp_dir, then calls voc_run_stages.

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" seed="$seed" "${overrides[@]}"
}

# the vocoder exp dir, and Griffin-Lim's (same frontend) when --griffin-lim true
vocoders() {
  echo "$exp_dir"
  if [ "$griffin_lim" = true ]; then echo "$exp_dir/griffin_lim"; fi
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 2"
  if [ "$griffin_lim" = true ]; then
    "$(audiokit_python)" -m audiokit.inference.vocode griffin-lim "$exp_dir/griffin_lim" "$exp_dir"
  fi
  local e t
  for e in $(vocoders); do
    for t in $test_sets; do
      audiokit-infer exp_dir="$e" data_dir="$t" output_dir="$e/infer/$(basename "$t")"
    done
  done
}

stage_score() {
  local e t name
  for e in $(vocoders); do
    for t in $test_sets; do
      name=$(basename "$t")
      require "$e/infer/$name/wav.scp" "run stage 3"
      audiokit-score task=vocoder ref="$t" hyp="$e/infer/$name" exp_dir="$e" name="$name" \
        metrics="[${metrics// /,}]" ${asr_exp_dir:+asr_exp_dir="$asr_exp_dir"}
    done
  done
}

voc_run_stages() {
  run_stage 1 stage_prepare
  run_stage 2 stage_train
  run_stage 3 stage_infer
  run_stage 4 stage_score
  echo "exp dir: $exp_dir  results: $(for e in $(vocoders); do printf '%s ' "$e/RESULTS.md"; done)"
}
