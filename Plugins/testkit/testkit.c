/*
 * testkit: connectors for crash, echo and benchmark tests, chosen by config.
 *
 *   {"role": "source", "records": N, "entity": "Account", "prefix": "R", "versions": V, "per_read": P}
 *       stream "records": N records R-1..R-N with a {"next": i} cursor; with V > 1 the
 *       stream then shows each record changed, V - 1 more times (name "Record n v2", ...).
 *       With P, a read returns at most P records (a source that trickles, for soak tests).
 *   {"role": "sink", "path": "/dir/sink.log"}
 *       an idempotent sink like a real external system: it survives restarts
 *       (one "key id" line per distinct record in `path`, every call also
 *       logged in `path`.calls). Without `path` it keeps keys in memory.
 *       "misbehave": "auth" | "fatal" | "retry" | "no-result" | "status77" makes every write fail that way;
 *       "fatal-first" refuses (FATAL) only a record's first version (a name without " v2", " v3", ...).
 *       "crash_every": N aborts the process after every Nth record it stored, before answering (soak tests).
 *       "shared": 1 makes it one system for several host processes: each write
 *       takes an exclusive flock on `path` and first reads what the others
 *       appended, so a key is stored once whichever host writes it.
 *   {"role": "mirror"}
 *       a two-way system: records written to it come back on its "records"
 *       stream, as a CRM would show a record the integration just wrote.
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbkit.h"

static const sb_host_api *host;

enum role { SOURCE, SINK, MIRROR };

typedef struct entry { char *key; char *id; char *record; char entity[24]; } entry;

struct sb_instance {
    enum role role;
    long records, versions;
    char entity[24], prefix[16], path[512], misbehave[16];
    int fd, calls_fd, shared;
    long loaded_to;   /* bytes of `path` already read into the table */
    long crash_every, writes;  /* soak: abort after every crash_every-th stored write */
    long per_read;             /* source: at most this many records per read (0: the host's batch) */
    /* open-addressing table of idempotency keys -> index into entries */
    long *slots;
    size_t slot_cap;
    entry *entries;
    size_t count, cap;
    long next_id;
};








static unsigned long hash(const char *k, size_t n) {
    unsigned long h = 1469598103934665603UL;
    size_t i;
    for (i = 0; i < n; i++) { h ^= (unsigned char)k[i]; h *= 1099511628211UL; }
    return h;
}

static long lookup(sb_instance *in, const char *k, size_t n) {
    size_t i;
    if (!in->slot_cap) return -1;
    for (i = hash(k, n) & (in->slot_cap - 1);; i = (i + 1) & (in->slot_cap - 1)) {
        long at = in->slots[i];
        if (at < 0) return -1;
        if (strlen(in->entries[at].key) == n && !memcmp(in->entries[at].key, k, n)) return at;
    }
}

static int remember(sb_instance *in, const char *k, size_t n, const char *id, const char *record, const char *entity) {
    size_t i;
    if (in->count * 2 >= in->slot_cap) {   /* grow and rehash */
        size_t cap = in->slot_cap ? in->slot_cap * 2 : 1024, j;
        long *slots = (long *)malloc(cap * sizeof *slots);
        if (!slots) return 0;
        for (j = 0; j < cap; j++) slots[j] = -1;
        for (j = 0; j < in->count; j++) {
            size_t at = hash(in->entries[j].key, strlen(in->entries[j].key)) & (cap - 1);
            while (slots[at] >= 0) at = (at + 1) & (cap - 1);
            slots[at] = (long)j;
        }
        free(in->slots);
        in->slots = slots;
        in->slot_cap = cap;
    }
    if (in->count == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 1024;
        entry *grown = (entry *)realloc(in->entries, cap * sizeof *grown);
        if (!grown) return 0;
        in->entries = grown;
        in->cap = cap;
    }
    in->entries[in->count].key = sbkit_cstr((const uint8_t *)k, n);
    in->entries[in->count].id = sbkit_cstr((const uint8_t *)id, strlen(id));
    in->entries[in->count].record = record ? sbkit_cstr((const uint8_t *)record, strlen(record)) : NULL;
    snprintf(in->entries[in->count].entity, sizeof in->entries[in->count].entity, "%s", entity ? entity : "");
    for (i = hash(k, n) & (in->slot_cap - 1); in->slots[i] >= 0; i = (i + 1) & (in->slot_cap - 1)) {}
    in->slots[i] = (long)in->count++;
    return 1;
}

