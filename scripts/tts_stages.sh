# Stages 2-4 of the text-to-speech recipes (fsdd/tts, ljspeech/tts): train, synthesise the
# test sets' texts, score. Source after scripts/stages.sh and parse_options; the recipe defines
# stage_prepare and sets $experiment, $exp_dir, $train_set, $valid_set, $test_sets, $seed,
# $vocoder_exp, $asr_exp and $sv_exp, then calls tts_run_stages.

stage_train() {
  require "$train_set/wav.scp" "run stage 1"
  audiokit-train experiment="$experiment" exp_dir="$exp_dir" paths.train_dir="$train_set" \
    paths.valid_dir="$valid_set" seed="$seed" "${overrides[@]}"
}

stage_synthesise() {
  require "$exp_dir/model.pt" "run stage 2"
  local t
  for t in $test_sets; do
    audiokit-infer exp_dir="$exp_dir" data_dir="$t" output_dir="$exp_dir/synth/$(basename "$t")" \
      ${vocoder_exp:+vocoder_exp_dir="$vocoder_exp"}
  done
}

stage_score() {
  local t name
  for t in $test_sets; do
    name=$(basename "$t")
    require "$exp_dir/synth/$name/wav.scp" "run stage 3"
    if [ -f "$t/wav.scp" ]; then  # real recordings of the same texts: the references
      audiokit-score task=tts ref="$t" hyp="$exp_dir/synth/$name" exp_dir="$exp_dir" name="$name" \
        ${asr_exp:+asr_exp_dir="$asr_exp"} ${sv_exp:+sv_exp_dir="$sv_exp"}
      continue
    fi
    # a test set of text only: attention failures, and the WER of the synthesis alone
    local failures="$exp_dir/synth/$name/attention_failures" note=""  # Tacotron 2's; VITS has none
    if [ -f "$failures" ]; then
      note="; $(grep -c -v '^[^ ]* 0 ' "$failures" || true) of $(wc -l < "$failures") utterances with attention failures"
    fi
    echo "$name: no real recordings ($t/wav.scp): no MCD, DNSMOS or similarity$note"
    if [ -n "$asr_exp" ]; then
      audiokit-infer exp_dir="$asr_exp" data_dir="$exp_dir/synth/$name" output_dir="$exp_dir/asr/${name}_synth"
      audiokit-score task=asr ref="$t/text" hyp="$exp_dir/asr/${name}_synth/text" exp_dir="$exp_dir" name="${name}_synth"
    fi
  done
}

tts_run_stages() {
  run_stage 1 stage_prepare
  run_stage 2 stage_train
  run_stage 3 stage_synthesise
  run_stage 4 stage_score
  recipe_summary
}
