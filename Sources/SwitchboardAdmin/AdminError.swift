import Hummingbird
import SwitchboardCore

/// An API error with the JSON body every 4xx/5xx carries:
/// `{"error": {"status": N, "code": "...", "message": "..."}}`.
struct AdminError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String) -> AdminError { AdminError(status: .badRequest, code: "bad_request", message: message) }
    static func notFound(_ message: String) -> AdminError { AdminError(status: .notFound, code: "not_found", message: message) }
    static let unauthorized = AdminError(status: .unauthorized, code: "unauthorized",
                                         message: "a valid token is required: Authorization: Bearer sbt_...",
                                         headers: [.wwwAuthenticate: "Bearer"])
    static func forbidden(_ needed: AdminRole) -> AdminError {
        AdminError(status: .forbidden, code: "forbidden", message: "this needs the \(needed.rawValue) role")
    }
    static func tooLarge(_ limit: Int) -> AdminError {
        AdminError(status: .contentTooLarge, code: "too_large", message: "the body is larger than \(limit) bytes")
    }
    static func unsupportedMediaType(_ got: String?) -> AdminError {
        AdminError(status: .unsupportedMediaType, code: "unsupported_media_type",
                   message: "send Content-Type: application/json (got \(got ?? "none"))")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = JSON.object([("error", .object([("status", .number("\(status.code)")), ("code", .string(code)),
                                                   ("message", .string(Redactor.redact(message)))]))])
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }
}

extension JSON {
    /// A 200 (or other) JSON response.
    func response(_ status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
