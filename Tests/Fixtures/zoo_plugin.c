/*
 * The fault zoo and the conformance fixtures: one well-behaved connector, and
 * compile-time flags that break it in exactly one way each.
 *
 *   ZOO_ID="..."          plugin id
 *   ZOO_MAJOR=N           ABI major in the manifest (a wrong major is refused)
 *   Faults, in read and write (every call):
 *   ZOO_SEGV ZOO_ABORT ZOO_HANG ZOO_OOM ZOO_EXIT0   crash, abort, loop forever, allocate without bound, exit(0)
 *   ZOO_STDOUT            prints garbage to stdout and stderr, then works
 *   ZOO_BADJSON           read emits a record that is not JSON
 *   ZOO_OVERSIZE          read emits a 20 MiB record
 *   ZOO_CRASH_MARKER      write crashes only when the record contains "crash-me"
 *   Conformance faults:
 *   ZOO_NON_IDEMPOTENT    write creates a new record for a repeated idempotency key
 *   ZOO_IGNORES_EXTERNAL_ID  write creates a new record when given the id of one it holds (an update)
 *   ZOO_REEMIT            read ignores its cursor and re-emits old records
 *   ZOO_AUTH_FATAL        check_connection reports a 401 as FATAL instead of AUTH
 *   Escape attempts:
 *   ZOO_ESCAPE            check_connection opens its own TCP connection to 127.0.0.1:PORT
 *                         (base_url "tcp:PORT") and forks; reports each result as a diagnostic
 *   ZOO_PROBE             check_connection tries to reach what the host has and reports each
 *                         attempt as a diagnostic "what: result" (never a value it read):
 *                         environment variables, files ("probe_files": comma-separated paths,
 *                         opened read-only and read-write), a file created in "probe_create",
 *                         /etc/shadow, /proc/<"host_pid">/cmdline, signal 0 to "host_pid",
 *                         the parent and every process, a UNIX socket at "probe_socket";
 *                         read runs the same probe once, and every finding is also logged
 *   ZOO_KILL_HOST         read sends SIGKILL to the parent, to its process group, to every
 *                         process it may signal, and to "host_pid", then works
 *   ZOO_GHOST             read starts a thread that keeps emitting records for 2 s after the
 *                         call returned, on the call it was given
 *   ZOO_EMIT_HUGE         write emits its result with a length of SIZE_MAX
 *   ZOO_FORGE_FRAME       write bypasses the host API: it writes a worker EMIT frame of a RECORD
 *                         (a kind write does not take) straight to the worker's host channel (fd 3),
 *                         then returns its result as usual
 *   ZOO_INIT_SLEEP        switchboard_plugin_init sleeps 600 s
 *   ZOO_INIT_CRASH        switchboard_plugin_init crashes
 *   ZOO_CTOR_CRASH        a library constructor crashes (before the host sees a manifest)
 *   ZOO_CTOR_EXIT         a library constructor exits the process
 *   ZOO_HUGE_DIAG         read reports a 50 MB diagnostic, then fails RETRY
 *   ZOO_FORK_ORPHAN       read (once) leaves a process behind: a grandchild named zoo-orphan that
 *                         sleeps 300 s, its parent gone (only a trusted plugin can fork)
 *
 * Config: {"base_url": "https://...", "records": N}. check_connection GETs
 * base_url/ping through host egress and classifies the answer.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/un.h>
#include <sys/prctl.h>

#include "sbkit.h"

#ifndef ZOO_ID
#define ZOO_ID "zoo"
#endif
#ifndef ZOO_MAJOR
#define ZOO_MAJOR SB_ABI_MAJOR
#endif

static const sb_host_api *host;

struct sb_instance {
    long records;
    char base_url[256];
    char **keys, **ids;
    size_t count, cap;
    long next_id;
    char probe[4096];
    long host_pid;
};

static void fault(void) {
#ifdef ZOO_SEGV
    *(volatile int *)(uintptr_t)8 = 1;
#endif
#ifdef ZOO_ABORT
    abort();
#endif
#ifdef ZOO_HANG
    for (volatile unsigned long i = 0;; i++) {}
#endif
#ifdef ZOO_OOM
    /* The sandbox limits address space, so reserving is what runs out. Touching only one
     * byte per block reaches the limit in microseconds; filling every page took long enough
     * on a loaded machine to be killed as a hang before it ran out. */
    for (;;) {
        volatile char *p = malloc(16 << 20);
        if (!p) abort();
        p[0] = 1;
    }
