#!/usr/bin/env bash
# GPU checks for a lent CUDA machine (not part of CI). CHECKS picks what runs:
#   cls: bf16 vs fp32 training throughput of the FSDD classifiers, the FSDD cls recipe end to
#        end with trainer=gpu_bf16, CUDA vs CPU inference;
#   asr: bf16 vs fp32 training throughput and model FLOP utilisation of the FSDD conformer,
#        and CUDA decoding RTF of a trained FSDD ASR exp dir (ASR_EXP).
# Expects audiokit importable and on PATH, FSDD_ROOT set, and OUT a folder for results.
# On a machine with its own torch (no `make install`): put the missing wheels (hydra-core,
# omegaconf, antlr4, soundfile, cffi, webdataset, braceexpand, jiwer, rapidfuzz) on PYTHONPATH
# with the repo root, and make audiokit-{train,infer,score,prep} wrappers that run
# `python3 -m audiokit.cli.{train,...}`. The H100 run in the README was done that way.
set -euo pipefail
: "${OUT:?set OUT}" "${FSDD_ROOT:?set FSDD_ROOT}"
CHECKS="${CHECKS:-cls asr}"
nvidia-smi -L | tee "$OUT/gpu.txt"
if [[ " $CHECKS " == *" asr "* ]]; then
  python3 bench/run.py --only train_asr --trainer gpu_bf16 > "$OUT/asr_train_gpu_bf16.json"
  python3 bench/run.py --only train_asr --trainer gpu --set trainer.precision=32-true \
    > "$OUT/asr_train_gpu_fp32.json"
  python3 bench/run.py --only decode_asr --device cuda \
    --asr-exp "${ASR_EXP:-recipes/fsdd/asr/exp/fsdd_conformer_aug}" > "$OUT/asr_decode_cuda.json"
fi
[[ " $CHECKS " == *" cls "* ]] || exit 0
python3 bench/run.py --only train_cnn --only train_ast --trainer gpu_bf16 > "$OUT/bench_gpu_bf16.json"
python3 bench/run.py --only train_cnn --only train_ast --trainer gpu > "$OUT/bench_gpu_fp32.json"
exp=/tmp/audiokit_gpu/exp
recipes/fsdd/cls/run.sh --data-dir /tmp/audiokit_gpu/data --exp-dir "$exp" \
  -- trainer=gpu_bf16 callbacks.progress=null > "$OUT/recipe_gpu_bf16.log" 2>&1
cp "$exp/RESULTS.md" "$OUT/RESULTS_gpu_bf16.md"
timed() {  # seconds a command takes, its output discarded
  python3 -c 'import subprocess, sys, time; t = time.time()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.time() - t:.2f}")' "$@"
}
for device in cuda cpu; do
  echo "infer 250 test utterances on $device: $(timed audiokit-infer exp_dir="$exp" \
    data_dir=/tmp/audiokit_gpu/data/test output_dir=/tmp/audiokit_gpu/infer_$device \
    device=$device) s (process start included)" | tee -a "$OUT/gpu.txt"
done
