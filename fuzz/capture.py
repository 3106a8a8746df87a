#!/usr/bin/env python3
"""Seed corpora for corelog's fuzz targets from real clients.

proxy:  a TCP proxy that forwards a client's connections to the broker and
        writes every request frame it forwards (without the length prefix)
        to a directory. Run the broker with --listen 127.0.0.1:0 and
        --advertise 127.0.0.2, then the proxy on 127.0.0.2 and the broker's
        port: clients bootstrap from the proxy, and the addresses the broker
        advertises lead back to it, so every connection is recorded.
corpus: turns recorded frames and a broker's data directory into corpus
        entries: request frames in request_decode's format (API key byte,
        version byte, the frame after its key and version), record batches
        from segment files (record_batch), segment files (segment_recovery)
        (segment_recovery, with the seal records and index files beside them)
        and the metadata log (metadata_log, in that target's chunk format).
        Names are content hashes, so repeated runs add no duplicates.
"""
import argparse
import asyncio
import hashlib
import os
import struct


async def pump_requests(reader, writer, out_dir, counter):
    while True:
        prefix = await reader.readexactly(4)
        (length,) = struct.unpack(">i", prefix)
        frame = await reader.readexactly(length)
        counter[0] += 1
        api_key, version = struct.unpack(">hh", frame[:4])
        name = f"{api_key:02d}-v{version:02d}-{counter[0]:06d}.bin"
        with open(os.path.join(out_dir, name), "wb") as file:
            file.write(frame)
        writer.write(prefix + frame)
        await writer.drain()


async def pump_bytes(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()


async def proxy(listen, upstream, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    counter = [0]
    up_host, up_port = upstream.rsplit(":", 1)

    async def connection(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(up_host, int(up_port))
        tasks = [
            asyncio.ensure_future(pump_requests(client_reader, server_writer, out_dir, counter)),
            asyncio.ensure_future(pump_bytes(server_reader, client_writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        client_writer.close()
        server_writer.close()

    host, port = listen.rsplit(":", 1)
    server = await asyncio.start_server(connection, host, int(port))
    print(f"capture: proxy on {listen} -> {upstream}, frames to {out_dir}", flush=True)
    async with server:
        await server.serve_forever()


def save(directory, data):
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(directory, name), "wb") as file:
        file.write(data)


def batches(segment):
    """Whole v2 batches at the start of a segment's bytes."""
    position = 0
    while position + 61 <= len(segment):
        (length,) = struct.unpack(">i", segment[position + 8:position + 12])
        if length < 49 or segment[position + 16] != 2 or position + 12 + length > len(segment):
            break
        yield segment[position:position + 12 + length]
        position += 12 + length


def corpus(frames_dir, data_dir, corpus_dir, segment_bytes_max):
    if frames_dir:
        for name in sorted(os.listdir(frames_dir)):
            with open(os.path.join(frames_dir, name), "rb") as file:
                frame = file.read()
            api_key, version = struct.unpack(">hh", frame[:4])
            save(os.path.join(corpus_dir, "request_decode"),
                 bytes([api_key & 0xff, version & 0xff]) + frame[4:])
    if not data_dir:
        return
    for root, _, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                data = file.read()
            if name.endswith(".log") and name != "metadata.log":
                logical = data.rstrip(b"\0")
                if not logical:
                    continue
                whole = list(batches(logical))
                for batch in whole:
                    save(os.path.join(corpus_dir, "record_batch"), batch)
                # A segment of a few batches, cut at a batch boundary.
                kept = b""
                for batch in whole:
                    if len(kept) + len(batch) > segment_bytes_max:
                        break
                    kept += batch
                if kept:
                    save(os.path.join(corpus_dir, "segment_recovery"), kept)
            elif name.endswith((".seal", ".index", ".timeindex")) and data:
                # What a clean stop leaves beside a segment: the target
                # decodes its input as these too.
                save(os.path.join(corpus_dir, "segment_recovery"), data)
            elif name == "metadata.log":
                chunks = bytearray([0])
                position = 0
                while position + 8 <= len(data):
                    (length,) = struct.unpack(">I", data[position:position + 4])
                    payload = data[position + 8:position + 8 + length]
                    chunks += struct.pack(">H", len(payload)) + payload
                    position += 8 + length
                save(os.path.join(corpus_dir, "metadata_log"), bytes(chunks))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    proxy_args = commands.add_parser("proxy")
    proxy_args.add_argument("--listen", required=True, help="host:port to accept clients on")
    proxy_args.add_argument("--upstream", required=True, help="the broker's host:port")
    proxy_args.add_argument("--out", required=True, help="directory for request frames")
    corpus_args = commands.add_parser("corpus")
    corpus_args.add_argument("--frames", help="directory the proxy wrote")
    corpus_args.add_argument("--data-dir", help="a broker's --data-dir after the clients ran")
    corpus_args.add_argument("--corpus", required=True, help="fuzz/corpus")
    corpus_args.add_argument("--segment-bytes-max", type=int, default=64 * 1024)
    args = parser.parse_args()
    if args.command == "proxy":
        asyncio.run(proxy(args.listen, args.upstream, args.out))
    else:
        corpus(args.frames, args.data_dir, args.corpus, args.segment_bytes_max)


if __name__ == "__main__":
    main()
