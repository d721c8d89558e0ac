/* Worker hardening: see docs/SANDBOX.md section 2 for the why of each step. */
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t as_limit_kb;
static sbx_report worker_report;

const sbx_report *sbx_worker_report(void) { return &worker_report; }

/* ---- crash reporter: async-signal-safe only ---- */

static char altstack[64 * 1024];

static size_t put_num(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0, i;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static uint64_t vm_peak_kb(void) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strstr(buf, "VmPeak:");
    if (!p) return 0;
    p += 7;
    while (*p == ' ' || *p == '\t') p++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

static void on_crash(int sig) {
    char line[160];
    size_t n = 0;
    const char *a = "\nSBCRASH signal=", *b = " vm_peak_kb=", *c = " as_limit_kb=";
    memcpy(line + n, a, strlen(a)); n += strlen(a);
    n += put_num(line + n, (uint64_t)sig);
    memcpy(line + n, b, strlen(b)); n += strlen(b);
    n += put_num(line + n, vm_peak_kb());
    memcpy(line + n, c, strlen(c)); n += strlen(c);
    n += put_num(line + n, as_limit_kb);
    line[n++] = '\n';
    ssize_t ignored = write(2, line, n);
    (void)ignored;
    /* As the init of its PID namespace the worker ignores signals it raises
     * at itself with the default action; its exit code then carries the
     * signal and the line above says which (WorkerDeath reads both). */
    if (getpid() == 1) _exit(128 + sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_reporter(void) {
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGXCPU};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

/* ---- seccomp ---- */

#if defined(__x86_64__)
#define SBX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SBX_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static int install_filter(void) {
#ifndef SBX_ARCH
    return 0;
#else
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SBX_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        /* x32 syscalls would bypass the numbers below */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        DENY(SYS_fork), DENY(SYS_vfork),
#endif
        DENY(SYS_execve), DENY(SYS_execveat), DENY(SYS_ptrace), DENY(SYS_process_vm_readv), DENY(SYS_process_vm_writev),
        DENY(SYS_mount), DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot), DENY(SYS_setns), DENY(SYS_unshare),
        DENY(SYS_kexec_load), DENY(SYS_init_module), DENY(SYS_finit_module), DENY(SYS_delete_module), DENY(SYS_reboot),
        DENY(SYS_swapon), DENY(SYS_swapoff), DENY(SYS_bpf), DENY(SYS_perf_event_open), DENY(SYS_keyctl),
        DENY(SYS_add_key), DENY(SYS_request_key),
        /* clone3 hides its flags in memory: answer ENOSYS so libc falls back to clone, whose flags we can see */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        /* clone: threads yes, new processes no (a grandchild could outlive the host) */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        /* No new socket of any family: the protocol socket is inherited, the network is the host's egress */
        DENY(SYS_socket), DENY(SYS_socketpair),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = (unsigned short)(sizeof prog / sizeof prog[0]), .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 0;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) == 0;
#endif
}

static int set_limit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    return setrlimit(resource, &rl) == 0;
}

/* ---- the worker's start: everything before any thread or plugin exists ---- */

#define MAX_PATHS 96
#define PATH_BYTES 1024

typedef struct path_list {
    char text[MAX_PATHS][PATH_BYTES];
    const char *items[MAX_PATHS];
    size_t count;
} path_list;

static path_list reads, writes;

static void add_path(path_list *list, const char *path, size_t length) {
    if (length == 0 || length >= PATH_BYTES || list->count >= MAX_PATHS) return;
    for (size_t i = 0; i < list->count; i++)
        if (strlen(list->items[i]) == length && memcmp(list->items[i], path, length) == 0) return;
    memcpy(list->text[list->count], path, length);
    list->text[list->count][length] = 0;
    list->items[list->count] = list->text[list->count];
    list->count++;
}

/* The shared libraries the worker runs on (the Swift runtime lives outside
 * the system directories): each library's directory, except the worker
 * binary's own, which holds every built plugin: there only the files. */