#endif
#ifdef ZOO_EXIT0
    exit(0);
#endif
#ifdef ZOO_STDOUT
    printf("\x01\x02 garbage on stdout {\"not\": a frame}\n");
    fflush(stdout);
    fprintf(stderr, "more garbage on stderr\n");
#endif
}

static sb_status spec(sb_call *call) {
    return sbkit_emit(host, call, SB_EMIT_SPEC, "",
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\",\"required\":[\"base_url\"],"
        "\"properties\":{\"base_url\":{\"type\":\"string\"},\"records\":{\"type\":\"integer\",\"minimum\":0}}}");
}

/* Checks a config without trusting it to be JSON, NUL-terminated or small. */
static sb_status validate_config(sb_call *call, sb_bytes config) {
    char *json = sbkit_cstr(config.ptr, config.len), url[256];
    sb_status status = SB_OK;
    const char *p;
    if (!json) return SB_RETRY;
    if (config.len == 0 || json[0] != '{' || json[config.len - 1] != '}') {
        sbkit_report(host, call, "config must be a JSON object", "");
        free(json);
        return SB_CONFIG;
    }
    if (!sbkit_find_string(json, "base_url", url, sizeof url) || !url[0]) {
        sbkit_report(host, call, "base_url is required (a string)", "base_url");
        status = SB_CONFIG;
    }
    if ((p = strstr(json, "\"records\"")) != NULL) {
        p += 9;
        while (*p == ' ' || *p == ':') p++;
        if (*p < '0' || *p > '9') {
            sbkit_report(host, call, "records must be a whole number", "records");
            status = SB_CONFIG;
        }
    }
    free(json);
    return status;
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    char *json = sbkit_cstr(config.ptr, config.len);
    sb_instance *in = calloc(1, sizeof *in);
    (void)call;
    if (!json || !in) { free(json); free(in); return SB_RETRY; }
    in->records = sbkit_find_long(json, "records", 25);
    in->host_pid = sbkit_find_long(json, "host_pid", 0);
    snprintf(in->probe, sizeof in->probe, "%s", json);
    sbkit_find_string(json, "base_url", in->base_url, sizeof in->base_url);
    free(json);
    *out = in;
    return SB_OK;
}

static void close_instance(sb_instance *in, sb_call *call) {
    size_t i;
    (void)call;
    for (i = 0; i < in->count; i++) { free(in->keys[i]); free(in->ids[i]); }
    free(in->keys);
    free(in->ids);
    free(in);
}

#ifdef ZOO_ESCAPE
static sb_status check_connection(sb_instance *in, sb_call *call) {
    char line[160];
    const char *colon = strrchr(in->base_url, ':');
    struct sockaddr_in addr;
    int fd, connected = 0;
    pid_t child;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)(colon ? atoi(colon + 1) : 0));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(line, sizeof line, "socket: %s", strerror(errno));
    } else if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        snprintf(line, sizeof line, "connect: %s", strerror(errno));
    } else {
        snprintf(line, sizeof line, "connect: connected");
        connected = 1;
    }
    if (fd >= 0) close(fd);
    sbkit_report(host, call, line, "network");
    child = fork();
    if (child == 0) _exit(0);
    if (child < 0) snprintf(line, sizeof line, "fork: %s", strerror(errno));
    else { waitpid(child, NULL, 0); snprintf(line, sizeof line, "fork: started a process"); }
    sbkit_report(host, call, line, "process");
    return connected ? SB_OK : SB_RETRY;
}
#elif defined(ZOO_PROBE)
static void probe_report(sb_call *call, const char *what, int ok) {
    char line[1400];
    snprintf(line, sizeof line, "%s: %s", what, ok ? "reached" : strerror(errno));
    sbkit_report(host, call, line, "probe");
    /* Logged too, so a probe run by a running host (from read) shows in the host's log. */
    host->log(call, SB_LOG_WARNING, sbkit_str(line), sbkit_str("{\"probe\":\"1\"}"));
}

static void probe_open(sb_call *call, const char *path, int flags, const char *mode) {
    char what[1300];
    int fd = open(path, flags | O_CLOEXEC);
    snprintf(what, sizeof what, "open %s %s", mode, path);
    probe_report(call, what, fd >= 0);
    if (fd >= 0) close(fd);
}

extern char **environ;

