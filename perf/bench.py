#!/usr/bin/env python3
"""Runs the same workloads against corelog and a peer broker (Tansu) on the
same machine and the same pinned cores, measures the machine's own limits in
the same run (fio: sequential direct-IO write bandwidth and fdatasync latency
of the data disk; iperf3: loopback TCP bandwidth), and writes the comparison
under perf/results/<date>/: results.json, results.md (a table with corelog,
peer, ratio and % of the machine's limit, plus the exact commands) and
throughput.svg / latency.svg (throughput and p99 latency against record size).

Usage: scripts/bench.sh [--quick] [--no-peer] [--out DIR]

The broker runs on core 0 and the load generators on core 1 (taskset).
Everything is measured with acks=all; corelog runs in its durable default
and in Kafka's unsynced mode (as Kafka's defaults: never synced explicitly);
Tansu runs with its in-memory engine and its durable SQLite (libsql) engine.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.path.join(ROOT, "perf/loadgen/target/release/corelog-loadgen")
KAFKAJS_LOAD = os.path.join(ROOT, "perf/kafkajs/load.js")
CORELOG = os.path.join(ROOT, "target/release/corelog")
BROKER_CORE = "0"
CLIENT_CORE = "1"
PORT = 19092
COMMANDS = []


def run(command, timeout=None, check=True, core=None):
    """Runs a command (pinned to `core`), records it, returns stdout."""
    if core is not None:
        command = ["taskset", "-c", core] + command
    COMMANDS.append(" ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def last_json(text):
    return json.loads([line for line in text.splitlines() if line.startswith("[{")][-1])


def machine_limits(data_dir, scale):
    quick = scale < 0.5
    size = f"{max(256, int(2048 * scale))}M"
    fio_dir = os.path.join(data_dir, "fio")
    os.makedirs(fio_dir, exist_ok=True)
    write = json.loads(run(["fio", "--name=seqwrite", f"--directory={fio_dir}", "--rw=write", "--bs=1M",
                            f"--size={size}", "--direct=1", "--ioengine=io_uring", "--iodepth=8",
                            "--output-format=json"], core=BROKER_CORE))
    write_mb = write["jobs"][0]["write"]["bw_bytes"] / 1e6
    # What the disk takes when it must also make the data durable, as a
    # durable broker must: the same writes with an fdatasync every 4 MiB. On
    # a disk with a volatile write cache (this VM's) this is far lower.
    synced_write = json.loads(run(["fio", "--name=syncedwrite", f"--directory={fio_dir}", "--rw=write", "--bs=1M",
                                   f"--size={size}", "--direct=1", "--ioengine=io_uring", "--iodepth=8",
                                   "--fdatasync=4", "--output-format=json"], core=BROKER_CORE))
    synced_write_mb = synced_write["jobs"][0]["write"]["bw_bytes"] / 1e6
    sync = json.loads(run(["fio", "--name=fdatasync", f"--directory={fio_dir}", "--rw=write", "--bs=4k",
                           "--size=16M" if quick else "--size=64M", "--fdatasync=1", "--ioengine=sync",
                           "--output-format=json"], core=BROKER_CORE))
    percentiles = sync["jobs"][0]["sync"]["lat_ns"]["percentile"]
    # The shape of a produce workload on 6 partitions: six files appended
    # to and synced at once. The disk's sync tail is much longer so.
    concurrent = json.loads(run(["fio", "--name=fdatasync6", f"--directory={fio_dir}", "--rw=write", "--bs=16k",
                                 "--size=16M" if quick else "--size=64M", "--fdatasync=1", "--ioengine=sync",
                                 "--direct=1", "--numjobs=6", "--group_reporting", "--output-format=json"],
                                core=BROKER_CORE))
    concurrent_percentiles = concurrent["jobs"][0]["sync"]["lat_ns"]["percentile"]
    shutil.rmtree(fio_dir, ignore_errors=True)
    server = subprocess.Popen(["taskset", "-c", BROKER_CORE, "iperf3", "-s", "-1", "-p", "5299"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    iperf = json.loads(run(["iperf3", "-c", "127.0.0.1", "-p", "5299", "-t", "3" if quick else "10", "-J"],
                           core=CLIENT_CORE))
    server.wait(timeout=30)
    return {
        "disk_write_megabytes_per_second": write_mb,
        "disk_synced_write_megabytes_per_second": synced_write_mb,
        "fdatasync_p50_ms": percentiles["50.000000"] / 1e6,
        "fdatasync_p99_ms": percentiles["99.000000"] / 1e6,
        "fdatasync_6_files_p50_ms": concurrent_percentiles["50.000000"] / 1e6,
        "fdatasync_6_files_p99_ms": concurrent_percentiles["99.000000"] / 1e6,
        "fdatasync_6_files_p99_9_ms": concurrent_percentiles["99.900000"] / 1e6,
        "loopback_megabytes_per_second": iperf["end"]["sum_received"]["bits_per_second"] / 8e6,
    }


def wait_for_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Broker:
    """One broker under test: how to start it on PORT with a fresh store."""

    def __init__(self, name, command, data_dir):
        self.name, self.command, self.data_dir = name, command, data_dir
        self.process = None

    def start(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir, exist_ok=True)
        command = ["taskset", "-c", BROKER_CORE] + self.command
        COMMANDS.append(" ".join(command))
        self.log = open(os.path.join(os.path.dirname(self.data_dir), f"{self.name}.log"), "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        BROKER_PIDS.append(self.process.pid)
        wait_for_port(PORT)
        time.sleep(1)

    def stop(self):
        if self.process:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
            self.log.close()


BROKER_PIDS = []


def broker_cpu_seconds():
    """CPU time (user + system, all threads) of the broker under test."""
    if not BROKER_PIDS:
        return None
    try:
        with open(f"/proc/{BROKER_PIDS[-1]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def with_broker_cpu(rows, measure):
    """Runs `measure` and adds to each report row the broker's CPU use over
    it, in percent of one core: where a client is the limit, this shows how
    much of its core the broker needed."""
    before, started = broker_cpu_seconds(), time.time()
    result = measure()
    after, elapsed = broker_cpu_seconds(), time.time() - started
    if before is not None and after is not None and elapsed > 0:
        for row in rows(result):
            row["broker_cpu_percent"] = round(100 * (after - before) / elapsed, 1)
    return result


def loadgen(mode, topic, *arguments, timeout=1800):
    return with_broker_cpu(lambda rows: rows, lambda: last_json(
        run([LOADGEN, mode, "--bootstrap", f"127.0.0.1:{PORT}", "--topic", topic, *arguments],
            timeout=timeout, core=CLIENT_CORE)))


def drop_caches():
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("3\n")
        return True
    except OSError:
        return False


def librdkafka_workloads(scale):
    results = {}
    count = lambda records: str(max(1000, int(records * scale)))
    if True:
        produce = loadgen("produce", "produce-1k", "--record-size", "1024", "--partitions", "6",
                          "--records", count(1_000_000))[0]
        results["produce_1k"] = produce
        sizes = {}
        for size in (100, 1024, 10240, 102400):
            budget = 512 * 1024 * 1024 * scale
            sizes[str(size)] = loadgen("produce", f"size-{size}", "--record-size", str(size), "--partitions", "6",
                                  "--records", str(max(500, int(budget / size))))[0]
        results["by_record_size"] = sizes
        tail = loadgen("end-to-end", "tail", "--record-size", "1024", "--partitions", "6",
                       "--rate", "20000", "--records", count(400_000))
        results["tail"] = {"produce": tail[0], "consume": tail[1]}
        catch_bytes = int(2 * 1024 ** 3 * scale)
        loadgen("produce", "catch-up", "--record-size", "1024", "--partitions", "6",
                "--records", str(catch_bytes // 1024))
        results["catch_up_cold_cache"] = drop_caches()
        results["catch_up"] = loadgen("consume", "catch-up", "--records", str(catch_bytes // 1024))[0]
        many = last_json(run(["node", KAFKAJS_LOAD, "--bootstrap", f"127.0.0.1:{PORT}", "--topic", "many-small",
                              "--producers", "100", "--consumers", "0", "--size", "100", "--batch", "10",
                              "--messages", count(200_000)], timeout=1800, core=CLIENT_CORE))
        results["many_small_producers"] = many[0]
        maximum = produce["records_per_second"]
        rates = {}
        for share in (25, 50, 75):
            rate = int(maximum * share / 100)
            rates[str(share)] = loadgen("produce", f"rate-{share}", "--record-size", "1024", "--partitions", "6",
                                   "--rate", str(rate), "--records", str(max(1000, int(rate * max(3, 10 * scale)))))[0]
        results["fixed_rates"] = rates
    return results


def kafkajs(topic, *arguments, timeout=3600):
    """One run of perf/kafkajs/load.js: [produce row, consume row]."""
    rows = with_broker_cpu(lambda rows: rows, lambda: last_json(
        run(["node", KAFKAJS_LOAD, "--bootstrap", f"127.0.0.1:{PORT}", "--topic", topic, *arguments],
            timeout=timeout, core=CLIENT_CORE)))
    return {"produce": rows[0], "consume": rows[1]}


def kafkajs_workloads(scale):
    """The side-by-side workloads, all through the same kafkajs client
    (Tansu 0.6.0 answers librdkafka 2.0.2's ApiVersions in a way librdkafka
    cannot read, so the librdkafka tool cannot drive it)."""
    count = lambda messages: str(max(1000, int(messages * scale)))
    results = {}
    results["produce_1k"] = kafkajs("js-produce-1k", "--producers", "4", "--consumers", "0", "--partitions", "6",
                                    "--size", "1024", "--batch", "100", "--messages", count(400_000))["produce"]
    sizes = {}
    for size in (100, 1024, 10240, 102400):
        messages = max(200, int(128 * 1024 * 1024 * scale / size))
        sizes[str(size)] = kafkajs(f"js-size-{size}", "--producers", "4", "--consumers", "0", "--size", str(size),
                                   "--batch", str(max(1, min(100, 1024 * 1024 // size))),
                                   "--messages", str(messages))["produce"]
    results["by_record_size"] = sizes
    results["tail"] = kafkajs("js-tail", "--producers", "2", "--consumers", "2", "--size", "1024", "--batch", "10",
                              "--rate", "5000", "--messages", count(100_000))
    catch_up = count(1_000_000)
    kafkajs("js-catch-up", "--producers", "4", "--consumers", "0", "--size", "1024", "--batch", "100",
            "--messages", catch_up)
    results["catch_up_cold_cache"] = drop_caches()
    results["catch_up"] = kafkajs("js-catch-up", "--producers", "0", "--consumers", "1",
                                  "--messages", catch_up)["consume"]
    results["many_small_producers"] = kafkajs("js-many-small", "--producers", "100", "--consumers", "0",
                                              "--size", "100", "--batch", "10", "--messages", count(200_000))["produce"]
    maximum = results["produce_1k"]["messages_per_second"]
    rates = {}
    for share in (25, 50, 75):
        rate = max(10, int(maximum * share / 100))
        rates[str(share)] = kafkajs(f"js-rate-{share}", "--producers", "4", "--consumers", "0", "--size", "1024",
                                    "--batch", "10", "--rate", str(rate),
                                    "--messages", str(max(500, int(rate * max(3, 10 * scale)))))["produce"]
    results["fixed_rates"] = rates
    return results


def workloads(broker, scale, with_librdkafka):
    broker.start()
    try:
        results = {"kafkajs": kafkajs_workloads(scale)}
        if with_librdkafka:
            results["librdkafka"] = librdkafka_workloads(scale)
        return results
    finally:
        broker.stop()


def ratio(a, b):
    return a / b if b else float("inf")


def markdown(report):
    limits = report["limits"]
    brokers = report["brokers"]
    names = list(brokers)
    lines = [f"# corelog benchmark, {report['date']}", "",
             f"Machine: {report['machine']}", f"Commit: {report['commit']}",
             f"Scale: {report['scale']} of the full workload sizes", "",
             "Broker on core 0, load generator on core 1 (taskset); acks=all throughout.", "",
             "## The machine's own limits, measured in the same run", "",
             f"- sequential direct-IO write (fio, 1 MiB blocks, iodepth 8): {limits['disk_write_megabytes_per_second']:.1f} MB/s",
             f"- the same writes with an fdatasync every 4 MiB (fio): {limits.get('disk_synced_write_megabytes_per_second', float('nan')):.1f} MB/s",
             f"- fdatasync latency (fio, 4 KiB writes): p50 {limits['fdatasync_p50_ms']:.2f} ms, p99 {limits['fdatasync_p99_ms']:.2f} ms",
             f"- fdatasync latency with 6 files appended and synced at once (fio, 16 KiB direct writes, as 6 partitions): "
             f"p50 {limits.get('fdatasync_6_files_p50_ms', float('nan')):.2f} ms, p99 {limits.get('fdatasync_6_files_p99_ms', float('nan')):.2f} ms, "
             f"p99.9 {limits.get('fdatasync_6_files_p99_9_ms', float('nan')):.2f} ms",
             f"- loopback TCP (iperf3): {limits['loopback_megabytes_per_second']:.0f} MB/s", ""]

    def table(title, client, rows, peers):
        header = "| workload | " + " | ".join(names) + "".join(f" | corelog / {peer}" for peer in peers) + " | corelog % of limit |"
        out = [f"## {title}", "", header, "|---" * (len(names) + len(peers) + 2) + "|"]
        for label, value, limit in rows:
            values = []
            for name in names:
                try:
                    values.append(value(brokers[name][client]))
                except (KeyError, TypeError):
                    values.append(None)
            cells = [f"{v:.1f}" if v is not None else "n/a" for v in values]
            ratios = []
            for peer in peers:
                other = values[names.index(peer)]
                ratios.append(f"{values[0] / other:.2f}" if values[0] is not None and other else "n/a")
            if not limit or values[0] is None:
                share = ""
            elif label.endswith(" ms"):
                # Latency: how far above the disk's own fdatasync p99.
                share = f"+{values[0] - limit:.1f} ms over fdatasync p99"
            else:
                share = f"{100 * values[0] / limit:.0f}%"
            out.append(f"| {label} | " + " | ".join(cells) + "".join(f" | {r}" for r in ratios) + f" | {share} |")
        return out + [""]

    peers = [name for name in names if not name.startswith("corelog")]
    js_rows = [
        ("produce 1 KiB x 6 partitions: MB/s", lambda r: r["produce_1k"]["megabytes_per_second"], limits["disk_write_megabytes_per_second"]),
        ("produce 1 KiB: p99 send ms", lambda r: r["produce_1k"]["latency"]["p99"], limits["fdatasync_p99_ms"]),
        ("tail consume (5,000 msg/s): p99 end-to-end ms", lambda r: r["tail"]["consume"]["latency"]["p99"], None),
        ("catch-up consume (cold cache): MB/s", lambda r: r["catch_up"]["megabytes_per_second"], limits["loopback_megabytes_per_second"]),
        ("100 small producers: msg/s", lambda r: r["many_small_producers"]["messages_per_second"], None),
    ] + [(f"fixed rate {share}% of max: p99 send ms", (lambda s: lambda r: r["fixed_rates"][str(s)]["latency"]["p99"])(share), None) for share in (25, 50, 75)] \
      + [(f"produce {size} B records: MB/s", (lambda z: lambda r: r["by_record_size"][str(z)]["megabytes_per_second"])(size), None) for size in (100, 1024, 10240, 102400)]
    lines += table("Side by side, kafkajs 2.2.4 client", "kafkajs", js_rows, peers)
    lines += ["kafkajs is the client here because Tansu 0.6.0 answers ApiVersions in a way librdkafka 2.0.2",
              "(Debian's) cannot read (\"Read underflow\"). One kafkajs process on one core is itself a limit:",
              "compare the corelog rows of the next table, driven by librdkafka, for what the broker can do.", ""]
    rd_rows = [
        ("produce 1 KiB x 6 partitions: MB/s", lambda r: r["produce_1k"]["megabytes_per_second"], limits["disk_write_megabytes_per_second"]),
        ("produce 1 KiB: p99 ack ms", lambda r: r["produce_1k"]["latency_ms"]["p99"], None),
        ("tail consume (20,000 msg/s): MB/s", lambda r: r["tail"]["consume"]["megabytes_per_second"], limits["loopback_megabytes_per_second"]),
        ("tail consume: p99 end-to-end ms", lambda r: r["tail"]["consume"]["latency_ms"]["p99"], None),
        ("catch-up consume (cold cache): MB/s", lambda r: r["catch_up"]["megabytes_per_second"], limits["loopback_megabytes_per_second"]),
        ("broker CPU during produce 1 KiB: % of its core", lambda r: r["produce_1k"]["broker_cpu_percent"], None),
        ("broker CPU during tail consume: % of its core", lambda r: r["tail"]["consume"]["broker_cpu_percent"], None),
        ("broker CPU during catch-up: % of its core", lambda r: r["catch_up"]["broker_cpu_percent"], None),
    ] + [(f"fixed rate {share}% of max: p99 ack ms", (lambda s: lambda r: r["fixed_rates"][str(s)]["latency_ms"]["p99"])(share), limits["fdatasync_p99_ms"]) for share in (25, 50, 75)] \
      + [(f"produce {size} B records: MB/s", (lambda z: lambda r: r["by_record_size"][str(z)]["megabytes_per_second"])(size), limits["disk_write_megabytes_per_second"]) for size in (100, 1024, 10240, 102400)]
    lines += table("corelog with the librdkafka load generator", "librdkafka", rd_rows, [])
    synced = limits.get("disk_synced_write_megabytes_per_second")
    if synced:
        lines += ["Durable produce against the disk's synced write bandwidth (fio with an fdatasync every 4 MiB, "
                  f"{synced:.0f} MB/s), the bandwidth a durable log can have on this disk:", ""]
        for size in (100, 1024, 10240, 102400):
            try:
                value = brokers["corelog (durable)"]["librdkafka"]["by_record_size"][str(size)]["megabytes_per_second"]
                lines.append(f"- {size} B records: {value:.1f} MB/s, {100 * value / synced:.0f}%")
            except (KeyError, TypeError):
                pass
        lines.append("")
    lines += ["Ratios divide corelog's durable figure by the peer's (for latency rows, below 1 is better for corelog).",
              "% of limit: corelog (durable) against the disk's write bandwidth (produce) or the loopback",
              "bandwidth (consume); for latency, how far corelog's p99 is above the disk's fdatasync p99.", "", "## Exact commands", "", "```"] + report["commands"] + ["```", ""]
    return "\n".join(lines)


def svg_plot(report, key, title, unit, path):
    """A small line chart (no plotting library needed): `key` against record size."""
    sizes = [100, 1024, 10240, 102400]
    colors = ["#1f77b4", "#6baed6", "#2ca02c", "#98df8a", "#d62728", "#ff9896"]
    series = {}
    for name, results in report["brokers"].items():
        if results:
            series[f"{name}, kafkajs"] = [key(results["kafkajs"]["by_record_size"][str(size)]) for size in sizes]
            if "librdkafka" in results:
                series[f"{name}, librdkafka"] = [key(results["librdkafka"]["by_record_size"][str(size)]) for size in sizes]
    top = max([max(values) for values in series.values()] + [1e-9]) * 1.1
    width, height, left, bottom = 640, 400, 70, 50
    x = lambda index: left + index * (width - left - 20) / (len(sizes) - 1)
    y = lambda value: height - bottom - value / top * (height - bottom - 30)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="30" x2="{left}" y2="{height - bottom}" stroke="black"/>']
    for index, size in enumerate(sizes):
        label = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        parts.append(f'<text x="{x(index)}" y="{height - bottom + 18}" text-anchor="middle">{label}</text>')
    for step in range(5):
        value = top * step / 4
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4}" text-anchor="end">{value:.1f}</text>')
    parts.append(f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" text-anchor="middle">{unit}</text>')
    for (name, values), color, row in zip(series.items(), colors, range(10)):
        points = " ".join(f"{x(index):.1f},{y(value):.1f}" for index, value in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{left + 10}" y="{40 + row * 16}" fill="{color}">{name}</text>')
    parts.append("</svg>")
    with open(path, "w") as out:
        out.write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the full sizes, for trying it out")
    parser.add_argument("--scale", type=float, default=None, help="a fraction of the full sizes (overrides --quick)")
    parser.add_argument("--no-peer", action="store_true", help="corelog only")
    parser.add_argument("--tansu", default=shutil.which("tansu") or "/opt/tansu/bin/tansu")
    parser.add_argument("--out", default=os.path.join(ROOT, "perf/results", datetime.date.today().isoformat()))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite results.md and the plots from --out's results.json, running nothing")
    arguments = parser.parse_args()
    if arguments.report_only:
        with open(os.path.join(arguments.out, "results.json")) as source:
            write_report(json.load(source), arguments.out)
        return
    os.makedirs(arguments.out, exist_ok=True)
    scale = arguments.scale if arguments.scale is not None else (0.1 if arguments.quick else 1.0)
    scratch = os.environ.get("BENCH_DIR", ROOT + "/perf/results/tmp")
    os.makedirs(scratch, exist_ok=True)
    work = tempfile.mkdtemp(prefix="corelog-bench-", dir=scratch)
    brokers = {
        "corelog (durable)": Broker("corelog-durable", [CORELOG, "serve", "--data-dir", f"{work}/corelog",
                                    "--listen", f"127.0.0.1:{PORT}", "--cores", "1", "--advertise", "127.0.0.1",
                                    "--group-initial-rebalance-delay-ms", "0"], f"{work}/corelog"),
        "corelog (unsynced)": Broker("corelog-unsynced", [CORELOG, "serve", "--data-dir", f"{work}/corelog",
                                     "--listen", f"127.0.0.1:{PORT}", "--cores", "1", "--advertise", "127.0.0.1",
                                     "--group-initial-rebalance-delay-ms", "0",
                                     # Kafka's default: never synced (flush.ms just below "never", which
                                     # corelog reads as unset, that is, durable).
                                     "--log-flush-interval-ms", "9223372036854775806"],
                                     f"{work}/corelog"),
    }
    if not arguments.no_peer:
        if not os.path.exists(arguments.tansu):
            sys.exit(f"Tansu not found at {arguments.tansu}: scripts/bench.sh installs it, or pass --no-peer")
        common = ["broker", "--silent", "--listener-url", f"tcp://127.0.0.1:{PORT}",
                  "--advertised-listener-url", f"tcp://127.0.0.1:{PORT}"]
        brokers["Tansu (memory)"] = Broker("tansu-memory", [arguments.tansu, *common, "--storage-engine", "memory://tansu/"],
                                           f"{work}/tansu-memory")
        brokers["Tansu (SQLite)"] = Broker("tansu-sqlite", [arguments.tansu, *common, "--storage-engine",
                                           "sqlite://tansu.db"], f"{work}/tansu-sqlite")
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": " ".join(run(["uname", "-srm"]).split()) + f", {os.cpu_count()} cores, "
                   + run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).strip(),
        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip(),
        "scale": scale,
        "limits": machine_limits(work, scale),
        "brokers": {},
    }
    for name, broker in brokers.items():
        print(f"== {name}", flush=True)
        try:
            report["brokers"][name] = workloads(broker, scale, name.startswith("corelog"))
        except Exception as error:  # a peer that fails a workload is reported, not fatal
            print(f"{name} failed: {error}", file=sys.stderr)
            report["brokers"][name] = None
    report["commands"] = COMMANDS
    with open(os.path.join(arguments.out, "results.json"), "w") as out:
        json.dump(report, out, indent=2)
    write_report(report, arguments.out)
    shutil.rmtree(work, ignore_errors=True)
    print(markdown(report))


def write_report(report, out_dir):
    with open(os.path.join(out_dir, "results.md"), "w") as out:
        out.write(markdown(report))
    svg_plot(report, lambda r: r["megabytes_per_second"], "Produce throughput (acks=all) by record size", "MB/s",
             os.path.join(out_dir, "throughput.svg"))
    svg_plot(report, lambda r: (r.get("latency_ms") or r["latency"])["p99"],
             "Produce p99 ack latency (acks=all) by record size", "ms", os.path.join(out_dir, "latency.svg"))


if __name__ == "__main__":
    main()
