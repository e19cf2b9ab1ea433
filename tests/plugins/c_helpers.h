/* Small helpers shared by the plain-C test plugins (c_plugin.c, newer_minor.c): what the C++ SDK
 * does for C++ plugins, written out in C99. */
#ifndef DIFSS_TESTS_C_HELPERS_H
#define DIFSS_TESTS_C_HELPERS_H

#include <difss/abi/difss_entry.h>

#include <stdlib.h>
#include <string.h>

/* Growth rule (b): copy what fits into the caller's struct, set struct_size to what was filled. */
static inline void c_fill_prefix(void* out, const void* full, uint32_t full_size) {
  uint32_t* size = (uint32_t*)out;
  uint32_t n = *size < full_size ? *size : full_size;
  if (n < sizeof(uint32_t)) return;
  memcpy((char*)out + sizeof(uint32_t), (const char*)full + sizeof(uint32_t), n - sizeof(uint32_t));
  *size = n;
}

static inline difss_status c_fail(difss_call* call, difss_status st, const char* msg) {
  if (call && call->set_error) call->set_error(call, st, msg);
  return st;
}

static inline int c_is_u8_cpu(const DLTensor* t) {
  return t->dtype.code == kDLUInt && t->dtype.bits == 8 && t->dtype.lanes == 1 &&
         t->device.device_type == kDLCPU && t->strides == NULL;
}

/* Growth rule (c): element k of the host's parameter array. */
static inline const difss_param* c_param_at(const difss_create_args* args, uint32_t k) {
  return (const difss_param*)((const char*)args->params + (size_t)k * args->param_stride);
}

/* A host-owned uint8 [H, W, 3] output: one allocation, freed by the deleter. */
typedef struct c_owned_image {
  DLManagedTensor managed;
  int64_t shape[3];
  uint8_t data[1]; /* H * W * 3 bytes follow */
} c_owned_image;

static inline void c_free_owned(DLManagedTensor* t) { free(t->manager_ctx); }

static inline c_owned_image* c_alloc_image(int64_t h, int64_t w) {
  c_owned_image* o = (c_owned_image*)calloc(1, sizeof(c_owned_image) + (size_t)(h * w * 3));
  if (!o) return NULL;
  o->shape[0] = h;
  o->shape[1] = w;
  o->shape[2] = 3;
  o->managed.dl_tensor.data = o->data;
  o->managed.dl_tensor.device.device_type = kDLCPU;
  o->managed.dl_tensor.ndim = 3;
  o->managed.dl_tensor.dtype.code = kDLUInt;
  o->managed.dl_tensor.dtype.bits = 8;
  o->managed.dl_tensor.dtype.lanes = 1;
  o->managed.dl_tensor.shape = o->shape;
  o->managed.manager_ctx = o;
  o->managed.deleter = c_free_owned;
  return o;
}

/* Checks a condition input (image + mask of one size); returns DIFSS_OK or reports the error. */
static inline difss_status c_check_condition_input(const difss_condition_input* in,
                                                   DLManagedTensor** out, difss_call* call) {
  if (out) *out = NULL;
  if (!in || !in->image || !in->mask || !out)
    return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, "generate: null input or output");
  if (in->image->ndim != 3 || in->image->shape[2] != 3 || !c_is_u8_cpu(in->image))
    return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT, "input 'image': expected uint8 [H, W, 3] RGB");
  if (in->mask->ndim != 2 || !c_is_u8_cpu(in->mask) || in->mask->shape[0] != in->image->shape[0] ||
      in->mask->shape[1] != in->image->shape[1])
    return c_fail(call, DIFSS_ERR_INVALID_ARGUMENT,
                  "input 'mask': expected uint8 [H, W] of the image's size");
  return DIFSS_OK;
}

/* Both C plugins offer one plugin per factory and no extensions. */
static inline uint32_t DIFSS_ABI_CALL c_count_one(const difss_factory_base* self) {
  (void)self;
  return 1;
}
static inline const void* DIFSS_ABI_CALL c_no_instance_extension(const difss_condition* self,
                                                                 const char* id) {
  (void)self;
  (void)id;
  return NULL;
}
static inline const void* DIFSS_ABI_CALL c_no_library_extension(const char* id) {
  (void)id;
  return NULL;
}
static inline void DIFSS_ABI_CALL c_free_instance(const difss_condition* self) {
  free(self->plugin_data);
}

#endif