static void add_mapped_libraries(void) {
    char exe[PATH_BYTES];
    ssize_t exe_length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (exe_length <= 0) return;
    exe[exe_length] = 0;
    char *slash = strrchr(exe, '/');
    size_t exe_dir = slash ? (size_t)(slash - exe) : 0;
    static char maps[256 * 1024];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    size_t used = 0;
    ssize_t n;
    while (used < sizeof maps - 1 && (n = read(fd, maps + used, sizeof maps - 1 - used)) > 0) used += (size_t)n;
    close(fd);
    maps[used] = 0;
    for (char *line = maps; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        char *path = strchr(line, '/');
        if (path && strstr(path, ".so")) {
            char *last = strrchr(path, '/');
            size_t dir = (size_t)(last - path);
            if (dir == exe_dir && memcmp(path, exe, dir) == 0) add_path(&reads, path, strlen(path));
            else add_path(&reads, path, dir == 0 ? 1 : dir);
        }
        line = end ? end + 1 : NULL;
    }
}

static const char *option(int argc, char **argv, const char *name, int *from) {
    for (int i = *from; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) { *from = i + 2; return argv[i + 1]; }
    }
    return NULL;
}

static uint64_t number(int argc, char **argv, const char *name) {
    int from = 2;
    const char *text = option(argc, argv, name, &from);
    return text ? strtoull(text, NULL, 10) : 0;
}

/* Worker mode (argv[1] == "__worker"): limits, crash reporter, the
 * filesystem view, the syscall filter, in a constructor, so they bind the
 * main thread before the Swift runtime or a plugin can start another. */
__attribute__((constructor)) static void sbx_worker_start(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 2 || strcmp(argv[1], "__worker") != 0) return;
    sbx_report *report = &worker_report;
    int ok = set_limit(RLIMIT_CORE, 0, 0);
    uint64_t memory = number(argc, argv, "--memory-mb") << 20, cpu = number(argc, argv, "--cpu-seconds"),
             files = number(argc, argv, "--open-files");
    if (memory) {
        ok &= set_limit(RLIMIT_AS, memory, memory);
        as_limit_kb = memory / 1024;
    }
    if (cpu) ok &= set_limit(RLIMIT_CPU, cpu, cpu + 5);
    if (files) ok &= set_limit(RLIMIT_NOFILE, files, files);
    report->rlimits = ok;
    install_crash_reporter();
    /* Landlock needs no_new_privs; so does the filter below. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

    static const char *system_reads[] = {"/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime",
                                         "/sys/devices/system/cpu", "/proc/self"};
    for (size_t i = 0; i < sizeof system_reads / sizeof system_reads[0]; i++)
        add_path(&reads, system_reads[i], strlen(system_reads[i]));
    add_mapped_libraries();
    static const struct { const char *name; path_list *list; } grants[] = {
        {"--plugin", &reads}, {"--read", &reads}, {"--write", &writes}, {"--tmp", &writes}};
    for (size_t g = 0; g < sizeof grants / sizeof grants[0]; g++) {
        int from = 2;
        const char *value;
        while ((value = option(argc, argv, grants[g].name, &from))) add_path(grants[g].list, value, strlen(value));
    }
    sbx_fs_view view = {.read = reads.items, .read_count = reads.count, .write = writes.items, .write_count = writes.count};
    /* --no-landlock: the host built a private root for this worker instead. */
    int landlock = 1;
    for (int i = 2; i < argc; i++) if (strcmp(argv[i], "--no-landlock") == 0) landlock = 0;
    if (landlock) sbx_landlock_apply(&view, report);
    report->seccomp = install_filter();
}

static void *watchdog(void *arg) {
    int fd = (int)(intptr_t)arg;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        int n = poll(&p, 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL))) _exit(0);
    }
    return NULL;
}

int sbx_start_watchdog(int fd) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, watchdog, (void *)(intptr_t)fd);
    pthread_attr_destroy(&attr);
    return rc == 0;
}
