"""A PostgreSQL server without TLS, for the sslmode=prefer test: forwards loopback
connections to the real test cluster (port in argv[1]) but answers a client's
SSLRequest with 'N', as a server without TLS does. With argv[2], each new
connection waits that many seconds before it is forwarded (a slow database, for
the start-up tests). Prints its port on the first line, then serves until
killed or until its stdin closes."""
import asyncio
import struct
import sys

SSL_REQUEST = struct.pack("!II", 8, 80877103)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(client_reader, client_writer, upstream_port, delay):
    first = await client_reader.readexactly(8)
    if first == SSL_REQUEST:
        client_writer.write(b"N")  # no TLS here: the client goes on in plain text, or gives up
        await client_writer.drain()
        first = b""
    await asyncio.sleep(delay)
    upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    upstream_writer.write(first)
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def main():
    upstream_port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    server = await asyncio.start_server(lambda r, w: serve(r, w, upstream_port, delay), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # the test process is gone


asyncio.run(main())
