// ModelConfig helpers (no LibTorch).
#include <difss/sd/config.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace difss::sd {

bool UNetConfig::attention_at(int ds) const {
  return std::find(attention_resolutions.begin(), attention_resolutions.end(), ds) !=
         attention_resolutions.end();
}

void UNetConfig::heads_for(int ch, int& heads, int& dim_head) const {
  // openaimodel.py with legacy=False and use_spatial_transformer=True.
  if (num_head_channels == -1) {
    if (num_heads <= 0 || ch % num_heads != 0)
      throw std::invalid_argument("UNet config: " + std::to_string(ch) +
                                  " channels cannot be split into num_heads=" +
                                  std::to_string(num_heads));
    heads = num_heads;
    dim_head = ch / num_heads;
  } else {
    if (num_head_channels <= 0 || ch % num_head_channels != 0)
      throw std::invalid_argument("UNet config: " + std::to_string(ch) +
                                  " channels cannot be split into heads of " +
                                  std::to_string(num_head_channels));
    heads = ch / num_head_channels;
    dim_head = num_head_channels;
  }
}

int UNetConfig::num_control_outputs() const {
  int n = 1;  // conv_in
  for (int level = 0; level < levels(); ++level) {
    n += num_res_blocks.at(size_t(level));
    if (level != levels() - 1) ++n;  // downsample
  }
  return n + 1;  // middle block
}

ModelConfig ModelConfig::sd15() { return ModelConfig{}; }

namespace {
nlohmann::json unet_json(const UNetConfig& c) {
  return {{"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"model_channels", c.model_channels},
          {"channel_mult", c.channel_mult},
          {"num_res_blocks", c.num_res_blocks},
          {"attention_resolutions", c.attention_resolutions},
          {"num_heads", c.num_heads},
          {"num_head_channels", c.num_head_channels},
          {"transformer_depth", c.transformer_depth},
          {"context_dim", c.context_dim},
          {"use_linear_in_transformer", c.use_linear_in_transformer},
          {"norm_groups", c.norm_groups},
          {"hint_channels", c.hint_channels},
          {"hint_block_channels", c.hint_block_channels},
          {"hint_block_strides", c.hint_block_strides}};
}
template <class T>
void get(const nlohmann::json& j, const char* key, T& v) {
  if (j.contains(key)) v = j.at(key).get<T>();
}
UNetConfig unet_from(const nlohmann::json& j) {
  UNetConfig c;
  get(j, "in_channels", c.in_channels);
  get(j, "out_channels", c.out_channels);
  get(j, "model_channels", c.model_channels);
  get(j, "channel_mult", c.channel_mult);
  get(j, "num_res_blocks", c.num_res_blocks);
  get(j, "attention_resolutions", c.attention_resolutions);
  get(j, "num_heads", c.num_heads);
  get(j, "num_head_channels", c.num_head_channels);
  get(j, "transformer_depth", c.transformer_depth);
  get(j, "context_dim", c.context_dim);
  get(j, "use_linear_in_transformer", c.use_linear_in_transformer);
  get(j, "norm_groups", c.norm_groups);
  get(j, "hint_channels", c.hint_channels);
  get(j, "hint_block_channels", c.hint_block_channels);
  get(j, "hint_block_strides", c.hint_block_strides);
  return c;
}
}  // namespace

std::string ModelConfig::to_json() const {
  nlohmann::json j;
  j["unet"] = unet_json(unet);
  j["control"] = unet_json(control);
  j["clip"] = {{"vocab_size", clip.vocab_size}, {"max_positions", clip.max_positions},
               {"width", clip.width},           {"layers", clip.layers},
               {"heads", clip.heads},           {"mlp_width", clip.mlp_width},
               {"layer_norm_eps", clip.layer_norm_eps}};
  j["vae"] = {{"ch", vae.ch},
              {"ch_mult", vae.ch_mult},
              {"num_res_blocks", vae.num_res_blocks},
              {"attn_resolutions", vae.attn_resolutions},
              {"resolution", vae.resolution},
              {"in_channels", vae.in_channels},
              {"out_ch", vae.out_ch},
              {"z_channels", vae.z_channels},
              {"embed_dim", vae.embed_dim},
              {"double_z", vae.double_z},
              {"norm_groups", vae.norm_groups},
              {"scale_factor", vae.scale_factor}};
  j["schedule"] = {{"timesteps", schedule.timesteps},
                   {"linear_start", schedule.linear_start},
                   {"linear_end", schedule.linear_end}};
  j["has_unet"] = has_unet;
  j["has_control"] = has_control;
  j["has_text_encoder"] = has_text_encoder;
  j["has_vae"] = has_vae;
  j["has_vae_encoder"] = has_vae_encoder;
  j["class_embed_classes"] = class_embed_classes;
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("model config: not valid JSON: ") + e.what());
  }
  ModelConfig c;
  try {
    if (j.contains("unet")) c.unet = unet_from(j["unet"]);
    if (j.contains("control")) c.control = unet_from(j["control"]);
    if (j.contains("clip")) {
      const auto& k = j["clip"];
      get(k, "vocab_size", c.clip.vocab_size);
      get(k, "max_positions", c.clip.max_positions);
      get(k, "width", c.clip.width);
      get(k, "layers", c.clip.layers);
      get(k, "heads", c.clip.heads);
      get(k, "mlp_width", c.clip.mlp_width);
      get(k, "layer_norm_eps", c.clip.layer_norm_eps);
    }
    if (j.contains("vae")) {
      const auto& k = j["vae"];
      get(k, "ch", c.vae.ch);
      get(k, "ch_mult", c.vae.ch_mult);
      get(k, "num_res_blocks", c.vae.num_res_blocks);
      get(k, "attn_resolutions", c.vae.attn_resolutions);
      get(k, "resolution", c.vae.resolution);
      get(k, "in_channels", c.vae.in_channels);
      get(k, "out_ch", c.vae.out_ch);
      get(k, "z_channels", c.vae.z_channels);
      get(k, "embed_dim", c.vae.embed_dim);
      get(k, "double_z", c.vae.double_z);
      get(k, "norm_groups", c.vae.norm_groups);
      get(k, "scale_factor", c.vae.scale_factor);
    }
    if (j.contains("schedule")) {
      const auto& k = j["schedule"];
      get(k, "timesteps", c.schedule.timesteps);
      get(k, "linear_start", c.schedule.linear_start);
      get(k, "linear_end", c.schedule.linear_end);
    }
    get(j, "has_unet", c.has_unet);
    get(j, "has_control", c.has_control);
    get(j, "has_text_encoder", c.has_text_encoder);
    get(j, "has_vae", c.has_vae);
    get(j, "has_vae_encoder", c.has_vae_encoder);
    get(j, "class_embed_classes", c.class_embed_classes);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("model config: wrong value type: ") + e.what());
  }
  return c;
}

}  // namespace difss::sd
