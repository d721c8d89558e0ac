#include "SwitchboardFakeHost.h"
#include "switchboard/fakehost.h"

sbt_host *sbts_new(void) {
    sbt_host *h = (sbt_host *)malloc(sizeof *h);
    if (!h) abort();
    sbt_init(h);
    return h;
}
void sbts_free(sbt_host *h) { sbt_free(h); free(h); }
int32_t sbts_load(sbt_host *h, const char *path) { return sbt_load(h, path); }
void sbts_init_sizes(size_t *args_size, size_t *result_size) { *args_size = sizeof(sb_init_args); *result_size = sizeof(sb_init_result); }
void sbts_prepare(sbt_host *h, void *args, void *result) {
    sb_init_args *a = (sb_init_args *)args;
    sb_init_result *r = (sb_init_result *)result;
    memset(a, 0, sizeof *a);
    memset(r, 0, sizeof *r);
    a->struct_size = sizeof *a;
    a->host_abi_major = SB_ABI_MAJOR;
    a->host_abi_minor = SB_ABI_MINOR;
    a->host = &h->api;
    a->call = sbt_begin(h);
    r->struct_size = sizeof *r;
}
int32_t sbts_adopt(sbt_host *h, int32_t status, const void *result) {
    h->vtable = ((const sb_init_result *)result)->vtable;
    return status == SB_OK && !h->vtable ? SB_FATAL : status;
}
void sbts_answer(sbt_host *h, const char *m, const char *u, int s, const char *b, int t) { sbt_answer(h, m, u, s, b, t); }
void sbts_fail(sbt_host *h, const char *m, const char *u, int32_t s, int t) { sbt_fail(h, m, u, s, t); }
void sbts_secret_set(sbt_host *h, const char *n, const char *v) { sbt_secret_set(h, n, v); }
void sbts_raw_secrets(sbt_host *h, int allowed) { h->raw_secrets = allowed; }
void sbts_state_set(sbt_host *h, const char *k, const char *v) { sbt_state_set(h, k, v); }
const char *sbts_state_get(sbt_host *h, const char *k) { return sbt_state_get(h, k); }
void sbts_cancel_after(sbt_host *h, long n) { sbt_cancel_after(h, n); }
void sbts_deadline(sbt_host *h, int64_t ns) { h->deadline_ns = ns; }
int32_t sbts_validate(sbt_host *h, const char *c) { return sbt_validate(h, c); }
int32_t sbts_open(sbt_host *h, const char *c) { return sbt_open(h, c); }
int32_t sbts_check(sbt_host *h) { return sbt_check(h); }
int32_t sbts_discover(sbt_host *h) { return sbt_discover(h); }
int32_t sbts_read(sbt_host *h, const char *s, const char *st, uint32_t m) { return sbt_read(h, s, st, m); }
int32_t sbts_write(sbt_host *h, const char *e, const char *k, const char *x, const char *r) { return sbt_write(h, e, k, x, r); }
size_t sbts_emit_count(const sbt_host *h) { return h->emit_count; }
void sbts_emit(const sbt_host *h, size_t i, uint32_t *kind, const char **key, const char **data, size_t *len) {
    *kind = h->emits[i].kind; *key = h->emits[i].key; *data = h->emits[i].data; *len = h->emits[i].len;
}
size_t sbts_diag_count(const sbt_host *h) { return h->diag_count; }
void sbts_diag(const sbt_host *h, size_t i, int32_t *severity, const char **field_path, const char **summary) {
    *severity = (int32_t)h->diags[i].kind; *field_path = h->diags[i].key; *summary = h->diags[i].data;
}
size_t sbts_log_count(const sbt_host *h) { return h->log_count; }
void sbts_log(const sbt_host *h, size_t i, int32_t *level, const char **message) { *level = (int32_t)h->logs[i].kind; *message = h->logs[i].data; }
size_t sbts_request_count(const sbt_host *h) { return h->request_count; }
void sbts_request(const sbt_host *h, size_t i, const char **method, const char **url, const char **headers, const char **body,
                  size_t *body_len, int *auth_injected) {
    *method = h->requests[i].method; *url = h->requests[i].url; *headers = h->requests[i].headers;
    *body = h->requests[i].body; *body_len = h->requests[i].body_len; *auth_injected = h->requests[i].auth_injected;
}
