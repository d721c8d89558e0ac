/*
 * switchboard/fakehost.h: a fake host for a plugin's unit tests, header-only.
 * Not part of the ABI. It implements sb_host_api in memory so a test can run a
 * plugin's operations without a Switchboard host, a network or a sandbox:
 *
 *   scripted egress   sbt_answer(h, "GET", "https://api.example/projects", 200, "[...]", 1)
 *                     answers the first request whose method matches and whose URL starts
 *                     with the given prefix (times: how often, 0 = always); sbt_fail makes
 *                     a request fail as the host's egress would (SB_RETRY, SB_CONFIG); every
 *                     request is kept (h->requests) with the auth header the host injected.
 *   state and vault   sbt_state_set / sbt_state_get (the connection's key/value state);
 *                     sbt_secret_set (host->secret_get answers it when h->raw_secrets).
 *   captures          h->emits, h->logs, h->diags of the last operation (sbt_count, sbt_item_at).
 *   time              sbt_cancel_after(h, n): emit n+1 answers SB_CANCELLED and host->cancelled
 *                     turns true, as when the host stops a call; h->deadline_ns is what
 *                     host->deadline_ns returns.
 *
 *   sbt_host h;
 *   sbt_init(&h);
 *   if (sbt_load(&h, "./projects.so") != SB_OK) ...;       // or sbt_start(&h, switchboard_plugin_init)
 *   sbt_answer(&h, "GET", "https://api.example/v1/projects", 200, "[{\"id\":\"P-1\"}]", 0);
 *   sbt_open(&h, "{\"url\":\"https://api.example/v1\"}");
 *   sb_status st = sbt_read(&h, "projects", "", 10);       // then look at h.emits
 *   sbt_free(&h);
 *
 * Each operation starts a new call: the previous call's captures are cleared and
 * the buffers the fake host handed out are freed, as the real host does.
 */
#ifndef SWITCHBOARD_FAKEHOST_H
#define SWITCHBOARD_FAKEHOST_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "switchboard/plugin.h"

#define SBT_API static inline

/* One captured emit, log line or diagnostic; text fields are NUL-terminated copies. */
typedef struct sbt_item {
    uint32_t kind;        /* emits: SB_EMIT_*; logs: the level; diags: the severity */
    char *key;            /* emits: the key; diags: the field path */
    char *data;           /* emits: the data; logs: the message; diags: the summary */
    size_t len;           /* length of data */
} sbt_item;

/* One egress request the plugin sent. */
typedef struct sbt_request {
    char *method, *url;
    char *headers;        /* "Name: value\n" lines, as the plugin sent them */
    char *body;
    size_t body_len;
    int auth_injected;    /* the host would add the connection's credentials (no SB_HTTP_NO_AUTH) */
} sbt_request;

typedef struct sbt_route {
    char *method, *prefix;
    int status;           /* the answer's HTTP status; 0: fail with `fail` instead */
    sb_status fail;
    char *headers, *body;
    int times;            /* answers left; -1: always */
} sbt_route;

typedef struct sbt_kv { char *key; char *value; size_t len; } sbt_kv;

typedef struct sbt_host sbt_host;

/* The fake host's call handle: plugins only pass it back. */
struct sb_call { sbt_host *host; };

struct sbt_host {
    sb_host_api api;                /* what the plugin gets from switchboard_plugin_init */
    struct sb_call call;
    void *library;                  /* dlopen handle (sbt_load) */
    const sb_manifest *manifest;
    const sb_plugin_vtable *vtable;
    sb_instance *instance;          /* after sbt_open */
    sbt_route *routes; size_t route_count;
    sbt_request *requests; size_t request_count;
    sbt_item *emits; size_t emit_count;
    sbt_item *logs; size_t log_count;
    sbt_item *diags; size_t diag_count;
    sbt_kv *state; size_t state_count;
    sbt_kv *secrets; size_t secret_count;
    void **bufs; size_t buf_count;  /* handed to the plugin this call */
    int raw_secrets;                /* secret_get answers (else SB_AUTH, as for a plugin not allowed raw secrets) */
    long cancel_after;              /* emits allowed before the call is cancelled; -1: never */
    int cancelled;
    int64_t deadline_ns;            /* what deadline_ns returns (0: none) */
};

