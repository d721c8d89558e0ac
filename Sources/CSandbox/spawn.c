/* Starting a worker in its own namespaces: see docs/SANDBOX.md section 2.
 *
 * posix_spawn cannot create namespaces, so the host clones the child itself.
 * The host is multi-threaded: between clone and execve the child makes raw
 * system calls only (no malloc, no locks), as posix_spawn's child does. */
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The uid and gid the worker has inside its user namespace. Not 0, so execve
 * leaves it no capabilities even there. */
#define INSIDE_ID 1000

enum { STEP_SETGROUPS = 1, STEP_SETGID, STEP_SETUID, STEP_FDS, STEP_EXEC, STEP_HOST_GONE, STEP_ROOT };

typedef struct child_context {
    const sbx_spawn_request *request;
    int go_read;      /* the host writes one byte once the id maps are in place */
    int go_write;     /* the host's end: closed in the child, so a host that dies means EOF */
    int error_read;   /* the host's end of the error pipe: closed in the child */
    int error_write;  /* close-on-exec: EOF means execve succeeded */
    int change_ids;   /* 1: switch to `uid`/`gid` before execve */
    int drop_groups;  /* 1: setgroups(0) is allowed and needed */
    int private_root; /* 1: build the private root (in the new mount namespace) */
    uid_t uid;
    gid_t gid;
} child_context;

static void report_failure(int fd, int step) {
    int code[2] = {step, errno};
    ssize_t ignored = write(fd, code, sizeof code);
    (void)ignored;
    _exit(127);
}

/* Moves `fd` to `target` via a descriptor above every target, so the four
 * dup2 calls cannot overwrite one another's sources. */
static int lift(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 16); }

static int child_main(void *arg) {
    child_context *c = arg;
    const sbx_spawn_request *r = c->request;
    /* This child is a copy of the host and holds the host's ends of both pipes: without closing them,
     * a host killed before it wrote the go byte would leave the child waiting for it forever. */
    close(c->go_write);
    close(c->error_read);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Its own session and process group: kill(0, ...) reaches no host process. */
    setsid();
    char go;
    if (read(c->go_read, &go, 1) != 1) _exit(127);
    /* Raw system calls: glibc's wrappers would signal every thread the host had, which this
     * copy of the host does not have, and wait for them forever. */
    if (c->drop_groups && syscall(SYS_setgroups, 0, NULL) != 0) report_failure(c->error_write, STEP_SETGROUPS);
    if (c->change_ids) {
        if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) != 0) report_failure(c->error_write, STEP_SETGID);
        if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) != 0) report_failure(c->error_write, STEP_SETUID);
    }
    /* The private root, if asked: after the id change (files it makes need an id its namespace maps),
     * and before execve, which drops the capabilities it still has in its namespace (it was never
     * uid 0 there, so the id change kept them). */
    if (c->private_root && !sbx_private_root(r->private_root, r->root_read_only, r->root_writable))
        report_failure(c->error_write, STEP_ROOT);
    /* Again after the id change, which clears it. The host holds the socket's other
     * end: if it already died, the socket has hung up. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct pollfd p = {.fd = r->socket_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) report_failure(c->error_write, STEP_HOST_GONE);

    int socket_fd = lift(r->socket_fd), output_fd = lift(r->output_fd);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (socket_fd < 0 || output_fd < 0 || null_fd < 0) report_failure(c->error_write, STEP_FDS);
    if (dup2(null_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0 || dup2(socket_fd, 3) < 0)
        report_failure(c->error_write, STEP_FDS);
    /* Nothing else of the host's crosses execve, whatever flags it was opened with. */
    syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);

    execve(r->path, r->argv, r->envp);
    report_failure(c->error_write, STEP_EXEC);
    return 127;
}

static int write_text(pid_t pid, const char *name, const char *text) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text);
}

static const char *step_name(int step) {
    switch (step) {
    case STEP_SETGROUPS: return "dropping supplementary groups";
    case STEP_SETGID: return "switching to the sandbox gid";
    case STEP_SETUID: return "switching to the sandbox uid";
    case STEP_FDS: return "setting up its descriptors";
    case STEP_EXEC: return "executing the worker binary";
    case STEP_HOST_GONE: return "starting (the host had gone)";
    case STEP_ROOT: return "building its private root";
    default: return "starting";
    }
}

