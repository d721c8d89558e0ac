/*
 * switchboard/kit.h: optional helpers for C plugins, header-only (every function
 * static). Not part of the ABI: plugin.h alone is the contract; this file only
 * saves a connector the code every connector writes.
 *
 *   JSON reader  sbj_parse, sbj_find ("data.items[2].id"), sbj_member, sbj_at,
 *                sbj_first/sbj_next (iteration), typed getters (sbj_string,
 *                sbj_int64, sbj_bool), sbj_raw (a value's JSON text).
 *   JSON writer  sbj_buf with sbj_obj/sbj_arr/sbj_key and sbj_put_str, _num and
 *                _money (numbers and money kept as exact text), _int, _bool, _null, _json.
 *   Buffers      sbj_buf also builds URLs (sbk_url_param percent-encodes).
 *   Host         sbk_fail (diagnostic + status), sbk_emit_record/_state/_write_result,
 *                sbk_http (egress) and sbk_http_status (an HTTP status -> sb_status:
 *                2xx OK, 401/403 AUTH, 408/425/429/5xx RETRY, other 4xx FATAL).
 *
 * Memory: sbj_parse allocates the token array (sbj_doc_free frees it); an
 * sbj_buf grows with realloc (sbj_buf_free frees it). A buffer whose allocation
 * failed stays failed (b->failed) and every later write is a no-op, so a
 * caller checks once at the end. The reader never reads past `len`, and its
 * nesting depth is bounded (SBJ_MAX_DEPTH), so any input is safe to parse.
 */
#ifndef SWITCHBOARD_KIT_H
#define SWITCHBOARD_KIT_H

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/plugin.h"

/* Unused helpers cost nothing and warn about nothing. */
#define SBJ_API static inline

/* ------------------------------------------------------------------------ */
/* JSON reader                                                              */
/* ------------------------------------------------------------------------ */

enum { SBJ_NULL = 1, SBJ_BOOL, SBJ_NUMBER, SBJ_STRING, SBJ_ARRAY, SBJ_OBJECT };
#define SBJ_MAX_DEPTH 256

/* One value. A string token spans its text without the quotes; an object's
 * children alternate key, value. `end` is the index after the subtree. */
typedef struct sbj_tok {
    uint32_t type;
    uint32_t start, len;   /* bytes of the value in the text */
    uint32_t count;        /* arrays: elements; objects: members */
    uint32_t end;
} sbj_tok;

typedef struct sbj_doc {
    const char *text;
    size_t len;
    sbj_tok *toks;
    uint32_t count, cap;
} sbj_doc;

SBJ_API int sbj__ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

SBJ_API int sbj__push(sbj_doc *d, uint32_t type, size_t start) {
    if (d->count == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        sbj_tok *grown;
        if (cap <= d->cap || cap > (1u << 28)) return -1;
        grown = (sbj_tok *)realloc(d->toks, cap * sizeof *grown);
        if (!grown) return -1;
        d->toks = grown;
        d->cap = cap;
    }
    d->toks[d->count].type = type;
    d->toks[d->count].start = (uint32_t)start;
    d->toks[d->count].len = 0;
    d->toks[d->count].count = 0;
    d->toks[d->count].end = 0;
    return (int)d->count++;
}

/* Scans a string starting after its opening quote; returns the index of the closing quote or 0. */
SBJ_API size_t sbj__string_end(const char *s, size_t len, size_t i) {
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++i >= len) return 0;
            if (s[i] == 'u') {
                int k;
                for (k = 1; k <= 4; k++) {
                    char h = i + (size_t)k < len ? s[i + (size_t)k] : 0;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
                }
                i += 4;
            } else if (!strchr("\"\\/bfnrt", s[i]) || !s[i]) {
                return 0;
            }
        }
        i++;
    }
    return 0;
}

