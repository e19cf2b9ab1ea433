/* A plugin built against a NEWER ABI minor than the host's: its description structs carry fields
 * a 2.0 host does not know (appended at the end, as a minor may), and it reads a field of the
 * create arguments that a 2.0 host does not send. The growth rule of difss.h makes both work:
 * the plugin fills only the prefix the host asked for, and checks struct_size before reading a
 * newer field (falling back to its default).
 *
 *   org.difss.test.newer-minor-condition   control map = the mask painted `level` (grey), black
 *                                          elsewhere. */
#include "c_helpers.h"

#define ID "org.difss.test.newer-minor-condition"

/* What 2.(MINOR+1) adds in this simulation. */
typedef struct next_plugin_info {
  difss_plugin_info v2_0;
  const char* homepage;
} next_plugin_info;
typedef struct next_param_info {
  difss_param_info v2_0;
  const char* unit; /* e.g. "px" */
  double step;
} next_param_info;
typedef struct next_port_info {
  difss_port_info v2_0;
  uint32_t min_height, min_width;
} next_port_info;
typedef struct next_create_args {
  difss_create_args v2_0;
  int32_t device_index; /* a newer host's per-instance device; default 0 */
} next_create_args;

static const difss_build_fingerprint fingerprint = {sizeof(difss_build_fingerprint), "C", -1, "", ""};

static int DIFSS_ABI_CALL get_info(const difss_factory_base* self, uint32_t index,
                                   difss_plugin_info* out) {
  next_plugin_info info;
  (void)self;
  if (index != 0 || !out) return 0;
  memset(&info, 0, sizeof info);
  info.v2_0.struct_size = sizeof info;
  info.v2_0.id = ID;
  info.v2_0.name = "Built against a newer ABI minor (test)";
  info.v2_0.description = "Paints the mask grey; its description structs are larger than 2.0's.";
  info.v2_0.kind = DIFSS_KIND_CONDITION;
  info.v2_0.version = "2.1.0";
  info.v2_0.param_count = 1;
  info.v2_0.port_count = 3;
  info.homepage = "https://example.org/newer-minor";
  c_fill_prefix(out, &info, sizeof info);
  return 1;
}

static int DIFSS_ABI_CALL get_param(const difss_factory_base* self, uint32_t index, uint32_t k,
                                    difss_param_info* out) {
  next_param_info p;
  (void)self;
  if (index != 0 || k != 0 || !out) return 0;
  memset(&p, 0, sizeof p);
  p.v2_0.struct_size = sizeof p;
  p.v2_0.name = "level";
  p.v2_0.type = DIFSS_PARAM_INT;
  p.v2_0.flags = DIFSS_PARAM_FLAG_HAS_RANGE;
  p.v2_0.default_value.type = DIFSS_PARAM_INT;
  p.v2_0.default_value.i = 200;
  p.v2_0.default_value.s = "";
  p.v2_0.min = 0;
  p.v2_0.max = 255;
  p.v2_0.doc = "Grey level of the mask in the control map.";
  p.unit = "grey level";
  p.step = 1.0;
  c_fill_prefix(out, &p, sizeof p);
  return 1;
}

static int DIFSS_ABI_CALL get_port(const difss_factory_base* self, uint32_t index, uint32_t k,
                                   difss_port_info* out) {
  static const char* names[3] = {"image", "mask", "control"};
  static const char* formats[3] = {DIFSS_FORMAT_IMAGE, DIFSS_FORMAT_MASK, DIFSS_FORMAT_IMAGE};
  next_port_info p;
  (void)self;
  if (index != 0 || k >= 3 || !out) return 0;
  memset(&p, 0, sizeof p);
  p.v2_0.struct_size = sizeof p;
  p.v2_0.name = names[k];
  p.v2_0.dir = k < 2 ? DIFSS_PORT_IN : DIFSS_PORT_OUT;
  p.v2_0.format = formats[k];
  p.v2_0.doc = k < 2 ? "Support input." : "The mask painted grey.";
  p.min_height = p.min_width = 1;
  c_fill_prefix(out, &p, sizeof p);
  return 1;
}

