// The sampler benchmark, as a function a CLI can expose (`difss-sd-tool bench|write-checkpoint`,
// apps/difss-sd-tool, forwards its arguments here).
//
//   --precision fp32|bf16|both   compute precision(s) to time (default both)
//   --size N                     image side (default 512 -> 64x64 latents)
//   --steps N                    timed UNet+ControlNet steps per precision (default 5, +1 warm-up)
//   --config sd15|reduced        architecture of the random-weight model (default sd15)
//   --write-checkpoint FILE      write a random-weight checkpoint of --config (fp32 safetensors)
//   --checkpoint FILE            instead of random weights: time loading FILE, then sample one
//                                image end to end (needs --vocab) and report the peak RSS
//   --vocab FILE                 bpe_simple_vocab_16e6.txt.gz
//   --profile                    per-ATen-op time and GFLOP/s of the timed steps
//   --no-pack                    keep the per-call oneDNN weight reorder (pack_conv_weights off)
//   --vae                        time the VAE decoder instead (one latent -> one --size image)
//   --keep-block-weights         with --checkpoint: keep every mapped weight resident
//                                (LoadOptions::release_block_weights = false, loading.hpp)
// Prints seconds per step (median, min, max) with classifier-free guidance (batch 2), the
// load time and the peak resident set (VmHWM). Returns 0, or 1 with a message on error.
#pragma once

namespace difss::sd {

int run_sampler_bench(int argc, char** argv);

}  // namespace difss::sd