/* The length of a JSON number at s[i..], or 0 when there is none (RFC 8259 grammar). */
SBJ_API size_t sbj__number_len(const char *s, size_t len, size_t i) {
    size_t start = i;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < len && s[i] >= '0' && s[i] <= '9') i++; }
    else return 0;
    if (i < len && s[i] == '.') {
        size_t digits = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t digits;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        digits = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) return 0;
    }
    return i - start;
}

SBJ_API int sbj__value(sbj_doc *d, size_t *pos, int depth) {
    const char *s = d->text;
    size_t len = d->len, i = *pos;
    int t;
    while (i < len && sbj__ws(s[i])) i++;
    if (i >= len) return -1;
    if (s[i] == '{' || s[i] == '[') {
        char close = s[i] == '{' ? '}' : ']';
        if (depth >= SBJ_MAX_DEPTH) return -1;   /* as deep as the writer can write */
        int object = s[i] == '{';
        t = sbj__push(d, object ? SBJ_OBJECT : SBJ_ARRAY, i);
        if (t < 0) return -1;
        i++;
        while (i < len && sbj__ws(s[i])) i++;
        if (i < len && s[i] == close) {
            i++;
        } else {
            for (;;) {
                if (object) {
                    size_t q;
                    int k;
                    while (i < len && sbj__ws(s[i])) i++;
                    if (i >= len || s[i] != '"' || !(q = sbj__string_end(s, len, i + 1))) return -1;
                    if ((k = sbj__push(d, SBJ_STRING, i + 1)) < 0) return -1;
                    d->toks[k].len = (uint32_t)(q - i - 1);
                    d->toks[k].end = (uint32_t)d->count;
                    i = q + 1;
                    while (i < len && sbj__ws(s[i])) i++;
                    if (i >= len || s[i] != ':') return -1;
                    i++;
                }
                if (sbj__value(d, &i, depth + 1) < 0) return -1;
                d->toks[t].count++;
                while (i < len && sbj__ws(s[i])) i++;
                if (i < len && s[i] == ',') { i++; continue; }
                if (i < len && s[i] == close) { i++; break; }
                return -1;
            }
        }
        d->toks[t].len = (uint32_t)(i - d->toks[t].start);
    } else if (s[i] == '"') {
        size_t q = sbj__string_end(s, len, i + 1);
        if (!q) return -1;
        if ((t = sbj__push(d, SBJ_STRING, i + 1)) < 0) return -1;
        d->toks[t].len = (uint32_t)(q - i - 1);
        i = q + 1;
    } else if (len - i >= 4 && !memcmp(s + i, "true", 4)) {
        if ((t = sbj__push(d, SBJ_BOOL, i)) < 0) return -1;
        d->toks[t].len = 4;
        i += 4;
    } else if (len - i >= 5 && !memcmp(s + i, "false", 5)) {
        if ((t = sbj__push(d, SBJ_BOOL, i)) < 0) return -1;
        d->toks[t].len = 5;
        i += 5;
    } else if (len - i >= 4 && !memcmp(s + i, "null", 4)) {
        if ((t = sbj__push(d, SBJ_NULL, i)) < 0) return -1;
        d->toks[t].len = 4;
        i += 4;
    } else {
        size_t n = sbj__number_len(s, len, i);
        if (!n) return -1;
        if ((t = sbj__push(d, SBJ_NUMBER, i)) < 0) return -1;
        d->toks[t].len = (uint32_t)n;
        i += n;
    }
    d->toks[t].end = d->count;
    *pos = i;
    return t;
}

SBJ_API void sbj_doc_free(sbj_doc *d) {
    free(d->toks);
    d->toks = NULL;
    d->count = d->cap = 0;
}

/* Parses one JSON document (nothing but whitespace after it). Returns 0, or -1
 * for text that is not JSON (or too large: over 2^28 values or 4 GiB),
 * freeing what it allocated. */
