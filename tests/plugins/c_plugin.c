/* A complete difss plugin in plain C99: no SDK, no C++, only the ABI headers and DIFSS_EXPORT.
 *
 *   org.difss.test.c-invert-condition   control map = the support image inverted inside its mask
 *                                       (scaled by `strength`), black outside.
 *
 * It shows what the SDK does for C++ plugins: the entry, a factory that fills caller-owned info
 * structs (growth rule (b)), parameters read with the host's stride (rule (c)), errors through
 * call->set_error, an owned DLPack output. If DIFSS_TEST_LIFECYCLE_LOG names a file, init and
 * deinit append a line to it (the host tests check that deinit runs at exit). */
#include <stdio.h>

#include "c_helpers.h"

#define ID "org.difss.test.c-invert-condition"

static const difss_build_fingerprint fingerprint = {sizeof(difss_build_fingerprint), "C", -1, "", ""};

static void lifecycle(const char* what) {
  const char* path = getenv("DIFSS_TEST_LIFECYCLE_LOG");
  FILE* f;
  if (!path || !*path) return;
  f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s\n", what);
  fclose(f);
}

/* ---- description ---- */
static int DIFSS_ABI_CALL get_info(const difss_factory_base* self, uint32_t index,
                                   difss_plugin_info* out) {
  difss_plugin_info info;
  (void)self;
  if (index != 0 || !out) return 0;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  info.id = ID;
  info.name = "Invert inside the mask (plain C test plugin)";
  info.description = "Control map = 255 - image inside the mask, scaled by strength; black outside.";
  info.kind = DIFSS_KIND_CONDITION;
  info.version = "1.0.0";
  info.param_count = 1;
  info.port_count = 3;
  c_fill_prefix(out, &info, sizeof info);
  return 1;
}

static int DIFSS_ABI_CALL get_param(const difss_factory_base* self, uint32_t index, uint32_t k,
                                    difss_param_info* out) {
  difss_param_info p;
  (void)self;
  if (index != 0 || k != 0 || !out) return 0;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.name = "strength";
  p.type = DIFSS_PARAM_FLOAT;
  p.flags = DIFSS_PARAM_FLAG_HAS_RANGE;
  p.default_value.type = DIFSS_PARAM_FLOAT;
  p.default_value.f = 1.0;
  p.default_value.s = "";
  p.min = 0.0;
  p.max = 1.0;
  p.doc = "Scale of the inverted values (0 = black everywhere).";
  c_fill_prefix(out, &p, sizeof p);
  return 1;
}

static int DIFSS_ABI_CALL get_port(const difss_factory_base* self, uint32_t index, uint32_t k,
                                   difss_port_info* out) {
  static const char* names[3] = {"image", "mask", "control"};
  static const char* formats[3] = {DIFSS_FORMAT_IMAGE, DIFSS_FORMAT_MASK, DIFSS_FORMAT_IMAGE};
  static const char* docs[3] = {"Support image.", "Support mask.", "The control map."};
  difss_port_info p;
  (void)self;
  if (index != 0 || k >= 3 || !out) return 0;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.name = names[k];
  p.dir = k < 2 ? DIFSS_PORT_IN : DIFSS_PORT_OUT;
  p.format = formats[k];
  p.doc = docs[k];
  c_fill_prefix(out, &p, sizeof p);
  return 1;
}

/* ---- the instance ---- */
typedef struct invert_instance {
  difss_condition c; /* first member: the struct the host sees */
  double strength;
} invert_instance;

static difss_status DIFSS_ABI_CALL generate(const difss_condition* self,
                                            const difss_condition_input* in,
                                            DLManagedTensor** out, difss_call* call) {
  const invert_instance* inst = (const invert_instance*)self->plugin_data;
  const uint8_t *src, *mask;
  c_owned_image* o;
  int64_t i, n;
  difss_status st = c_check_condition_input(in, out, call);
  if (st != DIFSS_OK) return st;
  o = c_alloc_image(in->image->shape[0], in->image->shape[1]);
  if (!o) return c_fail(call, DIFSS_ERR_OUT_OF_MEMORY, "out of memory");
  src = (const uint8_t*)in->image->data + in->image->byte_offset;
  mask = (const uint8_t*)in->mask->data + in->mask->byte_offset;
  n = in->image->shape[0] * in->image->shape[1];
  for (i = 0; i < n; ++i) {
    int c;
    for (c = 0; c < 3; ++c)
      o->data[i * 3 + c] = mask[i] == 1 ? (uint8_t)((255 - src[i * 3 + c]) * inst->strength + 0.5) : 0;
  }
  *out = &o->managed;
  return DIFSS_OK;
}

static difss_status DIFSS_ABI_CALL create(const difss_condition_factory* self,
                                          const difss_create_args* args,
                                          const difss_condition** out, difss_call* call) {
  invert_instance* inst;
  double strength = 1.0;
  uint32_t k;
  (void)self;
  if (out) *out = NULL;
  if (!args || !out || !args->id || strcmp(args->id, ID) != 0)
    return c_fail(call, DIFSS_ERR_NOT_FOUND, "create: unknown plugin id");
  for (k = 0; k < args->param_count; ++k) {
    const difss_param* p = c_param_at(args, k);
    if (!p->name || strcmp(p->name, "strength") != 0)
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": unknown parameter (only 'strength')");
    if (p->value.type == DIFSS_PARAM_INT) {
      strength = (double)p->value.i;
    } else if (p->value.type == DIFSS_PARAM_FLOAT) {
      strength = p->value.f;
    } else {
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": parameter 'strength' expected a float");
    }
    if (!(strength >= 0.0 && strength <= 1.0))
      return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, ID ": parameter 'strength' is out of range [0, 1]");
  }
  inst = (invert_instance*)calloc(1, sizeof *inst);
  if (!inst) return c_fail(call, DIFSS_ERR_OUT_OF_MEMORY, "out of memory");
  inst->c.struct_size = sizeof inst->c;
  inst->c.plugin_data = inst;
  inst->c.generate = generate;
  inst->c.get_extension = c_no_instance_extension;
  inst->c.destroy = c_free_instance;
  inst->strength = strength;
  *out = &inst->c;
  return DIFSS_OK;
}

static const difss_condition_factory factory = {
    {sizeof(difss_condition_factory), c_count_one, get_info, get_param, get_port}, create};

/* ---- the entry ---- */
static int DIFSS_ABI_CALL init(const difss_host* host) {
  (void)host;
  lifecycle("init");
  return 1;
}
static void DIFSS_ABI_CALL deinit(void) { lifecycle("deinit"); }
static const void* DIFSS_ABI_CALL get_factory(const char* id) {
  return id && strcmp(id, DIFSS_FACTORY_CONDITION) == 0 ? &factory : NULL;
}

const difss_plugin_entry_t difss_plugin_entry = {
    sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, DIFSS_ABI_VERSION_MINOR, 0,
    "difss-test-c-plugin", &fingerprint, init, deinit, get_factory, c_no_library_extension};
