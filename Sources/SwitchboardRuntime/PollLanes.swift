import Foundation
import SwitchboardCore

/// One lane per polled connection: each connection's reads run on a thread of its own, so a read
/// that hangs until its deadline (a plugin's bug, an API that stopped answering) holds its own
/// connection's lane and no other connection's polls (docs/SANDBOX.md, "Connections are isolated").
/// The scheduling stays on one thread, which submits due polls and takes their results.
final class PollLanes<Result: Sendable>: @unchecked Sendable {
    private final class Lane: @unchecked Sendable {
        let condition = NSCondition()
        var job: (@Sendable () -> Result)?
        var stopping = false
    }

    private var lanes: [String: Lane] = [:]  // the scheduling thread's alone
    private let results = NSCondition()
    private var finished: [(key: String, result: Result)] = []
    private var busy: Set<String> = []
    private let threads = DispatchGroup()
    private let name: String

    init(name: String) { self.name = name }

    /// True while the lane's last job has not finished.
    func isBusy(_ key: String) -> Bool {
        results.lock()
        defer { results.unlock() }
        return busy.contains(key)
    }

    /// Runs `job` on the lane of `key` (started on first use). The lane must not be busy.
    func submit(_ key: String, _ job: @escaping @Sendable () -> Result) {
        results.lock()
        busy.insert(key)
        results.unlock()
        let lane = lanes[key] ?? start(key)
        lane.condition.lock()
        lane.job = job
        lane.condition.signal()
        lane.condition.unlock()
    }

    /// The results of jobs that finished since the last call; waits up to `nanos` for one when none has.
    func take(waitingUpTo nanos: Int64) -> [(key: String, result: Result)] {
        results.lock()
        defer { results.unlock() }
        if finished.isEmpty && nanos > 0 { _ = results.wait(until: Date(timeIntervalSinceNow: Double(nanos) / 1e9)) }
        let taken = finished
        finished.removeAll()
        return taken
    }

    /// Stops every lane once its job in progress returns, and waits for them.
    func stop() {
        for lane in lanes.values {
            lane.condition.lock()
            lane.stopping = true
            lane.condition.signal()
            lane.condition.unlock()
        }
        threads.wait()
    }

    private func start(_ key: String) -> Lane {
        let lane = Lane()
        lanes[key] = lane
        threads.enter()
        let thread = Thread { [self] in
            ThreadName.setCurrent(name)
            while true {
                lane.condition.lock()
                while lane.job == nil && !lane.stopping { lane.condition.wait() }
                let job = lane.job
                lane.job = nil
                lane.condition.unlock()
                guard let job else { break }
                let result = job()
                results.lock()
                finished.append((key, result))
                busy.remove(key)
                results.signal()
                results.unlock()
            }
            threads.leave()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
        return lane
    }
}
