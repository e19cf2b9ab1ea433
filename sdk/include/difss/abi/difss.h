/*
 * difss plugin ABI 2 — THE contract between the difss host and its plugins. Frozen: from ABI 2.0
 * on, only minors (see "Versioning"). Plain C (C99), no C++ or LibTorch types.
 *
 * A plugin library exports exactly one symbol, `difss_plugin_entry` (difss_entry.h). Everything
 * else is reached through function pointers in size-prefixed structs: factories by string id
 * (entry->get_factory), optional features by string id (get_extension on the entry, on every
 * instance and on the host), like CLAP's entry/factories/extensions.
 *
 * Versioning
 *   - DIFSS_ABI_VERSION_MAJOR changes only when an existing struct or function changes meaning or
 *     layout. The host refuses a plugin whose major differs from its own. It is 2 and frozen.
 *   - DIFSS_ABI_VERSION_MINOR grows when something is ADDED: a field at the end of a struct, a new
 *     factory id, a new extension id, a new enum value, a new port format. A plugin states the
 *     minor it was built against (abi_minor) and the lowest host minor it needs
 *     (required_abi_minor); the host refuses it when its own minor is lower than the latter.
 *   - A minor never removes or reorders fields, never changes a function's signature, never
 *     changes what an existing value means.
 *
 * The growth rule (one rule for every struct; tested by tests/plugins/newer_minor*)
 *   Every struct starts with `uint32_t struct_size`. Structs only grow at the end.
 *   (a) Structs one side hands to the other (inputs, the host, vtables, factories, the entry): the
 *       reader checks struct_size before touching a field added after 2.0 (DIFSS_HAS_FIELD) and
 *       treats a missing field as its documented default.
 *   (b) Caller-owned "info" structs the other side fills (difss_plugin_info, difss_param_info,
 *       difss_port_info, difss_segmenter_output): the caller zero-fills the struct, sets
 *       struct_size = sizeof(its struct) and calls; the callee fills only the fields that fit
 *       into min(caller's struct_size, its own sizeof) and sets struct_size to that minimum. So an
 *       old host gets the prefix it knows from a new plugin, and a new host sees from struct_size
 *       which fields an old plugin could not fill (they keep the caller's zeroes).
 *   (c) Arrays of structs are never indexed with sizeof: descriptions are read one element at a
 *       time through (b); the one array the host passes (create's params) comes with its element
 *       stride.
 *
 * Errors
 *   Every call that can fail returns a difss_status and takes a `difss_call*`: a host-owned context
 *   with the error sink, progress, cancellation and the per-run values. On failure the plugin calls
 *   call->set_error(call, status, message) and returns the same status. The host copies the
 *   message before set_error returns; nothing is allocated across the boundary. No C++ exception
 *   may cross this boundary. DIFSS_SKIP is not a failure: the plugin declines this item (e.g. a
 *   class the official script skips); the host counts and logs it and goes on.
 *
 * Tensors
 *   Image-like data crosses the boundary as DLPack tensors (dlpack/dlpack.h, DLManagedTensor).
 *   Inputs are BORROWED for the duration of the call: the plugin must not keep pointers into them
 *   and must not call their deleter. Outputs are OWNED BY THE HOST once the call returns DIFSS_OK:
 *   the host calls `deleter` exactly once. On failure the plugin leaves no output set.
 *   Meaning that DLPack cannot express is fixed by the port formats below.
 *
 * Threading
 *   Descriptions (info/param/port) are thread-safe to read. Calls on one instance are serialised
 *   by the host; different instances may run concurrently. difss_host::log is thread-safe.
 */
#ifndef DIFSS_ABI_DIFSS_H
#define DIFSS_ABI_DIFSS_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIFSS_ABI_VERSION_MAJOR 2
#define DIFSS_ABI_VERSION_MINOR 0

/* Calling convention of every function pointer in this ABI (empty on the System V ABI; named so
 * that a port to a platform with several conventions changes one line). */
#ifndef DIFSS_ABI_CALL
#define DIFSS_ABI_CALL
#endif