SBJ_API int sbj_parse(sbj_doc *d, const char *text, size_t len) {
    size_t pos = 0;
    memset(d, 0, sizeof *d);
    d->text = text;
    d->len = len;
    if (len >= 0xFFFFFFFFu || !text) return -1;
    if (sbj__value(d, &pos, 0) >= 0) {
        while (pos < len && sbj__ws(text[pos])) pos++;
        if (pos == len) return 0;
    }
    sbj_doc_free(d);
    return -1;
}

SBJ_API int sbj_type(const sbj_doc *d, int t) { return t >= 0 && (uint32_t)t < d->count ? (int)d->toks[t].type : 0; }

/* Elements of an array, members of an object; 0 for anything else. */
SBJ_API uint32_t sbj_count(const sbj_doc *d, int t) {
    int type = sbj_type(d, t);
    return type == SBJ_ARRAY || type == SBJ_OBJECT ? d->toks[t].count : 0;
}

/* Iteration: the first element of an array (or key of an object), then the next
 * sibling (an object's next key), -1 at the end. An object member's value is key + 1. */
SBJ_API int sbj_first(const sbj_doc *d, int t) { return sbj_count(d, t) ? t + 1 : -1; }
SBJ_API int sbj_next(const sbj_doc *d, int container, int child) {
    int type = sbj_type(d, container);
    uint32_t next;
    if (child < 0) return -1;
    next = type == SBJ_OBJECT ? d->toks[child + 1].end : d->toks[child].end;
    return next < d->toks[container].end ? (int)next : -1;
}

/* Whether string token t, unescaped, equals the n bytes at s (escapes are compared decoded). */
SBJ_API size_t sbj_string(const sbj_doc *d, int t, char *out, size_t cap);
SBJ_API int sbj_eqn(const sbj_doc *d, int t, const char *s, size_t n) {
    const sbj_tok *k;
    if (sbj_type(d, t) != SBJ_STRING) return 0;
    k = &d->toks[t];
    if (!memchr(d->text + k->start, '\\', k->len)) return k->len == n && !memcmp(d->text + k->start, s, n);
    {
        char small[256];
        size_t need = sbj_string(d, t, small, sizeof small);
        if (need < sizeof small) return need == n && !memcmp(small, s, n);
        {
            char *big = (char *)malloc(need + 1);
            int same;
            if (!big) return 0;
            sbj_string(d, t, big, need + 1);
            same = need == n && !memcmp(big, s, n);
            free(big);
            return same;
        }
    }
}

/* The value of member `name` of object t, or -1. */
SBJ_API int sbj_member(const sbj_doc *d, int t, const char *name) {
    int k;
    if (sbj_type(d, t) != SBJ_OBJECT) return -1;
    for (k = sbj_first(d, t); k >= 0; k = sbj_next(d, t, k))
        if (sbj_eqn(d, k, name, strlen(name))) return k + 1;
    return -1;
}

/* Element i of array t, or -1. */
SBJ_API int sbj_at(const sbj_doc *d, int t, uint32_t i) {
    int e;
    if (sbj_type(d, t) != SBJ_ARRAY || i >= d->toks[t].count) return -1;
    for (e = sbj_first(d, t); e >= 0 && i > 0; i--) e = sbj_next(d, t, e);
    return e;
}

/* The value at a path below t: members joined by '.', elements as [N]
 * ("data.items[2].id", "[0].name"). -1 when any step is missing. */
SBJ_API int sbj_find(const sbj_doc *d, int t, const char *path) {
    char name[256];
    while (*path && t >= 0) {
        if (*path == '.') { path++; continue; }
        if (*path == '[') {
            char *end;
            unsigned long i = strtoul(path + 1, &end, 10);
            if (end == path + 1 || *end != ']') return -1;
            t = sbj_at(d, t, (uint32_t)i);
            path = end + 1;
        } else {
            size_t n = strcspn(path, ".[");
            if (n >= sizeof name) return -1;
            memcpy(name, path, n);
            name[n] = 0;
            t = sbj_member(d, t, name);
            path += n;
        }
    }
    return t;
}

