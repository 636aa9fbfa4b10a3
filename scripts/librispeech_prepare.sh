# The prepare stage of the LibriSpeech recipes (asr, codec): data dirs from the corpus layout
# (SPEAKER/CHAPTER/*.flac + *.trans.txt) under --root, or only a check of given data dirs.
# Source it after scripts/stages.sh; uses $root, $subsets, $data_dir and the data sets.

stage_prepare() {
  if $own_data; then
    [ -n "$root" ] || { echo "$0: give --root (or set LIBRISPEECH_ROOT): the folder with LibriSpeech/" >&2; exit 2; }
    audiokit-prep librispeech --root "$root" --out "$data_dir" --subsets "${subsets// /,}"
  fi
  # shellcheck disable=SC2086
  audiokit-prep validate "$train_set" "$valid_set" $test_sets
}
