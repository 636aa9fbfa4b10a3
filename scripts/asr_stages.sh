# ASR recipe stages shared by every corpus (source after stages.sh and parse_options).
# A recipe defines stage_prepare (its corpus -> data dirs) and sets: experiment, exp_dir,
# train_set, valid_set, test_sets, token_type, vocab_size, decode_modes, lm_experiment,
# lm_weight. Then: asr_run_stages.

ASR_STAGES=(
  "token list of the training text (--token-type word|char|bpe|unigram)"
  "global CMVN statistics of the training features"
  "train the ASR model"
  "train a Transformer LM on the training text (only with --lm-experiment)"
  "decode the test sets (one output per --decode-modes entry)"
  "score: WER/CER per test set and decoding mode, RESULTS.md"
)

asr_setup() {
  token_dir="$exp_dir/tokens"    # per experiment: the token list belongs to the model
  lm_dir="$exp_dir/lm"
  require_distinct_test_names  # outputs go to infer/<name>_<mode>
}

stage_tokens() {
  require "$train_set/text" "run stage 1"
  audiokit-prep tokens --kind "$token_type" ${vocab_size:+--vocab-size "$vocab_size"} \
    --text "$train_set/text" --out "$token_dir"
}

stage_stats() {
  cmvn_stats paths.token_dir="$token_dir"
}

stage_train() {
  require "$token_dir/tokens.txt" "run stage 2"
  local stats=null
  [ -f "$exp_dir/cmvn.json" ] && stats="$exp_dir/cmvn.json"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.token_dir="$token_dir" paths.cmvn_stats="$stats" \
    "${overrides[@]}"
}

stage_lm() {
  [ -n "$lm_experiment" ] || { echo "no --lm-experiment: skipped"; return 0; }
  audiokit-train experiment="$lm_experiment" exp_dir="$lm_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" paths.token_dir="$token_dir"
}

stage_infer() {
  require "$exp_dir/model.pt" "run stage 4"
  local t mode lm_args=()
  [ -n "$lm_experiment" ] && lm_args=(lm_exp_dir="$lm_dir" decoding.lm_weight="$lm_weight")
  for t in $test_sets; do
    for mode in $decode_modes; do
      audiokit-infer exp_dir="$exp_dir" data_dir="$t" \
        output_dir="$exp_dir/infer/$(basename "$t")_$mode" decoding.mode="$mode" "${lm_args[@]}"
    done
  done
}

stage_score() {
  local t mode name
  for t in $test_sets; do
    for mode in $decode_modes; do
      name="$(basename "$t")_$mode"
      require "$exp_dir/infer/$name/text" "run stage 6"
      audiokit-score task=asr ref="$t/text" hyp="$exp_dir/infer/$name/text" \
        exp_dir="$exp_dir" name="$name"
    done
  done
}

asr_run_stages() {
  run_stage 1 stage_prepare
  run_stage 2 stage_tokens
  run_stage 3 stage_stats
  run_stage 4 stage_train
  run_stage 5 stage_lm
  run_stage 6 stage_infer
  run_stage 7 stage_score
  recipe_summary
}