SBJ_API void sbj__utf8(char *out, size_t cap, size_t *n, unsigned long cp) {
    char b[4];
    size_t k = 0, j;
    if (cp < 0x80) b[k++] = (char)cp;
    else if (cp < 0x800) { b[k++] = (char)(0xC0 | (cp >> 6)); b[k++] = (char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { b[k++] = (char)(0xE0 | (cp >> 12)); b[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[k++] = (char)(0x80 | (cp & 0x3F)); }
    else { b[k++] = (char)(0xF0 | (cp >> 18)); b[k++] = (char)(0x80 | ((cp >> 12) & 0x3F)); b[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[k++] = (char)(0x80 | (cp & 0x3F)); }
    for (j = 0; j < k; j++, (*n)++) if (*n + 1 < cap) out[*n] = b[j];
}

/* Copies a string token unescaped (or a number's text) into out, NUL-terminated,
 * truncated to cap - 1 bytes; returns the full length (compare with cap, as
 * snprintf), or (size_t)-1 for any other type. */
SBJ_API size_t sbj_string(const sbj_doc *d, int t, char *out, size_t cap) {
    const sbj_tok *k;
    const char *s;
    size_t i, n = 0;
    int type = sbj_type(d, t);
    if (type != SBJ_STRING && type != SBJ_NUMBER) return (size_t)-1;
    k = &d->toks[t];
    s = d->text + k->start;
    for (i = 0; i < k->len; i++) {
        char c = s[i];
        if (c == '\\' && type == SBJ_STRING) {
            c = s[++i];
            if (c == 'u') {
                unsigned long cp = strtoul((char[5]){s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0}, NULL, 16);
                i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < k->len + 0 && s[i + 1] == '\\' && s[i + 2] == 'u') {
                    unsigned long lo = strtoul((char[5]){s[i + 3], s[i + 4], s[i + 5], s[i + 6], 0}, NULL, 16);
                    if (lo >= 0xDC00 && lo < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); i += 6; }
                }
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;   /* a lone surrogate */
                sbj__utf8(out, cap, &n, cp);
                continue;
            }
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
        }
        if (n + 1 < cap) out[n] = c;
        n++;
    }
    if (cap) out[n < cap ? n : cap - 1] = 0;
    return n;
}

/* A whole number (no fraction or exponent) that fits int64_t: 0; else -1. */
SBJ_API int sbj_int64(const sbj_doc *d, int t, int64_t *out) {
    char text[32], *end;
    long long v;
    if (sbj_type(d, t) != SBJ_NUMBER || d->toks[t].len >= sizeof text) return -1;
    memcpy(text, d->text + d->toks[t].start, d->toks[t].len);
    text[d->toks[t].len] = 0;
    if (strpbrk(text, ".eE")) return -1;
    v = strtoll(text, &end, 10);
    if (*end || (v == LLONG_MAX || v == LLONG_MIN)) {
        if (strcmp(text, "9223372036854775807") && strcmp(text, "-9223372036854775808")) return -1;
    }
    *out = (int64_t)v;
    return 0;
}

SBJ_API int sbj_bool(const sbj_doc *d, int t, int *out) {
    if (sbj_type(d, t) != SBJ_BOOL) return -1;
    *out = d->text[d->toks[t].start] == 't';
    return 0;
}

/* A value's JSON text as it stands in the document (strings with their quotes). */
SBJ_API sb_str sbj_raw(const sbj_doc *d, int t) {
    sb_str out = {NULL, 0};
    int type = sbj_type(d, t);
    if (!type) return out;
    out.ptr = d->text + d->toks[t].start - (type == SBJ_STRING);
    out.len = d->toks[t].len + (type == SBJ_STRING ? 2 : 0);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Buffers and the JSON writer                                              */
/* ------------------------------------------------------------------------ */

typedef struct sbj_buf {
    char *ptr;
    size_t len, cap;
    int failed;
    uint32_t depth;
    uint8_t first[SBJ_MAX_DEPTH];   /* per open container: nothing written in it yet */
    uint8_t after_key;
} sbj_buf;

SBJ_API void sbj_buf_init(sbj_buf *b) { memset(b, 0, sizeof *b); }
SBJ_API void sbj_buf_free(sbj_buf *b) { free(b->ptr); sbj_buf_init(b); }
SBJ_API void sbj_buf_reset(sbj_buf *b) { b->len = 0; b->depth = 0; b->after_key = 0; b->failed = 0; }

SBJ_API void sbj_append(sbj_buf *b, const char *p, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *grown;
        while (cap < b->len + n + 1) {
            if (cap > ((size_t)-1) / 2) { b->failed = 1; return; }
            cap *= 2;
        }
        grown = (char *)realloc(b->ptr, cap);
        if (!grown) { b->failed = 1; return; }
        b->ptr = grown;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;   /* always NUL-terminated, for C string use */
}

SBJ_API void sbj_appends(sbj_buf *b, const char *s) { sbj_append(b, s, strlen(s)); }

SBJ_API void sbj_appendf(sbj_buf *b, const char *format, ...) {
    char small[256];
    va_list args;
    int n;
    va_start(args, format);
    n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) { b->failed = 1; return; }
    if ((size_t)n < sizeof small) { sbj_append(b, small, (size_t)n); return; }
    {
        char *big = (char *)malloc((size_t)n + 1);
        if (!big) { b->failed = 1; return; }
        va_start(args, format);
        vsnprintf(big, (size_t)n + 1, format, args);
        va_end(args);
        sbj_append(b, big, (size_t)n);
        free(big);
    }
}

/* A comma before the next value, unless it is the first of its container or follows a key. */
SBJ_API void sbj__sep(sbj_buf *b) {
    if (b->after_key) { b->after_key = 0; return; }
    if (b->depth) {
        if (!b->first[b->depth - 1]) sbj_append(b, ",", 1);
        b->first[b->depth - 1] = 0;
    }
}

SBJ_API void sbj__open(sbj_buf *b, char c) {
    sbj__sep(b);
    if (b->depth >= SBJ_MAX_DEPTH) { b->failed = 1; return; }
    sbj_append(b, &c, 1);
    b->first[b->depth++] = 1;
}

SBJ_API void sbj__close(sbj_buf *b, char c) {
    if (!b->depth) { b->failed = 1; return; }
    b->depth--;
    sbj_append(b, &c, 1);
}

SBJ_API void sbj_obj(sbj_buf *b) { sbj__open(b, '{'); }
SBJ_API void sbj_obj_end(sbj_buf *b) { sbj__close(b, '}'); }
SBJ_API void sbj_arr(sbj_buf *b) { sbj__open(b, '['); }
SBJ_API void sbj_arr_end(sbj_buf *b) { sbj__close(b, ']'); }

SBJ_API void sbj__escaped(sbj_buf *b, const char *s, size_t n) {
    size_t i, run = 0;
    sbj_append(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sbj_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sbj_append(b, "\\\"", 2); break;
        case '\\': sbj_append(b, "\\\\", 2); break;
        case '\n': sbj_append(b, "\\n", 2); break;
        case '\r': sbj_append(b, "\\r", 2); break;
        case '\t': sbj_append(b, "\\t", 2); break;
        default: sbj_appendf(b, "\\u%04x", c);
        }
    }
    sbj_append(b, s + run, n - run);
    sbj_append(b, "\"", 1);
}

/* A member name; the next value written is its value. */
SBJ_API void sbj_key(sbj_buf *b, const char *name) {
    sbj__sep(b);
    sbj__escaped(b, name, strlen(name));
    sbj_append(b, ":", 1);
    b->after_key = 1;
}

SBJ_API void sbj_put_strn(sbj_buf *b, const char *s, size_t n) { sbj__sep(b); sbj__escaped(b, s, n); }
SBJ_API void sbj_put_str(sbj_buf *b, const char *s) { sbj_put_strn(b, s, strlen(s)); }
SBJ_API void sbj_put_int(sbj_buf *b, int64_t v) { sbj__sep(b); sbj_appendf(b, "%lld", (long long)v); }
SBJ_API void sbj_put_bool(sbj_buf *b, int v) { sbj__sep(b); sbj_appends(b, v ? "true" : "false"); }
SBJ_API void sbj_put_null(sbj_buf *b) { sbj__sep(b); sbj_appends(b, "null"); }

/* A number written exactly as given ("12.50", "-3e2"): never through a double.
 * Text that is not a JSON number fails the buffer. */
SBJ_API void sbj_put_num(sbj_buf *b, const char *text) {
    size_t n = strlen(text);
    if (!n || sbj__number_len(text, n, 0) != n) { b->failed = 1; return; }
    sbj__sep(b);
    sbj_append(b, text, n);
}

/* A value that is already JSON (a member copied from a response: sbj_raw). Not checked. */
SBJ_API void sbj_put_json(sbj_buf *b, sb_str json) { sbj__sep(b); sbj_append(b, json.ptr, json.len); }

/* A canonical money value: {"amount": "12.50", "currency": "EUR"}, the amount kept as exact text. */
SBJ_API void sbj_put_money(sbj_buf *b, const char *amount, const char *currency) {
    size_t n = strlen(amount);
    if (!n || sbj__number_len(amount, n, 0) != n || strpbrk(amount, "eE")) { b->failed = 1; return; }
    sbj_obj(b);
    sbj_key(b, "amount"); sbj_put_str(b, amount);
    sbj_key(b, "currency"); sbj_put_str(b, currency);
    sbj_obj_end(b);
}

/* Shorthands for a member: key then value. */
SBJ_API void sbj_kv_str(sbj_buf *b, const char *key, const char *value) { sbj_key(b, key); sbj_put_str(b, value); }
SBJ_API void sbj_kv_int(sbj_buf *b, const char *key, int64_t value) { sbj_key(b, key); sbj_put_int(b, value); }

/* ------------------------------------------------------------------------ */
/* Host conveniences                                                        */
/* ------------------------------------------------------------------------ */

SBJ_API sb_str sbk_str(const char *s) { sb_str out; out.ptr = s; out.len = s ? strlen(s) : 0; return out; }

/* Reports an error diagnostic (summary formatted as printf) naming a field path, and returns status. */
SBJ_API sb_status sbk_fail(const sb_host_api *host, sb_call *call, sb_status status, const char *field_path, const char *format, ...) {
    char summary[512];
    sb_diag d;
    va_list args;
    va_start(args, format);
    vsnprintf(summary, sizeof summary, format, args);
    va_end(args);
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.severity = SB_SEVERITY_ERROR;
    d.summary = sbk_str(summary);
    d.field_path = sbk_str(field_path ? field_path : "");
    host->diag(call, &d);
    return status;
}

SBJ_API sb_status sbk_emit(const sb_host_api *host, sb_call *call, uint32_t kind, const char *key, const char *data, size_t len) {
    sb_emit e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.kind = kind;
    e.key = sbk_str(key);
    e.data.ptr = (const uint8_t *)data;
    e.data.len = len;
    return host->emit(call, &e);
}

/* Emits the buffer as a record of `entity` (a failed buffer is a RETRY with a diagnostic). */
SBJ_API sb_status sbk_emit_record(const sb_host_api *host, sb_call *call, const char *entity, const sbj_buf *record) {
    if (record->failed) return sbk_fail(host, call, SB_RETRY, "", "out of memory building a %s record", entity);
    return sbk_emit(host, call, SB_EMIT_RECORD, entity, record->ptr, record->len);
}

SBJ_API sb_status sbk_emit_state(const sb_host_api *host, sb_call *call, const char *stream, const sbj_buf *state) {
    if (state->failed) return sbk_fail(host, call, SB_RETRY, "", "out of memory building the state of %s", stream);
    return sbk_emit(host, call, SB_EMIT_STATE, stream, state->ptr, state->len);
}

SBJ_API sb_status sbk_write_result(const sb_host_api *host, sb_call *call, const char *external_id) {
    return sbk_emit(host, call, SB_EMIT_WRITE_RESULT, external_id, "", 0);
}

/* Appends "name=value" to a URL being built, percent-encoding the value, with '?' or '&' as needed. */
SBJ_API void sbk_url_param(sbj_buf *url, const char *name, const char *value) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *v = (const unsigned char *)value;
    sbj_append(url, url->len && memchr(url->ptr, '?', url->len) ? "&" : "?", 1);
    sbj_appends(url, name);
    sbj_append(url, "=", 1);
    for (; *v; v++) {
        if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || strchr("-._~", *v)) {
            sbj_append(url, (const char *)v, 1);
        } else {
            char e[3] = {'%', hex[*v >> 4], hex[*v & 15]};
            sbj_append(url, e, 3);
        }
    }
}