SBT_API char *sbt__dup(const char *p, size_t n) {
    char *t = (char *)malloc(n + 1);
    if (!t) { fprintf(stderr, "fakehost: out of memory\n"); abort(); }
    if (n) memcpy(t, p, n);
    t[n] = 0;
    return t;
}

SBT_API void *sbt__grow(void *array, size_t count, size_t size) {
    void *grown = realloc(array, (count + 1) * size);
    if (!grown) { fprintf(stderr, "fakehost: out of memory\n"); abort(); }
    return grown;
}

SBT_API void sbt__push_item(sbt_item **items, size_t *count, uint32_t kind, const char *key, size_t key_len, const char *data, size_t len) {
    *items = (sbt_item *)sbt__grow(*items, *count, sizeof **items);
    (*items)[*count].kind = kind;
    (*items)[*count].key = sbt__dup(key ? key : "", key ? key_len : 0);
    (*items)[*count].data = sbt__dup(data ? data : "", data ? len : 0);
    (*items)[*count].len = data ? len : 0;
    (*count)++;
}

SBT_API void sbt__free_items(sbt_item **items, size_t *count) {
    size_t i;
    for (i = 0; i < *count; i++) { free((*items)[i].key); free((*items)[i].data); }
    free(*items);
    *items = NULL;
    *count = 0;
}

SBT_API void sbt__hand_out(sbt_host *h, sb_host_buf *out, const char *data, size_t len) {
    char *copy = sbt__dup(data, len);
    h->bufs = (void **)sbt__grow(h->bufs, h->buf_count, sizeof *h->bufs);
    h->bufs[h->buf_count] = copy;
    out->ptr = (const uint8_t *)copy;
    out->len = len;
    out->handle = ++h->buf_count;
}

/* ---- the sb_host_api functions ---- */

SBT_API void sbt__log(sb_call *call, int32_t level, sb_str message, sb_str fields) {
    (void)fields;
    sbt__push_item(&call->host->logs, &call->host->log_count, (uint32_t)level, NULL, 0, message.ptr, message.len);
}

SBT_API void sbt__metric(sb_call *call, int32_t kind, sb_str name, double value, sb_str labels) {
    (void)call; (void)kind; (void)name; (void)value; (void)labels;
}

SBT_API sb_status sbt__emit(sb_call *call, const sb_emit *item) {
    sbt_host *h = call->host;
    if (h->cancelled) return SB_CANCELLED;
    if (h->cancel_after >= 0 && (long)h->emit_count >= h->cancel_after) {
        h->cancelled = 1;
        return SB_CANCELLED;
    }
    sbt__push_item(&h->emits, &h->emit_count, item->kind, item->key.ptr, item->key.len, (const char *)item->data.ptr, item->data.len);
    return SB_OK;
}

SBT_API void sbt__diag(sb_call *call, const sb_diag *d) {
    sbt_host *h = call->host;
    sbt__push_item(&h->diags, &h->diag_count, (uint32_t)d->severity, d->field_path.ptr, d->field_path.len, d->summary.ptr, d->summary.len);
}

SBT_API sbt_kv *sbt__find(sbt_kv *kvs, size_t count, const char *key, size_t len) {
    size_t i;
    for (i = 0; i < count; i++) if (strlen(kvs[i].key) == len && !memcmp(kvs[i].key, key, len)) return &kvs[i];
    return NULL;
}

SBT_API sb_status sbt__secret_get(sb_call *call, sb_str name, sb_host_buf *out) {
    sbt_host *h = call->host;
    sbt_kv *kv = sbt__find(h->secrets, h->secret_count, name.ptr, name.len);
    memset(out, 0, sizeof *out);
    if (!h->raw_secrets || !kv) return SB_AUTH;
    sbt__hand_out(h, out, kv->value, kv->len);
    return SB_OK;
}

