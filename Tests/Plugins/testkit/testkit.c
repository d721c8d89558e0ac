/*
 * testkit: connectors for crash, echo and benchmark tests, chosen by config.
 *
 *   {"role": "source", "records": N, "entity": "Account", "prefix": "R", "versions": V, "per_read": P}
 *       stream "records": N records R-1..R-N with a {"next": i} cursor; with V > 1 the
 *       stream then shows each record changed, V - 1 more times (name "Record n v2", ...).
 *       With P, a read returns at most P records (a source that trickles, for soak tests).
 *   {"role": "sink", "path": "/dir/sink.log"}
 *       an idempotent sink like a real external system: it survives restarts
 *       (one "key id external_id" line per distinct record in `path`, every call also
 *       logged in `path`.calls). Its keys are indexed in `path`.idx, a hash table
 *       mapped from the file, so a restart costs the same whatever the sink holds
 *       (as a real system's would); "index_slots": N sizes it (default 2^23, a power
 *       of two; a write past 70% full is RETRY). Without `path` it keeps keys in memory.
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
#include <stdint.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
    struct sink_index *index;  /* `path`.idx mapped (a sink with a path), else NULL */
    size_t index_bytes;
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
        "\"path\":{\"type\":\"string\"},\"crash_every\":{\"type\":\"integer\"},\"per_read\":{\"type\":\"integer\"},\"shared\":{\"type\":\"integer\"},\"index_slots\":{\"type\":\"integer\"},\"misbehave\":{\"enum\":[\"auth\",\"fatal\",\"fatal-first\",\"retry\",\"no-result\",\"status77\"]}}}");
}

static sb_status validate_config(sb_call *call, sb_bytes config) {
    char *json = sbkit_cstr(config.ptr, config.len), role[16] = "";
    sb_status st = SB_OK;
    static const char *const names[] = {"role", "records", "entity", "prefix", "path", "misbehave", "versions", "crash_every", "per_read", "shared", "index_slots", NULL};
    if (!json) return SB_RETRY;
    if (!sbkit_check_config(host, call, json, names, "snssssnnnnn")) { free(json); return SB_CONFIG; }
    if (!sbkit_find_string(json, "role", role, sizeof role) || (strcmp(role, "source") && strcmp(role, "sink") && strcmp(role, "mirror"))) {
        sbkit_report(host, call, "must be source, sink or mirror", "role");
        st = SB_CONFIG;
    }
    free(json);
    return st;
}

/* The on-disk key index of a sink with a path: open addressing over ledger offsets. The ledger
   stays the truth; the index covers it up to `indexed_to`, and whoever opens or (shared) writes
   first indexes what lies past that, so a crash between a line and its slot loses nothing. */
struct sink_index {
    char magic[8];
    uint64_t slot_cap, indexed_to, next_id, count;
    uint64_t slots[];   /* 0: empty; else hash tag << 40 | (ledger offset + 1) */
};

#define OFFSET_MASK ((1ULL << 40) - 1)

/* The id stored for `key` (into id, idsize), or 0 when the key is not in the index. */
static int index_find(sb_instance *in, const char *k, size_t n, char *id, size_t idsize) {
    struct sink_index *x = in->index;
    unsigned long h = hash(k, n);
    uint64_t i, tag = h >> 40;
    char line[1024];
    for (i = h & (x->slot_cap - 1);; i = (i + 1) & (x->slot_cap - 1)) {
        uint64_t v = x->slots[i];
        ssize_t got;
        char *end;
        if (!v) return 0;
        if (v >> 40 != tag) continue;
        got = pread(in->fd, line, sizeof line - 1, (off_t)((v & OFFSET_MASK) - 1));
        if (got <= (ssize_t)n || memcmp(line, k, n) || line[n] != ' ') continue;
        line[got] = 0;
        if ((end = strpbrk(line + n + 1, " \n")) != NULL) *end = 0;
        snprintf(id, idsize, "%s", line + n + 1);
        return 1;
    }
}

static void index_put(sb_instance *in, const char *k, size_t n, uint64_t offset) {
    struct sink_index *x = in->index;
    unsigned long h = hash(k, n);
    uint64_t i;
    for (i = h & (x->slot_cap - 1); x->slots[i]; i = (i + 1) & (x->slot_cap - 1)) {}
    x->slots[i] = (uint64_t)(h >> 40) << 40 | (offset + 1);
    x->count++;
}