static sb_status check_connection(sb_instance *in, sb_call *call) {
    char json[4096], list[512], path[600], what[1300];
    long host_pid;
    int n = 0, fd;
    (void)in;
    /* The config again: open() kept only base_url and records. */
    snprintf(json, sizeof json, "%s", in->probe);
    for (char **e = environ; e && *e; e++) n++;
    snprintf(what, sizeof what, "environment holds %d variables", n);
    sbkit_report(host, call, what, "probe");
    host->log(call, SB_LOG_WARNING, sbkit_str(what), sbkit_str("{\"probe\":\"1\"}"));
    errno = ENOENT;
    probe_report(call, "getenv SWITCHBOARD_MASTER_KEY", getenv("SWITCHBOARD_MASTER_KEY") != NULL);
    errno = ENOENT;
    probe_report(call, "getenv SB_ZOO_CANARY", getenv("SB_ZOO_CANARY") != NULL);
    if (sbkit_find_string(json, "probe_files", list, sizeof list)) {
        for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
            probe_open(call, item, O_RDONLY, "read");
            probe_open(call, item, O_RDWR, "read-write");
        }
    }
    probe_open(call, "/etc/shadow", O_RDONLY, "read");
    probe_open(call, "/etc/passwd", O_RDONLY, "read");
    if (sbkit_find_string(json, "probe_create", list, sizeof list)) {
        snprintf(path, sizeof path, "%s/zoo-was-here", list);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        snprintf(what, sizeof what, "create %s", path);
        probe_report(call, what, fd >= 0);
        if (fd >= 0) close(fd);
    }
    fd = open(getenv("TMPDIR") ? getenv("TMPDIR") : "/nonexistent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        int t = openat(fd, "scratch", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        probe_report(call, "create a file in TMPDIR", t >= 0);
        if (t >= 0) close(t);
        close(fd);
    } else {
        probe_report(call, "create a file in TMPDIR", 0);
    }
    host_pid = sbkit_find_long(json, "host_pid", 0);
    if (host_pid > 0) {
        snprintf(path, sizeof path, "/proc/%ld/cmdline", host_pid);
        probe_open(call, path, O_RDONLY, "read");
        snprintf(what, sizeof what, "signal 0 to host pid %ld", host_pid);
        probe_report(call, what, kill((pid_t)host_pid, 0) == 0);
    }
    snprintf(what, sizeof what, "getppid is %d", (int)getppid());
    sbkit_report(host, call, what, "probe");
    snprintf(what, sizeof what, "signal 0 to the parent (pid %d)", (int)getppid());
    probe_report(call, what, getppid() > 0 && kill(getppid(), 0) == 0);
    snprintf(what, sizeof what, "getuid is %d", (int)getuid());
    sbkit_report(host, call, what, "probe");
    if (sbkit_find_string(json, "probe_socket", list, sizeof list)) {
        struct sockaddr_un addr;
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, list, strlen(list) < sizeof addr.sun_path ? strlen(list) : sizeof addr.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) probe_report(call, "socket AF_UNIX", 0);
        else {
            snprintf(what, sizeof what, "connect %s", list);
            probe_report(call, what, connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
            close(fd);
        }
    }
    {
        int pair[2];
        probe_report(call, "socketpair AF_UNIX", socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    }
    return SB_OK;
}
#else
static sb_status check_connection(sb_instance *in, sb_call *call) {
    char url[300];
    sb_http_request req;
    sb_http_response res;
    sb_status st;
    int code;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    req.struct_size = sizeof req;
    res.struct_size = sizeof res;
    snprintf(url, sizeof url, "%s/ping", in->base_url);
    req.method = sbkit_str("GET");
    req.url = sbkit_str(url);
    st = host->http(call, &req, &res);
    if (st != SB_OK) return st; /* the host already said why (RETRY, CONFIG...) */
    code = res.status;
    host->buf_release(call, &res.headers);
    host->buf_release(call, &res.body);
    if (code >= 200 && code < 300) return SB_OK;
    if (code == 401 || code == 403) {
        sbkit_report(host, call, "the API refused the credentials", "");
#ifdef ZOO_AUTH_FATAL
        return SB_FATAL;
#else
        return SB_AUTH;
#endif
    }
    sbkit_report(host, call, "the API is unavailable", "");
    if (code == 429 || code >= 500) return SB_RETRY;
    return SB_FATAL;
}
#endif

static sb_status discover(sb_instance *in, sb_call *call) {
    (void)in;
    return sbkit_emit(host, call, SB_EMIT_CATALOG, "",
        "{\"streams\":[{\"name\":\"accounts\",\"entity\":\"Account\",\"cursor\":\"sequence\"}],\"writes\":[\"Account\"]}");
}

