import SwitchboardCore
import SwitchboardHost

/// The host's side of a worker's REQUEST frames (docs/SANDBOX.md section 3): each answered with
/// the connection's real services under `HostServicesPolicy`, the same rules an in-process plugin
/// meets through the C ABI. The reply layouts are the ones `WorkerServices` reads.
struct HostServicesServer {
    let policy: HostServicesPolicy

    func answer(_ request: ServiceRequest) -> FrameWriter {
        var reply = FrameWriter(type: .reply)
        switch request {
        case .secret(let name):
            switch policy.secret(name) {
            case .success(let value):
                reply.i32(OperationStatus.ok.rawValue)
                reply.bytes(value)
            case .failure(let refusal): refuse(refusal, into: &reply)
            }
        case .stateGet(let key):
            switch policy.state(key) {
            case .success(let value):
                reply.i32(OperationStatus.ok.rawValue)
                reply.bool(value != nil)
                if let value { reply.bytes(value) }
            case .failure(let refusal): refuse(refusal, into: &reply)
            }
        case .statePut(let key, let value):
            switch policy.setState(key, value) {
            case .success: reply.i32(OperationStatus.ok.rawValue)
            case .failure(let refusal): refuse(refusal, into: &reply)
            }
        case .http(let request):
            switch policy.http(request) {
            case .success(let answer):
                reply.i32(OperationStatus.ok.rawValue)
                reply.i32(Int32(answer.status))
                reply.map(answer.headers.map { ($0.name, $0.value) })
                reply.bytes(answer.body)
            case .failure(let refusal): refuse(refusal, into: &reply)
            }
        }
        return reply
    }

    /// A refusal's status, summary and field path (a reader that needs only the status stops there).
    private func refuse(_ refusal: HostServicesPolicy.Refusal, into reply: inout FrameWriter) {
        reply.i32(refusal.status.rawValue)
        reply.string(refusal.diagnostic.summary)
        reply.string(refusal.diagnostic.fieldPath)
    }
}
