/*
 * difss plugin ABI — THE contract between the difss host and its plugins.
 *
 * Plain C (C99), no C++ or LibTorch types. A plugin library exports exactly one symbol,
 * `difss_plugin_entry` (see difss_entry.h). Everything else is reached through function
 * pointers in versioned, size-prefixed structs.
 *
 * Versioning
 *   - DIFSS_ABI_VERSION_MAJOR changes only when an existing struct or function changes meaning
 *     or layout. The host refuses a plugin whose major differs from its own.
 *   - DIFSS_ABI_VERSION_MINOR grows when structs grow at the end or new factory/extension ids
 *     appear. A plugin states the minor it *requires*; the host refuses it when its own minor is
 *     lower.
 *   - Every struct starts with `uint32_t struct_size`. Structs only grow at the end; a reader
 *     must check struct_size before touching a field added in a later minor.
 *
 * Errors
 *   Every call that can fail returns a difss_status and takes a `difss_call*`: a host-owned
 *   context carrying the error sink, progress and cancellation. On failure the plugin calls
 *   call->set_error(call, status, message) (at most once; the last message wins) and returns
 *   the same status. The host copies the message before set_error returns; nothing is
 *   allocated across the boundary. No C++ exception may cross this boundary.
 *
 * Tensors
 *   Image-like data crosses the boundary as DLPack tensors (dlpack/dlpack.h, v0.x:
 *   DLManagedTensor). Inputs are BORROWED for the duration of the call: the plugin must not
 *   keep pointers into them after returning and must not call their deleter. Outputs are
 *   OWNED BY THE HOST once the call returns DIFSS_OK: the host calls `deleter` exactly once.
 *   On failure the plugin must not leave output pointers set (the host ignores them).
 *   Meaning that DLPack cannot express is fixed by the port conventions below.
 *
 * Port conventions (ABI 1.x)
 *   image:  uint8,   shape [H, W, 3], RGB, row-major contiguous, values 0..255.
 *   mask:   uint8,   shape [H, W], 0 = background, 1 = foreground, 255 = ignore.
 *   prob:   float32, shape [H, W], foreground probability in [0, 1].
 *   images: uint8,   shape [N, H, W, 3], RGB, contiguous.
 *   All tensors live on the CPU (kDLCPU) in ABI 1.0.
 */
#ifndef DIFSS_ABI_DIFSS_H
#define DIFSS_ABI_DIFSS_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIFSS_ABI_VERSION_MAJOR 1
#define DIFSS_ABI_VERSION_MINOR 0

/* Factory ids (versioned strings; a later kind version gets a new id, never a new symbol). */
#define DIFSS_FACTORY_CONDITION "difss.condition/1"
#define DIFSS_FACTORY_SAMPLER "difss.sampler/1"
#define DIFSS_FACTORY_SEGMENTER "difss.segmenter/1"

typedef enum difss_status {
  DIFSS_OK = 0,
  DIFSS_ERR_INVALID_ARGUMENT = 1, /* a parameter or input violates the descriptor */
  DIFSS_ERR_NOT_FOUND = 2,        /* unknown id, missing file */
  DIFSS_ERR_IO = 3,               /* a file could not be read or is corrupt */
  DIFSS_ERR_UNSUPPORTED = 4,      /* valid request this plugin cannot serve (e.g. device) */
  DIFSS_ERR_CANCELLED = 5,        /* the host asked to stop (call->is_cancelled) */
  DIFSS_ERR_OUT_OF_MEMORY = 6,
  DIFSS_ERR_INTERNAL = 7          /* anything else, including caught C++ exceptions */
} difss_status;

typedef enum difss_kind {
  DIFSS_KIND_CONDITION = 1, /* support image + mask + class -> control map */
  DIFSS_KIND_SAMPLER = 2,   /* control map + prompt + seed -> N images */
  DIFSS_KIND_SEGMENTER = 3  /* query + K supports with masks -> query probability and mask */
} difss_kind;

typedef enum difss_log_level {
  DIFSS_LOG_TRACE = 0,
  DIFSS_LOG_DEBUG = 1,
  DIFSS_LOG_INFO = 2,
  DIFSS_LOG_WARN = 3,
  DIFSS_LOG_ERROR = 4
} difss_log_level;

/* ---------------------------------------------------------------------------------------------
 * Host services.
 * ------------------------------------------------------------------------------------------- */

/* Per-call context, owned by the host, valid only during the call it is passed to.
 * Threading: a difss_call is used by one thread at a time (the calling thread, or threads the
 * plugin spawns and joins before returning). */
