#include <sqlite3.h>

/// sqlite3_config is variadic, so Swift cannot call it: this sets the one option Switchboard changes.
/// Memory statistics off: with them on, every SQLite allocation takes a process-wide mutex (about 6% of
/// the store writer's CPU in `bench runtime`), and nothing here reads them. Must run before SQLite
/// initialises; returns SQLITE_MISUSE after that (harmless: the statistics stay on).
static inline int sb_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/// Statement journals, and the sub-journals that keep a savepoint's original pages, stay in memory up to
/// `bytes` before SQLite spills them to a temporary file. The store writer runs each unit of a group commit
/// in its own savepoint, so a unit journals every existing page it changes: with the default 64 KiB limit a
/// worker batch's finish spilled to a file in /var/tmp that was written, then truncated and deleted.
/// Must run before SQLite initialises, like the option above.
static inline int sb_sqlite_set_statement_journal_spill(int bytes) {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes);
}
