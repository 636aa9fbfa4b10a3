#!/usr/bin/env bash
# ESPnet2's VITS (gan_tts task) and Tacotron 2 (tts task) trained side by side with audiokit's
# tts/fsdd_vits and tts/fsdd_tacotron2 on the same data dirs (recipes/fsdd/tts stage 1), at the
# same sizes and the same fixed batch, for a few hundred batches: training speed and peak memory,
# one toolkit after the other on the same machine. Needs an ESPnet venv (../shared/peers/espnet).
# One that runs on audiokit's torch 2.14.1 (pip pulls torch 2.12.1 and an older cuDNN for
# espnet, and torch 2.14.1 refuses that cuDNN):
#   python3 -m venv V && echo "$PWD/.venv/lib/python3.11/site-packages" > V/lib/python3.11/site-packages/ak.pth
#   V/bin/pip install espnet && V/bin/pip uninstall -y torch nvidia-cudnn-cu13 nvidia-nccl-cu13 \
#     nvidia-nvjitlink cuda-toolkit triton        # what is left comes from audiokit's venv
#   VENV=/path/to/espnet-venv [BATCH=12] [SHORT=20] [LONG=220] [THREADS=1] \
#     bench/peers/espnet_tts.sh TRAIN VALID OUT [vits] [tacotron2]
# Both validate on VALID's first 4 strings only (validation is not what is timed).
# Each toolkit trains each model twice, SHORT and LONG batches; batches/s = (LONG - SHORT) /
# (difference of the two wall times), so start-up, data loading set-up and validation cancel
# out. Peak RSS is GNU time's maximum resident set of the LONG run (one process: no loader
# workers on either side). Prints one JSON line per model and toolkit.
# What cannot be made identical: ESPnet's relative attention is Transformer-XL style (audiokit's
# is VITS's windowed one); ESPnet's HiFi-GAN has only type-1 residual blocks, so audiokit's VITS
# runs here with resblock 1 (its config uses the cheaper type 2) at the same kernels and
# dilations; ESPnet's period discriminators grow channels x4 per layer (16, 64, 128, 128, 128
# against audiokit's 16, 32, 64, 128, 128). Parameter counts are printed beside the speeds.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,22p "$0"; exit 2; }
train=$(realpath "$1") valid_all=$2 out=$3; shift 3
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(vits tacotron2)
: "${VENV:?set VENV to an ESPnet virtual environment}"
batch=${BATCH:-12} short=${SHORT:-20} long=${LONG:-220}
export OMP_NUM_THREADS=${THREADS:-1} WANDB_MODE=offline
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$VENV/bin/python
mkdir -p "$out/valid"; out=$(realpath "$out")
valid=$out/valid
head -n 4 "$valid_all/text" > "$valid/text"
grep -F -f <(cut -d' ' -f1 "$valid/text") "$valid_all/wav.scp" > "$valid/wav.scp"

# ESPnet's samplers need shape files (utterance, length) and a character token list.
"$py" - "$train" "$valid" "$out" <<'PY'
import sys, soundfile as sf
train, valid, out = sys.argv[1:]
chars = set()
for name, d in (("train", train), ("valid", valid)):
    with open(f"{out}/{name}.speech_shape", "w") as f:
        for line in open(f"{d}/wav.scp"):
            utt, path = line.split(maxsplit=1)
            f.write(f"{utt} {sf.info(path.strip()).frames}\n")
    with open(f"{out}/{name}.text_shape", "w") as f:
        for line in open(f"{d}/text"):
            utt, text = line.rstrip("\n").split(maxsplit=1)
            chars.update(text)
            f.write(f"{utt} {len(text)}\n")
tokens = ["<blank>", "<unk>"] + sorted("<space>" if c == " " else c for c in chars) + ["<sos/eos>"]
open(f"{out}/tokens.txt", "w").write("\n".join(tokens) + "\n")
PY

