#include "difss/core/instances.hpp"

#include <difss/sdk/owned_tensor.hpp>

#include "difss/core/dl_views.hpp"
#include "difss/core/errors.hpp"

namespace difss {

Instance::Instance(const PluginInfo& plugin, const ResolvedParams& params) : plugin_(plugin) {
  auto c = params.c_params();
  CallContext ctx;
  difss_status st = plugin_.factory->create(plugin_.id.c_str(), plugin_.host, c.data(),
                                            uint32_t(c.size()), &obj_, ctx.get());
  if (st != DIFSS_OK) fail("create", st, ctx);
  if (!obj_.self || !obj_.vtable)
    throw PluginError(plugin_.id, "create returned success but no instance");
}

Instance::~Instance() {
  if (!obj_.vtable) return;
  // destroy is the second field of every kind's vtable (after struct_size and the call).
  switch (plugin_.descriptor->kind) {
    case DIFSS_KIND_CONDITION:
      static_cast<const difss_condition_vtable*>(obj_.vtable)->destroy(obj_.self);
      break;
    case DIFSS_KIND_SAMPLER:
      static_cast<const difss_sampler_vtable*>(obj_.vtable)->destroy(obj_.self);
      break;
    case DIFSS_KIND_SEGMENTER:
      static_cast<const difss_segmenter_vtable*>(obj_.vtable)->destroy(obj_.self);
      break;
  }
}

void Instance::fail(const char* what, difss_status st, const CallContext& ctx) const {
  if (st == DIFSS_ERR_CANCELLED) throw Cancelled();
  throw PluginError(plugin_.id, std::string(what) + " failed: " + ctx.describe(st));
}

namespace {

// Checks a plugin output against a port convention; returns it as a cv::Mat copy (the
// OwnedTensor's deleter runs when it goes out of scope, exactly once).
cv::Mat take_output(const std::string& id, const char* port, sdk::OwnedTensor& t,
                    const char* format) {
  if (!t) throw PluginError(id, std::string("returned no '") + port + "' output");
  try {
    sdk::require_port(t.dl(), port, format);
  } catch (const sdk::Error& e) {
    throw PluginError(id, std::string("broke the output contract: ") + e.what());
  }
  return copy_to_mat(t.dl());
}

}  // namespace

cv::Mat ConditionInstance::generate(const cv::Mat& image, const cv::Mat& mask, int class_id,
                                    const std::string& class_name, const std::string& class_set,
                                    ProgressFn progress) {
  DLView img(image), msk(mask);
  difss_condition_input in{};
  in.struct_size = sizeof(in);
  in.image = img.get();
  in.mask = msk.get();
  in.class_id = class_id;
  in.class_name = class_name.c_str();
  in.class_set = class_set.c_str();
  DLManagedTensor* out = nullptr;
  CallContext ctx(std::move(progress));
  auto* vt = static_cast<const difss_condition_vtable*>(obj_.vtable);
  difss_status st = vt->generate(obj_.self, &in, &out, ctx.get());
  sdk::OwnedTensor owned(st == DIFSS_OK ? out : nullptr);
  if (st != DIFSS_OK) fail("generate", st, ctx);
  return take_output(id(), "control", owned, "image");
}

std::vector<cv::Mat> SamplerInstance::sample(const cv::Mat& control, const Request& req,
                                             ProgressFn progress) {
  DLView ctl(control);
  difss_sampler_input in{};
  in.struct_size = sizeof(in);
  in.control = ctl.get();
  in.prompt = req.prompt.c_str();
  in.negative_prompt = req.negative_prompt.c_str();
  in.class_id = req.class_id;
  in.class_name = req.class_name.c_str();
  in.seed = req.seed;
  in.count = req.count;
  DLManagedTensor* out = nullptr;
  CallContext ctx(std::move(progress));
  auto* vt = static_cast<const difss_sampler_vtable*>(obj_.vtable);
  difss_status st = vt->sample(obj_.self, &in, &out, ctx.get());
  sdk::OwnedTensor owned(st == DIFSS_OK ? out : nullptr);
  if (st != DIFSS_OK) fail("sample", st, ctx);
  cv::Mat all = take_output(id(), "images", owned, "images");  // rows = N*H, see copy_to_mat
  const DLTensor& dl = owned.dl();
  if (dl.shape[0] != int64_t(req.count))
    throw PluginError(id(), "returned " + std::to_string(dl.shape[0]) + " images, " +
                                std::to_string(req.count) + " were asked for");
  std::vector<cv::Mat> images;
  int h = int(dl.shape[1]);
  for (int64_t k = 0; k < dl.shape[0]; ++k) images.push_back(all.rowRange(int(k) * h, int(k + 1) * h).clone());
  return images;
}

SegmenterInstance::Result SegmenterInstance::segment(const cv::Mat& query,
                                                     const std::vector<cv::Mat>& support_images,
                                                     const std::vector<cv::Mat>& support_masks,
                                                     const std::vector<uint8_t>& is_auxiliary,
                                                     ProgressFn progress) {
  if (support_images.size() != support_masks.size() || support_images.empty())
    throw PluginError(id(), "segment: need the same number (>= 1) of support images and masks");
  DLView q(query);
  std::vector<DLView> imgs, msks;
  imgs.reserve(support_images.size());
  msks.reserve(support_masks.size());
  std::vector<const DLTensor*> ip, mp;
  for (size_t k = 0; k < support_images.size(); ++k) {
    imgs.emplace_back(support_images[k]);
    msks.emplace_back(support_masks[k]);
  }
  for (size_t k = 0; k < imgs.size(); ++k) {
    ip.push_back(imgs[k].get());
    mp.push_back(msks[k].get());
  }
  difss_segmenter_input in{};
  in.struct_size = sizeof(in);
  in.query = q.get();
  in.shot_count = uint32_t(ip.size());
  in.support_images = ip.data();
  in.support_masks = mp.data();
  in.support_is_auxiliary = is_auxiliary.size() == ip.size() ? is_auxiliary.data() : nullptr;
  DLManagedTensor *prob = nullptr, *mask = nullptr;
  CallContext ctx(std::move(progress));
  auto* vt = static_cast<const difss_segmenter_vtable*>(obj_.vtable);
  difss_status st = vt->segment(obj_.self, &in, &prob, &mask, ctx.get());
  sdk::OwnedTensor p(st == DIFSS_OK ? prob : nullptr), m(st == DIFSS_OK ? mask : nullptr);
  if (st != DIFSS_OK) fail("segment", st, ctx);
  Result r;
  r.prob = take_output(id(), "prob", p, "prob");
  r.mask = take_output(id(), "mask", m, "mask");
  if (r.prob.size() != query.size() || r.mask.size() != query.size())
    throw PluginError(id(), "segment: outputs must have the query's size " +
                                std::to_string(query.cols) + "x" + std::to_string(query.rows));
  return r;
}

std::unique_ptr<Instance> create_instance(const PluginInfo& plugin, const ResolvedParams& params) {
  switch (plugin.descriptor->kind) {
    case DIFSS_KIND_CONDITION: return std::make_unique<ConditionInstance>(plugin, params);
    case DIFSS_KIND_SAMPLER: return std::make_unique<SamplerInstance>(plugin, params);
    case DIFSS_KIND_SEGMENTER: return std::make_unique<SegmenterInstance>(plugin, params);
  }
  throw PluginError(plugin.id, "unknown kind");
}

}  // namespace difss