void sbx_spawn(const sbx_spawn_request *request, sbx_spawn_result *result) {
    memset(result, 0, sizeof *result);
    result->pid = -1;
    int go[2], errors[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
        snprintf(result->error, sizeof result->error, "pipe: %s", strerror(errno));
        return;
    }
    if (pipe2(errors, O_CLOEXEC) != 0) {
        snprintf(result->error, sizeof result->error, "pipe: %s", strerror(errno));
        close(go[0]); close(go[1]);
        return;
    }
    const size_t stack_size = 256 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        snprintf(result->error, sizeof result->error, "mmap: %s", strerror(errno));
        close(go[0]); close(go[1]); close(errors[0]); close(errors[1]);
        return;
    }
    int privileged = geteuid() == 0;
    child_context context = {.request = request, .go_read = go[0], .go_write = go[1], .error_read = errors[0], .error_write = errors[1]};
    const int all = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    pid_t pid = -1;
    if (request->namespaces) {
        /* Inside: INSIDE_ID, which the maps below tie to the sandbox ids (or the host's own, unprivileged). */
        context.change_ids = 1;
        context.uid = INSIDE_ID;
        context.gid = INSIDE_ID;
        context.drop_groups = privileged;
        context.private_root = request->private_root != NULL;
        pid = clone(child_main, (char *)stack + stack_size, all | SIGCHLD, &context);
        if (pid > 0) {
            result->namespaces = 1;
            result->private_root = context.private_root;
        }
    }
    if (pid < 0) {
        /* No user namespaces here: a privileged host still drops to the sandbox ids. */
        context.private_root = 0;
        context.change_ids = privileged;
        context.drop_groups = privileged;
        context.uid = request->uid;
        context.gid = request->gid;
        pid = clone(child_main, (char *)stack + stack_size, SIGCHLD, &context);
    }
    close(go[0]);
    close(errors[1]);
    if (pid < 0) {
        snprintf(result->error, sizeof result->error, "clone: %s", strerror(errno));
        close(go[1]); close(errors[0]);
        munmap(stack, stack_size);
        return;
    }
    if (result->namespaces) {
        char map[64];
        unsigned outside_uid = privileged ? request->uid : (unsigned)geteuid();
        unsigned outside_gid = privileged ? request->gid : (unsigned)getegid();
        /* Unprivileged, gid_map needs setgroups denied; privileged, the child drops its groups itself. */
        if (!privileged) write_text(pid, "setgroups", "deny");
        snprintf(map, sizeof map, "%d %u 1", INSIDE_ID, outside_uid);
        int mapped = write_text(pid, "uid_map", map);
        snprintf(map, sizeof map, "%d %u 1", INSIDE_ID, outside_gid);
        mapped &= write_text(pid, "gid_map", map);
        if (!mapped) {
            snprintf(result->error, sizeof result->error, "writing the worker's uid/gid map failed: %s", strerror(errno));
            kill(pid, SIGKILL);
            close(go[1]); close(errors[0]);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
            munmap(stack, stack_size);
            return;
        }
        result->uid = outside_uid;
        result->gid = outside_gid;
    } else {
        result->uid = context.change_ids ? request->uid : (unsigned)geteuid();
        result->gid = context.change_ids ? request->gid : (unsigned)getegid();
    }
    char one = 1;
    ssize_t ignored = write(go[1], &one, 1);
    (void)ignored;
    close(go[1]);
    int code[2] = {0, 0};
    ssize_t n;
    do { n = read(errors[0], code, sizeof code); } while (n < 0 && errno == EINTR);
    close(errors[0]);
    if (n == (ssize_t)sizeof code) {
        snprintf(result->error, sizeof result->error, "the sandbox worker failed %s: %s", step_name(code[0]), strerror(code[1]));
        result->error_number = code[1];
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        munmap(stack, stack_size);
        return;
    }
    /* execve succeeded: the child no longer runs on this stack. */
    munmap(stack, stack_size);
    result->pid = pid;
    result->own_user = result->uid != (unsigned)geteuid();
}

int sbx_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }
