#!/usr/bin/env bash
# ESPnet's FSDD peer (../shared/peers/espnet: same model, features and 22 epochs) trained and
# decoded on any Kaldi-style data dirs, e.g. the ones recipes/fsdd/asr trains on, so both
# toolkits can be compared on identical data. Needs an ESPnet venv (see the peer's README).
#   VENV=/path/to/espnet-venv [EPOCHS=22] [SEED=0] \
#     bench/peers/espnet_asr.sh TRAIN VALID "TEST..." OUT
# Writes OUT/exp (ESPnet's experiment; it decodes ESPnet's average of the 3 best epochs) and
# OUT/<test>_{beam,greedy}.hyp, and prints one JSON line per test set and mode (WER, RTF) from
# the peer's decode driver.
set -euo pipefail
[ $# -eq 4 ] || { sed -n 2,9p "$0"; exit 2; }
train=$1 valid=$2 tests=$3 out=$4
: "${VENV:?set VENV to an ESPnet virtual environment}"
peer=$(cd "$(dirname "$0")/../../../shared/peers/espnet" && pwd)
py=$VENV/bin/python
mkdir -p "$out/exp"

# ESPnet's samplers need each utterance's length in samples ("shape files").
shape_file() {
  "$py" - "$1" "$2" <<'PY'
import sys, soundfile as sf
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1] + "/wav.scp"):
        utt, path = line.split(maxsplit=1)
        f.write(f"{utt} {sf.info(path.strip()).frames}\n")
PY
}
shape_file "$train" "$out/train.nsamples"
shape_file "$valid" "$out/valid.nsamples"
printf '%s\n' "<blank>" "<unk>" zero one two three four five six seven eight nine "<sos/eos>" \
  > "$out/tokens.txt"
sed "s#stats_file: PEER/#stats_file: $out/#; s#^max_epoch:.*#max_epoch: ${EPOCHS:-22}#" \
  "$peer/espnet_fsdd_asr.yaml" > "$out/conf.yaml"

common=(--use_preprocessor true --token_type word --token_list "$out/tokens.txt"
        --non_linguistic_symbols none --cleaner none --g2p none --ngpu 0 --config "$out/conf.yaml"
        --train_data_path_and_name_and_type "$train/wav.scp,speech,sound"
        --train_data_path_and_name_and_type "$train/text,text,text"
        --valid_data_path_and_name_and_type "$valid/wav.scp,speech,sound"
        --valid_data_path_and_name_and_type "$valid/text,text,text")
"$py" -m espnet2.bin.asr_train "${common[@]}" --collect_stats true --normalize none \
  --batch_type unsorted --batch_size 32 --output_dir "$out/exp/stats" \
  --train_shape_file "$out/train.nsamples" --valid_shape_file "$out/valid.nsamples" \
  > "$out/exp/stats.log" 2>&1
s=$out/exp/stats
/usr/bin/time -v -o "$out/exp/train_time.txt" "$py" -m espnet2.bin.asr_train "${common[@]}" \
  --train_shape_file "$s/train/speech_shape" --train_shape_file "$s/train/text_shape" \
  --valid_shape_file "$s/valid/speech_shape" --valid_shape_file "$s/valid/text_shape" \
  --seed "${SEED:-0}" --output_dir "$out/exp/asr" > "$out/exp/train.log" 2>&1

for t in $tests; do
  for mode in beam greedy; do
    "$py" "$peer/decode_espnet_fsdd.py" "$t" --config "$out/exp/asr/config.yaml" \
      --model "$out/exp/asr/valid.acc.ave.pth" --mode "$mode" --beam 10 --ctc_weight 0.3 \
      --out "$out/$(basename "$t")_$mode.hyp" 2>&1 | tail -1
  done
done
