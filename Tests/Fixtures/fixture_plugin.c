/*
 * A configurable test plugin. Compile-time macros shape the manifest and
 * init (to provoke each loader refusal); the config string picks what
 * check_connection does (to exercise each host service and error path).
 *
 *   FIX_MAJOR / FIX_MINOR       ABI version in the manifest
 *   FIX_ID / FIX_VERSION        manifest strings
 *   FIX_KIND / FIX_CAPS         kind and capability bits
 *   FIX_TAIL=v                  a manifest larger than v1 whose extra field is v
 *   FIX_NO_INIT                 no switchboard_plugin_init symbol
 *   FIX_NO_SYMBOLS              neither entry point (a plain shared library)
 *   FIX_INIT_FAIL               init reports a diagnostic and fails
 *   FIX_NULL_OPEN               the mandatory open slot is NULL
 *   FIX_NULL_CHECK              check_connection NULL although declared
 *   FIX_BAD_NEGOTIATION         init answers a minor larger than the host's
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/plugin.h"

#ifndef FIX_MAJOR
#define FIX_MAJOR SB_ABI_MAJOR
#endif
#ifndef FIX_MINOR
#define FIX_MINOR SB_ABI_MINOR
#endif
#ifndef FIX_ID
#define FIX_ID "fixture"
#endif
#ifndef FIX_VERSION
#define FIX_VERSION "1.0.0"
#endif
#ifndef FIX_KIND
#define FIX_KIND SB_KIND_CONNECTOR
#endif
#ifndef FIX_CAPS
#define FIX_CAPS (SB_CAP_CHECK | SB_CAP_RAW_SECRETS)
#endif

#ifndef FIX_NO_SYMBOLS
static const sb_host_api *host;

struct sb_instance { char mode[64]; };

static sb_str s(const char *text) { sb_str out; out.ptr = text; out.len = strlen(text); return out; }

static void fail(sb_call *call, const char *summary) {
    sb_diag d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.severity = SB_SEVERITY_ERROR;
    d.summary = s(summary);
    d.field_path = s("mode");
    host->diag(call, &d);
}

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
    if (config.len >= 64) { fail(call, "config too long"); return SB_CONFIG; }
    return SB_OK;
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    sb_instance *inst = (sb_instance *)calloc(1, sizeof *inst);
    (void)call;
    if (!inst) return SB_RETRY;
    /* A JSON string config ("mode") is taken without its quotes. */
    if (config.len >= 2 && config.ptr[0] == '"' && config.ptr[config.len - 1] == '"') memcpy(inst->mode, config.ptr + 1, config.len - 2);
    else memcpy(inst->mode, config.ptr, config.len);
    *out = inst;
    return SB_OK;
}

static void close_instance(sb_instance *inst, sb_call *call) { (void)call; free(inst); }

static int is(const sb_instance *inst, const char *mode) { return strcmp(inst->mode, mode) == 0; }

