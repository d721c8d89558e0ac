/* The worker's filesystem view without Landlock: a private root in its mount namespace
 * (docs/SANDBOX.md section 2). Runs in the spawning child before execve, while it still has
 * every capability in its new user namespace: raw system calls and stack buffers only (it is a
 * copy of a multi-threaded host). */
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* root + path, in `out` (PATH_MAX); 0 when too long. */
static int join(char *out, const char *root, const char *path) {
    size_t a = strlen(root), b = strlen(path);
    if (a + b + 1 > PATH_MAX) return 0;
    memcpy(out, root, a);
    memcpy(out + a, path, b + 1);
    return 1;
}

/* mkdir -p of every directory above `path` (and of `path` itself when `self`). */
static int make_dirs(char *path, int self) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return 0;
    }
    return !self || mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* The flags a read-only remount must keep: a user namespace may not clear the locked ones. */
static unsigned long locked_flags(const char *target) {
    /* statfs, not statvfs: glibc's statvfs may read /proc/mounts through malloc. */
    struct statfs sf;
    if (syscall(SYS_statfs, target, &sf) != 0) return 0;
    unsigned long flags = 0, f = (unsigned long)sf.f_flags;
    if (f & ST_NOSUID) flags |= MS_NOSUID;
    if (f & ST_NODEV) flags |= MS_NODEV;
    if (f & ST_NOEXEC) flags |= MS_NOEXEC;
    if (f & ST_NOATIME) flags |= MS_NOATIME;
    if (f & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (f & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

/* Binds `source` at the same path under `root`; a source that does not exist is skipped. */
static int bind(const char *root, const char *source, int writable) {
    struct stat st;
    if (stat(source, &st) != 0) return errno == ENOENT || errno == ENOTDIR;
    char target[PATH_MAX];
    if (!join(target, root, source)) return 0;
    if (S_ISDIR(st.st_mode)) {
        if (!make_dirs(target, 1)) return 0;
    } else {
        if (!make_dirs(target, 0)) return 0;
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return 0;
        close(fd);
    }
    /* Not recursive for writable paths: the worker's TMPDIR holds the new root itself. */
    if (mount(source, target, NULL, MS_BIND | (writable ? 0 : MS_REC), NULL) != 0) return 0;
    if (writable) return 1;
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target), NULL) == 0;
}

int sbx_private_root(const char *root, const char *const *read_only, const char *const *writable) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return 0;
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) return 0;
    for (size_t i = 0; read_only && read_only[i]; i++)
        if (!bind(root, read_only[i], 0)) return 0;
    for (size_t i = 0; writable && writable[i]; i++)
        if (!bind(root, writable[i], 1)) return 0;
    /* Its own /proc: the PID namespace's, where only the worker is. Optional (a container may refuse it). */
    char proc[PATH_MAX];
    if (join(proc, root, "/proc") && make_dirs(proc, 1))
        (void)mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (chdir(root) != 0) return 0;
    if (syscall(SYS_pivot_root, ".", ".") != 0) return 0;
    if (umount2(".", MNT_DETACH) != 0) return 0;
    if (chdir("/") != 0) return 0;
    /* The root itself: nothing new can be made in it. */
    return mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) == 0;
}
