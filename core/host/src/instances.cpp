#include "difss/core/instances.hpp"

#include <difss/sdk/owned_tensor.hpp>

#include "difss/core/dl_views.hpp"
#include "difss/core/errors.hpp"

namespace difss {

namespace {

// create() of the kind's factory: every factory is a difss_factory_base followed by create.
template <class CFactory, class CStruct>
difss_status create_with(const PluginInfo& plugin, const difss_create_args& args, const void** out,
                         difss_call* call) {
  const auto* f = reinterpret_cast<const CFactory*>(plugin.factory);
  const CStruct* obj = nullptr;
  difss_status st = f->create(f, &args, &obj, call);
  *out = obj;
  return st;
}

}  // namespace

Instance::Instance(const PluginInfo& plugin, const ResolvedParams& params) : plugin_(plugin) {
  auto c = params.c_params();
  difss_create_args args{};
  args.struct_size = sizeof(args);
  args.id = plugin_.id.c_str();
  args.host = plugin_.host;
  args.params = c.data();
  args.param_count = uint32_t(c.size());
  args.param_stride = uint32_t(sizeof(difss_param));
  CallContext ctx;
  difss_status st = DIFSS_ERR_INTERNAL;
  switch (plugin_.descriptor->kind) {
    case DIFSS_KIND_CONDITION:
      st = create_with<difss_condition_factory, difss_condition>(plugin_, args, &obj_, ctx.get());
      break;
    case DIFSS_KIND_SAMPLER:
      st = create_with<difss_sampler_factory, difss_sampler>(plugin_, args, &obj_, ctx.get());
      break;
    case DIFSS_KIND_SEGMENTER:
      st = create_with<difss_segmenter_factory, difss_segmenter>(plugin_, args, &obj_, ctx.get());
      break;
  }
  if (st != DIFSS_OK) {
    obj_ = nullptr;
    fail("create", st, ctx);
  }
  if (!obj_) throw PluginError(plugin_.id, "create returned success but no instance");
}

namespace {
template <class CStruct>
void destroy_as(const void* obj) {
  auto* o = static_cast<const CStruct*>(obj);
  o->destroy(o);
}
}  // namespace

Instance::~Instance() {
  if (!obj_) return;
  switch (plugin_.descriptor->kind) {
    case DIFSS_KIND_CONDITION: destroy_as<difss_condition>(obj_); break;
    case DIFSS_KIND_SAMPLER: destroy_as<difss_sampler>(obj_); break;
    case DIFSS_KIND_SEGMENTER: destroy_as<difss_segmenter>(obj_); break;
  }
}

void Instance::fail(const char* what, difss_status st, const CallContext& ctx) const {
  if (st == DIFSS_ERR_CANCELLED) throw Cancelled();
  if (st == DIFSS_SKIP) throw PluginSkipped(plugin_.id, std::string(what) + " skipped this item: " + ctx.describe(st));
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
  auto* o = static_cast<const difss_condition*>(obj_);
  difss_status st = o->generate(o, &in, &out, ctx.get());
  sdk::OwnedTensor owned(st == DIFSS_OK ? out : nullptr);
  if (st != DIFSS_OK) fail("generate", st, ctx);
  return take_output(id(), "control", owned, DIFSS_FORMAT_IMAGE);
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
  auto* o = static_cast<const difss_sampler*>(obj_);
  difss_status st = o->sample(o, &in, &out, ctx.get());
  sdk::OwnedTensor owned(st == DIFSS_OK ? out : nullptr);
  if (st != DIFSS_OK) fail("sample", st, ctx);
  cv::Mat all = take_output(id(), "images", owned, DIFSS_FORMAT_IMAGES);  // rows = N*H, see copy_to_mat
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
                                                     ProgressFn progress, OutputSize output) {
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
  in.output_size = output.kind;
  if (output.kind == DIFSS_OUTPUT_EXPLICIT) {
    if (output.size.width < 1 || output.size.height < 1)
      throw PluginError(id(), "segment: an explicit output size must be at least 1x1");
    in.output_height = uint32_t(output.size.height);
    in.output_width = uint32_t(output.size.width);
  }
  difss_segmenter_output out{};
  out.struct_size = sizeof(out);
  CallContext ctx(std::move(progress));
  auto* o = static_cast<const difss_segmenter*>(obj_);
  difss_status st = o->segment(o, &in, &out, ctx.get());
  sdk::OwnedTensor p(st == DIFSS_OK ? out.prob : nullptr), m(st == DIFSS_OK ? out.mask : nullptr);
  if (st != DIFSS_OK) fail("segment", st, ctx);
  Result r;
  r.prob = take_output(id(), "prob", p, DIFSS_FORMAT_PROB);
  r.mask = take_output(id(), "mask", m, DIFSS_FORMAT_MASK);
  cv::Size want = query.size();
  if (output.kind == DIFSS_OUTPUT_EXPLICIT) want = output.size;
  if (output.kind == DIFSS_OUTPUT_MODEL_INPUT) want = r.prob.size();  // the plugin's choice
  if (r.prob.size() != want || r.mask.size() != want)
    throw PluginError(id(), "segment: outputs must be " + std::to_string(want.width) + "x" +
                                std::to_string(want.height) + " (prob " +
                                std::to_string(r.prob.cols) + "x" + std::to_string(r.prob.rows) +
                                ", mask " + std::to_string(r.mask.cols) + "x" +
                                std::to_string(r.mask.rows) + ")");
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
