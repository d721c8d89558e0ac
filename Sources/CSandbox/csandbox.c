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

static int netns_entered;
static uint64_t as_limit_kb;

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
}

/* Namespaces need a single-threaded process: a constructor runs before the
 * Swift runtime or anything else can start a thread. */
__attribute__((constructor)) static void sbx_early(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 2 || strcmp(argv[1], "__worker") != 0) return;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return;
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    write_file("/proc/self/gid_map", map);
    netns_entered = 1;
}

int sbx_netns_entered(void) { return netns_entered; }

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
        /* socket: only AF_UNIX; the network is the host's egress */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
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

void sbx_harden(const sbx_limits *limits, sbx_report *report) {
    memset(report, 0, sizeof *report);
    report->netns = netns_entered;
    report->pdeathsig = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0;
    if (limits->expected_parent > 0 && getppid() != limits->expected_parent) _exit(0);
    int ok = set_limit(RLIMIT_CORE, 0, 0);
    if (limits->address_space_bytes) {
        ok &= set_limit(RLIMIT_AS, limits->address_space_bytes, limits->address_space_bytes);
        as_limit_kb = limits->address_space_bytes / 1024;
    }
    if (limits->cpu_seconds) ok &= set_limit(RLIMIT_CPU, limits->cpu_seconds, limits->cpu_seconds + 5);
    if (limits->open_files) ok &= set_limit(RLIMIT_NOFILE, limits->open_files, limits->open_files);
    report->rlimits = ok;
    install_crash_reporter();
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