static sb_status spec(sb_call *call) {
    return sbkit_emit(host, call, SB_EMIT_SPEC, "",
        "{\"type\":\"object\",\"required\":[\"role\"],\"properties\":{\"role\":{\"enum\":[\"source\",\"sink\",\"mirror\"]},"
        "\"records\":{\"type\":\"integer\"},\"versions\":{\"type\":\"integer\"},\"entity\":{\"type\":\"string\"},\"prefix\":{\"type\":\"string\"},"
        "\"path\":{\"type\":\"string\"},\"crash_every\":{\"type\":\"integer\"},\"per_read\":{\"type\":\"integer\"},\"misbehave\":{\"enum\":[\"auth\",\"fatal\",\"fatal-first\",\"retry\",\"no-result\",\"status77\"]}}}");
}

static sb_status validate_config(sb_call *call, sb_bytes config) {
    char *json = sbkit_cstr(config.ptr, config.len), role[16] = "";
    sb_status st = SB_OK;
    static const char *const names[] = {"role", "records", "entity", "prefix", "path", "misbehave", "versions", "crash_every", "per_read", NULL};
    if (!json) return SB_RETRY;
    if (!sbkit_check_config(host, call, json, names, "snssssnnn")) { free(json); return SB_CONFIG; }
    if (!sbkit_find_string(json, "role", role, sizeof role) || (strcmp(role, "source") && strcmp(role, "sink") && strcmp(role, "mirror"))) {
        sbkit_report(host, call, "must be source, sink or mirror", "role");
        st = SB_CONFIG;
    }
    free(json);
    return st;
}

/* Reads the sink's ledger file from where the last read stopped: the sink remembers
   across host restarts, and a shared sink sees what other processes appended. */