/* True when struct *s (with its struct_size) is large enough to hold `field` (growth rule (a)). */
#define DIFSS_HAS_FIELD(s, type, field) \
  ((s)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* Factory ids: versioned strings. A later version of a kind gets a new id, never a new symbol. */
#define DIFSS_FACTORY_CONDITION "difss.condition/2"
#define DIFSS_FACTORY_SAMPLER "difss.sampler/2"
#define DIFSS_FACTORY_SEGMENTER "difss.segmenter/2"

/* ---------------------------------------------------------------------------------------------
 * Port formats: the meaning of each tensor that crosses the boundary. Descriptors name them in
 * difss_port_info::format; host and SDK check every tensor against them.
 * ------------------------------------------------------------------------------------------- */
#define DIFSS_FORMAT_IMAGE "image"   /* uint8 [H, W, 3], RGB, contiguous, 0..255 */
#define DIFSS_FORMAT_MASK "mask"     /* uint8 [H, W], 0 = background, 1 = foreground, 255 = ignore */
#define DIFSS_FORMAT_PROB "prob"     /* float32 [H, W], foreground probability in [0, 1] */
#define DIFSS_FORMAT_IMAGES "images" /* uint8 [N, H, W, 3], RGB, contiguous */
#define DIFSS_FORMAT_TEXT "text"     /* a UTF-8 string field of an input struct (no tensor) */
/* All tensors live on the CPU (kDLCPU) in ABI 2.0. */

typedef enum difss_status {
  DIFSS_OK = 0,
  DIFSS_ERR_INVALID_ARGUMENT = 1, /* a parameter or input violates the description */
  DIFSS_ERR_NOT_FOUND = 2,        /* unknown id, missing file */
  DIFSS_ERR_IO = 3,               /* a file could not be read or is corrupt */
  DIFSS_ERR_UNSUPPORTED = 4,      /* a valid request this plugin cannot serve (e.g. a device) */
  DIFSS_ERR_CANCELLED = 5,        /* the host asked to stop (call->is_cancelled) */
  DIFSS_ERR_OUT_OF_MEMORY = 6,
  DIFSS_ERR_INTERNAL = 7,         /* anything else, including caught C++ exceptions */
  DIFSS_SKIP = 8                  /* not an error: the plugin declines this item (see Errors) */
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

/* Per-call context, owned by the host, valid only during the call it is passed to. Used by one
 * thread at a time (the calling thread, or threads the plugin spawns and joins before returning). */
typedef struct difss_call {
  uint32_t struct_size;
  void* host_data; /* opaque to the plugin */
  /* Record an error (or DIFSS_SKIP with its reason). `message` is UTF-8, copied before return. */
  void(DIFSS_ABI_CALL* set_error)(struct difss_call* call, difss_status status, const char* message);
  /* Progress of long work: `done` of `total` units of `what` (e.g. "step"). May be called often;
   * the host throttles display. */
  void(DIFSS_ABI_CALL* progress)(struct difss_call* call, const char* what, uint64_t done,
                                 uint64_t total);
  /* Non-zero once the host wants the call to stop. Long work polls it between units (e.g. between
   * diffusion steps) and returns DIFSS_ERR_CANCELLED. */
  int(DIFSS_ABI_CALL* is_cancelled)(struct difss_call* call);
  /* The current run's output folder, or "" outside a run (per-run values travel with calls). */
  const char* run_dir;
} difss_call;

/* Process-wide services for one plugin library, owned by the host. IMMUTABLE: the host never
 * changes a field after handing it out, so a plugin may keep the pointer (valid until after the
 * library's deinit). Values that change go through calls (difss_call) or through functions here. */
typedef struct difss_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor; /* the host's ABI version */
  void* host_data;               /* opaque to the plugin */
  /* Log a UTF-8 message to the host's sinks, tagged with `plugin_id` (may be NULL for the
   * library). Copied before return. Thread-safe; plugins never install sinks of their own. */
  void(DIFSS_ABI_CALL* log)(const struct difss_host* host, difss_log_level level,
                            const char* plugin_id, const char* message);
  /* Intra-op threads the host configured for this process. Plugins read, never change it. */
  int32_t(DIFSS_ABI_CALL* num_threads)(const struct difss_host* host);
  /* A host extension by id (none defined in 2.0), or NULL. */
  const void*(DIFSS_ABI_CALL* get_extension)(const struct difss_host* host, const char* id);
  const char* plugin_dir; /* folder of the plugin library (its data files live there) */
} difss_host;

/* ---------------------------------------------------------------------------------------------
 * Descriptions: what a plugin offers, filled into caller-owned structs (growth rule (b)).
 * Strings they point to are owned by the plugin library and live until its deinit().
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
  int32_t b;     /* BOOL: 0 or 1 */
  int64_t i;     /* INT */
  double f;      /* FLOAT */
  const char* s; /* STRING, PATH, ENUM */
} difss_value;

#define DIFSS_PARAM_FLAG_REQUIRED 0x1u  /* no default: the pipeline must set it */
#define DIFSS_PARAM_FLAG_HAS_RANGE 0x2u /* min/max apply (INT and FLOAT) */

