/*
 * switchboard/plugin.h -- the Switchboard plugin ABI, version 1.
 *
 * This header is the whole contract between the Switchboard host and a plugin
 * (a connector or a workflow) shipped as a shared library. It depends on
 * nothing beyond <stdint.h>, <stddef.h> and <stdbool.h> and compiles as C99
 * and as C++17. docs/ABI.md explains it in prose; this file is authoritative.
 *
 * Rules that hold for every type below:
 *
 *  - VERSIONING. Every struct that crosses the boundary starts with
 *    `uint32_t struct_size`, set by whoever fills the struct. Structs and
 *    vtables only ever grow at the end (a new minor version). A reader that
 *    gets a shorter struct treats the missing fields as zero / NULL; the host
 *    accepts a longer struct only when every byte it does not know is zero.
 *    Changing or removing a field is a new major version.
 *  - NULL SLOT. A NULL function pointer in a vtable means "not implemented".
 *  - BUFFERS are {ptr, len}; strings are not NUL-terminated unless a field
 *    says so. A zero `len` may come with a NULL `ptr`.
 *  - OWNERSHIP. Each type and function states who owns what. Nothing
 *    allocated on one side is freed on the other except through its owner's
 *    release function (sb_host_api.buf_release for host buffers,
 *    sb_plugin_vtable.close for plugin instances).
 *  - STATUS. Every fallible call returns an sb_status. Any value other than
 *    the SB_* codes below is treated as SB_FATAL.
 *  - THREADING. The host serialises all calls on one instance; calls on
 *    different instances (of the same plugin) may run concurrently on
 *    different threads, so a plugin keeps per-connection state in its
 *    instance, never in globals. Every sb_host_api function is thread-safe
 *    and may be called from any thread while the sb_call it is given is live.
 *    An sb_call is an opaque handle, live until the operation that received
 *    it returns; after that every host function refuses it (emit answers
 *    SB_CANCELLED, cancelled answers true). Never keep one for later.
 *    Long calls poll sb_host_api.cancelled / deadline_ns and return
 *    SB_CANCELLED when asked to stop.
 */
#ifndef SWITCHBOARD_PLUGIN_H
#define SWITCHBOARD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/* The ABI this header describes. A host loads plugins of the same major only;
 * host and plugin agree on min(host minor, plugin minor) at init. */
#define SB_ABI_MAJOR 1
#define SB_ABI_MINOR 1 /* 1.1 added: SB_CAP_FETCH, sb_fetch_request, sb_plugin_vtable.fetch */

/* Marks the two entry points as exported even under -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define SB_EXPORT __attribute__((visibility("default")))
#else
#define SB_EXPORT
#endif

/* ------------------------------------------------------------------------ */
/* Status codes and diagnostics                                             */
/* ------------------------------------------------------------------------ */

/* Result of every fallible call. Unknown values count as SB_FATAL. */
typedef int32_t sb_status;
#define SB_OK 0        /* done */
#define SB_RETRY 1     /* transient: the host retries with backoff */
#define SB_FATAL 2     /* permanent for this input: goes to the exception queue */
#define SB_CONFIG 3    /* the connection's configuration is wrong */
#define SB_AUTH 4      /* credentials rejected: the host parks work and pauses the connection */
#define SB_CANCELLED 5 /* stopped because sb_host_api.cancelled() said so or the deadline passed */

/* Severity of a diagnostic. */
#define SB_SEVERITY_ERROR 1
#define SB_SEVERITY_WARNING 2
#define SB_SEVERITY_INFO 3

/* Log levels, lowest to highest (the order of swift-log). */
#define SB_LOG_TRACE 0
#define SB_LOG_DEBUG 1
#define SB_LOG_INFO 2
#define SB_LOG_NOTICE 3
#define SB_LOG_WARNING 4
#define SB_LOG_ERROR 5
#define SB_LOG_CRITICAL 6

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

/* A UTF-8 string, not NUL-terminated.
 * OWNERSHIP: borrowed. The side that passes it keeps ownership; the receiver
 * may read it only until the function it was passed to returns, and copies
 * what it wants to keep. */
typedef struct sb_str {
    const char *ptr;
    size_t len;
} sb_str;

/* A byte buffer (JSON documents, cursors, HTTP bodies).
 * OWNERSHIP: borrowed, exactly as sb_str. */
typedef struct sb_bytes {
    const uint8_t *ptr;
    size_t len;
} sb_bytes;

