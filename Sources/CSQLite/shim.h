#include <sqlite3.h>

/// sqlite3_config is variadic, so Swift cannot call it: this sets the one option Switchboard changes.
/// Memory statistics off: with them on, every SQLite allocation takes a process-wide mutex (about 6% of
/// the store writer's CPU in `bench runtime`), and nothing here reads them. Must run before SQLite
/// initialises; returns SQLITE_MISUSE after that (harmless: the statistics stay on).
static inline int sb_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