features="feats_extract: fbank
feats_extract_conf: {fs: 8000, n_fft: 256, hop_length: 80, win_length: 200, n_mels: 80, fmin: 0, fmax: 4000}
normalize: null"
cat > "$out/vits.yaml" <<EOF
# audiokit's tts/fsdd_vits in ESPnet2's terms (resblock 1: ESPnet has no type 2)
$features
tts: vits
tts_conf:
  generator_type: vits_generator
  generator_params:
    hidden_channels: 96
    spks: -1
    global_channels: -1
    segment_size: 32
    text_encoder_attention_heads: 2
    text_encoder_ffn_expand: 3
    text_encoder_blocks: 4
    text_encoder_positionwise_layer_type: conv1d
    text_encoder_positionwise_conv_kernel_size: 3
    text_encoder_positional_encoding_layer_type: rel_pos
    text_encoder_self_attention_layer_type: rel_selfattn
    text_encoder_activation_type: relu
    text_encoder_normalize_before: false
    text_encoder_dropout_rate: 0.1
    use_macaron_style_in_text_encoder: false
    use_conformer_conv_in_text_encoder: false
    decoder_kernel_size: 7
    decoder_channels: 128
    decoder_upsample_scales: [5, 4, 2, 2]
    decoder_upsample_kernel_sizes: [10, 8, 4, 4]
    decoder_resblock_kernel_sizes: [3, 5, 7]
    decoder_resblock_dilations: [[1, 2], [2, 6], [3, 12]]
    posterior_encoder_kernel_size: 5
    posterior_encoder_layers: 8
    flow_flows: 4
    flow_kernel_size: 5
    flow_layers: 2
    stochastic_duration_predictor_flows: 4
  discriminator_type: hifigan_multi_period_discriminator
  discriminator_params:
    periods: [2, 3, 5, 7, 11]
    discriminator_params: {channels: 16, max_downsample_channels: 128}
  mel_loss_params: {fs: 8000, n_fft: 256, hop_length: 80, win_length: 200, n_mels: 80, fmin: 0, fmax: 4000}
  lambda_mel: 45.0
  sampling_rate: 8000
  cache_generator_outputs: true
optim: adamw
optim_conf: {lr: 4.0e-4, betas: [0.8, 0.99], eps: 1.0e-9, weight_decay: 0.01}
optim2: adamw
optim2_conf: {lr: 4.0e-4, betas: [0.8, 0.99], eps: 1.0e-9, weight_decay: 0.01}
generator_first: false
EOF
cat > "$out/tacotron2.yaml" <<EOF
# audiokit's tts/fsdd_tacotron2 (model/tacotron2_small, r = 3) in ESPnet2's terms
$features
tts: tacotron2
tts_conf:
  embed_dim: 128
  elayers: 1
  eunits: 128
  econv_layers: 3
  econv_chans: 128
  econv_filts: 5
  atype: location
  adim: 64
  aconv_chans: 16
  aconv_filts: 15
  cumulate_att_w: true
  dlayers: 2
  dunits: 256
  prenet_layers: 2
  prenet_units: 128
  postnet_layers: 5
  postnet_chans: 256
  postnet_filts: 5
  dropout_rate: 0.5
  zoneout_rate: 0.1
  reduction_factor: 3
  use_guided_attn_loss: true
  guided_attn_loss_sigma: 0.4
optim: adam
optim_conf: {lr: 1.0e-3, betas: [0.9, 0.999], weight_decay: 1.0e-6}
grad_clip: 1.0
EOF

# one timed training: wall seconds and peak RSS (kB) into $out/<name>.time
timed() {
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$out/$name.rss" "$@" > "$out/$name.log" 2>&1 \
    || { echo "failed: $name (log: $out/$name.log)" >&2; tail -n 20 "$out/$name.log" >&2; exit 1; }
  echo "$(date +%s.%N) - $t0" | bc > "$out/$name.time"
}