static sb_status check_connection(sb_instance *inst, sb_call *call) {
    if (is(inst, "status42")) return 42;
    if (is(inst, "wrong-emit")) {
        sb_emit e;
        memset(&e, 0, sizeof e);
        e.struct_size = sizeof e;
        e.kind = SB_EMIT_RECORD;
        return host->emit(call, &e);
    }
    if (is(inst, "emit-tail")) {
        /* An sb_emit from a "newer" plugin with a non-zero unknown field. */
        struct { sb_emit e; uint64_t extra; } big;
        memset(&big, 0, sizeof big);
        big.e.struct_size = sizeof big;
        big.e.kind = SB_EMIT_RECORD;
        big.extra = 7;
        return host->emit(call, &big.e);
    }
    if (is(inst, "state")) {
        sb_host_buf buf;
        sb_bytes v;
        sb_status st;
        v.ptr = (const uint8_t *)"value-1";
        v.len = 7;
        st = host->state_put(call, s("k"), v);
        if (st != SB_OK) return st;
        st = host->state_get(call, s("k"), &buf);
        if (st != SB_OK) return st;
        st = (buf.len == 7 && memcmp(buf.ptr, "value-1", 7) == 0) ? SB_OK : SB_FATAL;
        host->buf_release(call, &buf);
        host->buf_release(call, &buf); /* twice is allowed */
        return st;
    }
    if (is(inst, "unreleased")) {
        /* Never releases: the host must free it when the call returns. */
        sb_host_buf buf;
        sb_bytes v;
        v.ptr = (const uint8_t *)"abc";
        v.len = 3;
        host->state_put(call, s("k2"), v);
        return host->state_get(call, s("k2"), &buf);
    }
    if (is(inst, "secret")) {
        sb_host_buf buf;
        sb_status st = host->secret_get(call, s("api_key"), &buf);
        if (st == SB_OK) {
            st = (buf.len == 6 && memcmp(buf.ptr, "s3cr3t", 6) == 0) ? SB_OK : SB_FATAL;
            host->buf_release(call, &buf);
        }
        return st;
    }
    if (is(inst, "egress")) {
        sb_http_request req;
        sb_http_response resp;
        memset(&req, 0, sizeof req);
        memset(&resp, 0, sizeof resp);
        req.struct_size = sizeof req;
        resp.struct_size = sizeof resp;
        req.method = s("GET");
        req.url = s("https://example.invalid/");
        return host->http(call, &req, &resp);
    }
    if (strncmp(inst->mode, "get:", 4) == 0) {
        /* GET the URL through host egress: 200 -> OK, 401 -> AUTH, 429/503 -> RETRY, else FATAL. */
        sb_http_request req;
        sb_http_response resp;
        sb_status st;
        memset(&req, 0, sizeof req);
        memset(&resp, 0, sizeof resp);
        req.struct_size = sizeof req;
        resp.struct_size = sizeof resp;
        req.method = s("GET");
        req.url = s(inst->mode + 4);
        st = host->http(call, &req, &resp);
        host->buf_release(call, &resp.body);
        host->buf_release(call, &resp.headers);
        if (st != SB_OK) return st;
        if (resp.status == 200) return SB_OK;
        if (resp.status == 401) { fail(call, "the API refused the credentials"); return SB_AUTH; }
        if (resp.status == 429 || resp.status == 503) { fail(call, "the API is busy"); return SB_RETRY; }
        fail(call, "unexpected HTTP status");
        return SB_FATAL;
    }
    if (is(inst, "wait-cancel")) {
        while (!host->cancelled(call)) {}
        return SB_CANCELLED;
    }
    if (is(inst, "log")) {
        host->log(call, SB_LOG_WARNING, s("fixture says hello"), s("{\"k\":1}"));
        host->metric(call, SB_METRIC_COUNTER, s("fixture_calls"), 1.0, s(""));
        return SB_OK;
    }
    if (is(inst, "leaky")) {
        /* A careless plugin: logs the raw secret, puts it in a diagnostic, fails. The host must scrub both. */
        sb_host_buf buf;
        char line[160];
        sb_status st = host->secret_get(call, s("api_key"), &buf);
        if (st != SB_OK) return st;
        snprintf(line, sizeof line, "connecting with api key %.*s (Authorization: Bearer %.*s)", (int)buf.len, (const char *)buf.ptr,
                 (int)buf.len, (const char *)buf.ptr);
        host->log(call, SB_LOG_ERROR, s(line), s(""));
        fail(call, line);
        host->buf_release(call, &buf);
        return SB_FATAL;
    }
    if (is(inst, "plugin-leak")) {
        /* A deliberate leak, so the valgrind test can prove it catches one. */
        static void *volatile kept;
        kept = malloc(64);
        if (kept) memset(kept, 1, 64);
        kept = NULL;
        return kept ? SB_FATAL : SB_OK;
    }
    if (is(inst, "diag-only")) { fail(call, "explained failure"); return SB_AUTH; }
    return SB_OK;
}

static const sb_plugin_vtable VTABLE = {
    sizeof(sb_plugin_vtable), 0, spec, validate_config,
#ifdef FIX_NULL_OPEN
    NULL,
#else
    open_instance,
#endif
    close_instance,
#ifdef FIX_NULL_CHECK
    NULL,
#else
    check_connection,
#endif
    NULL, NULL, NULL, NULL,
#if FIX_KIND == SB_KIND_WORKFLOW
    (sb_status (*)(sb_instance *, sb_call *, sb_str, sb_bytes))0,
#else
    NULL,
#endif
    NULL /* fetch (ABI 1.1) */
};

#ifdef FIX_TAIL
static const struct { sb_manifest m; uint64_t extra; } MANIFEST = {
    { sizeof(sb_manifest) + sizeof(uint64_t), FIX_MAJOR, FIX_MINOR, FIX_ID, FIX_VERSION, FIX_KIND, 0, FIX_CAPS, NULL, NULL, NULL },
    FIX_TAIL
};
SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST.m; }
#elif defined(FIX_MANIFEST_SIZE)
/* A manifest that claims to be larger than it is (and than any mapping around it). */
static const sb_manifest MANIFEST = {
    FIX_MANIFEST_SIZE, FIX_MAJOR, FIX_MINOR, FIX_ID, FIX_VERSION, FIX_KIND, 0, FIX_CAPS, "Fixture", NULL, NULL
};
SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }
#else
static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), FIX_MAJOR, FIX_MINOR, FIX_ID, FIX_VERSION, FIX_KIND, 0, FIX_CAPS, "Fixture", NULL, NULL
};
SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }
#endif

#ifndef FIX_NO_INIT
SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
    host = args->host;
#ifdef FIX_INIT_FAIL
    {
        sb_diag d;
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        d.severity = SB_SEVERITY_ERROR;
        d.summary = s("licence file not found");
        d.field_path = s("licence");
        host->diag(args->call, &d);
        return SB_CONFIG;
    }
#endif
#ifdef FIX_BAD_NEGOTIATION
    result->abi_minor = (uint16_t)(args->host_abi_minor + 5);
#else
    /* As a plugin built against FIX_MINOR's header would: the lower of the two. */
    const int own = FIX_MINOR; /* a variable: FIX_MINOR=0 would make a constant comparison (-Wtype-limits) */
    result->abi_minor = (int)args->host_abi_minor < own ? args->host_abi_minor : (uint16_t)own;
#endif
    result->vtable = &VTABLE;
    return SB_OK;
}
#endif
#else
int not_a_plugin(void);
int not_a_plugin(void) { return 1; }
#endif
