#if canImport(Glibc)
import Glibc
#endif
import CSandbox
import Foundation
import SwitchboardCore
import Synchronization

/// One worker child: its pid, its protocol channel, the tail of what it printed.
final class WorkerProcess: @unchecked Sendable {
    let pid: pid_t
    let channel: FrameChannel
    let output: OutputTail
    /// The worker's private temporary directory (its TMPDIR), removed once it is reaped.
    let temporaryDirectory: String
    private let reaped = Mutex<Int32?>(nil)

    private init(pid: pid_t, channel: FrameChannel, output: OutputTail, temporaryDirectory: String) {
        self.pid = pid
        self.channel = channel
        self.output = output
        self.temporaryDirectory = temporaryDirectory
    }

    deinit {
        close(channel.fd)
        if reaped.withLock({ $0 }) == nil {
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            PrivateTemporaryDirectory.remove(temporaryDirectory)
        }
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `executable __worker ...` for the plugin at `plugin`, with the socket on fd 3 and
    /// stdout+stderr into an output socket, in the containment `settings` asks for (docs/SANDBOX.md).
    static func spawn(executable: String, plugin: String, settings: SandboxSettings) throws(SpawnError) -> (WorkerProcess, SpawnedContainment) {
        let tmp = try PrivateTemporaryDirectory.make(uid: settings.uid, gid: settings.gid)
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            PrivateTemporaryDirectory.remove(tmp)
            throw SpawnError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        var out: [Int32] = [0, 0]
        // A socket rather than pipe(): it is close-on-exec from birth (Glibc's Swift overlay has no
        // pipe2). Set afterwards, a process spawned by another thread in between would inherit the
        // write end and hold back this output's EOF, and with it the worker's crash line.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &out) == 0 else {
            close(pair[0]); close(pair[1])
            PrivateTemporaryDirectory.remove(tmp)
            throw SpawnError(description: "output socketpair: \(String(cString: strerror(errno)))")
        }
        _ = shutdown(out[0], Int32(SHUT_WR))
        _ = shutdown(out[1], Int32(SHUT_RD))
        let limits = settings.limits
        var arguments = [executable, SandboxWorker.mode,
                         "--memory-mb", "\(limits.memoryMB)", "--cpu-seconds", "\(limits.cpuSeconds)",
                         "--open-files", "\(limits.openFiles)", "--plugin", plugin, "--tmp", tmp]
        for path in settings.files.read { arguments += ["--read", path] }
        for path in settings.files.write { arguments += ["--write", path] }
        let privateRoot = settings.namespaces && FilesystemMechanism.usesPrivateRoot(settings.filesystem)
        if privateRoot { arguments.append("--no-landlock") }
        // Nothing of the host's environment: the vault's master key and every other variable stay out.
        let environment = ["SWIFT_BACKTRACE=enable=no", "TMPDIR=\(tmp)", "HOME=\(tmp)", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
        let view = privateRoot ? FilesystemMechanism.rootView(tmp: tmp, executable: executable, plugin: plugin, files: settings.files) : nil
        let result = Spawner.shared.spawn(executable: executable, arguments: arguments, environment: environment,
                                          socket: pair[1], output: out[1], settings: settings, view: view)
        close(pair[1])
        close(out[1])
        switch result {
        case .success(let spawned):
            let worker = WorkerProcess(pid: spawned.pid, channel: FrameChannel(fd: pair[0], spinNanoseconds: 30_000),
                                       output: OutputTail(fd: out[0]), temporaryDirectory: tmp)
            return (worker, spawned.containment)
        case .failure(let e):
            close(pair[0]); close(out[0])
            PrivateTemporaryDirectory.remove(tmp)
            throw e
        }
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
        PrivateTemporaryDirectory.remove(temporaryDirectory)
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

    /// What the plugin (or the dynamic linker) printed last: the tail without the worker's own crash line.
    func printed(lines: Int = .max) -> String {
        text.split(separator: "\n").filter { !$0.hasPrefix("SBCRASH ") }.suffix(lines).joined(separator: "\n")
    }
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
               output: Int32, settings: SandboxSettings, view: FilesystemMechanism.RootView?) -> Result<(pid: pid_t, containment: SpawnedContainment), WorkerProcess.SpawnError> {
        let done = NSCondition()
        nonisolated(unsafe) var result: Result<(pid: pid_t, containment: SpawnedContainment), WorkerProcess.SpawnError>?
        let job = Job {
            let r = Spawner.clone(executable: executable, arguments: arguments, environment: environment,
                                  socket: socket, output: output, settings: settings, view: view)
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

    private static func clone(executable: String, arguments: [String], environment: [String], socket: Int32, output: Int32,
                              settings: SandboxSettings, view: FilesystemMechanism.RootView?) -> Result<(pid: pid_t, containment: SpawnedContainment), WorkerProcess.SpawnError> {
        // Every string the child reads is made here: between clone and execve it may not allocate.
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(arguments), envp = cStrings(environment)
        let readOnly = cStrings(view?.readOnly ?? []), writable = cStrings(view?.writable ?? [])
        let root = view.map { strdup($0.root) } ?? nil
        defer {
            for list in [argv, envp, readOnly, writable] { list.forEach { free($0) } }
            free(root)
        }
        var result = sbx_spawn_result()
        executable.withCString { path in
            argv.withUnsafeBufferPointer { a in
                envp.withUnsafeBufferPointer { e in
                    readOnly.withUnsafeBufferPointer { ro in
                        writable.withUnsafeBufferPointer { rw in
                            ro.withMemoryRebound(to: UnsafePointer<CChar>?.self) { ro in
                                rw.withMemoryRebound(to: UnsafePointer<CChar>?.self) { rw in
                                    var request = sbx_spawn_request(path: path, argv: a.baseAddress, envp: e.baseAddress, socket_fd: socket,
                                                                    output_fd: output, uid: settings.uid, gid: settings.gid,
                                                                    namespaces: settings.namespaces ? 1 : 0, private_root: root,
                                                                    root_read_only: ro.baseAddress, root_writable: rw.baseAddress)
                                    sbx_spawn(&request, &result)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard result.pid > 0 else {
            let error = withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var text = "cannot start the sandbox worker \(executable): \(error)"
            if result.error_number == EACCES {
                text += " (the worker runs as uid \(settings.uid): it must be able to read and execute the binary)"
            }
            return .failure(.init(description: text))
        }
        return .success((result.pid, SpawnedContainment(namespaces: result.namespaces != 0, ownUser: result.own_user != 0,
                                                        uid: result.uid, gid: result.gid, privateRoot: result.private_root != 0)))
    }
}

/// What the host achieved when it started a worker (the worker reports the rest).
struct SpawnedContainment: Sendable {
    var namespaces: Bool
    var ownUser: Bool
    var uid: UInt32
    var gid: UInt32
    var privateRoot: Bool
}

/// Each worker's own TMPDIR: created by the host for the worker's uid, the only writable
/// directory the worker has besides the connection's grants, removed when the worker is reaped.
enum PrivateTemporaryDirectory {
    static func make(uid: UInt32, gid: UInt32) throws(WorkerProcess.SpawnError) -> String {
        let base = ProcessInfo.processInfo.environment["SWITCHBOARD_WORKER_TMP"] ?? "/tmp"
        var template = Array("\(base)/switchboard-worker-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .init(description: "cannot create the worker's temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if geteuid() == 0 { _ = chown(path, uid, gid) }
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
