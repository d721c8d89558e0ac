#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SwitchboardCore
import Synchronization

/// One worker child: its pid, its protocol channel, the tail of what it printed.
final class WorkerProcess: @unchecked Sendable {
    let pid: pid_t
    let channel: FrameChannel
    let output: OutputTail
    private let reaped = Mutex<Int32?>(nil)

    private init(pid: pid_t, channel: FrameChannel, output: OutputTail) {
        self.pid = pid
        self.channel = channel
        self.output = output
    }

    deinit { close(channel.fd) }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `executable __worker ...` with the socket on fd 3 and stdout+stderr into an output socket.
    static func spawn(executable: String, limits: SandboxLimits) throws(SpawnError) -> WorkerProcess {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SpawnError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        var out: [Int32] = [0, 0]
        // A socket rather than pipe(): it is close-on-exec from birth (Glibc's Swift overlay has no
        // pipe2). Set afterwards, a process spawned by another thread in between would inherit the
        // write end and hold back this output's EOF, and with it the worker's crash line.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &out) == 0 else {
            close(pair[0]); close(pair[1])
            throw SpawnError(description: "output socketpair: \(String(cString: strerror(errno)))")
        }
        _ = shutdown(out[0], Int32(SHUT_WR))
        _ = shutdown(out[1], Int32(SHUT_RD))
        let arguments = [executable, SandboxWorker.mode, "--parent", "\(getpid())",
                         "--memory-mb", "\(limits.memoryMB)", "--cpu-seconds", "\(limits.cpuSeconds)",
                         "--open-files", "\(limits.openFiles)"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let result = Spawner.shared.spawn(executable: executable, arguments: arguments,
                                          environment: environment.map { "\($0.key)=\($0.value)" },
                                          socket: pair[1], output: out[1])
        close(pair[1])
        close(out[1])
        guard case .success(let pid) = result else {
            close(pair[0]); close(out[0])
            if case .failure(let e) = result { throw e }
            throw SpawnError(description: "spawn failed")
        }
        return WorkerProcess(pid: pid, channel: FrameChannel(fd: pair[0], spinNanoseconds: 30_000), output: OutputTail(fd: out[0]))
    }

    /// SIGKILLs the worker (idempotent).
    func kill() {
        if reaped.withLock({ $0 }) == nil { _ = Glibc.kill(pid, SIGKILL) }
    }

    /// Waits for the worker to end (SIGKILL after `graceMillis`) and returns its wait status.
    @discardableResult
    func reap(graceMillis: Int64) -> Int32 {
        if let status = reaped.withLock({ $0 }) { return status }
        var status: Int32 = 0
        let deadline = Clock.monotonicNanoseconds() + graceMillis * 1_000_000
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) { break }
            if Clock.monotonicNanoseconds() >= deadline {
                _ = Glibc.kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(2000)
        }
        reaped.withLock { $0 = status }
        // The output reaches EOF as soon as the drain thread has read everything the worker
        // printed; the bound only matters on a starved machine.
        output.waitForEOF(timeoutMillis: 3_000)
        return status
    }
}

/// The last few KiB a worker printed (stdout and stderr), drained by a thread
/// so a chatty plugin never blocks on a full buffer.
final class OutputTail: @unchecked Sendable {
    private let state = Mutex<(tail: [UInt8], total: Int, done: Bool)>(([], 0, false))
    private let limit = 8 * 1024

    init(fd: Int32) {
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 4096) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                // The worker's own crash line is not plugin output.
                let crashLine = chunk[0..<n].starts(with: Array("\nSBCRASH ".utf8))
                state.withLock { s in
                    s.tail.append(contentsOf: chunk[0..<n])
                    if !crashLine { s.total += n }
                    if s.tail.count > limit { s.tail.removeFirst(s.tail.count - limit) }
                }
            }
            close(fd)
            state.withLock { $0.done = true }
        }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    var text: String { String(decoding: state.withLock { $0.tail }, as: UTF8.self) }
    var totalBytes: Int { state.withLock { $0.total } }

    func waitForEOF(timeoutMillis: Int64) {
        let deadline = Clock.monotonicNanoseconds() + timeoutMillis * 1_000_000
        while !state.withLock({ $0.done }) && Clock.monotonicNanoseconds() < deadline { usleep(1000) }
    }
}

/// Spawns every worker from one thread that lives as long as the host: the
/// kernel's parent-death signal follows the thread that forked the child, so
/// a worker spawned from a short-lived thread would die with that thread.
final class Spawner: @unchecked Sendable {
    static let shared = Spawner()

    private struct Job {
        var run: () -> Void
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []

    private init() {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job.run()
            }
        }
        thread.name = "switchboard.spawner"
        thread.start()
    }

    func spawn(executable: String, arguments: [String], environment: [String], socket: Int32,
               output: Int32) -> Result<pid_t, WorkerProcess.SpawnError> {
        let done = NSCondition()
        nonisolated(unsafe) var result: Result<pid_t, WorkerProcess.SpawnError>?
        let job = Job {
            let r = Spawner.posixSpawn(executable: executable, arguments: arguments, environment: environment,
                                       socket: socket, output: output)
            done.lock()
            result = r
            done.signal()
            done.unlock()
        }
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
        done.lock()
        while result == nil { done.wait() }
        done.unlock()
        return result!
    }

    private static func posixSpawn(executable: String, arguments: [String], environment: [String], socket: Int32,
                                   output: Int32) -> Result<pid_t, WorkerProcess.SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        posix_spawn_file_actions_adddup2(&actions, socket, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default signal dispositions and an empty mask: the host's choices (SIGPIPE ignored, blocked signals) are not the worker's.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { return .failure(.init(description: "cannot start the sandbox worker \(executable): \(String(cString: strerror(rc)))")) }
        return .success(pid)
    }
}
