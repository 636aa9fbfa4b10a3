# Stages every diarization recipe shares, after its own prepare stage (see recipes/*/diar).
# Uses the recipe's variables: experiment, exp_dir, train_set, valid_set, test_sets,
# embedding_exp (pipeline experiments) and overrides.

# The pipeline experiments train a speech-activity task; EEND trains the diarization task.
is_pipeline() {
  audiokit-train experiment="$experiment" "${overrides[@]}" --cfg job 2>/dev/null \
    | grep -q "SpeechActivityTask"
}

diar_train() {
  require "$exp_dir/cmvn.json" "run the CMVN stage"
  local extra=()
  if is_pipeline; then
    [ -f "$embedding_exp/model.pt" ] || { echo "$0: the pipeline needs a trained speaker experiment: --embedding-exp DIR (no $embedding_exp/model.pt)" >&2; exit 2; }
    extra=(paths.embedding_exp_dir="$embedding_exp")
  fi
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.cmvn_stats="$exp_dir/cmvn.json" "${extra[@]}" \
    "${overrides[@]}"
}

# The pipeline tunes its clustering, EEND its activity threshold and median filter.
diar_tune() {
  require "$exp_dir/model.pt" "run the training stage"
  "$(dirname "$(command -v audiokit-train)")/python" -m audiokit.inference.tune_diarization \
    exp_dir="$exp_dir" data_dir="$valid_set"
}

diar_infer() {
  require "$exp_dir/model.pt" "run the training stage"
  local t tuned=()
  [ -f "$exp_dir/tuned/overrides" ] && mapfile -t tuned < "$exp_dir/tuned/overrides"
  for t in $test_sets; do
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/infer/$(basename "$t")" \
      "${tuned[@]}"
  done
}

# DER at collars 0.25 and 0 s, within the test set's UEM when it has one.
diar_score() {
  local t name uem
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/infer/$name/rttm" "run the diarize stage"
    uem=()
    if [ -f "$t/uem" ]; then uem=(uem="$t/uem"); fi
    audiokit-score task=diar ref="$t/rttm" hyp="$exp_dir/infer/$name/rttm" "${uem[@]}" \
      missing=miss exp_dir="$exp_dir" name="$name"
  done
}
