#if canImport(Glibc)
import Glibc
#endif
import SwitchboardHost

/// What a worker achieved of its containment (docs/SANDBOX.md section 2): the host's part
/// (namespaces, ids) and the worker's own report (Landlock, seccomp, limits).
public struct WorkerHardening: Sendable, Equatable {
    /// New user, PID, mount, network, IPC and UTS namespaces.
    public var namespaces = false
    /// The worker's uid as the host sees it.
    public var uid: UInt32 = 0
    /// The worker runs under another uid than the host's (the host is privileged).
    public var ownUser = false
    /// The Landlock ABI enforcing the worker's filesystem view; 0: none.
    public var landlockABI = 0
    /// The worker's root is a private one holding only what it needs (where Landlock is not used).
    public var privateRoot = false
    /// No signal reaches a process outside the worker (Landlock scope, ABI 6+).
    public var signalScope = false
    public var seccomp = false
    public var rlimits = false

    public init(namespaces: Bool = false, uid: UInt32 = 0, ownUser: Bool = false, landlockABI: Int = 0, privateRoot: Bool = false,
                signalScope: Bool = false, seccomp: Bool = false, rlimits: Bool = false) {
        self.namespaces = namespaces
        self.uid = uid
        self.ownUser = ownUser
        self.landlockABI = landlockABI
        self.privateRoot = privateRoot
        self.signalScope = signalScope
        self.seccomp = seccomp
        self.rlimits = rlimits
    }

    /// How the worker's filesystem view is enforced.
    public var filesystem: String { landlockABI > 0 ? "landlock v\(landlockABI)" : privateRoot ? "private root" : "none" }

    /// Every mechanism docs/SANDBOX.md lists is in force (the signal scope is Landlock's; with a
    /// private root the PID namespace alone keeps the host out of reach).
    public var complete: Bool {
        namespaces && ownUser && (landlockABI > 0 ? signalScope : privateRoot) && seccomp && rlimits
    }

    /// One line for health output and logs: what holds and what does not.
    public var summary: String {
        "namespaces \(namespaces ? "user+pid+mount+net+ipc+uts" : "none"), uid \(uid)\(ownUser ? "" : " (the host's own)"), "
            + "filesystem \(filesystem), signals \(signalScope ? "scoped" : "unscoped"), seccomp \(seccomp ? "on" : "off"), "
            + "rlimits \(rlimits ? "on" : "off")"
    }
}

/// Reads a dead worker's wait status and crash line.
enum WorkerDeath {
    static func describe(status: Int32, output: String, limitMB: Int) -> (text: String, kind: PluginHealth.FailureKind) {
        let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        var fields: [String: Int] = [:]
        if let line = output.split(separator: "\n").last(where: { $0.hasPrefix("SBCRASH ") }) {
            for part in line.split(separator: " ").dropFirst() {
                let kv = part.split(separator: "=")
                if kv.count == 2, let v = Int(kv[1]) { fields[String(kv[0])] = v }
            }
        }
        let exitCode = (status >> 8) & 0xff
        let signal: Int32
        if signaled {
            signal = status & 0x7f
        } else if let reported = fields["signal"], exitCode == 128 + reported {
            // The worker is its PID namespace's init, which cannot die of a signal it raises itself:
            // its crash reporter exits with 128 + the signal after the SBCRASH line naming it.
            signal = Int32(reported)
        } else {
            return ("exited with status \(exitCode)", .exit)
        }
        let name = signalName(signal)
        if let peak = fields["vm_peak_kb"], let limit = fields["as_limit_kb"], limit > 0, peak * 10 >= limit * 9 {
            return ("ran out of memory (address space peaked at \(peak / 1024) MiB of its \(limit / 1024) MiB limit) and died of \(name)", .outOfMemory)
        }
        if signal == SIGXCPU { return ("used up its CPU-time limit (\(name))", .hang) }
        return ("crashed with \(name)", .crash)
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        case SIGKILL: "SIGKILL"
        case SIGXCPU: "SIGXCPU"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}
