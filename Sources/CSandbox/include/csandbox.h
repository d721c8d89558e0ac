/*
 * Process containment for sandbox workers (docs/SANDBOX.md section 2).
 * Linux only; every step reports what it achieved instead of failing hard,
 * so the host can state a weaker sandbox rather than run none.
 *
 * The host starts a worker with sbx_spawn (namespaces, ids, descriptors, an
 * empty environment chosen by the host). The worker binary hardens itself in
 * a constructor, before any thread exists, when argv[1] is "__worker":
 * rlimits, crash reporter, Landlock, seccomp. Its options:
 *   --memory-mb N --cpu-seconds N --open-files N   limits
 *   --plugin PATH     the one plugin file it may load (read + execute)
 *   --read PATH       more read-only paths (repeatable)
 *   --write PATH      read-write paths (repeatable)
 *   --tmp PATH        its private temporary directory (read-write)
 */
#ifndef SWITCHBOARD_CSANDBOX_H
#define SWITCHBOARD_CSANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* ---- host side ---- */

typedef struct sbx_spawn_request {
    const char *path;      /* the worker binary */
    char *const *argv;     /* NULL-terminated */
    char *const *envp;     /* NULL-terminated: the whole environment the worker gets */
    int socket_fd;         /* becomes fd 3 (the protocol) */
    int output_fd;         /* becomes fds 1 and 2 */
    uint32_t uid, gid;     /* outside ids the worker runs as when the host is privileged */
    int namespaces;        /* 1: new user, PID, mount, network, IPC and UTS namespaces */
    /* Non-NULL: build a private root here (an empty directory) holding only the paths below, and
     * pivot into it (the filesystem view where Landlock is not used). NULL-terminated lists. */
    const char *private_root;
    const char *const *root_read_only;
    const char *const *root_writable;
} sbx_spawn_request;

typedef struct sbx_spawn_result {
    int pid;               /* -1 on failure (see error) */
    int namespaces;        /* 1: the namespaces were created */
    int own_user;          /* 1: the worker runs under another uid than the host's */
    int private_root;      /* 1: the worker's root is the private one */
    uint32_t uid, gid;     /* the worker's ids as the host sees them */
    int error_number;
    char error[256];
} sbx_spawn_result;

/* Starts a worker: clone (with namespaces when asked and possible, else
 * without), id maps written by the host, then in the child: a new session,
 * supplementary groups dropped, the sandbox ids, parent-death SIGKILL, fds
 * 0-3 set and every other descriptor closed on exec, signals reset, execve.
 * Safe to call from a multi-threaded process. */
void sbx_spawn(const sbx_spawn_request *request, sbx_spawn_result *result);

/* In a new mount namespace with CAP_SYS_ADMIN: mounts a tmpfs at `root`, binds each path at the
 * same place under it (read-only, or read-write), mounts a fresh /proc, pivots into it and makes
 * it read-only. Raw system calls only (safe between clone and execve). Returns 1 on success. */
int sbx_private_root(const char *root, const char *const *read_only, const char *const *writable);

/* Makes this process the subreaper of its descendants (PR_SET_CHILD_SUBREAPER): an orphaned
 * descendant becomes its child, not init's. Returns 1 on success. */
int sbx_become_subreaper(void);

/* ---- worker side ---- */

typedef struct sbx_report {
    int seccomp;       /* 1: the syscall filter is installed */
    int rlimits;       /* 1: every requested limit is set */
    int landlock_abi;  /* the kernel's Landlock ABI; 0: none */
    int landlock;      /* 1: the filesystem view is enforced by Landlock */
    int signal_scope;  /* 1: Landlock denies signals to processes outside the worker */
} sbx_report;

/* What the worker's constructor achieved (zeros outside worker mode). */
const sbx_report *sbx_worker_report(void);

typedef struct sbx_fs_view {
    const char *const *read;
    size_t read_count;
    const char *const *write;
    size_t write_count;
} sbx_fs_view;

/* The kernel's Landlock ABI version, 0 when it has none. */
int sbx_landlock_abi(void);

/* Restricts this thread and its future threads to `view` (plus the usual
 * character devices), with no TCP and, from ABI 6, no signal or abstract
 * socket outside. Returns 1 when enforced. */
int sbx_landlock_apply(const sbx_fs_view *view, sbx_report *report);

/* Starts a thread that _exit(0)s the worker when `fd` reports a hang-up
 * (the host is gone), even while a plugin call never returns. */
int sbx_start_watchdog(int fd);

#endif
