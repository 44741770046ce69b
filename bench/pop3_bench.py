#!/usr/bin/python3
"""POP3 at scale (issue 6): a mailbox of 10,000 messages, timed from connect
to the end of LIST. Login and LIST must not read message bodies: sizes come
from the ",W=" part of the Maildir names. A second mailbox whose names lack
W= shows the fallback (every file read once, in a worker, at login).

Usage (as root, like the integration tests: the daemon drops to `postern`):
    /usr/bin/python3 bench/pop3_bench.py [--bin build/postern] [--messages 10000] [--runs 20]

Build the binary with optimisation (make, or RelWithDebInfo) for numbers
worth comparing; an ASan build is several times slower.
"""
import argparse
import os
import pathlib
import poplib
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
os.environ.setdefault("POSTERN_BIN", str(ROOT / "build" / "postern"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(box, n, with_w, size=3000, seed=1):
    """n messages of about size octets, named as deliver/maildir.c names them."""
    rnd = random.Random(seed)
    text = [("".join(rnd.choice("abcdefghij .") for _ in range(72)) + "\n").encode()
            for _ in range(1000)]
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    t0 = 1700000000
    for i in range(n):
        data = f"Subject: message {i}\nFrom: sender{i}@remote.test\n\n".encode()
        data += b"".join(rnd.sample(text, size // 73))
        name = f"{t0 + i}.M{i % 1000000:06d}P4242Q{i}.bench,S={len(data)}"
        if with_w:
            name += ",W=%d" % (len(data) + data.count(b"\n"))
        (box / "new" / name).write_bytes(data)


def session(port, user, password, ctx):
    """One login + STAT + LIST + QUIT; returns the phase timings (s)."""
    t = [time.perf_counter()]
    c = poplib.POP3_SSL("127.0.0.1", port, timeout=120, context=ctx) if ctx else \
        poplib.POP3("127.0.0.1", port, timeout=120)
    t.append(time.perf_counter())
    c.user(user)
    c.pass_(password)
    t.append(time.perf_counter())
    count, octets = c.stat()
    t.append(time.perf_counter())
    resp, listing, _ = c.list()
    t.append(time.perf_counter())
    c.quit()
    assert len(listing) == count
    return {"connect": t[1] - t[0], "login": t[2] - t[1], "stat": t[3] - t[2],
            "list": t[4] - t[3], "total": t[4] - t[0]}, count


def report(name, samples):
    print(f"\n{name}  ({len(samples)} sessions; milliseconds)")
    print(f"  {'phase':<8} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
    for phase in ("connect", "login", "stat", "list", "total"):
        v = sorted(s[phase] * 1000 for s in samples)
        p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"  {phase:<8} {statistics.median(v):8.1f} {p90:8.1f} {v[0]:8.1f} {v[-1]:8.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ["POSTERN_BIN"])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    os.environ["POSTERN_BIN"] = args.bin
    import conftest  # noqa: E402 (needs POSTERN_BIN first)
    from tlsenv import add_user, client_context, make_ca

    work = pathlib.Path(tempfile.mkdtemp(prefix="postern-pop3-bench-", dir="/tmp"))
    os.chmod(work, 0o755)
    try:
        ca = make_ca(work / "ca")
        p = conftest.Postern(work, {
            "tls": {"cert": ca["cert"], "key": ca["key"]},
            "pop3": {"allow_plaintext_auth": "yes"},
        }, users=[], aliases=[])
        pop3, pop3s = free_port(), free_port()
        p.settings["listen"]["pop3"] = f"127.0.0.1:{pop3}"
        p.settings["listen"]["pop3s"] = f"127.0.0.1:{pop3s}"
        p.write_conf()
        users = {"big@example.test": True, "legacy@example.test": False}
        for addr in list(users) + ["empty@example.test"]:
            assert add_user(p.conf_path, addr, "bench-pass").returncode == 0
        t = time.perf_counter()
        for addr, with_w in users.items():
            fill(p.maildir(addr), args.messages, with_w)
        print(f"filled 2 mailboxes of {args.messages} messages in {time.perf_counter() - t:.1f}s "
              f"(binary {args.bin})")
        p.start()
        ctx = client_context(ca["ca"])
        try:
            for label, port, c in (("pop3s (TLS 1.3)", pop3s, ctx), ("pop3 (plain)", pop3, None)):
                samples = []
                for _ in range(args.runs):
                    s, count = session(port, "big@example.test", "bench-pass", c)
                    assert count == args.messages
                    samples.append(s)
                report(f"{label}, {args.messages} messages with W= in their names", samples)
            # The baseline: the same login (yescrypt check included) on no mail.
            samples = [session(pop3s, "empty@example.test", "bench-pass", ctx)[0]
                       for _ in range(args.runs)]
            report("pop3s, empty mailbox (baseline: TLS and the password check)", samples)
            # The fallback: every file is read once at login to count lines.
            samples = [session(pop3s, "legacy@example.test", "bench-pass", ctx)[0]
                       for _ in range(max(3, args.runs // 4))]
            report(f"pop3s, {args.messages} messages without W= (read at login)", samples)
        finally:
            p.stop()
        log = p.log()
        assert "measured=0" in log and f"measured={args.messages}" in log
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
