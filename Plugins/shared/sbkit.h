/*
 * sbkit.h: small helpers shared by this repository's C plugins (sandbox,
 * testkit). Header-only and static, so each plugin stays one self-contained
 * .so. Not part of the ABI: partners need only switchboard/plugin.h.
 */
#ifndef SBKIT_H
#define SBKIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/plugin.h"

static inline sb_str sbkit_str(const char *text) {
    sb_str out;
    out.ptr = text;
    out.len = strlen(text);
    return out;
}

/* Reports an error diagnostic naming the field at fault. */
static inline void sbkit_report(const sb_host_api *host, sb_call *call, const char *summary, const char *field_path) {
    sb_diag d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.severity = SB_SEVERITY_ERROR;
    d.summary = sbkit_str(summary);
    d.field_path = sbkit_str(field_path);
    host->diag(call, &d);
}

static inline sb_status sbkit_emit_n(const sb_host_api *host, sb_call *call, uint32_t kind, const char *key, const char *data, size_t len) {
    sb_emit e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.kind = kind;
    e.key = sbkit_str(key);
    e.data.ptr = (const uint8_t *)data;
    e.data.len = len;
    return host->emit(call, &e);
}

static inline sb_status sbkit_emit(const sb_host_api *host, sb_call *call, uint32_t kind, const char *key, const char *data) {
    return sbkit_emit_n(host, call, kind, key, data, strlen(data));
}

/* A NUL-terminated copy of borrowed bytes (the caller frees it). */
static inline char *sbkit_cstr(const uint8_t *p, size_t n) {
    char *t = (char *)malloc(n + 1);
    if (!t) return NULL;
    if (n) memcpy(t, p, n);
    t[n] = 0;
    return t;
}

/* The first "key":"value" string member in a JSON text (flat records only). */
static inline int sbkit_find_string(const char *json, const char *key, char *out, size_t outlen) {
    char pat[64];
    const char *p = json;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    while ((p = strstr(p, pat)) != NULL) {
        const char *v = p + strlen(pat);
        size_t n = 0;
        while (*v == ' ' || *v == ':') v++;
        if (*v != '"') { p = v; continue; }
        v++;
        while (v[n] && v[n] != '"' && n + 1 < outlen) { out[n] = v[n]; n++; }
        out[n] = 0;
        return 1;
    }
    return 0;
}

/* The first "key": N member as a non-negative integer, else fallback. */
static inline long sbkit_find_long(const char *json, const char *key, long fallback) {
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    p = strstr(json, pat);
    if (!p) return fallback;
    p += strlen(pat);
    while (*p == ' ' || *p == ':') p++;
    return (*p >= '0' && *p <= '9') ? strtol(p, NULL, 10) : fallback;
}

/* The JSON kind of member `key` of a flat object: 's' string, 'n' number, 'b' boolean,
 * 'o' object, 'a' array, 'z' null, 0 absent. */
static inline char sbkit_member_kind(const char *json, const char *key) {
    char pat[64];
    const char *p = json;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    while ((p = strstr(p, pat)) != NULL) {
        const char *v = p + strlen(pat);
        while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') v++;
        if (*v != ':') { p = v; continue; }   /* the name appeared as a value, not a key */
        v++;
        while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') v++;
        switch (*v) {
        case '"': return 's';
        case '{': return 'o';
        case '[': return 'a';
        case 't': case 'f': return 'b';
        case 'n': return 'z';
        default: return (*v == '-' || (*v >= '0' && *v <= '9')) ? 'n' : '?';
        }
    }
    return 0;
}

/* Checks that a config is a JSON object whose listed members, when present, have the declared
 * kind ('s' string, 'n' number); reports each problem with its field path. 1 = fine. */
static inline int sbkit_check_config(const sb_host_api *host, sb_call *call, const char *json, const char *const *names, const char *kinds) {
    const char *start = json, *end = json + strlen(json);
    int ok = 1;
    size_t i;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) end--;
    if (*start != '{' || end == start || end[-1] != '}') {
        sbkit_report(host, call, "config must be a JSON object", "");
        return 0;
    }
    for (i = 0; names[i]; i++) {
        char kind = sbkit_member_kind(json, names[i]);
        if (kind && kind != kinds[i]) {
            sbkit_report(host, call, kinds[i] == 's' ? "must be a string" : "must be a number", names[i]);
            ok = 0;
        }
    }
    return ok;
}

/* A {"next": N} cursor: records before N were emitted and committed. */
static inline long sbkit_cursor(const sb_read_request *req) {
    char *json;
    long next;
    if (!req->state.len) return 0;
    json = sbkit_cstr(req->state.ptr, req->state.len);
    if (!json) return 0;
    next = sbkit_find_long(json, "next", 0);
    free(json);
    return next;
}

#endif