SBT_API sb_status sbt__http(sb_call *call, const sb_http_request *r, sb_http_response *out) {
    sbt_host *h = call->host;
    sbt_request *req;
    size_t i, headers_len = 0;
    char *headers;
    for (i = 0; i < r->header_count; i++) headers_len += r->headers[i].name.len + r->headers[i].value.len + 3;
    headers = (char *)malloc(headers_len + 1);
    if (!headers) abort();
    headers[0] = 0;
    for (i = 0, headers_len = 0; i < r->header_count; i++) {
        headers_len += (size_t)sprintf(headers + headers_len, "%.*s: %.*s\n", (int)r->headers[i].name.len, r->headers[i].name.ptr,
                                       (int)r->headers[i].value.len, r->headers[i].value.ptr);
    }
    h->requests = (sbt_request *)sbt__grow(h->requests, h->request_count, sizeof *h->requests);
    req = &h->requests[h->request_count++];
    req->method = sbt__dup(r->method.ptr, r->method.len);
    req->url = sbt__dup(r->url.ptr, r->url.len);
    req->headers = headers;
    req->body = sbt__dup((const char *)r->body.ptr, r->body.len);
    req->body_len = r->body.len;
    req->auth_injected = !(r->flags & SB_HTTP_NO_AUTH);
    for (i = 0; i < h->route_count; i++) {
        sbt_route *route = &h->routes[i];
        if (route->times == 0 || strcmp(route->method, req->method) || strncmp(req->url, route->prefix, strlen(route->prefix))) continue;
        if (route->times > 0) route->times--;
        if (!route->status) {
            sb_diag d;
            memset(&d, 0, sizeof d);
            d.struct_size = sizeof d;
            d.severity = SB_SEVERITY_ERROR;
            d.summary.ptr = "the fake host's egress failed this request (sbt_fail)";
            d.summary.len = strlen(d.summary.ptr);
            sbt__diag(call, &d);
            return route->fail;
        }
        out->status = route->status;
        sbt__hand_out(h, &out->headers, route->headers, strlen(route->headers));
        sbt__hand_out(h, &out->body, route->body, strlen(route->body));
        return SB_OK;
    }
    {
        /* As the real host treats a host outside the allowlist. */
        sb_diag d;
        char summary[600];
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        d.severity = SB_SEVERITY_ERROR;
        snprintf(summary, sizeof summary, "no scripted answer for %s %s (sbt_answer)", req->method, req->url);
        d.summary.ptr = summary;
        d.summary.len = strlen(summary);
        d.field_path.ptr = "egress.allow";
        d.field_path.len = 12;
        sbt__diag(call, &d);
        return SB_CONFIG;
    }
}

SBT_API sb_status sbt__state_get(sb_call *call, sb_str key, sb_host_buf *out) {
    sbt_host *h = call->host;
    sbt_kv *kv = sbt__find(h->state, h->state_count, key.ptr, key.len);
    memset(out, 0, sizeof *out);
    if (kv) sbt__hand_out(h, out, kv->value, kv->len);
    return SB_OK;
}

SBT_API void sbt__kv_set(sbt_kv **kvs, size_t *count, const char *key, size_t key_len, const char *value, size_t len) {
    sbt_kv *kv = sbt__find(*kvs, *count, key, key_len);
    if (!kv) {
        *kvs = (sbt_kv *)sbt__grow(*kvs, *count, sizeof **kvs);
        kv = &(*kvs)[(*count)++];
        kv->key = sbt__dup(key, key_len);
    } else {
        free(kv->value);
    }
    kv->value = sbt__dup(value, len);
    kv->len = len;
}

SBT_API sb_status sbt__state_put(sb_call *call, sb_str key, sb_bytes value) {
    sbt__kv_set(&call->host->state, &call->host->state_count, key.ptr, key.len, (const char *)value.ptr, value.len);
    return SB_OK;
}

SBT_API void sbt__buf_release(sb_call *call, sb_host_buf *buf) {
    sbt_host *h = call->host;
    if (buf->handle && buf->handle <= h->buf_count) {
        free(h->bufs[buf->handle - 1]);
        h->bufs[buf->handle - 1] = NULL;
    }
    memset(buf, 0, sizeof *buf);
}

