#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread for the OS (top -H, perf, /proc/PID/task/TID/comm).
/// Foundation's `Thread.name` does not reach the OS here, so every thread showed
/// its process's or dispatch pool's name. Linux keeps 15 bytes: "switchboard."
/// becomes "sb-". (Written through /proc/thread-self/comm: pthread_setname_np is
/// not in Swift's Glibc module.)
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        #if os(Linux)
        let short = name.hasPrefix("switchboard.") ? "sb-" + name.dropFirst("switchboard.".count) : Substring(name)
        let bytes = Array(short.utf8.prefix(15))
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #endif
    }
}
