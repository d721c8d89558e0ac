/*
 * Process hardening for sandbox workers (docs/SANDBOX.md section 2).
 * Linux only; every function reports what it achieved instead of failing hard,
 * so the host can log a weaker sandbox rather than run none.
 */
#ifndef SWITCHBOARD_CSANDBOX_H
#define SWITCHBOARD_CSANDBOX_H

#include <stdint.h>

typedef struct sbx_limits {
    uint64_t address_space_bytes; /* RLIMIT_AS; 0 = leave as is */
    uint64_t cpu_seconds;         /* RLIMIT_CPU soft limit; 0 = leave as is */
    uint64_t open_files;          /* RLIMIT_NOFILE; 0 = leave as is */
    int expected_parent;          /* the host's pid: exit if it is already gone */
} sbx_limits;

typedef struct sbx_report {
    int netns;    /* 1: the worker runs in its own user + network namespace */
    int seccomp;  /* 1: the syscall filter is installed */
    int rlimits;  /* 1: every requested limit is set */
    int pdeathsig;
} sbx_report;

/* 1 when this process was started as a worker (argv[1] == "__worker") and
 * entered its namespaces before any thread existed. */
int sbx_netns_entered(void);

/* Parent-death signal, rlimits, crash reporter, no_new_privs and the seccomp
 * filter, in that order. Call once, early in the worker, before any plugin
 * code is loaded. */
void sbx_harden(const sbx_limits *limits, sbx_report *report);

/* Starts a thread that _exit(0)s the worker when `fd` reports a hang-up
 * (the host is gone), even while a plugin call never returns. */
int sbx_start_watchdog(int fd);

#endif
