# The prepare stage of the LJSpeech recipes (voc, tts): train/valid/test data dirs from the
# LJSpeech-1.1 layout (metadata.csv + wavs/) under --root, or only a check of given data dirs.
# Source it after scripts/stages.sh; uses $root, $valid_count, $test_count, $data_dir and the
# data sets. A test set of text only (synthesis) is not checked for audio.

stage_prepare() {
  if $own_data; then
    [ -n "$root" ] || { echo "$0: give --root (or set LJSPEECH_ROOT): the folder with LJSpeech-1.1/ (metadata.csv, wavs/)" >&2; exit 2; }
    audiokit-prep ljspeech --root "$root" --out "$data_dir" --valid-count "$valid_count" \
      --test-count "$test_count"
  fi
  local t with_audio=()
  for t in $test_sets; do
    if [ -f "$t/wav.scp" ]; then with_audio+=("$t"); fi
  done
  audiokit-prep validate "$train_set" "$valid_set" ${with_audio[@]+"${with_audio[@]}"}
}
