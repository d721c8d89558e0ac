/* The fuzz shim of switchboard/kit.h (docs/FUZZING.md, target c-kit-json). */
#include "kit_fuzz.h"
#include "switchboard/kit.h"

/* Writes token t (and its subtree) with the writer; returns the index after it. */
static int rewrite(const sbj_doc *d, int t, sbj_buf *b) {
    char small[256], *text;
    size_t n;
    int child;
    switch (sbj_type(d, t)) {
    case SBJ_OBJECT:
        sbj_obj(b);
        for (child = sbj_first(d, t); child >= 0; child = sbj_next(d, t, child)) {
            n = sbj_string(d, child, small, sizeof small);
            text = n < sizeof small ? small : (char *)malloc(n + 1);
            if (!text) { b->failed = 1; return d->toks[t].end; }
            if (text != small) sbj_string(d, child, text, n + 1);
            /* a key with a NUL inside cannot pass through sbj_key (a C string): write it as raw JSON */
            if (memchr(text, 0, n)) {
                sbj_buf key;
                sbj_buf_init(&key);
                sbj_put_strn(&key, text, n);
                sbj_put_json(b, (sb_str){key.ptr, key.len});
                sbj_append(b, ":", 1);
                b->after_key = 1;
                sbj_buf_free(&key);
            } else {
                sbj_key(b, text);
            }
            if (text != small) free(text);
            rewrite(d, child + 1, b);
        }
        sbj_obj_end(b);
        break;
    case SBJ_ARRAY:
        sbj_arr(b);
        for (child = sbj_first(d, t); child >= 0; child = sbj_next(d, t, child)) rewrite(d, child, b);
        sbj_arr_end(b);
        break;
    case SBJ_STRING:
        n = sbj_string(d, t, small, sizeof small);
        text = n < sizeof small ? small : (char *)malloc(n + 1);
        if (!text) { b->failed = 1; break; }
        if (text != small) sbj_string(d, t, text, n + 1);
        sbj_put_strn(b, text, n);
        if (text != small) free(text);
        break;
    case SBJ_NUMBER: {
        sb_str raw = sbj_raw(d, t);
        char *copy = (char *)malloc(raw.len + 1);
        if (!copy) { b->failed = 1; break; }
        memcpy(copy, raw.ptr, raw.len);
        copy[raw.len] = 0;
        sbj_put_num(b, copy);   /* the parser's number text must be the writer's number grammar */
        free(copy);
        break;
    }
    case SBJ_BOOL: sbj_put_bool(b, d->text[d->toks[t].start] == 't'); break;
    default: sbj_put_null(b);
    }
    return (int)d->toks[t].end;
}

/* Same shape, same strings (unescaped), same number texts. */
static int same(const sbj_doc *a, const sbj_doc *b, char *why, size_t cap) {
    uint32_t i;
    if (a->count != b->count) { snprintf(why, cap, "%u values read, %u after the round trip", a->count, b->count); return 0; }
    for (i = 0; i < a->count; i++) {
        const sbj_tok *x = &a->toks[i], *y = &b->toks[i];
        if (x->type != y->type || x->count != y->count || x->end != y->end) {
            snprintf(why, cap, "value %u: type %u/%u count %u/%u", i, x->type, y->type, x->count, y->count);
            return 0;
        }
        if (x->type == SBJ_STRING || x->type == SBJ_NUMBER) {
            size_t n = sbj_string(a, (int)i, NULL, 0), m = sbj_string(b, (int)i, NULL, 0);
            char *p = (char *)malloc(n + 1), *q = (char *)malloc(m + 1);
            int equal = p && q && n == m;
            if (equal) {
                sbj_string(a, (int)i, p, n + 1);
                sbj_string(b, (int)i, q, m + 1);
                equal = !memcmp(p, q, n);
            }
            free(p);
            free(q);
            if (!equal) { snprintf(why, cap, "value %u reads differently after the round trip", i); return 0; }
        }
    }
    return 1;
}

int kit_fuzz_json(const uint8_t *data, size_t len, int *accepted, char **rewritten, size_t *rewritten_len, char *why, size_t why_cap) {
    sbj_doc doc, again;
    sbj_buf out;
    int ok = 1;
    *accepted = 0;
    *rewritten = NULL;
    *rewritten_len = 0;
    if (sbj_parse(&doc, (const char *)data, len) != 0) return 0;
    *accepted = 1;
    sbj_buf_init(&out);
    rewrite(&doc, 0, &out);
    if (out.failed || out.depth != 0) {
        snprintf(why, why_cap, "the writer failed (%s) on what the reader accepted", out.failed ? "failed flag" : "unclosed container");
        ok = 0;
    } else if (sbj_parse(&again, out.ptr, out.len) != 0) {
        snprintf(why, why_cap, "the writer's text does not parse back");
        ok = 0;
    } else {
        ok = same(&doc, &again, why, why_cap);
        sbj_doc_free(&again);
    }
    if (ok && out.ptr) {
        *rewritten = out.ptr;
        *rewritten_len = out.len;
        out.ptr = NULL;
    }
    sbj_buf_free(&out);
    sbj_doc_free(&doc);
    return ok ? 0 : 1;
}