espnet_train() {  # model batches name
  local model=$1 n=$2 name=$3 task=tts_train
  [ "$model" = vits ] && task=gan_tts_train
  rm -rf "$out/$name"
  timed "$name" "$py" -m "espnet2.bin.$task" --config "$out/$model.yaml" --ngpu 0 --num_workers 0 \
    --use_preprocessor true --token_type char --token_list "$out/tokens.txt" --cleaner none --g2p none \
    --train_data_path_and_name_and_type "$train/text,text,text" \
    --train_data_path_and_name_and_type "$train/wav.scp,speech,sound" \
    --valid_data_path_and_name_and_type "$valid/text,text,text" \
    --valid_data_path_and_name_and_type "$valid/wav.scp,speech,sound" \
    --train_shape_file "$out/train.text_shape" --train_shape_file "$out/train.speech_shape" \
    --valid_shape_file "$out/valid.text_shape" --valid_shape_file "$out/valid.speech_shape" \
    --batch_type sorted --batch_size "$batch" --valid_batch_size "$batch" \
    --max_epoch 1 --num_iters_per_epoch "$n" --log_interval 10 --use_amp false \
    --use_tensorboard false --use_wandb false --num_att_plot 0 --seed 1 --output_dir "$out/$name"
}

audiokit_train() {  # model batches name
  local model=$1 n=$2 name=$3 steps=$2 extra=()
  if [ "$model" = vits ]; then steps=$((2 * n)); extra=(model.decoder.resblock=1); fi
  rm -rf "$out/$name"
  timed "$name" "$root/.venv/bin/audiokit-train" experiment="tts/fsdd_$model" exp_dir="$out/$name" \
    paths.train_dir="$train" paths.valid_dir="$valid" seed=1 trainer.max_steps="$steps" \
    data.max_batch_size="$batch" data.max_batch_seconds=100000 data.num_workers=0 \
    trainer.val_check_interval=100000 callbacks.progress=null "${extra[@]}"
}

for model in "${models[@]}"; do
  for kit in audiokit espnet; do
    "${kit}_train" "$model" "$short" "${kit}_${model}_short"
    "${kit}_train" "$model" "$long" "${kit}_${model}_long"
    "$py" - "$out" "$kit" "$model" "$short" "$long" "$batch" "$OMP_NUM_THREADS" <<'PY'
import json, re, sys
out, kit, model, short, long, batch, threads = sys.argv[1:]
wall = {n: float(open(f"{out}/{kit}_{model}_{n}.time").read()) for n in ("short", "long")}
if kit == "espnet":  # generator and discriminator, from the saved weights
    import torch
    state = torch.load(f"{out}/{kit}_{model}_long/1epoch.pth", map_location="cpu")
    count = lambda part: sum(v.numel() for k, v in state.items() if k.startswith(part))
    params = {"model": count("tts."), "generator": count("tts.generator"),
              "discriminator": count("tts.discriminator")}
    params = {k: v for k, v in params.items() if v}  # Tacotron 2 has no generator/discriminator
else:  # audiokit-train logs "N M parameters (...): generator G M, discriminator D M"
    log = open(f"{out}/{kit}_{model}_long.log").read()
    m = re.search(r"([\d.]+) M parameters[^:]*:?(?: generator ([\d.]+) M, discriminator ([\d.]+) M)?", log)
    params = {k: round(float(v) * 1e6) for k, v in zip(("model", "generator", "discriminator"), m.groups()) if v}
print(json.dumps({
    "toolkit": kit, "model": model, "batch": int(batch), "threads": int(threads),
    "batches_per_s": round((int(long) - int(short)) / (wall["long"] - wall["short"]), 3),
    "wall_s": {k: round(v, 1) for k, v in wall.items()},
    "peak_rss_mb": round(int(open(f"{out}/{kit}_{model}_long.rss").read().split()[-1]) / 1024),
    "parameters": params,
}))
PY
  done
done