SBT_API int64_t sbt__unix_ns(sb_call *call) {
    struct timespec ts;
    (void)call;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

SBT_API int64_t sbt__monotonic_ns(sb_call *call) {
    struct timespec ts;
    (void)call;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

SBT_API bool sbt__cancelled(sb_call *call) { return call->host->cancelled != 0; }
SBT_API int64_t sbt__deadline(sb_call *call) { return call->host->deadline_ns; }

/* ---- the test's side ---- */

SBT_API void sbt_init(sbt_host *h) {
    memset(h, 0, sizeof *h);
    h->call.host = h;
    h->cancel_after = -1;
    h->api.struct_size = sizeof h->api;
    h->api.abi_major = SB_ABI_MAJOR;
    h->api.abi_minor = SB_ABI_MINOR;
    h->api.log = sbt__log;
    h->api.metric = sbt__metric;
    h->api.emit = sbt__emit;
    h->api.diag = sbt__diag;
    h->api.secret_get = sbt__secret_get;
    h->api.http = sbt__http;
    h->api.state_get = sbt__state_get;
    h->api.state_put = sbt__state_put;
    h->api.buf_release = sbt__buf_release;
    h->api.clock_unix_ns = sbt__unix_ns;
    h->api.clock_monotonic_ns = sbt__monotonic_ns;
    h->api.cancelled = sbt__cancelled;
    h->api.deadline_ns = sbt__deadline;
}

/* Starts a new call: clears the last one's emits, logs, diagnostics and requests, frees its buffers. */
SBT_API sb_call *sbt_begin(sbt_host *h) {
    size_t i;
    sbt__free_items(&h->emits, &h->emit_count);
    sbt__free_items(&h->logs, &h->log_count);
    sbt__free_items(&h->diags, &h->diag_count);
    for (i = 0; i < h->request_count; i++) {
        free(h->requests[i].method); free(h->requests[i].url); free(h->requests[i].headers); free(h->requests[i].body);
    }
    free(h->requests);
    h->requests = NULL;
    h->request_count = 0;
    for (i = 0; i < h->buf_count; i++) free(h->bufs[i]);
    free(h->bufs);
    h->bufs = NULL;
    h->buf_count = 0;
    h->cancelled = 0;
    return &h->call;
}

/* Initialises a plugin through its init function (a plugin linked into the test). */
SBT_API sb_status sbt_start(sbt_host *h, sb_init_fn init) {
    sb_init_args args;
    sb_init_result result;
    sb_status st;
    memset(&args, 0, sizeof args);
    memset(&result, 0, sizeof result);
    args.struct_size = sizeof args;
    args.host_abi_major = SB_ABI_MAJOR;
    args.host_abi_minor = SB_ABI_MINOR;
    args.host = &h->api;
    args.call = sbt_begin(h);
    result.struct_size = sizeof result;
    st = init(&args, &result);
    if (st == SB_OK) h->vtable = result.vtable;
    return st == SB_OK && !h->vtable ? SB_FATAL : st;
}

/* dlopens a plugin .so, reads its manifest and initialises it. */
SBT_API sb_status sbt_load(sbt_host *h, const char *path) {
    sb_manifest_fn manifest;
    sb_init_fn init;
    h->library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h->library) { fprintf(stderr, "fakehost: %s\n", dlerror()); return SB_CONFIG; }
    *(void **)&manifest = dlsym(h->library, SB_MANIFEST_SYMBOL);
    *(void **)&init = dlsym(h->library, SB_INIT_SYMBOL);
    if (!manifest || !init) { fprintf(stderr, "fakehost: %s lacks the entry symbols\n", path); return SB_CONFIG; }
    h->manifest = manifest();
    return sbt_start(h, init);
}

SBT_API void sbt_answer(sbt_host *h, const char *method, const char *url_prefix, int status, const char *body, int times) {
    sbt_route *r;
    h->routes = (sbt_route *)sbt__grow(h->routes, h->route_count, sizeof *h->routes);
    r = &h->routes[h->route_count++];
    r->method = sbt__dup(method, strlen(method));
    r->prefix = sbt__dup(url_prefix, strlen(url_prefix));
    r->status = status;
    r->fail = SB_OK;
    r->headers = sbt__dup("Content-Type: application/json\r\n", 32);
    r->body = sbt__dup(body, strlen(body));
    r->times = times > 0 ? times : -1;
}

/* The next matching request fails as the host's egress would fail it (SB_RETRY: a timeout; SB_CONFIG: not allowed). */
SBT_API void sbt_fail(sbt_host *h, const char *method, const char *url_prefix, sb_status status, int times) {
    sbt_answer(h, method, url_prefix, 0, "", times);
    h->routes[h->route_count - 1].fail = status;
}

SBT_API void sbt_secret_set(sbt_host *h, const char *name, const char *value) {
    sbt__kv_set(&h->secrets, &h->secret_count, name, strlen(name), value, strlen(value));
}

SBT_API void sbt_state_set(sbt_host *h, const char *key, const char *value) {
    sbt__kv_set(&h->state, &h->state_count, key, strlen(key), value, strlen(value));
}

/* The state value of key (NUL-terminated), or NULL. */
SBT_API const char *sbt_state_get(sbt_host *h, const char *key) {
    sbt_kv *kv = sbt__find(h->state, h->state_count, key, strlen(key));
    return kv ? kv->value : NULL;
}

/* Emits of one kind (SB_EMIT_RECORD, ...) in the last call, and the i-th of them. */
SBT_API size_t sbt_count(const sbt_host *h, uint32_t kind) {
    size_t i, n = 0;
    for (i = 0; i < h->emit_count; i++) n += h->emits[i].kind == kind;
    return n;
}

SBT_API const sbt_item *sbt_item_at(const sbt_host *h, uint32_t kind, size_t index) {
    size_t i;
    for (i = 0; i < h->emit_count; i++) if (h->emits[i].kind == kind && index-- == 0) return &h->emits[i];
    return NULL;
}

/* Stops the next call after n emits, as the host does when it cancels a call. */
SBT_API void sbt_cancel_after(sbt_host *h, long n) { h->cancel_after = n; }

SBT_API sb_bytes sbt__bytes(const char *s) { sb_bytes b; b.ptr = (const uint8_t *)s; b.len = s ? strlen(s) : 0; return b; }
SBT_API sb_str sbt__str(const char *s) { sb_str b; b.ptr = s; b.len = s ? strlen(s) : 0; return b; }

SBT_API sb_status sbt_validate(sbt_host *h, const char *config_json) {
    return h->vtable->validate_config(sbt_begin(h), sbt__bytes(config_json));
}

SBT_API sb_status sbt_open(sbt_host *h, const char *config_json) {
    return h->vtable->open(sbt_begin(h), sbt__bytes(config_json), &h->instance);
}

SBT_API sb_status sbt_check(sbt_host *h) {
    return h->vtable->check_connection ? h->vtable->check_connection(h->instance, sbt_begin(h)) : SB_FATAL;
}

SBT_API sb_status sbt_discover(sbt_host *h) {
    return h->vtable->discover ? h->vtable->discover(h->instance, sbt_begin(h)) : SB_FATAL;
}

SBT_API sb_status sbt_read(sbt_host *h, const char *stream, const char *state_json, uint32_t max_records) {
    sb_read_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.max_records = max_records;
    r.stream = sbt__str(stream);
    r.state = sbt__bytes(state_json);
    return h->vtable->read ? h->vtable->read(h->instance, sbt_begin(h), &r) : SB_FATAL;
}

SBT_API sb_status sbt_write(sbt_host *h, const char *entity, const char *idempotency_key, const char *external_id, const char *record_json) {
    sb_write_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.entity = sbt__str(entity);
    r.idempotency_key = sbt__str(idempotency_key);
    r.external_id = sbt__str(external_id);
    r.record = sbt__bytes(record_json);
    return h->vtable->write ? h->vtable->write(h->instance, sbt_begin(h), &r) : SB_FATAL;
}

/* Closes the instance, unloads the plugin and frees everything. */
SBT_API void sbt_free(sbt_host *h) {
    size_t i;
    if (h->instance && h->vtable) h->vtable->close(h->instance, sbt_begin(h));
    sbt_begin(h);
    for (i = 0; i < h->route_count; i++) {
        free(h->routes[i].method); free(h->routes[i].prefix); free(h->routes[i].headers); free(h->routes[i].body);
    }
    free(h->routes);
    for (i = 0; i < h->state_count; i++) { free(h->state[i].key); free(h->state[i].value); }
    free(h->state);
    for (i = 0; i < h->secret_count; i++) { free(h->secrets[i].key); free(h->secrets[i].value); }
    free(h->secrets);
    if (h->library) dlclose(h->library);
    sbt_init(h);
}

#endif