/* A buffer the host allocated and hands to the plugin (a secret, an HTTP
 * response body, a stored state value).
 * OWNERSHIP: host-owned. The plugin reads it until it passes it to
 * sb_host_api.buf_release or until the plugin call that received it returns,
 * whichever comes first: the host frees every unreleased buffer of a call
 * when that call returns. The plugin never frees it itself. */
typedef struct sb_host_buf {
    const uint8_t *ptr;
    size_t len;
    uint64_t handle; /* host's token for buf_release; 0 = nothing to release */
} sb_host_buf;

/* Builds an sb_str from a string literal: SB_STR_LIT("abc"). */
#define SB_STR_LIT(s) { (s), sizeof(s) - 1 }

/* True when a struct received from the other side is long enough to hold
 * `field` (the sender may be built against an older minor version). */
#define SB_HAS_FIELD(p, type, field) \
    ((p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

/* One call from the host into the plugin: carries the output sinks, the
 * deadline, cancellation and the identity (tenant, connection) the host
 * services act for.
 * OWNERSHIP: host-owned; valid only until the plugin function that received
 * it returns. A plugin must not keep it or use it from a thread that outlives
 * that function. */
typedef struct sb_call sb_call;

/* One configured connection (or workflow step) of a plugin.
 * OWNERSHIP: plugin-owned; created by sb_plugin_vtable.open, destroyed only by
 * sb_plugin_vtable.close. The host never looks inside it. */
typedef struct sb_instance sb_instance;

/* ------------------------------------------------------------------------ */
/* Manifest: read before any other plugin code runs                         */
/* ------------------------------------------------------------------------ */

#define SB_KIND_CONNECTOR 1
#define SB_KIND_WORKFLOW 2

/* Capability bits: which optional operations a plugin implements and which
 * host services it needs. A declared operation's vtable slot must be set. */
#define SB_CAP_CHECK ((uint64_t)0x01)       /* check_connection */
#define SB_CAP_DISCOVER ((uint64_t)0x02)    /* discover */
#define SB_CAP_READ ((uint64_t)0x04)        /* read */
#define SB_CAP_WRITE ((uint64_t)0x08)       /* write */
#define SB_CAP_WEBHOOK ((uint64_t)0x10)     /* handle_webhook */
#define SB_CAP_ON_EVENT ((uint64_t)0x20)    /* on_event (workflow plugins) */
#define SB_CAP_HOST_EGRESS ((uint64_t)0x40) /* makes HTTP calls through sb_host_api.http */
#define SB_CAP_RAW_SECRETS ((uint64_t)0x80) /* needs secret values in its memory; the operator must allow it */
#define SB_CAP_ALL_V1 ((uint64_t)0xFF)        /* every bit defined in ABI 1.0 */
#define SB_CAP_FETCH ((uint64_t)0x100)      /* fetch (ABI 1.1) */
#define SB_CAP_ALL_V1_1 ((uint64_t)0x1FF)     /* every bit defined in ABI 1.1 */

/* What the plugin is. Returned by switchboard_plugin_manifest().
 * OWNERSHIP: plugin-owned static data; it and every string it points to stay
 * valid for as long as the library is loaded (the host never unloads a
 * plugin). Strings here are NUL-terminated. */
typedef struct sb_manifest {
    uint32_t struct_size;     /* sizeof(sb_manifest) as the plugin was built */
    uint16_t abi_major;       /* SB_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;       /* SB_ABI_MINOR the plugin was built against */
    const char *id;           /* unique id: [a-z0-9][a-z0-9._-]{0,63} */
    const char *version;      /* the plugin's own semantic version, e.g. "1.4.0" */
    uint32_t kind;            /* SB_KIND_* */
    uint32_t reserved0;       /* must be 0 */
    uint64_t capabilities;    /* SB_CAP_* bits */
    const char *name;         /* human-readable name, or NULL */
    const char *description;  /* one line, or NULL */
    const char *vendor;       /* who ships it, or NULL */
} sb_manifest;

/* ------------------------------------------------------------------------ */
/* Data passed between host and plugin                                      */
/* ------------------------------------------------------------------------ */

/* A diagnostic, reported with sb_host_api.diag (any number per call).
 * OWNERSHIP: borrowed by the host for the duration of diag(); the host copies. */
typedef struct sb_diag {
    uint32_t struct_size;
    int32_t severity;   /* SB_SEVERITY_* */
    sb_str summary;     /* one line: what is wrong */
    sb_str detail;      /* optional: why, and how to fix it */
    sb_str field_path;  /* optional: the input field at fault, e.g. "auth.client_id" or "lines[2].amount" */
} sb_diag;

/* What a plugin hands to sb_host_api.emit. */
#define SB_EMIT_SPEC 1         /* spec: data = JSON Schema (draft 2020-12) of the plugin's config */
#define SB_EMIT_CATALOG 2      /* discover: data = JSON catalog (see docs/ABI.md) */
#define SB_EMIT_RECORD 3       /* read: key = canonical entity ("Account"), data = canonical record JSON */
#define SB_EMIT_STATE 4        /* read: key = stream, data = opaque cursor covering every record emitted before it */
#define SB_EMIT_WRITE_RESULT 5 /* write: key = external id at the target, data = optional JSON {"version": ...} */
#define SB_EMIT_EVENT 6        /* handle_webhook / read: key = event type ("opportunity.won"), data = event JSON */
#define SB_EMIT_COMMAND 7      /* on_event: data = command JSON (see docs/ABI.md) */
#define SB_EMIT_RETRY_AFTER 8  /* any operation returning SB_RETRY: data = decimal milliseconds to wait (e.g. an HTTP Retry-After) */

/* One output item.
 * OWNERSHIP: borrowed by the host for the duration of emit(); the host copies. */
typedef struct sb_emit {
    uint32_t struct_size;
    uint32_t kind; /* SB_EMIT_* */
    sb_str key;
    sb_bytes data;
} sb_emit;

/* An HTTP header. OWNERSHIP: borrowed, as its containing struct. */
typedef struct sb_http_header {
    sb_str name;
    sb_str value;
} sb_http_header;

/* Flags of sb_http_request. */
#define SB_HTTP_NO_AUTH ((uint32_t)0x01) /* egress: do not inject the connection's credentials */

/* An HTTP request: one the plugin asks the host to send (egress), or an
 * inbound webhook the host hands to the plugin.
 * OWNERSHIP: borrowed by the receiver for the duration of the call. */
typedef struct sb_http_request {
    uint32_t struct_size;
    uint32_t header_count;
    sb_str method;                  /* "GET", "POST", ... */
    sb_str url;                     /* egress: absolute URL; webhook: path and query */
    const sb_http_header *headers;  /* header_count entries */
    sb_bytes body;
    uint32_t timeout_ms;            /* egress: 0 = the connection's default */
    uint32_t flags;                 /* SB_HTTP_* */
} sb_http_request;

/* An HTTP response the host received for the plugin.
 * OWNERSHIP: the struct is plugin-owned (usually on its stack; the plugin
 * sets struct_size); the two sb_host_buf inside are host-owned. */
typedef struct sb_http_response {
    uint32_t struct_size;
    int32_t status;        /* HTTP status code */
    sb_host_buf headers;   /* "Name: value\r\n" lines */
    sb_host_buf body;
} sb_http_response;

/* Arguments of sb_plugin_vtable.read.
 * OWNERSHIP: borrowed by the plugin for the duration of read(). */
typedef struct sb_read_request {
    uint32_t struct_size;
    uint32_t max_records;  /* a hint: stop after about this many records (0 = no hint) */
    sb_str stream;         /* the stream to read, as listed by discover */
    sb_bytes state;        /* the last committed SB_EMIT_STATE for this stream, or empty on a first sync */
} sb_read_request;

/* Arguments of sb_plugin_vtable.write.
 * OWNERSHIP: borrowed by the plugin for the duration of write(). */
typedef struct sb_write_request {
    uint32_t struct_size;
    uint32_t reserved0;      /* 0 */
    sb_str entity;           /* canonical entity, e.g. "Invoice" */
    sb_str idempotency_key;  /* the same key means the same write: never create a second record for it */
    sb_str external_id;      /* the target's id for this record if known (xref), else empty: create */
    sb_bytes record;         /* canonical record JSON */
} sb_write_request;

/* Arguments of sb_plugin_vtable.fetch (ABI 1.1).
 * OWNERSHIP: borrowed by the plugin for the duration of fetch(). */
typedef struct sb_fetch_request {
    uint32_t struct_size;
    uint32_t reserved0;  /* 0 */
    sb_str entity;       /* canonical entity of the record, e.g. "Opportunity" */
    sb_str external_id;  /* the record's id in this system, as its events carry it */
    sb_str event_type;   /* the event the host asks about, e.g. "opportunity.won"; empty: the record only */
} sb_fetch_request;

/* ------------------------------------------------------------------------ */
/* The host's services to the plugin                                        */
/* ------------------------------------------------------------------------ */

/* Metric kinds for sb_host_api.metric. */
#define SB_METRIC_COUNTER 1   /* value is added */
#define SB_METRIC_GAUGE 2     /* value is set */
#define SB_METRIC_HISTOGRAM 3 /* value is recorded (seconds for durations) */

/* The host's function table, passed to switchboard_plugin_init.
 * OWNERSHIP: host-owned, immutable, valid for the life of the process; the
 * plugin may keep the pointer. Every function is thread-safe. Every function
 * takes the live sb_call of the operation it serves; the host acts for that
 * call's tenant and connection only. */
typedef struct sb_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Writes one log line labelled with the plugin, tenant and connection.
     * fields_json: an optional JSON object of extra fields. */
    void (*log)(sb_call *call, int32_t level, sb_str message, sb_str fields_json);

    /* Records a metric (SB_METRIC_*) labelled with the plugin and connection.
     * labels_json: an optional flat JSON object of string labels. */
    void (*metric)(sb_call *call, int32_t kind, sb_str name, double value, sb_str labels_json);

    /* Hands one output item to the host. Returns SB_OK, SB_CANCELLED (stop
     * producing and return SB_CANCELLED), or SB_FATAL (the item was refused,
     * e.g. an emit kind the operation does not take; a diagnostic says why). */
    sb_status (*emit)(sb_call *call, const sb_emit *item);

    /* Reports a diagnostic for the current call. */
    void (*diag)(sb_call *call, const sb_diag *diagnostic);

    /* Reads a secret of this instance's connection by reference name. Only
     * plugins with SB_CAP_RAW_SECRETS that the operator allowed get values;
     * others get SB_AUTH. On SB_OK *out holds the value (host-owned). */
    sb_status (*secret_get)(sb_call *call, sb_str name, sb_host_buf *out);

    /* Sends an HTTP request through the host: allowlist, TLS, timeouts,
     * rate limits, and the connection's credentials injected unless
     * SB_HTTP_NO_AUTH. SB_OK means a response arrived (any status code);
     * SB_RETRY a transient failure; SB_CONFIG a host not allowed. */
    sb_status (*http)(sb_call *call, const sb_http_request *request, sb_http_response *out);

    /* A small durable key/value store private to this instance's connection. */
    sb_status (*state_get)(sb_call *call, sb_str key, sb_host_buf *out); /* missing key: SB_OK, len 0, ptr NULL */
    sb_status (*state_put)(sb_call *call, sb_str key, sb_bytes value);

    /* Frees a host-owned buffer early. Safe on a zeroed buffer and twice. */
    void (*buf_release)(sb_call *call, sb_host_buf *buf);

    /* Clocks: wall time (Unix epoch) and a monotonic clock, in nanoseconds. */
    int64_t (*clock_unix_ns)(sb_call *call);
    int64_t (*clock_monotonic_ns)(sb_call *call);

    /* True once the host wants the current call to stop. */
    bool (*cancelled)(sb_call *call);

    /* The monotonic time (ns) by which the call must return; 0 = none. */
    int64_t (*deadline_ns)(sb_call *call);
} sb_host_api;

/* ------------------------------------------------------------------------ */
/* The plugin's function table                                              */
/* ------------------------------------------------------------------------ */

/* Returned by switchboard_plugin_init.
 * OWNERSHIP: plugin-owned static data, valid while the library is loaded.
 * Slots marked MANDATORY must be set; others may be NULL ("not
 * implemented"), but a slot whose capability the manifest declares must be
 * set. Every function returns SB_OK or reports at least one diagnostic. */
typedef struct sb_plugin_vtable {
    uint32_t struct_size; /* the size for the negotiated minor version */
    uint32_t reserved0;   /* 0 */

    /* MANDATORY. Emits SB_EMIT_SPEC: the JSON Schema of the config. No I/O. */
    sb_status (*spec)(sb_call *call);

    /* MANDATORY. Checks a config without I/O; reports each problem as a
     * diagnostic with its field_path; returns SB_CONFIG if any. */
    sb_status (*validate_config)(sb_call *call, sb_bytes config_json);

    /* MANDATORY. Creates an instance for one configured connection. On
     * SB_OK *out is set; the host later passes it to close() exactly once. */
    sb_status (*open)(sb_call *call, sb_bytes config_json, sb_instance **out);

    /* MANDATORY. Releases the instance and everything it owns. */
    void (*close)(sb_instance *instance, sb_call *call);

    /* Connector: tests credentials and reachability. SB_AUTH for rejected
     * credentials, SB_CONFIG for a wrong address/setting, SB_RETRY for an
     * unreachable but plausible endpoint. */
    sb_status (*check_connection)(sb_instance *instance, sb_call *call);

    /* Connector: emits one SB_EMIT_CATALOG describing what it reads/writes. */
    sb_status (*discover)(sb_instance *instance, sb_call *call);

    /* Connector: emits records (and events) changed since request->state,
     * then SB_EMIT_STATE. The host commits a state only after every record
     * emitted before it is durable. */
    sb_status (*read)(sb_instance *instance, sb_call *call, const sb_read_request *request);

    /* Connector: upserts one canonical record and emits SB_EMIT_WRITE_RESULT
     * with its external id. Idempotent per idempotency_key. */
    sb_status (*write)(sb_instance *instance, sb_call *call, const sb_write_request *request);

    /* Connector: turns one inbound webhook into SB_EMIT_EVENT items. The host
     * has already checked transport limits; the plugin verifies signatures
     * and returns SB_AUTH for a bad one. */
    sb_status (*handle_webhook)(sb_instance *instance, sb_call *call, const sb_http_request *request);

    /* Workflow: reacts to one canonical event with SB_EMIT_COMMAND items. */
    sb_status (*on_event)(sb_instance *instance, sb_call *call, sb_str event_type, sb_bytes event_json);

    /* ABI 1.1. Connector: reads ONE record from the source as it is now and
     * emits it exactly as read or handle_webhook would: an SB_EMIT_EVENT of
     * request->event_type if the record, as it is now, still makes that
     * event; otherwise its SB_EMIT_RECORD (or nothing, if the source no longer
     * has it). Never SB_EMIT_STATE. The host calls it to replay an exception
     * item with the source's current data, so a record fixed at its source
     * fixes the item. */
    sb_status (*fetch)(sb_instance *instance, sb_call *call, const sb_fetch_request *request);
} sb_plugin_vtable;

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */
/* ------------------------------------------------------------------------ */

/* Arguments of switchboard_plugin_init.
 * OWNERSHIP: host-owned, borrowed for the duration of init; `host` itself
 * stays valid for the life of the process. */
typedef struct sb_init_args {
    uint32_t struct_size;
    uint16_t host_abi_major;
    uint16_t host_abi_minor;
    const sb_host_api *host;
    sb_call *call; /* for diag() and log() during init */
} sb_init_args;

/* Filled by switchboard_plugin_init.
 * OWNERSHIP: host-owned struct; the plugin writes the fields (never past
 * the struct_size the host set); the vtable it points to is plugin-owned. */
typedef struct sb_init_result {
    uint32_t struct_size;  /* set by the host */
    uint16_t abi_minor;    /* set by the plugin: min(host_abi_minor, plugin's SB_ABI_MINOR) */
    uint16_t reserved0;
    const sb_plugin_vtable *vtable;
} sb_init_result;

/* Entry point 1: the manifest. Must be callable before init, any number of
 * times, from any thread, and must do nothing but return static data. */
typedef const sb_manifest *(*sb_manifest_fn)(void);
#define SB_MANIFEST_SYMBOL "switchboard_plugin_manifest"

/* Entry point 2: one-time initialisation. Negotiates the minor version and
 * returns the vtable. On failure returns non-SB_OK after reporting a
 * diagnostic through args->host->diag(args->call, ...). Called once per
 * process, before any vtable function. */
typedef sb_status (*sb_init_fn)(const sb_init_args *args, sb_init_result *result);
#define SB_INIT_SYMBOL "switchboard_plugin_init"

/* The minor version a plugin built against this header must agree to. */
static inline uint16_t sb_negotiate_minor(uint16_t host_abi_minor) {
    const uint16_t own = SB_ABI_MINOR;
    return host_abi_minor < own ? host_abi_minor : own;
}

/* A plugin defines both functions (C linkage, SB_EXPORT). */
SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void);
SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SWITCHBOARD_PLUGIN_H */