typedef struct grey_instance {
  difss_condition c;
  uint8_t level;
  int32_t device_index;
} grey_instance;

static difss_status DIFSS_ABI_CALL generate(const difss_condition* self,
                                            const difss_condition_input* in,
                                            DLManagedTensor** out, difss_call* call) {
  const grey_instance* inst = (const grey_instance*)self->plugin_data;
  const uint8_t* mask;
  c_owned_image* o;
  int64_t i, n;
  difss_status st = c_check_condition_input(in, out, call);
  if (st != DIFSS_OK) return st;
  o = c_alloc_image(in->image->shape[0], in->image->shape[1]);
  if (!o) return c_fail(call, DIFSS_ERR_OUT_OF_MEMORY, "out of memory");
  mask = (const uint8_t*)in->mask->data + in->mask->byte_offset;
  n = in->image->shape[0] * in->image->shape[1];
  for (i = 0; i < n; ++i) o->data[i * 3] = o->data[i * 3 + 1] = o->data[i * 3 + 2] = mask[i] == 1 ? inst->level : 0;
  *out = &o->managed;
  return DIFSS_OK;
}

static difss_status DIFSS_ABI_CALL create(const difss_condition_factory* self,
                                          const difss_create_args* args,
                                          const difss_condition** out, difss_call* call) {
  grey_instance* inst;
  int64_t level = 200;
  int32_t device_index = 0;
  uint32_t k;
  (void)self;
  if (out) *out = NULL;
  if (!args || !out || !args->id || strcmp(args->id, ID) != 0)
    return c_fail(call, DIFSS_ERR_NOT_FOUND, "create: unknown plugin id");
  /* A field of a newer minor: read only when the host sent it. */
  if (args->struct_size >= sizeof(next_create_args))
    device_index = ((const next_create_args*)args)->device_index;
  for (k = 0; k < args->param_count; ++k) {
    const difss_param* p = c_param_at(args, k);
    if (!p->name || strcmp(p->name, "level") != 0)
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": unknown parameter (only 'level')");
    if (p->value.type != DIFSS_PARAM_INT)
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": parameter 'level' expected an int");
    level = p->value.i;
    if (level < 0 || level > 255)
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": parameter 'level' is out of range [0, 255]");
  }
  inst = (grey_instance*)calloc(1, sizeof *inst);
  if (!inst) return c_fail(call, DIFSS_ERR_OUT_OF_MEMORY, "out of memory");
  inst->c.struct_size = sizeof inst->c;
  inst->c.plugin_data = inst;
  inst->c.generate = generate;
  inst->c.get_extension = c_no_instance_extension;
  inst->c.destroy = c_free_instance;
  inst->level = (uint8_t)level;
  inst->device_index = device_index;
  *out = &inst->c;
  return DIFSS_OK;
}

static const difss_condition_factory factory = {
    {sizeof(difss_condition_factory), c_count_one, get_info, get_param, get_port}, create};

static int DIFSS_ABI_CALL init(const difss_host* host) { return host != NULL; }
static void DIFSS_ABI_CALL deinit(void) {}
static const void* DIFSS_ABI_CALL get_factory(const char* id) {
  return id && strcmp(id, DIFSS_FACTORY_CONDITION) == 0 ? &factory : NULL;
}

/* Built against 2.(MINOR+1), but needs nothing beyond 2.MINOR from the host. */
const difss_plugin_entry_t difss_plugin_entry = {
    sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, DIFSS_ABI_VERSION_MINOR + 1,
    DIFSS_ABI_VERSION_MINOR, "difss-test-newer-minor", &fingerprint, init, deinit, get_factory,
    c_no_library_extension};