typedef struct difss_plugin_info {
  uint32_t struct_size;
  const char* id;          /* stable reverse-DNS id, e.g. "org.difss.segmenter.hsnet" */
  const char* name;        /* human name */
  const char* description; /* one paragraph */
  difss_kind kind;
  const char* version; /* plugin semver, e.g. "1.2.0" */
  uint32_t param_count;
  uint32_t port_count;
} difss_plugin_info;

typedef struct difss_param_info {
  uint32_t struct_size;
  const char* name; /* [a-z0-9_]+, unique within the plugin */
  difss_param_type type;
  uint32_t flags;            /* DIFSS_PARAM_FLAG_* */
  difss_value default_value; /* ignored when REQUIRED */
  double min, max;           /* inclusive, when HAS_RANGE */
  const char* const* enum_values;
  uint32_t enum_count;
  const char* doc; /* one sentence, shown by `difss-host plugins inspect` */
} difss_param_info;

typedef enum difss_port_dir { DIFSS_PORT_IN = 1, DIFSS_PORT_OUT = 2 } difss_port_dir;

typedef struct difss_port_info {
  uint32_t struct_size;
  const char* name; /* e.g. "support_image" */
  difss_port_dir dir;
  const char* format; /* a DIFSS_FORMAT_* */
  const char* doc;
} difss_port_info;

/* A resolved parameter as the host passes it to create(): name + typed value, already checked
 * against the plugin's params and with defaults filled. Borrowed for the duration of create(). */
typedef struct difss_param {
  uint32_t struct_size;
  const char* name;
  difss_value value;
} difss_param;

/* What every kind's factory starts with: the catalogue of the plugins it offers (by index). */
typedef struct difss_factory_base {
  uint32_t struct_size; /* of the whole kind-specific factory */
  uint32_t(DIFSS_ABI_CALL* count)(const struct difss_factory_base* self);
  /* Fill *out for plugin `index` < count(). Returns 0 when index is out of range. */
  int(DIFSS_ABI_CALL* get_info)(const struct difss_factory_base* self, uint32_t index,
                                difss_plugin_info* out);
  int(DIFSS_ABI_CALL* get_param)(const struct difss_factory_base* self, uint32_t index,
                                 uint32_t param_index, difss_param_info* out);
  int(DIFSS_ABI_CALL* get_port)(const struct difss_factory_base* self, uint32_t index,
                                uint32_t port_index, difss_port_info* out);
} difss_factory_base;

/* The arguments of every create(): the plugin id, the host, the resolved params (all of the
 * plugin's parameters, checked and defaults filled; element i is at
 * (const char*)params + i * param_stride). Heavy work (loading weights) happens in create. */
typedef struct difss_create_args {
  uint32_t struct_size;
  const char* id;
  const difss_host* host; /* outlives the instance */
  const difss_param* params;
  uint32_t param_count;
  uint32_t param_stride;
} difss_create_args;

/* ---------------------------------------------------------------------------------------------
 * Kind: condition generator.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_condition_input {
  uint32_t struct_size;
  const DLTensor* image; /* DIFSS_FORMAT_IMAGE: the support image */
  const DLTensor* mask;  /* DIFSS_FORMAT_MASK: the support mask */
  int32_t class_id;      /* dataset class id (dataset-specific numbering, see class_set) */
  const char* class_name;
  const char* class_set; /* which numbering class_id uses: "pascal", "coco", "fss1000", ... */
} difss_condition_input;

typedef struct difss_condition {
  uint32_t struct_size;
  void* plugin_data; /* the plugin's object */
  /* Produce the control map (DIFSS_FORMAT_IMAGE; size chosen by the plugin, typically the
   * official resize). On DIFSS_OK *out_control is host-owned. */
  difss_status(DIFSS_ABI_CALL* generate)(const struct difss_condition* self,
                                         const difss_condition_input* in,
                                         DLManagedTensor** out_control, difss_call* call);
  const void*(DIFSS_ABI_CALL* get_extension)(const struct difss_condition* self, const char* id);
  /* Free the instance. Called exactly once; no call on it is running or will follow. */
  void(DIFSS_ABI_CALL* destroy)(const struct difss_condition* self);
} difss_condition;

typedef struct difss_condition_factory {
  difss_factory_base base;
  difss_status(DIFSS_ABI_CALL* create)(const struct difss_condition_factory* self,
                                       const difss_create_args* args,
                                       const difss_condition** out, difss_call* call);
} difss_condition_factory;

/* ---------------------------------------------------------------------------------------------
 * Kind: diffusion sampler.
 * ------------------------------------------------------------------------------------------- */