typedef struct difss_call {
  uint32_t struct_size;
  void* host_data; /* opaque to the plugin */
  /* Record an error. `message` is UTF-8, copied by the host before this returns. */
  void (*set_error)(struct difss_call* call, difss_status status, const char* message);
  /* Report progress of long work: `done` of `total` units of `what` (e.g. "step").
   * May be called often; the host throttles display. */
  void (*progress)(struct difss_call* call, const char* what, uint64_t done, uint64_t total);
  /* Non-zero once the host wants the call to stop. Plugins doing long work poll it between
   * units (e.g. between diffusion steps) and return DIFSS_ERR_CANCELLED. */
  int (*is_cancelled)(struct difss_call* call);
} difss_call;

/* Process-wide services, owned by the host, valid from create() until the object's destroy().
 * Threading: log() is thread-safe and may be called from any thread. */
typedef struct difss_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor; /* the host's ABI version */
  void* host_data;               /* opaque to the plugin */
  /* Log a UTF-8 message; the host routes it to its spdlog sinks, tagged with `plugin_id`.
   * The message is copied before this returns. */
  void (*log)(const struct difss_host* host, difss_log_level level, const char* plugin_id,
              const char* message);
  const char* plugin_dir; /* directory holding the plugin library (its data files live here) */
  const char* run_dir;    /* the current run's output directory, or "" outside a run */
  int32_t num_threads;    /* intra-op threads the host configured; plugins must not change it */
} difss_host;

/* ---------------------------------------------------------------------------------------------
 * Descriptors: what a plugin offers. All descriptor memory is owned by the plugin library and
 * lives until the process exits (libraries are never unloaded). Thread-safe to read.
 * ------------------------------------------------------------------------------------------- */

typedef enum difss_param_type {
  DIFSS_PARAM_BOOL = 1,
  DIFSS_PARAM_INT = 2,    /* int64 */
  DIFSS_PARAM_FLOAT = 3,  /* double */
  DIFSS_PARAM_STRING = 4, /* UTF-8 */
  DIFSS_PARAM_PATH = 5,   /* UTF-8 file path; the host resolves it relative to the pipeline file */
  DIFSS_PARAM_ENUM = 6    /* UTF-8, one of enum_values */
} difss_param_type;

/* A typed value. Strings are borrowed (see the owner's rule where the value appears). */
typedef struct difss_value {
  difss_param_type type;
  int32_t b;      /* BOOL: 0 or 1 */
  int64_t i;      /* INT */
  double f;       /* FLOAT */
  const char* s;  /* STRING, PATH, ENUM */
} difss_value;

#define DIFSS_PARAM_FLAG_REQUIRED 0x1u  /* no default: the pipeline must set it */
#define DIFSS_PARAM_FLAG_HAS_RANGE 0x2u /* min/max apply (INT and FLOAT) */

typedef struct difss_param_spec {
  uint32_t struct_size;
  const char* name; /* [a-z0-9_]+, unique within the descriptor */
  difss_param_type type;
  uint32_t flags;            /* DIFSS_PARAM_FLAG_* */
  difss_value default_value; /* ignored when REQUIRED */
  double min, max;           /* inclusive, when HAS_RANGE */
  const char* const* enum_values;
  uint32_t enum_count;
  const char* doc; /* one sentence, shown by `difss-host plugins inspect` */
} difss_param_spec;

typedef enum difss_port_dir { DIFSS_PORT_IN = 1, DIFSS_PORT_OUT = 2 } difss_port_dir;

typedef struct difss_port_spec {
  uint32_t struct_size;
  const char* name;   /* e.g. "support_image" */
  difss_port_dir dir;
  const char* format; /* one of the port conventions: "image", "mask", "prob", "images", "text", ... */
  const char* doc;
} difss_port_spec;

/* What the plugin was built with. The host refuses plugins that cannot share its process
 * (different C++ ABI flag, different LibTorch major.minor when both use LibTorch). */
typedef struct difss_build_fingerprint {
  uint32_t struct_size;
  const char* compiler;      /* e.g. "GCC 12.2.0" */
  int32_t cxx11_abi;         /* _GLIBCXX_USE_CXX11_ABI, or -1 when not libstdc++ */
  const char* torch_version; /* "1.13.1", or "" when the plugin does not use LibTorch */
  const char* sdk_version;   /* difss SDK semver the plugin was compiled against */
} difss_build_fingerprint;

typedef struct difss_descriptor {
  uint32_t struct_size;
  const char* id;          /* stable reverse-DNS id, e.g. "org.difss.segmenter.hsnet" */
  const char* name;        /* human name */
  const char* description; /* one paragraph */
  difss_kind kind;
  const char* version; /* plugin semver, e.g. "1.2.0" */
  const difss_param_spec* params;
  uint32_t param_count;
  const difss_port_spec* ports;
  uint32_t port_count;
  const difss_build_fingerprint* fingerprint;
} difss_descriptor;