static void load_sink(sb_instance *in) {
    FILE *f = fopen(in->path, "r");
    char line[1024];
    if (!f) return;
    if (fseek(f, in->loaded_to, SEEK_SET) != 0) { fclose(f); return; }
    while (fgets(line, sizeof line, f)) {
        char *space = strchr(line, ' '), *nl = strchr(line, '\n'), *third;
        if (!nl) break;                /* a torn last line from a crash: not acknowledged, ignore */
        in->loaded_to = ftell(f);
        if (!space) continue;
        *space = 0;
        *nl = 0;
        if ((third = strchr(space + 1, ' ')) != NULL) *third = 0;
        remember(in, line, strlen(line), space + 1, NULL, NULL);
        if (atol(space + 1 + 2) >= in->next_id) in->next_id = atol(space + 1 + 2) + 1;
    }
    fclose(f);
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    char *json = sbkit_cstr(config.ptr, config.len), role[16] = "";
    sb_instance *in;
    if (!json) return SB_RETRY;
    in = (sb_instance *)calloc(1, sizeof *in);
    if (!in) { free(json); return SB_RETRY; }
    in->fd = in->calls_fd = -1;
    sbkit_find_string(json, "role", role, sizeof role);
    in->role = !strcmp(role, "source") ? SOURCE : !strcmp(role, "sink") ? SINK : MIRROR;
    in->records = sbkit_find_long(json, "records", 100);
    in->versions = sbkit_find_long(json, "versions", 1);
    if (in->versions < 1) in->versions = 1;
    if (!sbkit_find_string(json, "entity", in->entity, sizeof in->entity)) strcpy(in->entity, "Account");
    if (!sbkit_find_string(json, "prefix", in->prefix, sizeof in->prefix)) strcpy(in->prefix, "R");
    sbkit_find_string(json, "misbehave", in->misbehave, sizeof in->misbehave);
    in->shared = sbkit_find_long(json, "shared", 0) != 0;
    in->crash_every = sbkit_find_long(json, "crash_every", 0);
    in->per_read = sbkit_find_long(json, "per_read", 0);
    in->next_id = 1;
    if (sbkit_find_string(json, "path", in->path, sizeof in->path)) {
        char calls[600];
        load_sink(in);
        in->fd = open(in->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        snprintf(calls, sizeof calls, "%s.calls", in->path);
        in->calls_fd = open(calls, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (in->fd < 0 || in->calls_fd < 0) {
            sbkit_report(host, call, "cannot open the sink file", "path");
            if (in->fd >= 0) close(in->fd);
            if (in->calls_fd >= 0) close(in->calls_fd);
            free(in);
            free(json);
            return SB_CONFIG;
        }
    }
    free(json);
    *out = in;
    return SB_OK;
}

static void close_instance(sb_instance *in, sb_call *call) {
    size_t i;
    (void)call;
    if (in->fd >= 0) close(in->fd);
    if (in->calls_fd >= 0) close(in->calls_fd);
    for (i = 0; i < in->count; i++) { free(in->entries[i].key); free(in->entries[i].id); free(in->entries[i].record); }
    free(in->entries);
    free(in->slots);
    free(in);
}

static sb_status check_connection(sb_instance *in, sb_call *call) {
    (void)call;
    return !strcmp(in->misbehave, "auth") ? SB_AUTH : SB_OK;
}


static sb_status read_stream(sb_instance *in, sb_call *call, const sb_read_request *req) {
    long i = sbkit_cursor(req), limit = req->max_records ? (long)req->max_records : 1000000;
    char rec[600], state[48];
    sb_status st = SB_OK;
    if (in->per_read > 0 && in->per_read < limit) limit = in->per_read;
    if (in->role == SOURCE) {
        for (; i < in->records * in->versions && limit-- > 0 && st == SB_OK; i++) {
            long record = i % in->records + 1, version = i / in->records + 1;
            char name[48];
            int n;
            if (version == 1) snprintf(name, sizeof name, "Record %ld", record);
            else snprintf(name, sizeof name, "Record %ld v%ld", record, version);
            n = snprintf(rec, sizeof rec, "{\"external_id\":\"%s-%ld\",\"updated_at\":\"2026-11-27T10:00:00Z\",\"name\":\"%s\"}",
                         in->prefix, record, name);
            st = sbkit_emit_n(host, call, SB_EMIT_RECORD, in->entity, rec, (size_t)n);
        }
    } else {
        /* mirror: every record written, in write order */
        for (; i < (long)in->count && limit-- > 0 && st == SB_OK; i++)
            if (in->entries[i].record) st = sbkit_emit(host, call, SB_EMIT_RECORD, in->entries[i].entity, in->entries[i].record);
    }
    if (st != SB_OK) return st;
    snprintf(state, sizeof state, "{\"next\":%ld}", i);
    return sbkit_emit(host, call, SB_EMIT_STATE, "records", state);
}

static sb_status store_record(sb_instance *in, sb_call *call, const sb_write_request *req);

static sb_status write_record(sb_instance *in, sb_call *call, const sb_write_request *req) {
    char line[1024];
    int n;
    if (!strcmp(in->misbehave, "auth")) { sbkit_report(host, call, "401 Unauthorized: token expired", ""); return SB_AUTH; }
    if (!strcmp(in->misbehave, "fatal")) { sbkit_report(host, call, "422 the target rejects this record", "name"); return SB_FATAL; }
    if (!strcmp(in->misbehave, "retry")) { sbkit_emit(host, call, SB_EMIT_RETRY_AFTER, "", "50"); sbkit_report(host, call, "503 busy", ""); return SB_RETRY; }
    if (!strcmp(in->misbehave, "fatal-first") && !memmem(req->record.ptr, req->record.len, " v", 2)) {
        sbkit_report(host, call, "422 the target rejects this version of the record", "name");
        return SB_FATAL;
    }
    if (!strcmp(in->misbehave, "status77")) return 77;
    if (!strcmp(in->misbehave, "no-result")) return SB_OK;
    if (!req->idempotency_key.len) { sbkit_report(host, call, "a write needs an idempotency key", "idempotency_key"); return SB_FATAL; }
    if (in->calls_fd >= 0) {
        n = snprintf(line, sizeof line, "%.*s\n", (int)req->idempotency_key.len, req->idempotency_key.ptr);
        if (write(in->calls_fd, line, (size_t)n) != n) return SB_RETRY;
    }
    if (in->shared && in->fd >= 0) {
        sb_status st;
        if (flock(in->fd, LOCK_EX) != 0) return SB_RETRY;
        load_sink(in);
        st = store_record(in, call, req);
        flock(in->fd, LOCK_UN);
        return st;
    }
    {
        sb_status st = store_record(in, call, req);
        /* The worst moment to die: the record is stored, the host has no answer. Its retry must find the key. */
        if (st == SB_OK && in->crash_every > 0 && ++in->writes % in->crash_every == 0) abort();
        return st;
    }
}

/* Looks the key up and stores the record if it is new; reports the id either way. */
static sb_status store_record(sb_instance *in, sb_call *call, const sb_write_request *req) {
    long at;
    char id[48], line[1024], entity[24];
    int n;
    at = lookup(in, req->idempotency_key.ptr, req->idempotency_key.len);
    if (at >= 0) return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, in->entries[at].id, "");
    if (req->external_id.len && req->external_id.len < sizeof id) {
        memcpy(id, req->external_id.ptr, req->external_id.len);
        id[req->external_id.len] = 0;
    } else {
        /* A sink kept in memory lives in one host process: its ids carry the pid, as ids from one real system are unique. */
        if (in->fd >= 0) snprintf(id, sizeof id, "X-%ld", in->next_id++);
        else snprintf(id, sizeof id, "X-%ld-%ld", (long)getpid(), in->next_id++);
    }
    if (in->fd >= 0) {
        /* One write(2) per record: a kill -9 leaves whole lines (page cache survives the process). */
        char ext[128] = "-";
        char *json = sbkit_cstr(req->record.ptr, req->record.len);
        if (json) { sbkit_find_string(json, "external_id", ext, sizeof ext); free(json); }
        n = snprintf(line, sizeof line, "%.*s %s %s\n", (int)req->idempotency_key.len, req->idempotency_key.ptr, id, ext);
        if (write(in->fd, line, (size_t)n) != n) return SB_RETRY;
        if (in->shared) in->loaded_to += n;   /* our own line: under the lock, nothing else was appended */
    }
    snprintf(entity, sizeof entity, "%.*s", (int)req->entity.len, req->entity.ptr);
    {
        char *record = NULL;
        if (in->role == MIRROR) {   /* the mirror shows the record under its own id, as a real system would */
            char *original = sbkit_cstr(req->record.ptr, req->record.len), ext[64];
            const char *hit;
            if (!original) return SB_RETRY;
            if (sbkit_find_string(original, "external_id", ext, sizeof ext) && (hit = strstr(original, ext)) != NULL) {
                size_t before = (size_t)(hit - original), total = strlen(original) - strlen(ext) + strlen(id);
                record = (char *)malloc(total + 1);
                if (record) {
                    memcpy(record, original, before);
                    memcpy(record + before, id, strlen(id));
                    strcpy(record + before + strlen(id), hit + strlen(ext));
                }
                free(original);
            } else {
                record = original;
            }
        }
        if (!remember(in, req->idempotency_key.ptr, req->idempotency_key.len, id, record, entity)) { free(record); return SB_RETRY; }
        free(record);
    }
    return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, id, "");
}

static const sb_plugin_vtable VTABLE = {
    sizeof(sb_plugin_vtable), 0, spec, validate_config, open_instance, close_instance,
    check_connection, NULL, read_stream, write_record, NULL, NULL, NULL
};

static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), SB_ABI_MAJOR, SB_ABI_MINOR, "testkit", "1.0.0", SB_KIND_CONNECTOR, 0,
    SB_CAP_CHECK | SB_CAP_READ | SB_CAP_WRITE,
    "Test kit", "Generated source, idempotent file sink, two-way mirror", "Switchboard"
};

SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }

SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
    host = args->host;
    result->abi_minor = sb_negotiate_minor(args->host_abi_minor);
    result->vtable = &VTABLE;
    return SB_OK;
}