typedef struct difss_sampler_input {
  uint32_t struct_size;
  const DLTensor* control; /* DIFSS_FORMAT_IMAGE: the control map */
  const char* prompt;      /* the final positive prompt (UTF-8); the host owns its wording */
  const char* negative_prompt; /* the final negative prompt; the sampler adds nothing to either */
  int32_t class_id; /* for class-conditioned models; -1 when unknown */
  const char* class_name;
  uint64_t seed;  /* image k uses the seed derived as documented by the plugin from (seed, k) */
  uint32_t count; /* number of images to produce (>= 1) */
} difss_sampler_input;

typedef struct difss_sampler {
  uint32_t struct_size;
  void* plugin_data;
  /* Produce `count` images (DIFSS_FORMAT_IMAGES). Reports progress per denoising step and returns
   * DIFSS_ERR_CANCELLED once call->is_cancelled() is true. On DIFSS_OK *out_images is host-owned. */
  difss_status(DIFSS_ABI_CALL* sample)(const struct difss_sampler* self,
                                       const difss_sampler_input* in,
                                       DLManagedTensor** out_images, difss_call* call);
  const void*(DIFSS_ABI_CALL* get_extension)(const struct difss_sampler* self, const char* id);
  void(DIFSS_ABI_CALL* destroy)(const struct difss_sampler* self);
} difss_sampler;

typedef struct difss_sampler_factory {
  difss_factory_base base;
  difss_status(DIFSS_ABI_CALL* create)(const struct difss_sampler_factory* self,
                                       const difss_create_args* args, const difss_sampler** out,
                                       difss_call* call);
} difss_sampler_factory;

/* ---------------------------------------------------------------------------------------------
 * Kind: few-shot segmenter.
 * ------------------------------------------------------------------------------------------- */

/* At which size the prediction is returned. */
typedef enum difss_output_size {
  /* The query's H x W (the default; the model's output resized back as its repo does). */
  DIFSS_OUTPUT_QUERY = 0,
  /* The model's own input size (e.g. HSNet's 400 x 400, DCAMA's 384 x 384): no resize back, so a
   * protocol that scores at that size (HSNet's default) is exact. The host reads the size from the
   * outputs. A plugin without a fixed input size returns the query size. */
  DIFSS_OUTPUT_MODEL_INPUT = 1,
  /* Exactly output_height x output_width. */
  DIFSS_OUTPUT_EXPLICIT = 2
} difss_output_size;

typedef struct difss_segmenter_input {
  uint32_t struct_size;
  const DLTensor* query;                 /* DIFSS_FORMAT_IMAGE */
  uint32_t shot_count;                   /* K >= 1 supports */
  const DLTensor* const* support_images; /* K x DIFSS_FORMAT_IMAGE (sizes may differ) */
  const DLTensor* const* support_masks;  /* K x DIFSS_FORMAT_MASK, each its image's size */
  /* K flags or NULL (= all real). 1 marks an AUXILIARY support: an image a sampler generated from
   * a real support of the same episode (DifFSS); 0 a real one. Real supports come first. A
   * segmenter may treat auxiliary supports as extra shots (the paper's use), weight them, or
   * ignore them, and documents which; it must not assume how many there are. */
  const uint8_t* support_is_auxiliary;
  difss_output_size output_size;
  uint32_t output_height, output_width; /* for DIFSS_OUTPUT_EXPLICIT */
} difss_segmenter_input;

/* Caller-owned, filled by the plugin (growth rule (b)). Both tensors have the size the input's
 * output_size asked for. On DIFSS_OK both are host-owned. */
typedef struct difss_segmenter_output {
  uint32_t struct_size;
  DLManagedTensor* prob; /* DIFSS_FORMAT_PROB */
  DLManagedTensor* mask; /* DIFSS_FORMAT_MASK, values 0/1 */
} difss_segmenter_output;

typedef struct difss_segmenter {
  uint32_t struct_size;
  void* plugin_data;
  difss_status(DIFSS_ABI_CALL* segment)(const struct difss_segmenter* self,
                                        const difss_segmenter_input* in,
                                        difss_segmenter_output* out, difss_call* call);
  const void*(DIFSS_ABI_CALL* get_extension)(const struct difss_segmenter* self, const char* id);
  void(DIFSS_ABI_CALL* destroy)(const struct difss_segmenter* self);
} difss_segmenter;

typedef struct difss_segmenter_factory {
  difss_factory_base base;
  difss_status(DIFSS_ABI_CALL* create)(const struct difss_segmenter_factory* self,
                                       const difss_create_args* args,
                                       const difss_segmenter** out, difss_call* call);
} difss_segmenter_factory;

#ifdef __cplusplus
}
#endif

#endif /* DIFSS_ABI_DIFSS_H */
