/* The worker's filesystem view through Landlock: see docs/SANDBOX.md section 2.
 * The system headers predate ABI 4-6, so the constants this needs are here. */
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define LL_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

/* The file-only rights: a rule on a file (not a directory) may hold no others. */
static const uint64_t file_rights = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;

int sbx_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_VERSION);
    return v < 0 ? 0 : (int)v;
}

static uint64_t fs_rights(int abi) {
    uint64_t all = (1ULL << 13) - 1;  /* ABI 1: execute .. make_sym */
    if (abi >= 2) all |= FS_REFER;
    if (abi >= 3) all |= FS_TRUNCATE;
    if (abi >= 5) all |= FS_IOCTL_DEV;
    return all;
}

/* Adds one rule; a path that does not exist is skipped (not every machine has /lib64). */
static int allow(int ruleset, const char *path, uint64_t rights, uint64_t handled) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? 1 : 0;
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return 0; }
    if (!S_ISDIR(st.st_mode)) rights &= file_rights;
    struct path_beneath_attr rule = {.allowed_access = rights & handled, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0);
    close(fd);
    return rc == 0;
}

int sbx_landlock_apply(const sbx_fs_view *view, sbx_report *report) {
    int abi = sbx_landlock_abi();
    report->landlock_abi = abi;
    if (abi <= 0) return 0;
    struct ruleset_attr attr = {.handled_access_fs = fs_rights(abi)};
    /* No TCP at all (the network namespace already has no route; this holds without it). */
    if (abi >= 4) attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
    /* No signal to a process outside the worker, no abstract UNIX socket outside it. */
    if (abi >= 6) attr.scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL;
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return 0;
    const uint64_t handled = attr.handled_access_fs;
    const uint64_t read_only = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
    const uint64_t device = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV;
    int ok = 1;
    for (size_t i = 0; i < view->read_count; i++) ok &= allow(ruleset, view->read[i], read_only, handled);
    for (size_t i = 0; i < view->write_count; i++) ok &= allow(ruleset, view->write[i], handled, handled);
    static const char *devices[] = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"};
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) ok &= allow(ruleset, devices[i], device, handled);
    if (!ok) { close(ruleset); return 0; }
    long rc = syscall(SYS_landlock_restrict_self, ruleset, 0);
    close(ruleset);
    if (rc != 0) return 0;
    report->landlock = 1;
    report->signal_scope = abi >= 6;
    return 1;
}