#ifdef ZOO_GHOST
struct ghost_args { sb_call *call; };

/* Emits on a call that has returned: the host must refuse every one of these. */
static void *ghost(void *arg) {
    struct ghost_args *a = arg;
    int64_t end = host->clock_monotonic_ns(a->call) + 2000000000LL;
    long n = 0;
    char rec[160];
    usleep(20000);
    while (host->clock_monotonic_ns(a->call) < end) {
        int len = snprintf(rec, sizeof rec, "{\"external_id\":\"GHOST-%ld\",\"updated_at\":\"2026-11-27T10:00:00Z\",\"name\":\"ghost\"}", ++n);
        sbkit_emit_n(host, a->call, SB_EMIT_RECORD, "Account", rec, (size_t)len);
    }
    return NULL;
}
#endif

static sb_status read_stream(sb_instance *in, sb_call *call, const sb_read_request *req) {
    long i = sbkit_cursor(req), limit = req->max_records ? (long)req->max_records : 1000000;
    char rec[200], state[48];
    sb_status st = SB_OK;
    fault();
#ifdef ZOO_PROBE
    {
        static int probed;
        if (!probed) { probed = 1; check_connection(in, call); }
    }
#endif
#ifdef ZOO_KILL_HOST
    kill(getppid(), SIGKILL);
    kill(0, SIGTERM);   /* its process group: the worker alone, in its own session */
    kill(-1, SIGKILL);
    if (in->host_pid > 0) kill((pid_t)in->host_pid, SIGKILL);
#endif
#ifdef ZOO_GHOST
    {
        static int started;
        if (!started) {
            pthread_t thread;
            static struct ghost_args args;
            args.call = call;
            started = 1;
            pthread_create(&thread, NULL, ghost, &args);
            pthread_detach(thread);
        }
    }
#endif
#ifdef ZOO_FORK_ORPHAN
    {
        static int forked;
        if (!forked) {
            pid_t child = fork();
            forked = 1;
            if (child == 0) {
                if (fork() == 0) {
                    prctl(PR_SET_NAME, "zoo-orphan", 0, 0, 0);
                    sleep(300);
                }
                _exit(0);
            }
            if (child > 0) waitpid(child, NULL, 0);
        }
    }
#endif
#ifdef ZOO_HUGE_DIAG
    {
        size_t n = 50u << 20;
        char *big = malloc(n + 1);
        if (!big) return SB_RETRY;
        memset(big, 'D', n);
        big[n] = 0;
        sbkit_report(host, call, big, "huge");
        free(big);
        return SB_RETRY;
    }
#endif
#ifdef ZOO_REEMIT
    i = 0;
#endif
#ifdef ZOO_READ_RETRY   /* every read fails: nothing about reading is shown */
    sbkit_report(host, call, "503 the source is busy", "");
    return SB_RETRY;
#endif
#ifdef ZOO_READ_EMPTY   /* every read is an empty page: no record is ever checked */
    (void)limit;
    return sbkit_emit(host, call, SB_EMIT_STATE, "records", "{\"next\":0}");
#endif
#ifdef ZOO_BADJSON
    return sbkit_emit(host, call, SB_EMIT_RECORD, "Account", "{\"external_id\": \"A-1\", \"name\": ");
#endif
#ifdef ZOO_OVERSIZE
    {
        size_t n = 20u << 20;
        char *big = malloc(n);
        if (!big) return SB_RETRY;
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        st = sbkit_emit_n(host, call, SB_EMIT_RECORD, "Account", big, n);
        free(big);
        return st;
    }
#endif
    for (; i < in->records && limit-- > 0 && st == SB_OK; i++) {
        int n = snprintf(rec, sizeof rec, "{\"external_id\":\"A-%ld\",\"updated_at\":\"2026-11-27T10:00:00Z\",\"name\":\"Account %ld\"}", i + 1, i + 1);
        st = sbkit_emit_n(host, call, SB_EMIT_RECORD, "Account", rec, (size_t)n);
    }
    if (st != SB_OK) return st;
    snprintf(state, sizeof state, "{\"next\":%ld}", i);
    return sbkit_emit(host, call, SB_EMIT_STATE, "accounts", state);
}

