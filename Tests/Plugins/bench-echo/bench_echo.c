/*
 * bench-echo: the workflow plugin `switchboard bench abi` measures the ABI
 * with. on_event("noop") returns at once; on_event("echo") hands the event
 * back as one command, so a call costs exactly one crossing each way plus the
 * host's copy. on_event("crash") segfaults: `switchboard bench sandbox` times
 * how fast a sandbox worker is back after a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "switchboard/plugin.h"

static const sb_host_api *host;

/* No per-connection state is needed; a non-NULL handle is all open returns. */
struct sb_instance { int unused; };
static struct sb_instance the_instance;

static sb_status spec(sb_call *call) {
    static const char schema[] = "{\"type\":\"object\"}";
    sb_emit e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.kind = SB_EMIT_SPEC;
    e.data.ptr = (const uint8_t *)schema;
    e.data.len = sizeof schema - 1;
    return host->emit(call, &e);
}

static sb_status validate_config(sb_call *call, sb_bytes config) {
    static const char summary[] = "config must be a JSON object";
    sb_diag d;
    if (config.len >= 2 && config.ptr[0] == '{' && config.ptr[config.len - 1] == '}') return SB_OK;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.severity = SB_SEVERITY_ERROR;
    d.summary.ptr = summary;
    d.summary.len = sizeof summary - 1;
    host->diag(call, &d);
    return SB_CONFIG;
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    (void)call; (void)config;
    *out = &the_instance;
    return SB_OK;
}

static void close_instance(sb_instance *inst, sb_call *call) { (void)inst; (void)call; }

/* "noop" returns at once; "echo" hands the event back as it came; any other
 * event comes back as the workflow command {"set": EVENT} (a pass-through step). */
static sb_status on_event(sb_instance *inst, sb_call *call, sb_str type, sb_bytes event) {
    sb_emit e;
    uint8_t small[4096];
    uint8_t *buf = small;
    sb_status st;
    (void)inst;
    if (type.len == 4 && memcmp(type.ptr, "noop", 4) == 0) return SB_OK;
    if (type.len == 5 && memcmp(type.ptr, "crash", 5) == 0) *(volatile int *)(uintptr_t)8 = 1;
    e.struct_size = sizeof e;
    e.kind = SB_EMIT_COMMAND;
    e.key = type;
    if (type.len == 4 && memcmp(type.ptr, "echo", 4) == 0) {
        e.data = event;
        return host->emit(call, &e);
    }
    if (event.len + 8 > sizeof small && !(buf = (uint8_t *)malloc(event.len + 8))) return SB_RETRY;
    memcpy(buf, "{\"set\":", 7);
    memcpy(buf + 7, event.ptr, event.len);
    buf[7 + event.len] = '}';
    e.data.ptr = buf;
    e.data.len = event.len + 8;
    st = host->emit(call, &e);
    if (buf != small) free(buf);
    return st;
}

static const sb_plugin_vtable VTABLE = {
    sizeof(sb_plugin_vtable), 0, spec, validate_config, open_instance, close_instance,
    NULL, NULL, NULL, NULL, NULL, on_event, NULL
};

static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), SB_ABI_MAJOR, SB_ABI_MINOR, "bench-echo", "1.0.0",
    SB_KIND_WORKFLOW, 0, SB_CAP_ON_EVENT, "Benchmark echo", "Echoes events back as commands", "Switchboard"
};

SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }

SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
    if (args->host_abi_major != SB_ABI_MAJOR) return SB_FATAL;
    host = args->host;
    result->abi_minor = sb_negotiate_minor(args->host_abi_minor);
    result->vtable = &VTABLE;
    return SB_OK;
}
