import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardPackages

/// Reads a file of a repository: a directory on this machine, or an http(s) URL. Every read has a byte cap, checked
/// on what arrives (a server's Content-Length is not trusted), so a hostile repository cannot fill memory.
public enum RepositoryFetch {
    /// `relative` under `location`, at most `maxBytes`.
    public static func fetch(_ location: String, _ relative: String, maxBytes: Int) async throws(PackageError) -> [UInt8] {
        guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
            throw PackageError(.malformed, "\(relative) is not a path inside the repository")
        }
        if location.hasPrefix("http://") || location.hasPrefix("https://") {
            let url = (location.hasSuffix("/") ? location : location + "/") + relative
            do {
                let request = HTTPClientRequest(url: url)
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                guard response.status == .ok else { throw PackageError(.io, "\(url): HTTP \(response.status.code)") }
                if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
                    throw PackageError(.malformed, "\(url) is \(length) bytes, more than the \(maxBytes) allowed")
                }
                return Array(buffer: try await response.body.collect(upTo: maxBytes))
            } catch let error as PackageError {
                throw error
            } catch is NIOTooManyBytesError {
                throw PackageError(.malformed, "\(url) is more than the \(maxBytes) bytes allowed")
            } catch {
                throw PackageError(.io, "\(url) cannot be fetched: \(error)")
            }
        }
        let path = (location.hasPrefix("file://") ? String(location.dropFirst(7)) : location) + "/" + relative
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? nil
        guard let size else { throw PackageError(.io, "\(path) cannot be read") }
        guard size <= maxBytes else { throw PackageError(.malformed, "\(path) is \(size) bytes, more than the \(maxBytes) allowed") }
        guard let data = FileManager.default.contents(atPath: path) else { throw PackageError(.io, "\(path) cannot be read") }
        return Array(data)
    }
}