/* Indexes the ledger's lines past `indexed_to` (lines of a crashed write, or of another host). */
static void index_catch_up(sb_instance *in) {
    struct sink_index *x = in->index;
    FILE *f = fopen(in->path, "r");
    char line[1024], id[64];
    if (!f) return;
    if (fseek(f, (long)x->indexed_to, SEEK_SET) != 0) { fclose(f); return; }
    while (fgets(line, sizeof line, f)) {
        char *space = strchr(line, ' ');
        uint64_t at = x->indexed_to;
        if (!strchr(line, '\n')) break;   /* a torn last line from a crash: not acknowledged, ignore */
        x->indexed_to = (uint64_t)ftell(f);
        if (!space) continue;
        if (!index_find(in, line, (size_t)(space - line), id, sizeof id)) index_put(in, line, (size_t)(space - line), at);
        if (!strncmp(space + 1, "X-", 2) && (uint64_t)atol(space + 3) >= x->next_id) x->next_id = (uint64_t)atol(space + 3) + 1;
    }
    fclose(f);
}

/* Maps `path`.idx, creating it with `slots` slots; under the ledger's flock, as other hosts may share it. */
static int index_open(sb_instance *in, uint64_t slots) {
    char name[600];
    struct stat st;
    int fd, ok = 0;
    snprintf(name, sizeof name, "%s.idx", in->path);
    if (flock(in->fd, LOCK_EX) != 0) return 0;
    fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        size_t bytes = st.st_size ? (size_t)st.st_size : sizeof(struct sink_index) + slots * sizeof(uint64_t);
        if (st.st_size || ftruncate(fd, (off_t)bytes) == 0) {
            void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (map != MAP_FAILED) {
                in->index = (struct sink_index *)map;
                in->index_bytes = bytes;
                if (memcmp(in->index->magic, "SBSINKX1", 8)) {
                    memcpy(in->index->magic, "SBSINKX1", 8);
                    in->index->slot_cap = slots;
                    in->index->next_id = 1;
                }
                index_catch_up(in);
                ok = 1;
            }
        }
    }
    if (fd >= 0) close(fd);
    flock(in->fd, LOCK_UN);
    return ok;
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
        long slots = sbkit_find_long(json, "index_slots", 1L << 23);
        in->fd = open(in->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        snprintf(calls, sizeof calls, "%s.calls", in->path);
        in->calls_fd = open(calls, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (in->fd < 0 || in->calls_fd < 0 || slots < 1024 || (slots & (slots - 1)) || !index_open(in, (uint64_t)slots)) {
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
    if (in->index) munmap(in->index, in->index_bytes);
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
        index_catch_up(in);
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
    char id[64], line[1024], entity[24];
    int n;
    if (in->index) {
        if (index_find(in, (const char *)req->idempotency_key.ptr, req->idempotency_key.len, id, sizeof id))
            return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, id, "");
        if (in->index->count * 10 >= in->index->slot_cap * 7) { sbkit_report(host, call, "the sink's index is full (index_slots)", ""); return SB_RETRY; }
    } else {
        at = lookup(in, req->idempotency_key.ptr, req->idempotency_key.len);
        if (at >= 0) return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, in->entries[at].id, "");
    }
    if (req->external_id.len && req->external_id.len < 48) {
        memcpy(id, req->external_id.ptr, req->external_id.len);
        id[req->external_id.len] = 0;
    } else if (in->index) {
        snprintf(id, sizeof id, "X-%llu", (unsigned long long)in->index->next_id++);
    } else {
        /* A sink kept in memory lives in one host process: its ids carry the pid, as ids from one real system are unique. */
        snprintf(id, sizeof id, "X-%ld-%ld", (long)getpid(), in->next_id++);
    }
    if (in->index) {
        /* One write(2) per record: a kill -9 leaves whole lines (page cache survives the process). */
        char ext[128] = "-";
        char *json = sbkit_cstr(req->record.ptr, req->record.len);
        off_t offset = lseek(in->fd, 0, SEEK_END);
        if (json) { sbkit_find_string(json, "external_id", ext, sizeof ext); free(json); }
        n = snprintf(line, sizeof line, "%.*s %s %s\n", (int)req->idempotency_key.len, req->idempotency_key.ptr, id, ext);
        if (offset < 0 || write(in->fd, line, (size_t)n) != n) return SB_RETRY;
        /* Only a sink that writes alone (or holds the flock) knows nothing lies between: else catch-up indexes it. */
        if ((uint64_t)offset == in->index->indexed_to) {
            index_put(in, (const char *)req->idempotency_key.ptr, req->idempotency_key.len, (uint64_t)offset);
            in->index->indexed_to = (uint64_t)offset + (uint64_t)n;
        }
        if (in->role == SINK) return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, id, "");
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