/* A resolved parameter as the host passes it to create(): name + typed value, already checked
 * against the schema and with defaults filled. Borrowed for the duration of create(). */
typedef struct difss_param {
  const char* name;
  difss_value value;
} difss_param;

/* ---------------------------------------------------------------------------------------------
 * Kind: condition generator.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_condition_input {
  uint32_t struct_size;
  const DLTensor* image; /* "image": the support image */
  const DLTensor* mask;  /* "mask": the support mask */
  int32_t class_id;      /* dataset class id (dataset-specific numbering, see class_set) */
  const char* class_name;
  const char* class_set; /* which numbering class_id uses: "pascal", "coco", "fss1000", ... */
} difss_condition_input;

typedef struct difss_condition_vtable {
  uint32_t struct_size;
  /* Produce the control map ("image" convention; size chosen by the plugin, typically the
   * official resize). On DIFSS_OK *out_control is host-owned. Threading: calls on one
   * instance are serialised by the host; different instances may run concurrently. */
  difss_status (*generate)(void* self, const difss_condition_input* in,
                           DLManagedTensor** out_control, difss_call* call);
  /* Free the instance. Called exactly once; no call on it is running or will follow. */
  void (*destroy)(void* self);
} difss_condition_vtable;

/* ---------------------------------------------------------------------------------------------
 * Kind: diffusion sampler.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_sampler_input {
  uint32_t struct_size;
  const DLTensor* control; /* "image": the control map */
  const char* prompt;      /* fully formatted positive prompt (UTF-8) */
  const char* negative_prompt;
  int32_t class_id; /* for class-conditioned models; -1 when unknown */
  const char* class_name;
  uint64_t seed;  /* image k uses the seed derived as documented by the plugin from (seed, k) */
  uint32_t count; /* number of images to produce (>= 1) */
} difss_sampler_input;

typedef struct difss_sampler_vtable {
  uint32_t struct_size;
  /* Produce `count` images ("images" convention). Reports progress per denoising step via
   * call->progress and returns DIFSS_ERR_CANCELLED when call->is_cancelled() becomes true.
   * On DIFSS_OK *out_images is host-owned. Threading as for conditions. */
  difss_status (*sample)(void* self, const difss_sampler_input* in, DLManagedTensor** out_images,
                         difss_call* call);
  void (*destroy)(void* self);
} difss_sampler_vtable;

/* ---------------------------------------------------------------------------------------------
 * Kind: few-shot segmenter.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_segmenter_input {
  uint32_t struct_size;
  const DLTensor* query;                 /* "image" */
  uint32_t shot_count;                   /* K >= 1 (real + auxiliary supports) */
  const DLTensor* const* support_images; /* K x "image" (sizes may differ) */
  const DLTensor* const* support_masks;  /* K x "mask", each the size of its image */
  const uint8_t* support_is_auxiliary;   /* K flags (1 = generated), may be NULL */
} difss_segmenter_input;

typedef struct difss_segmenter_vtable {
  uint32_t struct_size;
  /* Segment the query. Both outputs have the query's H x W: *out_prob ("prob") and *out_mask
   * ("mask", values 0/1). On DIFSS_OK both are host-owned. Threading as for conditions. */
  difss_status (*segment)(void* self, const difss_segmenter_input* in, DLManagedTensor** out_prob,
                          DLManagedTensor** out_mask, difss_call* call);
  void (*destroy)(void* self);
} difss_segmenter_vtable;

/* ---------------------------------------------------------------------------------------------
 * Factories. One struct type serves all kinds; get_factory(DIFSS_FACTORY_*) returns the one
 * for that kind (or NULL). The vtable an instance comes with is the kind's vtable type.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_object {
  void* self;          /* the instance */
  const void* vtable;  /* difss_condition_vtable*, difss_sampler_vtable* or difss_segmenter_vtable* */
} difss_object;

typedef struct difss_factory {
  uint32_t struct_size;
  difss_kind kind;
  /* Number of descriptors this factory offers. Thread-safe. */
  uint32_t (*count)(void);
  /* Descriptor `index` < count(); plugin-owned, immortal. Thread-safe. */
  const difss_descriptor* (*descriptor)(uint32_t index);
  /* Create an instance of descriptor `id` with resolved `params` (all of the schema's
   * parameters, checked and defaults filled by the host). `host` must outlive the instance.
   * Heavy work (loading weights) happens here. On DIFSS_OK *out is set; the host later calls
   * the vtable's destroy exactly once. Thread-safe. */
  difss_status (*create)(const char* id, const difss_host* host, const difss_param* params,
                         uint32_t param_count, difss_object* out, difss_call* call);
} difss_factory;

#ifdef __cplusplus
}
#endif

#endif /* DIFSS_ABI_DIFSS_H */
