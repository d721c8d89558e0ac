#if canImport(Glibc)
import Glibc
#endif
import CSandbox
import Foundation

/// The host's own descendants. `switchboard run` makes itself their subreaper, so a process a
/// trusted plugin forked (and orphaned) becomes the host's child instead of init's, and the host
/// ends every one of them before it exits: none outlives it (docs/SANDBOX.md, "Trusted mode").
public enum ChildProcesses {
    /// Orphaned descendants are re-parented to this process from now on.
    public static func becomeSubreaper() {
        _ = sbx_become_subreaper()
    }

    /// The pids whose parent is this process (from /proc).
    public static func children() -> [pid_t] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == me
        }
    }

    /// Ends every child: SIGTERM, then SIGKILL after `graceMillis`, reaping each, until none is left
    /// (a child's own children come to this process as it dies). Returns how many were ended.
    @discardableResult
    public static func endAll(graceMillis: Int64 = 1_000) -> Int {
        var ended = 0
        for _ in 0..<50 {
            let living = children()
            if living.isEmpty { break }
            for pid in living { kill(pid, SIGTERM) }
            // Reaped as they end; only those still running after the grace get SIGKILL (a reaped pid may
            // already belong to another process).
            var running = Set(living)
            let deadline = Date().addingTimeInterval(Double(graceMillis) / 1000)
            while !running.isEmpty && Date() < deadline {
                running = running.filter { waitpid($0, nil, WNOHANG) == 0 }
                if !running.isEmpty { usleep(10_000) }
            }
            for pid in running {
                kill(pid, SIGKILL)
                while waitpid(pid, nil, 0) < 0 && errno == EINTR {}
            }
            ended += living.count
        }
        return ended
    }
}