/* Sends a request through host egress (credentials injected by the host), with a
 * JSON body when body is non-NULL. The response's buffers are host-owned (freed
 * when the call returns, or by host->buf_release). */
SBJ_API sb_status sbk_http(const sb_host_api *host, sb_call *call, const char *method, const char *url,
                          const sbj_buf *body, const sb_http_header *extra, uint32_t extra_count, sb_http_response *out) {
    sb_http_header headers[16];
    sb_http_request r;
    uint32_t n = 0, i;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    if (body && body->failed) return sbk_fail(host, call, SB_RETRY, "", "out of memory building the request body");
    headers[n].name = sbk_str("Accept");
    headers[n++].value = sbk_str("application/json");
    if (body) {
        headers[n].name = sbk_str("Content-Type");
        headers[n++].value = sbk_str("application/json");
    }
    for (i = 0; i < extra_count && n < 16; i++) headers[n++] = extra[i];
    r.struct_size = sizeof r;
    r.method = sbk_str(method);
    r.url = sbk_str(url);
    r.headers = headers;
    r.header_count = n;
    if (body) { r.body.ptr = (const uint8_t *)body->ptr; r.body.len = body->len; }
    return host->http(call, &r, out);
}

/* What an HTTP status means for the operation: 2xx OK; 401/403 AUTH; 408, 425,
 * 429 and 5xx RETRY (the host honours Retry-After itself); any other status
 * FATAL. Not OK reports a diagnostic naming `what` and the start of the body. */
SBJ_API sb_status sbk_http_status(const sb_host_api *host, sb_call *call, const sb_http_response *res, const char *what) {
    int s = res->status;
    sb_status status;
    int shown = res->body.len > 200 ? 200 : (int)res->body.len;
    if (s >= 200 && s < 300) return SB_OK;
    status = s == 401 || s == 403 ? SB_AUTH : s == 408 || s == 425 || s == 429 || s >= 500 ? SB_RETRY : SB_FATAL;
    return sbk_fail(host, call, status, "", "%s: HTTP %d %.*s", what, s, shown, res->body.ptr ? (const char *)res->body.ptr : "");
}

/* Parses a response body as JSON; a body that is not JSON is a RETRY (a proxy's error page, a truncated answer). */
SBJ_API sb_status sbk_http_json(const sb_host_api *host, sb_call *call, const sb_http_response *res, const char *what, sbj_doc *doc) {
    if (sbj_parse(doc, (const char *)res->body.ptr, res->body.len) != 0) {
        sbj_doc_free(doc);
        return sbk_fail(host, call, SB_RETRY, "", "%s: the answer (HTTP %d, %zu bytes) is not JSON", what, res->status, res->body.len);
    }
    return SB_OK;
}

#endif