static sb_status write_record(sb_instance *in, sb_call *call, const sb_write_request *req) {
    char id[32];
    fault();
#ifdef ZOO_EMIT_HUGE
    {
        sb_emit item;
        memset(&item, 0, sizeof item);
        item.struct_size = sizeof item;
        item.kind = SB_EMIT_WRITE_RESULT;
        item.key.ptr = "Z-HUGE";
        item.key.len = SIZE_MAX;
        return host->emit(call, &item);
    }
#endif
#ifdef ZOO_FORGE_FRAME
    {
        /* docs/SANDBOX.md section 3: u32 length, u8 type (EMIT = 19), u32 kind, bytes key, bytes data. */
        static const char key[] = "forged", data[] = "{\"external_id\":\"forged\"}";
        uint8_t frame[64];
        uint32_t length = 1 + 4 + 4 + (uint32_t)(sizeof key - 1) + 4 + (uint32_t)(sizeof data - 1), kind = SB_EMIT_RECORD;
        uint32_t key_len = sizeof key - 1, data_len = sizeof data - 1;
        size_t at = 0;
        memcpy(frame + at, &length, 4); at += 4;
        frame[at++] = 19;
        memcpy(frame + at, &kind, 4); at += 4;
        memcpy(frame + at, &key_len, 4); at += 4;
        memcpy(frame + at, key, key_len); at += key_len;
        memcpy(frame + at, &data_len, 4); at += 4;
        memcpy(frame + at, data, data_len); at += data_len;
        if (write(3, frame, at) != (ssize_t)at) return SB_FATAL;
    }
#endif
#ifdef ZOO_CRASH_MARKER
    if (req->record.len >= 8 && memmem(req->record.ptr, req->record.len, "crash-me", 8)) *(volatile int *)(uintptr_t)8 = 1;
#endif
    if (!req->idempotency_key.len) { sbkit_report(host, call, "a write needs an idempotency key", "idempotency_key"); return SB_FATAL; }
    if (req->record.len < 2 || req->record.ptr[0] != '{' || req->record.ptr[req->record.len - 1] != '}') {
        sbkit_report(host, call, "the record is not a JSON object", "record");
        return SB_FATAL;
    }
#ifndef ZOO_NON_IDEMPOTENT
    for (size_t i = 0; i < in->count; i++)
        if (strlen(in->keys[i]) == req->idempotency_key.len && !memcmp(in->keys[i], req->idempotency_key.ptr, req->idempotency_key.len))
            return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, in->ids[i], "");
#endif
    if (in->count == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        char **k = realloc(in->keys, cap * sizeof *k), **v;
        if (!k) return SB_RETRY;
        in->keys = k;
        v = realloc(in->ids, cap * sizeof *v);
        if (!v) return SB_RETRY;
        in->ids = v;
        in->cap = cap;
    }
#ifndef ZOO_IGNORES_EXTERNAL_ID
    if (req->external_id.len && req->external_id.len < sizeof id) {   /* an update of a record it holds */
        memcpy(id, req->external_id.ptr, req->external_id.len);
        id[req->external_id.len] = 0;
    } else
#endif
    snprintf(id, sizeof id, "Z-%ld", ++in->next_id);
    in->keys[in->count] = sbkit_cstr((const uint8_t *)req->idempotency_key.ptr, req->idempotency_key.len);
    in->ids[in->count] = sbkit_cstr((const uint8_t *)id, strlen(id));
    in->count++;
    return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, id, "");
}

static const sb_plugin_vtable VTABLE = {
    sizeof(sb_plugin_vtable), 0, spec, validate_config, open_instance, close_instance,
    check_connection, discover, read_stream, write_record, NULL, NULL, NULL
};

static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), ZOO_MAJOR, SB_ABI_MINOR, ZOO_ID, "1.0.0", SB_KIND_CONNECTOR, 0,
    SB_CAP_CHECK | SB_CAP_DISCOVER | SB_CAP_READ | SB_CAP_WRITE | SB_CAP_HOST_EGRESS,
    "Zoo", "Conformance and fault fixture", "Switchboard tests"
};

SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }

#ifdef ZOO_CTOR_CRASH
__attribute__((constructor)) static void crash_on_load(void) { *(volatile int *)(uintptr_t)8 = 1; }
#endif
#ifdef ZOO_CTOR_EXIT
__attribute__((constructor)) static void exit_on_load(void) { _exit(7); }
#endif

SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
#ifdef ZOO_INIT_SLEEP
    sleep(600);
#endif
#ifdef ZOO_INIT_CRASH
    *(volatile int *)(uintptr_t)8 = 1;
#endif
    host = args->host;
    result->abi_minor = sb_negotiate_minor(args->host_abi_minor);
    result->vtable = &VTABLE;
    return SB_OK;
}
