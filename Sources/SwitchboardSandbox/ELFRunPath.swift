import Foundation

/// The library search directories an ELF file names (DT_RUNPATH, else DT_RPATH), `$ORIGIN`
/// expanded: where the dynamic linker will look for its libraries, so a private root must hold them.
enum ELFRunPath {
    static func directories(of path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), data.count >= 64 else { return [] }
        let bytes = [UInt8](data)
        // 64-bit little-endian only (the machines this runs on); anything else has no answer here.
        guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46, bytes[4] == 2, bytes[5] == 1 else { return [] }
        func u(_ at: Int, _ size: Int) -> Int? {
            guard at >= 0, at + size <= bytes.count else { return nil }
            return (0..<size).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        }
        guard let phoff = u(32, 8), let phentsize = u(54, 2), let phnum = u(56, 2) else { return [] }
        var loads: [(vaddr: Int, offset: Int, size: Int)] = []
        var dynamic: (offset: Int, size: Int)?
        for i in 0..<phnum {
            let at = phoff + i * phentsize
            guard let type = u(at, 4), let offset = u(at + 8, 8), let vaddr = u(at + 16, 8), let filesz = u(at + 32, 8) else { return [] }
            if type == 1 { loads.append((vaddr, offset, filesz)) }  // PT_LOAD
            if type == 2 { dynamic = (offset, filesz) }             // PT_DYNAMIC
        }
        guard let dynamic else { return [] }
        var strtab: Int?, runpath: Int?, rpath: Int?
        var at = dynamic.offset
        while at + 16 <= dynamic.offset + dynamic.size, let tag = u(at, 8), tag != 0, let value = u(at + 8, 8) {
            switch tag {
            case 5: strtab = value   // DT_STRTAB (a virtual address)
            case 15: rpath = value   // DT_RPATH
            case 29: runpath = value // DT_RUNPATH
            default: break
            }
            at += 16
        }
        guard let strtab, let entry = runpath ?? rpath,
              let load = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.size }) else { return [] }
        let start = load.offset + (strtab - load.vaddr) + entry
        guard start < bytes.count, let end = bytes[start...].firstIndex(of: 0) else { return [] }
        let origin = (path as NSString).deletingLastPathComponent
        return String(decoding: bytes[start..<end], as: UTF8.self).split(separator: ":").map {
            $0.replacingOccurrences(of: "$ORIGIN", with: origin).replacingOccurrences(of: "${ORIGIN}", with: origin)
        }
    }
}
